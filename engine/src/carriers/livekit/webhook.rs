//! LiveKit's webhooks (`POST /webhooks/livekit`): a `WebhookEvent` as protobuf JSON, with an
//! `Authorization` header holding an HS256 token signed with the project's API secret
//! (issuer: the API key) whose `sha256` claim is the base64 SHA-256 of the body. Only events
//! about a room that is one of our calls (room name = the call's carrier call id) and its SIP
//! participant change anything; each delivery applies once, keyed by the event's `id`.
//!
//! Verification is `livekit_api::webhooks::WebhookReceiver`'s check (the SDK's token verifier,
//! then the body hash), but the body is read leniently as JSON rather than through the
//! generated protobuf types, which refuse enum values newer than the crate (a new
//! `ParticipantInfo.kind` would otherwise turn an event into a lost delivery).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use livekit_api::access_token::TokenVerifier;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::{SipCallStatus, int64, is_sip, sip_call_status, text};
use super::room::call_id_of_room;
use crate::carriers::webhook::{WebhookError, check_signature};
use crate::domain::{CallEvent, CallStatus, Carrier, Timestamp};
use crate::engine::Engine;
use crate::secrets::Provider;

const CARRIER: Carrier = Carrier::Livekit;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Authorization header")]
    Missing,
    /// The verifier's reason (bad signature, expired, wrong issuer); it never quotes the
    /// token or the secret.
    #[error("the Authorization token is not valid: {0}")]
    Token(String),
    #[error("the token's sha256 claim does not match the body")]
    BodyMismatch,
}

/// Checks a delivery: the token was signed with `api_secret` by `api_key` and is within its
/// validity, and it vouches for exactly this body.
pub fn verify(
    api_key: &str,
    api_secret: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let token = authorization
        .map(str::trim)
        // LiveKit sends the bare token; accept the bearer form too.
        .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).trim())
        .filter(|t| !t.is_empty())
        .ok_or(SignatureError::Missing)?;
    let claims = TokenVerifier::with_api_key(api_key, api_secret)
        .verify(token)
        .map_err(|e| SignatureError::Token(e.to_string()))?;
    let claimed = base64::engine::general_purpose::STANDARD
        .decode(claims.sha256.trim())
        .map_err(|_| SignatureError::BodyMismatch)?;
    let actual = Sha256::digest(body);
    if crate::secrets::constant_time_eq(&claimed, &actual) {
        Ok(())
    } else {
        Err(SignatureError::BodyMismatch)
    }
}

