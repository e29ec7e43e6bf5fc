//! Twilio's webhooks (protocols/twilio.md §2-§5): the voice webhook, answered with TwiML, and
//! three callbacks (call status, answering-machine detection, media stream status) served by
//! one handler: verify `X-Twilio-Signature`, read `CallSid`, apply what the form reports once
//! (each callback's `Callback::read`), answer 204.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::adapter::{OUR_CALL_ID, TRANSFER_ID, room};
use super::{signature, twiml};
use crate::carriers::webhook::{WebhookError, check_signature, tell_transfer};
use crate::domain::{CallEvent, CallStatus, Carrier, RejectReason, Timestamp, VoiceBackend};
use crate::engine::Engine;
use crate::live::LegNews;
use crate::retell::hand_off::{HandOff, hand_over};
use crate::routing::{Decision, InboundCall, route_inbound};
use crate::secrets::Provider;

const CARRIER: Carrier = Carrier::Twilio;

/// Why a request is not Twilio's.
#[derive(Debug, thiserror::Error)]
enum Unsigned {
    #[error("no X-Twilio-Signature header")]
    NoHeader,
    #[error("no public base URL is set, so Twilio's signature cannot be checked")]
    NoPublicUrl,
    #[error("X-Twilio-Signature does not match {0}")]
    Mismatch(String),
}

/// A webhook's form parameters, once its signature checks out.
pub(crate) struct Form(pub(crate) Vec<(String, String)>);

impl Form {
    /// The form as sent, not yet trusted.
    pub(crate) fn read(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// Reads the form and checks Twilio's signature of it against the public URL it was sent
    /// to, with the account's auth token.
    async fn verified(
        engine: &Engine,
        headers: &HeaderMap,
        uri: &Uri,
        body: &[u8],
    ) -> Result<Self, WebhookError> {
        let form = Self::read(body);
        check_signature(engine, CARRIER, Provider::Twilio, |credentials| {
            let presented = headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .ok_or(Unsigned::NoHeader)?;
            let url = engine
                .public()
                .map(|p| p.of_request(uri))
                .ok_or(Unsigned::NoPublicUrl)?;
            if signature::verify(credentials.get("auth_token"), &url, &form.0, presented) {
                Ok(())
            } else {
                Err(Unsigned::Mismatch(url))
            }
        })
        .await?;
        Ok(form)
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, WebhookError> {
        self.param(name)
            .ok_or_else(|| WebhookError::Malformed(format!("missing {name}")))
    }
}

/// Switchboard's own call id, which rides in the query of the callbacks of calls it places.
fn our_call_id(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == OUR_CALL_ID)
        .map(|(_, v)| v.into_owned())
}

/// A warm transfer's call to the person reporting: its verified form, and the transfer's id
/// (in the query).
async fn transfer_leg(
    engine: &Engine,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<(Form, String), WebhookError> {
    let form = Form::verified(engine, headers, uri, body).await?;
    let id = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == TRANSFER_ID)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| WebhookError::Malformed(format!("no {TRANSFER_ID} in the query")))?;
    Ok((form, id))
}

fn twiml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// `POST /webhooks/twilio/voice`: a call to one of our numbers. Answers with TwiML that
/// streams the call to its agent, dials it over to Retell (an agent on Retell), or rejects it.
pub(super) async fn voice(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let form = Form::verified(&engine, &headers, &uri, &body).await?;
    let inbound = inbound_call(&form, Timestamp::now())?;
    // A retried delivery gets the same TwiML again: Twilio acts only on the reply it keeps.
    match route_inbound(&engine, &inbound).await?.0 {
        Decision::Answer { call, agent } => {
            let Some(public) = engine.public() else {
                // Verified requests imply a public URL; only the insecure dev mode gets here.
                return Ok(twiml_response(twiml::reject(false)));
            };
            if agent.backend == VoiceBackend::Retell {
                return Ok(twiml_response(
                    match hand_over(&engine, &call, &agent).await? {
                        HandOff::Dial(uri) => twiml::dial_sip(&uri),
                        HandOff::Failed => twiml::apologise(),
                    },
                ));
            }
            let urls = &public.urls;
            Ok(twiml_response(twiml::connect_stream(
                &urls.twilio_media,
                &urls.twilio_stream_status,
                &call.id,
                &agent.id,
            )))
        }
        Decision::Reject { reason, .. } => Ok(twiml_response(twiml::reject(
            reason == RejectReason::AgentBusy,
        ))),
    }
}

