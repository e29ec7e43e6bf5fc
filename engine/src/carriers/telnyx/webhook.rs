//! Telnyx Call Control v2 webhooks: one signed JSON event per call event (protocols/telnyx.md
//! §2). A new inbound call is answered with an `answer` command carrying a bidirectional PCMU
//! media stream, or a `reject`, through the Call Control API; every other event updates the
//! call's record.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{TRANSFER_STATE, client_state, our_call_id};
use super::client::{self, TelnyxClient};
use super::signature;
use crate::carriers::webhook::{WebhookError, check_signature, tell_transfer};
use crate::domain::{CallEvent, CallStatus, Carrier, RejectReason, Timestamp, VoiceBackend};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::LegNews;
use crate::retell::hand_off::{HandOff, hand_over};
use crate::routing::{Decision, InboundCall, route_inbound};
use crate::secrets::Provider;
use crate::telephony::CarrierError;

const CARRIER: Carrier = Carrier::Telnyx;

#[derive(Debug, Deserialize)]
struct Envelope {
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    event_type: String,
    id: String,
    occurred_at: Option<String>,
    payload: Value,
}

/// One Call Control event, read from its body before anything is done about it.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The event's own id: repeats of a delivery apply once.
    pub(crate) id: String,
    pub(crate) event_type: String,
    /// `None` only for `call.recording.saved`, whose call is named by its client state.
    pub(crate) call_control_id: Option<String>,
    /// Switchboard's call id from the client state, for the calls it placed (or a warm
    /// transfer's, prefixed `TRANSFER_STATE`).
    pub(crate) ours: Option<String>,
    pub(crate) hangup_cause: Option<String>,
    pub(crate) what: What,
}

/// What a delivery asks of the engine.
#[derive(Debug)]
pub(crate) enum What {
    /// A new call to one of our numbers: route it, answer or reject it.
    Incoming { inbound: InboundCall },
    /// The media stream failed: hang up (nobody would hear anything), and record why.
    StreamFailed { reason: String, at: Timestamp },
    /// News of a call, applied once.
    Event(CallEvent),
    /// Nothing the call record keeps.
    Nothing,
}

impl Delivery {
    /// Reads a delivery's body (verified or not: nothing here trusts it).
    pub(crate) fn read(body: &[u8], now: Timestamp) -> Result<Self, WebhookError> {
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| WebhookError::Malformed(format!("not a Call Control event: {e}")))?;
        let data = envelope.data;
        let payload = &data.payload;
        let text = |name: &str| payload[name].as_str().filter(|s| !s.is_empty());
        let call_control_id = text("call_control_id").map(str::to_owned);
        // `call.recording.saved` may name no call control id (protocols/telnyx.md §7.3): the
        // call is found by its client state, Switchboard's call id.
        if call_control_id.is_none() && data.event_type != "call.recording.saved" {
            return Err(WebhookError::Malformed(
                "payload.call_control_id is missing".into(),
            ));
        }
        let at = data
            .occurred_at
            .as_deref()
            .and_then(|t| Timestamp::parse(t).ok())
            .unwrap_or(now);
        let what = match data.event_type.as_str() {
            "call.initiated" if text("direction") == Some("incoming") => What::Incoming {
                inbound: InboundCall {
                    carrier: CARRIER,
                    carrier_call_id: call_control_id.clone().unwrap_or_default(),
                    from: text("from").unwrap_or("anonymous").to_owned(),
                    to: text("to")
                        .ok_or_else(|| WebhookError::Malformed("payload.to is missing".into()))?
                        .to_owned(),
                    at,
                },
            },
            "call.answered" => What::Event(CallEvent::Answered { at }),
            "call.hangup" => What::Event(CallEvent::Ended {
                status: hangup_status(text("hangup_cause")),
                at,
                cause: text("hangup_cause").map(str::to_owned),
                duration_secs: None,
            }),
            "call.recording.saved" => payload["recording_urls"]["wav"]
                .as_str()
                .or(payload["recording_urls"]["mp3"].as_str())
                .map_or(What::Nothing, |url| {
                    What::Event(CallEvent::RecordingSaved {
                        url: url.to_owned(),
                    })
                }),
            "call.machine.detection.ended" | "call.machine.premium.detection.ended" => {
                text("result").map_or(What::Nothing, |r| {
                    What::Event(CallEvent::MachineDetected {
                        result: r.to_owned(),
                    })
                })
            }
            "streaming.failed" => What::StreamFailed {
                reason: text("failure_reason")
                    .unwrap_or("no reason given")
                    .to_owned(),
                at,
            },
            _ => What::Nothing,
        };
        Ok(Self {
            ours: text("client_state").and_then(our_call_id),
            hangup_cause: text("hangup_cause").map(str::to_owned),
            id: data.id,
            event_type: data.event_type,
            call_control_id,
            what,
        })
    }
}

