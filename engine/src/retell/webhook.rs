//! `POST /webhooks/retell`: Retell's reports on the calls handed over to it (retell.md §8,
//! §15). Signed with the API key (`x-retell-signature`, checked over the raw body before
//! anything is read); `call_started`, `call_ended` and `call_analyzed` are applied once each
//! to the call record the registration named: answered, ended (time, duration, why) and the
//! transcript, caller's and agent's lines as the call log shows any call's.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use serde::Deserialize;

use super::signature;
use crate::domain::{CallEvent, CallStatus, Speaker, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::secrets::Provider;
use crate::store::StoreError;
use crate::telephony::urls::RETELL_WEBHOOK_PATH;
use crate::web::{ApiError, ErrorCode};

#[derive(Debug, Deserialize)]
struct Delivery {
    /// One Retell page names it `event_type` (retell.md §15): both are read.
    #[serde(alias = "event_type")]
    event: String,
    call: RetellCall,
}

#[derive(Debug, Deserialize)]
struct RetellCall {
    call_id: String,
    call_status: Option<String>,
    start_timestamp: Option<i64>,
    end_timestamp: Option<i64>,
    duration_ms: Option<i64>,
    disconnection_reason: Option<String>,
    transcript: Option<String>,
    transcript_object: Option<Vec<Utterance>>,
}

#[derive(Debug, Deserialize)]
struct Utterance {
    role: String,
    content: String,
    #[serde(default)]
    words: Vec<Word>,
}

#[derive(Debug, Deserialize)]
struct Word {
    /// Seconds from the call's start.
    start: Option<f64>,
}

/// Retell's `call_ended` carries the whole transcript, word by word: more than the public
/// listener's limit for carrier webhooks.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The route, mounted on the public listener at [`RETELL_WEBHOOK_PATH`].
pub fn routes() -> Router<Engine> {
    Router::new().route(
        RETELL_WEBHOOK_PATH,
        post(receive).layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

async fn receive(
    State(engine): State<Engine>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    check(&engine, &headers, &body).await?;
    let delivery: Delivery = serde_json::from_slice(&body)
        .map_err(|e| ApiError::malformed(format!("not a Retell call webhook: {e}")))?;
    let call = &delivery.call;
    let events = match delivery.event.as_str() {
        "call_started" => vec![CallEvent::Answered {
            at: call
                .start_timestamp
                .map_or_else(Timestamp::now, Timestamp::from_millis),
        }],
        "call_ended" | "call_analyzed" => ended(call),
        // Other events (transcript updates, transfers) are not subscribed to; nothing to do.
        _ => return Ok(StatusCode::NO_CONTENT),
    };
    let lines = transcript(call);
    let key = format!("{}/{}", call.call_id, delivery.event);
    let applied = match engine
        .store()
        .apply_retell_report(&call.call_id, &key, events, lines)
        .await
    {
        Ok(applied) => applied,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!(
                "no call was handed over to Retell as {}: nothing was changed",
                call.call_id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(call) = applied.call {
        engine.events().publish(Event::CallUpdated { call });
    }
    for line in applied.lines {
        engine.events().publish(Event::TranscriptLine { line });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signature check; refusals say only that it failed (the log says why).
async fn check(engine: &Engine, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if engine.config().insecure_skip_webhook_signatures {
        tracing::warn!("Retell webhook accepted WITHOUT signature verification");
        return Ok(());
    }
    let refused = |reason: &dyn std::fmt::Display| {
        tracing::warn!(%reason, "Retell webhook refused");
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "x-retell-signature check failed",
        )
    };
    let credentials = engine
        .secrets()
        .credentials(Provider::Retell)
        .await
        .map_err(|e| refused(&e))?;
    let header = headers
        .get("x-retell-signature")
        .map(|v| v.to_str().unwrap_or(""));
    let now = Timestamp::now().as_millis();
    signature::verify(credentials.get("api_key"), body, header, now).map_err(|e| refused(&e))
}

/// A finished call: answered when it started, then ended with Retell's figures.
fn ended(call: &RetellCall) -> Vec<CallEvent> {
    let mut events = Vec::new();
    if let Some(start) = call.start_timestamp {
        events.push(CallEvent::Answered {
            at: Timestamp::from_millis(start),
        });
    }
    let failed = call.call_status.as_deref() == Some("error")
        || call.call_status.as_deref() == Some("not_connected")
        || call
            .disconnection_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("error") || r == "registered_call_timeout");
    events.push(CallEvent::Ended {
        status: if failed {
            CallStatus::Failed
        } else {
            CallStatus::Completed
        },
        at: call
            .end_timestamp
            .map_or_else(Timestamp::now, Timestamp::from_millis),
        cause: call
            .disconnection_reason
            .as_ref()
            .map(|r| format!("retell: {r}")),
        duration_secs: call.duration_ms.map(|ms| ms / 1000),
    });
    events
}

/// The transcript as lines: `transcript_object` when sent (each utterance timed by its first
/// word), else the plain `transcript` ("Agent: …" / "User: …" lines).
fn transcript(call: &RetellCall) -> Vec<(Speaker, String, Timestamp)> {
    let start = call
        .start_timestamp
        .unwrap_or_else(|| Timestamp::now().as_millis());
    let speaker = |role: &str| match role {
        "agent" => Some(Speaker::Agent),
        "user" => Some(Speaker::Caller),
        _ => None,
    };
    if let Some(utterances) = &call.transcript_object {
        return utterances
            .iter()
            .filter_map(|u| {
                let offset = u.words.first().and_then(|w| w.start).unwrap_or(0.0);
                let at = Timestamp::from_millis(start.saturating_add((offset * 1000.0) as i64));
                Some((speaker(&u.role)?, u.content.trim().to_owned(), at))
            })
            .filter(|(_, text, _)| !text.is_empty())
            .collect();
    }
    let Some(text) = &call.transcript else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (role, said) = line.split_once(':')?;
            let said = said.trim();
            let who = speaker(&role.trim().to_ascii_lowercase())?;
            (!said.is_empty()).then(|| (who, said.to_owned(), Timestamp::from_millis(start)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(v: serde_json::Value) -> RetellCall {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn utterances_become_timed_lines_of_caller_and_agent() {
        let c = call(serde_json::json!({
            "call_id": "r1", "start_timestamp": 1000,
            "transcript_object": [
                {"role": "agent", "content": "Hello!", "words": [{"word": "Hello", "start": 0.5, "end": 0.9}]},
                {"role": "user", "content": " Hi ", "words": [{"word": "Hi", "start": 2.0, "end": 2.2}]},
                {"role": "transfer_target", "content": "x", "words": []}
            ]
        }));
        let lines = transcript(&c);
        assert_eq!(
            lines,
            vec![
                (
                    Speaker::Agent,
                    "Hello!".into(),
                    Timestamp::from_millis(1500)
                ),
                (Speaker::Caller, "Hi".into(), Timestamp::from_millis(3000)),
            ]
        );
    }

    #[test]
    fn the_plain_transcript_is_read_when_no_utterances_come() {
        let c = call(serde_json::json!({
            "call_id": "r1", "start_timestamp": 7, "transcript": "Agent: Hi\nUser: Hello there\n"
        }));
        let speakers: Vec<_> = transcript(&c).into_iter().map(|(s, t, _)| (s, t)).collect();
        assert_eq!(
            speakers,
            vec![
                (Speaker::Agent, "Hi".into()),
                (Speaker::Caller, "Hello there".into())
            ]
        );
    }

    #[test]
    fn an_error_ending_is_a_failed_call_with_retells_reason() {
        let c = call(serde_json::json!({
            "call_id": "r1", "call_status": "ended", "end_timestamp": 9000,
            "disconnection_reason": "error_asr"
        }));
        let events = ended(&c);
        assert!(matches!(
            events.as_slice(),
            [CallEvent::Ended { status: CallStatus::Failed, cause: Some(c), .. }] if c == "retell: error_asr"
        ));
    }
}