/// `POST /webhooks/livekit`.
pub async fn webhook(
    State(engine): State<Engine>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebhookError> {
    check_signature(&engine, CARRIER, Provider::Livekit, |credentials| {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        verify(
            credentials.get("api_key"),
            credentials.get("api_secret"),
            authorization,
            &body,
        )
    })
    .await?;
    if let Some(update) = read(&body, Timestamp::now())? {
        // LiveKit reports a call as soon as it is under way, so a report can beat its answer
        // to the dial, before the room is on the call record: the room's name says the call.
        crate::calls::report::apply(
            &engine,
            CARRIER,
            &update.event_id,
            &update.room,
            call_id_of_room(&update.room),
            &update.events,
        )
        .await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// What one event says about the call in `room`.
#[derive(Debug, PartialEq)]
pub(crate) struct CallUpdate {
    pub(crate) event_id: String,
    pub(crate) room: String,
    pub(crate) events: Vec<CallEvent>,
}

/// A delivery's body (verified or not: nothing here trusts it), as the call update it is.
pub(crate) fn read(body: &[u8], now: Timestamp) -> Result<Option<CallUpdate>, WebhookError> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a LiveKit webhook event: {e}")))?;
    call_update(&event, now)
}

/// Maps an event to call events: the SIP participant joining active (or publishing while
/// active) is the answer, joining earlier is ringing; the SIP participant leaving, or the
/// room finishing, is the end. Anything else (the agent's comings and goings, tracks of
/// other participants, egress) is `None`.
fn call_update(event: &Value, now: Timestamp) -> Result<Option<CallUpdate>, WebhookError> {
    let malformed = |m: &str| WebhookError::Malformed(m.to_owned());
    let kind = text(event, "event").ok_or_else(|| malformed("event is missing"))?;
    let event_id = text(event, "id").ok_or_else(|| malformed("id is missing"))?;
    let at = int64(event, "created_at")
        .filter(|s| *s > 0)
        .map(|s| Timestamp::from_millis(s.saturating_mul(1000)))
        .unwrap_or(now);
    let sip = event.get("participant").filter(|p| is_sip(p));

    let events = match (kind, sip) {
        ("participant_joined", Some(p)) => match sip_call_status(p) {
            Some(SipCallStatus::Active) => vec![CallEvent::Answered { at }],
            Some(SipCallStatus::Hangup) => Vec::new(),
            _ => vec![CallEvent::Ringing],
        },
        ("track_published", Some(p)) if sip_call_status(p) == Some(SipCallStatus::Active) => {
            vec![CallEvent::Answered { at }]
        }
        ("participant_left" | "participant_connection_aborted", Some(p)) => left(p, at),
        ("room_finished", _) => {
            let reason = text(event, "room_end_reason").filter(|r| *r != "ROOM_END_UNKNOWN");
            let status = match reason {
                // Our hang-up (or an operator's) before the answer.
                Some("ROOM_END_API_DELETE") => CallStatus::Canceled,
                _ => CallStatus::Failed,
            };
            vec![CallEvent::Ended {
                status,
                at,
                cause: Some(reason.unwrap_or("room_finished").to_ascii_lowercase()),
                duration_secs: None,
            }]
        }
        _ => return Ok(None),
    };
    let room = event
        .get("room")
        .and_then(|r| text(r, "name"))
        .ok_or_else(|| malformed("room.name is missing"))?;
    Ok(Some(CallUpdate {
        event_id: event_id.to_owned(),
        room: room.to_owned(),
        events,
    }))
}

/// The SIP participant left: the call is over. An answered call ends `completed` whatever
/// the reason (the store sees to that); an unanswered one says why it never connected, from
/// the disconnect reason, else from how far the call got (`sip.callStatus`).
fn left(participant: &Value, at: Timestamp) -> Vec<CallEvent> {
    let reason = match super::client::field(participant, "disconnect_reason") {
        Some(Value::String(r)) if r != "UNKNOWN_REASON" && !r.is_empty() => Some(r.clone()),
        Some(Value::Number(n)) if n.as_i64() != Some(0) => Some(n.to_string()),
        _ => None,
    };
    let call_status = sip_call_status(participant);
    let mut events = Vec::new();
    // Active when it left: answered, even if the join that said so never reached us.
    if call_status == Some(SipCallStatus::Active) {
        events.push(CallEvent::Answered { at });
    }
    let status = match reason.as_deref() {
        Some("USER_UNAVAILABLE") => CallStatus::NoAnswer,
        Some("USER_REJECTED") => CallStatus::Busy,
        Some("PARTICIPANT_REMOVED" | "ROOM_DELETED") => CallStatus::Canceled,
        Some(_) => CallStatus::Failed,
        None => match call_status {
            Some(SipCallStatus::Dialing | SipCallStatus::Ringing) => CallStatus::NoAnswer,
            _ => CallStatus::Failed,
        },
    };
    let cause = reason
        .map(|r| r.to_ascii_lowercase())
        .or_else(|| call_status.map(|s| format!("left while {}", s.as_str())));
    events.push(CallEvent::Ended {
        status,
        at,
        cause,
        duration_secs: None,
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_api::access_token::AccessToken;
    use serde_json::json;

    const KEY: &str = "APIwebhooktest";
    const SECRET: &str = "webhook-test-secret-long-enough-for-hs256";

    fn signed(body: &str, key: &str, secret: &str) -> String {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        AccessToken::with_api_key(key, secret)
            .with_sha256(&hash)
            .to_jwt()
            .unwrap()
    }

    #[test]
    fn accepts_a_signed_body_and_refuses_tampering_and_strangers() {
        let body = r#"{"event":"room_finished","id":"EV_1"}"#;
        let token = signed(body, KEY, SECRET);
        assert_eq!(verify(KEY, SECRET, Some(&token), body.as_bytes()), Ok(()));
        assert_eq!(
            verify(
                KEY,
                SECRET,
                Some(&format!("Bearer {token}")),
                body.as_bytes()
            ),
            Ok(())
        );
        let tampered = body.replace("EV_1", "EV_2");
        assert_eq!(
            verify(KEY, SECRET, Some(&token), tampered.as_bytes()),
            Err(SignatureError::BodyMismatch)
        );
        assert!(matches!(
            verify(
                KEY,
                SECRET,
                Some(&signed(body, KEY, "not-the-secret")),
                body.as_bytes()
            ),
            Err(SignatureError::Token(_))
        ));
        assert!(
            matches!(
                verify(
                    KEY,
                    SECRET,
                    Some(&signed(body, "APIother", SECRET)),
                    body.as_bytes()
                ),
                Err(SignatureError::Token(_))
            ),
            "the issuer must be our API key"
        );
        assert_eq!(
            verify(KEY, SECRET, None, body.as_bytes()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(KEY, SECRET, Some("  "), body.as_bytes()),
            Err(SignatureError::Missing)
        );
        // A valid token without a body hash vouches for no body.
        let bare = AccessToken::with_api_key(KEY, SECRET).to_jwt().unwrap();
        assert_eq!(
            verify(KEY, SECRET, Some(&bare), body.as_bytes()),
            Err(SignatureError::BodyMismatch)
        );
        let e = verify(KEY, SECRET, Some(&signed(body, KEY, "x")), b"").unwrap_err();
        assert!(!e.to_string().contains(SECRET), "{e}");
    }

    const NOW: i64 = 1_800_000_000_000;

    fn sip(status: &str, extra: Value) -> Value {
        let mut p = json!({"sid": "PA_1", "identity": "pstn-c1", "state": "ACTIVE", "kind": "SIP",
            "attributes": {"sip.callStatus": status, "sip.phoneNumber": "+61412345678"}});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    }

    fn update(event: Value) -> Option<CallUpdate> {
        call_update(&event, Timestamp::from_millis(NOW)).unwrap()
    }

    fn ev(kind: &str, participant: Option<Value>) -> Value {
        let mut e = json!({"event": kind, "id": "EV_x", "createdAt": "1700000000",
            "room": {"sid": "RM_1", "name": "call-c1"}});
        if let Some(p) = participant {
            e["participant"] = p;
        }
        e
    }

    /// The events' `createdAt`.
    fn at() -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000)
    }

    #[test]
    fn the_sip_participant_joining_active_is_the_answer() {
        let u = update(ev("participant_joined", Some(sip("active", json!({}))))).unwrap();
        assert_eq!(
            u,
            CallUpdate {
                event_id: "EV_x".into(),
                room: "call-c1".into(),
                events: vec![CallEvent::Answered { at: at() }],
            }
        );
        let ringing = update(ev("participant_joined", Some(sip("ringing", json!({}))))).unwrap();
        assert_eq!(ringing.events, vec![CallEvent::Ringing]);
        let agent = json!({"sid": "PA_2", "identity": "agent-AJ_1", "kind": "AGENT"});
        assert_eq!(
            update(ev("participant_joined", Some(agent.clone()))),
            None,
            "the agent joining says nothing about the phone call"
        );
        assert_eq!(update(ev("participant_left", Some(agent))), None);
        assert_eq!(update(ev("room_started", None)), None);
    }

    fn ended(u: &CallUpdate) -> (CallStatus, Option<&str>) {
        match u.events.last() {
            Some(CallEvent::Ended { status, cause, .. }) => (*status, cause.as_deref()),
            other => panic!("expected an end, got {other:?}"),
        }
    }

    #[test]
    fn leaving_says_why_an_unanswered_call_never_connected() {
        let cases = [
            (
                "ringing",
                "USER_UNAVAILABLE",
                CallStatus::NoAnswer,
                Some("user_unavailable"),
            ),
            (
                "ringing",
                "USER_REJECTED",
                CallStatus::Busy,
                Some("user_rejected"),
            ),
            (
                "dialing",
                "SIP_TRUNK_FAILURE",
                CallStatus::Failed,
                Some("sip_trunk_failure"),
            ),
            (
                "ringing",
                "ROOM_DELETED",
                CallStatus::Canceled,
                Some("room_deleted"),
            ),
            (
                "ringing",
                "UNKNOWN_REASON",
                CallStatus::NoAnswer,
                Some("left while ringing"),
            ),
            (
                "hangup",
                "UNKNOWN_REASON",
                CallStatus::Failed,
                Some("left while hangup"),
            ),
        ];
        for (status, reason, want, cause) in cases {
            let p = sip(status, json!({"disconnectReason": reason}));
            let u = update(ev("participant_left", Some(p))).unwrap();
            assert_eq!(u.events.len(), 1, "{status}/{reason}: no answer");
            assert_eq!(ended(&u), (want, cause), "{status}/{reason}");
        }
        let answered = update(ev(
            "participant_left",
            Some(sip(
                "active",
                json!({"disconnectReason": "CLIENT_INITIATED"}),
            )),
        ))
        .unwrap();
        assert_eq!(
            answered.events[0],
            CallEvent::Answered { at: at() },
            "active when it left: it was answered"
        );
        assert_eq!(ended(&answered).1, Some("client_initiated"));
    }

    #[test]
    fn room_finished_ends_the_call_and_malformed_events_are_refused() {
        let mut e = ev("room_finished", None);
        e["roomEndReason"] = json!("ROOM_END_API_DELETE");
        assert_eq!(
            ended(&update(e).unwrap()),
            (CallStatus::Canceled, Some("room_end_api_delete"))
        );
        let plain = update(ev("room_finished", None)).unwrap();
        assert_eq!(ended(&plain), (CallStatus::Failed, Some("room_finished")));

        let now = Timestamp::from_millis(NOW);
        for bad in [
            json!({"id": "EV_1"}),
            json!({"event": "room_finished"}),
            json!({"event": "room_finished", "id": "EV_1"}),
        ] {
            assert!(
                matches!(call_update(&bad, now), Err(WebhookError::Malformed(_))),
                "{bad}"
            );
        }
        let mut no_time = ev("participant_joined", Some(sip("active", json!({}))));
        no_time.as_object_mut().unwrap().remove("createdAt");
        assert_eq!(
            update(no_time).unwrap().events,
            vec![CallEvent::Answered { at: now }]
        );
    }
}