/// `POST /webhooks/telnyx`: every Call Control event. Answers 200 at once; commands go out
/// in the background, as Telnyx expects a reply within about two seconds.
pub(super) async fn webhook(
    State(engine): State<Engine>,
    Extension(client): Extension<TelnyxClient>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebhookError> {
    check_signature(&engine, CARRIER, Provider::Telnyx, |key| {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        signature::verify(
            key.get("public_key"),
            header("telnyx-timestamp"),
            header("telnyx-signature-ed25519"),
            &body,
            jiff::Timestamp::now().as_second(),
        )
    })
    .await?;
    let delivery = Delivery::read(&body, Timestamp::now())?;
    let call_control_id = match delivery.call_control_id {
        Some(id) => id,
        None => recorded_call(&engine, delivery.ours.as_deref()).await?,
    };

    // A warm transfer's call to the person is no call of the log: its news goes to the
    // caller's session.
    if let Some(transfer_id) = delivery
        .ours
        .as_deref()
        .and_then(|s| s.strip_prefix(TRANSFER_STATE))
    {
        tokio::spawn(transfer_leg(
            engine,
            client,
            transfer_id.to_owned(),
            call_control_id,
            delivery.event_type,
            delivery.hangup_cause,
        ));
        return Ok(StatusCode::OK.into_response());
    }

    let event = match delivery.what {
        What::Incoming { inbound } => {
            let (decision, first) = route_inbound(&engine, &inbound).await?;
            if first {
                tokio::spawn(send_decision(
                    engine.clone(),
                    client.clone(),
                    call_control_id.clone(),
                    decision,
                ));
            }
            None
        }
        What::StreamFailed { reason, at } => {
            tracing::warn!(%reason, "Telnyx media stream failed; ending the call");
            let cause = format!("the media stream failed: {reason}");
            end_call_without_media(&engine, &call_control_id, &cause).await?;
            Some(CallEvent::Ended {
                status: CallStatus::Failed,
                at,
                cause: Some(cause),
                duration_secs: None,
            })
        }
        What::Event(event) => Some(event),
        What::Nothing => None,
    };
    if let Some(event) = event {
        // Calls Switchboard placed carry its call id as client state.
        crate::calls::report::apply(
            &engine,
            CARRIER,
            &delivery.id,
            &call_control_id,
            delivery.ours.as_deref(),
            &[event],
        )
        .await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// The call control id of the call whose client state is `client_state`.
async fn recorded_call(engine: &Engine, ours: Option<&str>) -> Result<String, WebhookError> {
    let missing = || {
        WebhookError::Malformed(
            "payload names neither call_control_id nor a call of ours in client_state".into(),
        )
    };
    let ours = ours.ok_or_else(missing)?;
    match engine.store().get_call(ours).await {
        Ok(call) => call.carrier_call_id.ok_or_else(missing),
        Err(_) => Err(missing()),
    }
}

/// Without its media stream the caller would hear silence until they gave up: hang up (a
/// live bridge does it itself and records why).
async fn end_call_without_media(
    engine: &Engine,
    call_control_id: &str,
    cause: &str,
) -> Result<(), WebhookError> {
    let Some(call) = engine
        .store()
        .find_call_by_carrier_id(CARRIER, call_control_id)
        .await?
    else {
        return Ok(());
    };
    let (engine, reason) = (engine.clone(), cause.to_owned());
    // In the background: Telnyx wants its answer within seconds.
    tokio::spawn(async move {
        if let Err(e) = crate::calls::hang_up::hang_up(&engine, &call, &reason).await {
            tracing::error!(call_id = %call.id, error = %e, "could not hang up after the stream failed");
        }
    });
    Ok(())
}

/// A warm transfer's call to the person (§7.2's recipe): answered, it is told the summary
/// (`speak`); once that has been said, the caller's session joins them. If the caller has
/// gone meanwhile, the person is hung up on.
async fn transfer_leg(
    engine: Engine,
    client: TelnyxClient,
    transfer_id: String,
    leg: String,
    event_type: String,
    hangup_cause: Option<String>,
) {
    let news = match event_type.as_str() {
        "call.answered" => LegNews::Answered,
        "call.speak.ended" => LegNews::Ready,
        "call.hangup" => LegNews::Gone(
            match hangup_cause.as_deref() {
                Some("timeout" | "no_answer") => "nobody answered",
                Some("user_busy") => "the line was busy",
                Some("call_rejected") => "they declined the call",
                Some("normal_clearing") => "they hung up",
                Some("originator_cancel") => "the call to them was canceled",
                _ => "the call to them failed",
            }
            .into(),
        ),
        _ => return,
    };
    let answered = news == LegNews::Answered;
    let told = tell_transfer(&engine, &transfer_id, &leg, news).await;
    let summary = match (&told, answered) {
        (Some(_), true) => engine
            .store()
            .get_transfer(&transfer_id)
            .await
            .map(|t| t.summary)
            .ok(),
        _ => None,
    };
    let result: Result<(), CarrierError> = async {
        let key = engine.secrets().credentials(Provider::Telnyx).await?;
        let key = key.get("api_key");
        match (told, summary) {
            (Some(_), Some(summary)) => {
                let body = json!({
                    "payload": summary,
                    "voice": SPEAK_VOICE,
                    "command_id": format!("speak-{transfer_id}"),
                });
                client.command(key, &leg, "speak", &body).await?;
            }
            (None, _) if event_type != "call.hangup" => {
                let body = json!({"command_id": format!("hangup-{transfer_id}")});
                client.command(key, &leg, "hangup", &body).await?;
            }
            _ => {}
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(%transfer_id, error = %e, "a warm transfer's call to the person could not be told");
        if answered {
            let gone = LegNews::Gone(format!("they could not be told who is calling: {e}"));
            tell_transfer(&engine, &transfer_id, &leg, gone).await;
            // Best effort: they would be left on a silent line.
            if let Ok(key) = engine.secrets().credentials(Provider::Telnyx).await {
                let body = json!({"command_id": format!("hangup-{transfer_id}")});
                let _ = client
                    .command(key.get("api_key"), &leg, "hangup", &body)
                    .await;
            }
        }
    }
}

/// The voice a warm transfer's summary is read in to the person (§7.5).
const SPEAK_VOICE: &str = "AWS.Polly.Joanna-Neural";

/// A hangup's final status when the call was never answered (an answered call that ends is
/// `completed` whatever the cause).
fn hangup_status(cause: Option<&str>) -> CallStatus {
    match cause {
        Some("normal_clearing") => CallStatus::Completed,
        Some("user_busy") => CallStatus::Busy,
        Some("no_answer" | "timeout") => CallStatus::NoAnswer,
        Some("originator_cancel") => CallStatus::Canceled,
        Some("call_rejected") => CallStatus::Rejected,
        _ => CallStatus::Failed,
    }
}

/// Sends the answer or reject command. If Telnyx cannot be told, the call record says so.
async fn send_decision(
    engine: Engine,
    client: TelnyxClient,
    call_control_id: String,
    decision: Decision,
) {
    let result: Result<_, CarrierError> = async {
        let key = engine.secrets().credentials(Provider::Telnyx).await?;
        let (action, body, call) = match decision {
            // An agent on Retell: the call goes over to Retell's SIP URI by `transfer`
            // (telnyx.md §7.1, retell.md §7.2), or is refused when Retell cannot take it.
            Decision::Answer { call, agent } if agent.backend == VoiceBackend::Retell => {
                match hand_over(&engine, &call, &agent).await {
                    Ok(HandOff::Dial(uri)) => {
                        let body = json!({"to": uri, "command_id": format!("retell-{}", call.id)});
                        ("transfer", body, call)
                    }
                    handed => {
                        if let Err(e) = handed {
                            tracing::error!(call_id = %call.id, error = %e, "Retell hand-off not recorded");
                        }
                        let body = json!({"cause": "CALL_REJECTED", "command_id": format!("reject-{}", call.id)});
                        ("reject", body, call)
                    }
                }
            }
            Decision::Answer { call, .. } => {
                let public = engine.public().ok_or(CarrierError::NoPublicUrl)?;
                let stream = &public.urls.telnyx_media;
                let state = client_state(&call.id);
                let body =
                    client::answer_with_stream(stream, &state, &format!("answer-{}", call.id));
                ("answer", body, call)
            }
            Decision::Reject { call, reason } => {
                let cause = if reason == RejectReason::AgentBusy {
                    "USER_BUSY"
                } else {
                    "CALL_REJECTED"
                };
                let body = json!({"cause": cause, "command_id": format!("reject-{}", call.id)});
                ("reject", body, call)
            }
        };
        client
            .command(key.get("api_key"), &call_control_id, action, &body)
            .await?;
        Ok(call)
    }
    .await;
    if let Err(error) = result {
        tracing::error!(%error, "could not send the Telnyx command");
        let ended = CallEvent::Ended {
            status: CallStatus::Failed,
            at: Timestamp::now(),
            cause: Some(format!("switchboard: {error}")),
            duration_secs: None,
        };
        let key = format!("command-failed/{call_control_id}");
        if let Ok(Some(call)) = engine
            .store()
            .apply_call_events(CARRIER, &key, &call_control_id, &[ended])
            .await
        {
            engine.events().publish(Event::CallUpdated { call });
        }
    }
}