/// The call a voice webhook's form offers.
pub(crate) fn inbound_call(form: &Form, at: Timestamp) -> Result<InboundCall, WebhookError> {
    Ok(InboundCall {
        carrier: CARRIER,
        carrier_call_id: form.required("CallSid")?.to_owned(),
        from: form.param("From").unwrap_or("anonymous").to_owned(),
        to: form.required("To")?.to_owned(),
        at,
    })
}

/// What a callback reports: the delivery's key (repeats of it apply once) and its events.
pub(crate) type Report = (String, Vec<CallEvent>);

/// One of Twilio's callbacks: what it reads from its (verified) form.
pub(crate) trait Callback {
    fn read(form: &Form, call_sid: &str) -> Result<Report, WebhookError>;
}

/// The callbacks' one handler: verify, read `CallSid`, let `C` turn the form into a report,
/// apply it once to the call (found by Twilio's sid, or by our id in the callback's query when
/// Twilio's reply to the dial has not been recorded yet), answer 204.
pub(super) async fn callback<C: Callback>(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let form = Form::verified(&engine, &headers, &uri, &body).await?;
    let call_sid = form.required("CallSid")?;
    let (key, events) = C::read(&form, call_sid)?;
    let ours = our_call_id(&uri);
    crate::calls::report::apply(&engine, CARRIER, &key, call_sid, ours.as_deref(), &events).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /webhooks/twilio/status`: call progress. Deliveries may repeat or arrive out of
/// order; each is applied once (keyed by call, sequence number and status).
pub(crate) struct Status;

/// Twilio's longest call: `timeLimit` is at most 24 hours.
const MAX_CALL_SECS: i64 = 24 * 3600;

impl Callback for Status {
    fn read(form: &Form, call_sid: &str) -> Result<Report, WebhookError> {
        let status = form.required("CallStatus")?;
        let at = form
            .param("Timestamp")
            .and_then(|t| jiff::fmt::rfc2822::parse(t).ok())
            .map(|z| Timestamp::from_millis(z.timestamp().as_millisecond()))
            .unwrap_or_else(Timestamp::now);
        let sequence = form.param("SequenceNumber").unwrap_or("-");
        let key = format!("{call_sid}/{sequence}/{status}");

        // A duration past any call Twilio lets run (24 hours at most) is not one.
        let duration = form
            .param("CallDuration")
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| (0..=MAX_CALL_SECS).contains(d));
        let ended = |status| CallEvent::Ended {
            status,
            at,
            cause: form.param("SipResponseCode").map(|c| format!("sip {c}")),
            duration_secs: duration,
        };
        let mut events = Vec::new();
        match status {
            "ringing" => events.push(CallEvent::Ringing),
            "in-progress" => events.push(CallEvent::Answered { at }),
            "completed" => {
                // Twilio sends only `completed` unless told otherwise; its duration says when
                // the call was answered.
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
        if let Some(url) = form.param("RecordingUrl") {
            events.push(CallEvent::RecordingSaved {
                url: url.to_owned(),
            });
        }
        if let Some(result) = form.param("AnsweredBy") {
            events.push(CallEvent::MachineDetected {
                result: result.to_owned(),
            });
        }
        Ok((key, events))
    }
}

/// `POST /webhooks/twilio/amd`: the asynchronous answering-machine result of a call
/// Switchboard placed (`AnsweredBy`: `human`, `machine_start`, `fax`, `unknown`, ...).
pub(crate) struct Amd;

impl Callback for Amd {
    fn read(form: &Form, call_sid: &str) -> Result<Report, WebhookError> {
        let result = form.required("AnsweredBy")?;
        let detected = CallEvent::MachineDetected {
            result: result.to_owned(),
        };
        Ok((format!("{call_sid}/amd/{result}"), vec![detected]))
    }
}

/// `POST /webhooks/twilio/recording?call_id=…`: a recording Switchboard asked for (§11.2).
/// `completed`: the file is ready at `RecordingUrl` (fetched and kept by `recordings::fetch`);
/// `absent` (too short, or silent) or `failed`: there is none, and the log says why.
pub(crate) struct Recording;

impl Callback for Recording {
    fn read(form: &Form, call_sid: &str) -> Result<Report, WebhookError> {
        let status = form.required("RecordingStatus")?;
        let recording = form.required("RecordingSid")?;
        let key = format!("{call_sid}/recording/{recording}/{status}");
        match status {
            "completed" => {
                let url = form.required("RecordingUrl")?;
                Ok((
                    key,
                    vec![CallEvent::RecordingSaved {
                        url: url.to_owned(),
                    }],
                ))
            }
            "absent" | "failed" => {
                let code = form.param("ErrorCode").unwrap_or("none given");
                tracing::warn!(%call_sid, %recording, %status, error_code = %code, "Twilio has no recording of the call");
                Ok((key, Vec::new()))
            }
            "in-progress" => Ok((key, Vec::new())),
            other => Err(WebhookError::Malformed(format!(
                "unknown RecordingStatus {other}"
            ))),
        }
    }
}

/// `POST /webhooks/twilio/stream-status`: what became of a call's media stream. A stream that
/// fails (Twilio could not reach `/media/twilio`, or the socket broke) leaves the caller to the
/// `<Hangup/>` after it; the call record says why. Started and stopped need nothing: the
/// bridge sees those itself.
pub(crate) struct StreamStatus;

impl Callback for StreamStatus {
    fn read(form: &Form, call_sid: &str) -> Result<Report, WebhookError> {
        let event = form.required("StreamEvent")?;
        let key = format!(
            "{call_sid}/stream/{}/{event}",
            form.param("StreamSid").unwrap_or("-")
        );
        match event {
            "stream-error" => {
                let error = form.param("StreamError").unwrap_or("no reason given");
                tracing::warn!(%call_sid, %error, "Twilio media stream failed");
                let ended = CallEvent::Ended {
                    status: CallStatus::Failed,
                    at: Timestamp::now(),
                    cause: Some(format!("the media stream failed: {error}")),
                    duration_secs: None,
                };
                Ok((key, vec![ended]))
            }
            "stream-started" | "stream-stopped" => Ok((key, Vec::new())),
            other => Err(WebhookError::Malformed(format!(
                "unknown StreamEvent {other}"
            ))),
        }
    }
}

/// `POST /webhooks/twilio/transfer?transfer_id=…`: progress of a warm transfer's call to the
/// person, told to the caller's live session. A call that ends before the person was put
/// through means they are not coming (the session knows whether they had been).
pub(super) async fn transfer_status(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let (form, id) = transfer_leg(&engine, &headers, &uri, &body).await?;
    let leg = form.required("CallSid")?;
    let news = match form.required("CallStatus")? {
        "queued" | "initiated" | "ringing" => None,
        "in-progress" => Some(LegNews::Answered),
        "completed" => Some(LegNews::Gone("they hung up".into())),
        "busy" => Some(LegNews::Gone("the line was busy".into())),
        "no-answer" => Some(LegNews::Gone("nobody answered".into())),
        "failed" => Some(LegNews::Gone("the call to them failed".into())),
        "canceled" => Some(LegNews::Gone("the call to them was canceled".into())),
        other => {
            return Err(WebhookError::Malformed(format!(
                "unknown CallStatus {other}"
            )));
        }
    };
    if let Some(news) = news {
        tell_transfer(&engine, &id, leg, news).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /webhooks/twilio/transfer-ready?transfer_id=…`: the person has heard the summary.
/// They go into the room, and the caller's session joins the caller to them; if the caller
/// has gone, the person is told so.
pub(super) async fn transfer_ready(
    State(engine): State<Engine>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, WebhookError> {
    let (form, id) = transfer_leg(&engine, &headers, &uri, &body).await?;
    let leg = form.required("CallSid")?;
    Ok(twiml_response(
        match tell_transfer(&engine, &id, leg, LegNews::Ready).await {
            Some(call_id) => twiml::conference(&room(&call_id)),
            None => twiml::caller_gone(),
        },
    ))
}
