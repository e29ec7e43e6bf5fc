//! Twilio: the voice webhook (answered with TwiML) and call status callbacks, both signed
//! with `X-Twilio-Signature` (protocols/twilio.md §2-§5).

pub mod client;
pub mod media;
pub mod signature;
pub mod twiml;

use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{
    WebhookError, apply_events, apply_events_linking, public_request_url, refuse, verification_off,
};
use crate::domain::{CallEvent, CallStatus, Carrier, RejectReason, Timestamp};
use crate::engine::Engine;
use crate::routing::{Decision, InboundCall, route_inbound};
use crate::secrets::Provider;

const CARRIER: Carrier = Carrier::Twilio;
pub const STREAM_STATUS_PATH: &str = "/webhooks/twilio/stream-status";
pub const AMD_PATH: &str = "/webhooks/twilio/amd";

/// Switchboard's own call id, which rides in the query of the callbacks of calls it places.
fn our_call_id(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "call_id")
        .map(|(_, v)| v.into_owned())
}

/// The form parameters of a webhook whose signature checks out.
async fn verified_form(
    engine: &Engine,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Vec<(String, String)>, WebhookError> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    if verification_off(engine, CARRIER) {
        return Ok(params);
    }
    let presented = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse(CARRIER, "no X-Twilio-Signature header"))?;
    let url = public_request_url(engine, uri).ok_or_else(|| {
        refuse(
            CARRIER,
            "no public base URL is set, so Twilio's signature cannot be checked",
        )
    })?;
    let credentials = engine
        .secrets()
        .credentials(Provider::Twilio)
        .await
        .map_err(|e| refuse(CARRIER, e.to_string()))?;
    if !signature::verify(credentials.get("auth_token"), &url, &params, presented) {
        return Err(refuse(
            CARRIER,
            format!("X-Twilio-Signature does not match {url}"),
        ));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, WebhookError> {
    param(params, name).ok_or_else(|| WebhookError::Malformed(format!("missing {name}")))
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// `POST /webhooks/twilio/voice`: a call to one of our numbers. Answers with TwiML that
/// either streams the call to its agent or rejects it.
pub async fn voice(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let params = verified_form(&engine, &headers, &uri, &body).await?;
    let inbound = InboundCall {
        carrier: CARRIER,
        carrier_call_id: required(&params, "CallSid")?.to_owned(),
        from: param(&params, "From").unwrap_or("anonymous").to_owned(),
        to: required(&params, "To")?.to_owned(),
        at: Timestamp::now(),
    };
    // A retried delivery gets the same TwiML again: Twilio acts only on the reply it keeps.
    match route_inbound(&engine, &inbound).await?.0 {
        Decision::Answer { call, agent } => {
            let Some(public) = engine.public() else {
                // Verified requests imply a public URL; only the insecure dev mode gets here.
                return Ok(twiml(twiml::reject(false)));
            };
            let urls = &public.urls;
            Ok(twiml(twiml::connect_stream(
                &urls.twilio_media,
                &urls.twilio_stream_status,
                &call.id,
                &agent.id,
            )))
        }
        Decision::Reject { reason, .. } => {
            Ok(twiml(twiml::reject(reason == RejectReason::AgentBusy)))
        }
    }
}

/// `POST /webhooks/twilio/status`: call progress. Deliveries may repeat or arrive out of
/// order; each is applied once (keyed by call, sequence number and status).
pub async fn status(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let params = verified_form(&engine, &headers, &uri, &body).await?;
    let call_sid = required(&params, "CallSid")?;
    let status = required(&params, "CallStatus")?;
    let at = param(&params, "Timestamp")
        .and_then(|t| jiff::fmt::rfc2822::parse(t).ok())
        .map(|z| Timestamp::from_millis(z.timestamp().as_millisecond()))
        .unwrap_or_else(Timestamp::now);
    let sequence = param(&params, "SequenceNumber").unwrap_or("-");
    let key = format!("{call_sid}/{sequence}/{status}");

    let duration = param(&params, "CallDuration").and_then(|d| d.parse::<i64>().ok());
    let ended = |status| CallEvent::Ended {
        status,
        at,
        cause: param(&params, "SipResponseCode").map(|c| format!("sip {c}")),
        duration_secs: duration,
    };
    let mut events = Vec::new();
    match status {
        "ringing" => events.push(CallEvent::Ringing),
        "in-progress" => events.push(CallEvent::Answered { at }),
        "completed" => {
            // Twilio sends only `completed` unless told otherwise; its duration says when the
            // call was answered.
            if let Some(d) = duration.filter(|d| *d > 0) {
                let answered = Timestamp::from_millis(at.as_millis() - d * 1000);
                events.push(CallEvent::Answered { at: answered });
            }
            events.push(ended(CallStatus::Completed));
        }
        "busy" => events.push(ended(CallStatus::Busy)),
        "no-answer" => events.push(ended(CallStatus::NoAnswer)),
        "failed" => events.push(ended(CallStatus::Failed)),
        "canceled" => events.push(ended(CallStatus::Canceled)),
        "queued" | "initiated" => {}
        other => {
            return Err(WebhookError::Malformed(format!(
                "unknown CallStatus {other}"
            )));
        }
    }
    if let Some(url) = param(&params, "RecordingUrl") {
        events.push(CallEvent::RecordingSaved {
            url: url.to_owned(),
        });
    }
    if let Some(result) = param(&params, "AnsweredBy") {
        events.push(CallEvent::MachineDetected {
            result: result.to_owned(),
        });
    }
    let ours = our_call_id(&uri);
    apply_events_linking(&engine, CARRIER, &key, call_sid, ours.as_deref(), &events).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `POST /webhooks/twilio/amd`: the asynchronous answering-machine result of a call
/// Switchboard placed (`AnsweredBy`: `human`, `machine_start`, `fax`, `unknown`, ...).
pub async fn amd(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let params = verified_form(&engine, &headers, &uri, &body).await?;
    let call_sid = required(&params, "CallSid")?;
    let result = required(&params, "AnsweredBy")?;
    let key = format!("{call_sid}/amd/{result}");
    let detected = CallEvent::MachineDetected {
        result: result.to_owned(),
    };
    let ours = our_call_id(&uri);
    apply_events_linking(
        &engine,
        CARRIER,
        &key,
        call_sid,
        ours.as_deref(),
        &[detected],
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `POST /webhooks/twilio/stream-status`: what became of a call's media stream. A stream that
/// fails (Twilio could not reach `/media/twilio`, or the socket broke) leaves the caller to the
/// `<Hangup/>` after it; the call record says why. Started and stopped need nothing: the
/// bridge sees those itself.
pub async fn stream_status(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let params = verified_form(&engine, &headers, &uri, &body).await?;
    let call_sid = required(&params, "CallSid")?;
    let event = required(&params, "StreamEvent")?;
    match event {
        "stream-error" => {
            let error = param(&params, "StreamError").unwrap_or("no reason given");
            tracing::warn!(%call_sid, %error, "Twilio media stream failed");
            let key = format!(
                "{call_sid}/stream/{}/{event}",
                param(&params, "StreamSid").unwrap_or("-")
            );
            let ended = CallEvent::Ended {
                status: CallStatus::Failed,
                at: Timestamp::now(),
                cause: Some(format!("the media stream failed: {error}")),
                duration_secs: None,
            };
            apply_events(&engine, CARRIER, &key, call_sid, &[ended]).await?;
        }
        "stream-started" | "stream-stopped" => {}
        other => {
            return Err(WebhookError::Malformed(format!(
                "unknown StreamEvent {other}"
            )));
        }
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
