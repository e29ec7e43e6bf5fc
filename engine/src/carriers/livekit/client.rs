//! LiveKit's server API for one outbound call (protocols/livekit-sip.md §1-§5): dispatch the
//! agent into the call's room, dial the callee into it through a SIP outbound trunk, end it,
//! and read where it stands. Twirp over HTTP with JSON bodies; every request carries a fresh
//! HS256 access token granting exactly what that method needs (§2).
//!
//! Why not `livekit-api`'s Twirp services: they send protobuf bodies through their own HTTP
//! stack (reqwest 0.13 with its own TLS set-up, region failover, chrono, progenitor), which
//! would be a second HTTP client beside the engine's, with a retry policy of its own, and the
//! test simulator could then only check our requests by decoding them with the same crate.
//! So the calls are plain Twirp JSON through `carriers::http` (the carriers' shared timeouts,
//! retries and error reading), and the crate is used for what it is best at: the access
//! tokens (`livekit_api::access_token`, the SDK's own claims and signing).

use std::collections::BTreeMap;
use std::time::Duration;

use livekit_api::access_token::{AccessToken, SIPGrants, VideoGrants};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{E164, Timestamp};
use crate::secrets::{Credentials, SecretsError};
use crate::telephony::rest::{self as http, CarrierApiError, Retry};

/// How long a request's token is valid: one request (with its retries), not the SDK's 6 h.
const TOKEN_TTL: Duration = Duration::from_secs(600);
const CARRIER: &str = "LiveKit";

#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    #[error(transparent)]
    Credentials(#[from] SecretsError),
    #[error("the LiveKit URL must be an http(s):// or ws(s):// URL")]
    BadUrl,
    #[error("invalid LiveKit call: {0}")]
    Invalid(&'static str),
    /// The access token could not be signed (the SDK's message names no key or secret).
    #[error("cannot sign a LiveKit access token: {0}")]
    Token(String),
    #[error(transparent)]
    Api(#[from] CarrierApiError),
    #[error("LiveKit answered {action} with an unreadable body: {detail}")]
    Unreadable {
        action: &'static str,
        detail: String,
    },
}

impl LiveKitError {
    /// The Twirp error code (`not_found`, `invalid_argument`, ...) when LiveKit refused.
    pub fn twirp_code(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.code(),
            _ => None,
        }
    }
}

/// Where and as whom to reach a LiveKit project. `Debug` never shows the secret.
#[derive(Clone)]
pub struct LiveKitProject {
    /// `http(s)://host[:port]`, no trailing slash (a `ws(s)://` project URL is rewritten).
    base: String,
    api_key: String,
    api_secret: String,
}

impl std::fmt::Debug for LiveKitProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKitProject")
            .field("base", &self.base)
            .field("api_key", &"<redacted>")
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

impl LiveKitProject {
    pub fn new(url: &str, api_key: &str, api_secret: &str) -> Result<Self, LiveKitError> {
        let url = url.trim().trim_end_matches('/');
        let base = if let Some(rest) = url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else if url.starts_with("https://") || url.starts_with("http://") {
            url.to_owned()
        } else {
            return Err(LiveKitError::BadUrl);
        };
        Ok(Self {
            base,
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
        })
    }

    /// The project the engine's LiveKit credentials (`url`, `api_key`, `api_secret`) name.
    pub fn from_credentials(c: &Credentials) -> Result<Self, LiveKitError> {
        Self::new(c.get("url"), c.get("api_key"), c.get("api_secret"))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A token for one request with `grant`.
    fn token(&self, grant: &Grant<'_>) -> Result<String, LiveKitError> {
        let token = AccessToken::with_api_key(&self.api_key, &self.api_secret).with_ttl(TOKEN_TTL);
        let token = match grant {
            Grant::SipCall => token.with_sip_grants(SIPGrants {
                call: true,
                admin: false,
            }),
            Grant::RoomAdmin(room) => token.with_grants(VideoGrants {
                room_admin: true,
                room: (*room).to_owned(),
                ..Default::default()
            }),
            Grant::RoomCreate => token.with_grants(VideoGrants {
                room_create: true,
                ..Default::default()
            }),
        };
        token
            .to_jwt()
            .map_err(|e| LiveKitError::Token(e.to_string()))
    }
}

/// What a request's token allows, per method as the SDK signs them (§2).
enum Grant<'a> {
    /// `sip.call`: CreateSIPParticipant.
    SipCall,
    /// `video.roomAdmin` on one room: dispatches, participants.
    RoomAdmin(&'a str),
    /// `video.roomCreate`: DeleteRoom.
    RoomCreate,
}

/// One outbound call to place through LiveKit.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveKitDial {
    /// The room the call lives in; by convention the call record's carrier call id.
    pub room: String,
    /// The SIP outbound trunk (`ST_…`).
    pub trunk_id: String,
    /// The callee.
    pub to: E164,
    /// The caller id (one of the trunk's numbers).
    pub from: E164,
    /// The callee's identity in the room.
    pub participant_identity: String,
    /// The agent worker to dispatch (its registered `agent_name`).
    pub agent_name: String,
    /// Switchboard's agent placing the call.
    pub agent_id: String,
    pub campaign_id: Option<String>,
    pub contact_name: Option<String>,
    pub campaign_prompt: Option<String>,
}

impl LiveKitDial {
    /// What the dispatched agent is told about the call (`CreateDispatch.metadata`).
    pub fn metadata(&self) -> DispatchMetadata {
        DispatchMetadata {
            phone_number: self.to.clone(),
            agent_id: self.agent_id.clone(),
            campaign_id: self.campaign_id.clone(),
            contact_name: self.contact_name.clone(),
            campaign_prompt: self.campaign_prompt.clone(),
            trunk_id: self.trunk_id.clone(),
        }
    }

    fn check(&self) -> Result<(), LiveKitError> {
        let blank = |s: &str| s.trim().is_empty();
        if blank(&self.room) {
            return Err(LiveKitError::Invalid("the room name is empty"));
        }
        if blank(&self.trunk_id) {
            return Err(LiveKitError::Invalid("the SIP trunk id is empty"));
        }
        if blank(&self.participant_identity) {
            return Err(LiveKitError::Invalid("the participant identity is empty"));
        }
        if blank(&self.agent_name) {
            return Err(LiveKitError::Invalid("the agent name is empty"));
        }
        Ok(())
    }
}

/// The JSON the dispatched agent worker receives as its job metadata. Optional fields are
/// left out when unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchMetadata {
    /// The number being called, E.164.
    pub phone_number: E164,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_prompt: Option<String>,
    pub trunk_id: String,
}

/// A call LiveKit accepted: it is ringing (the request does not wait for the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKitCall {
    pub room: String,
    pub participant_identity: String,
    /// `PA_…`
    pub participant_id: Option<String>,
    /// `SCL_…`
    pub sip_call_id: Option<String>,
    /// `AD_…`
    pub dispatch_id: Option<String>,
}

/// A SIP participant's `sip.callStatus` attribute (§4.2; only `active` = answered is
/// confirmed by the protocol source, the rest are the documented values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipCallStatus {
    Dialing,
    Ringing,
    Active,
    Hangup,
    Automation,
    Other(String),
}

impl SipCallStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "dialing" => Self::Dialing,
            "ringing" => Self::Ringing,
            "active" => Self::Active,
            "hangup" => Self::Hangup,
            "automation" => Self::Automation,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Dialing => "dialing",
            Self::Ringing => "ringing",
            Self::Active => "active",
            Self::Hangup => "hangup",
            Self::Automation => "automation",
            Self::Other(s) => s,
        }
    }
}

/// Where a call's SIP participant stands now, for reconciliation after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKitCallStatus {
    pub participant_identity: String,
    /// `PA_…`
    pub participant_id: String,
    /// `None` when LiveKit set no `sip.callStatus`.
    pub call_status: Option<SipCallStatus>,
    pub joined_at: Option<Timestamp>,
}

/// Reads a field by its proto name or its lowerCamelCase JSON name: Twirp answers with
/// proto names, webhooks use camelCase (§3).
pub(crate) fn field<'a>(v: &'a Value, proto_name: &str) -> Option<&'a Value> {
    if let Some(found) = v.get(proto_name) {
        return Some(found);
    }
    let mut camel = String::with_capacity(proto_name.len());
    let mut upper = false;
    for c in proto_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    v.get(camel)
}

pub(crate) fn text<'a>(v: &'a Value, proto_name: &str) -> Option<&'a str> {
    field(v, proto_name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A protobuf int64: JSON gives it as a string, sometimes as a number.
pub(crate) fn int64(v: &Value, proto_name: &str) -> Option<i64> {
    match field(v, proto_name)? {
        Value::String(s) => s.parse().ok(),
        n => n.as_i64(),
    }
}

/// When a participant joined: `joined_at_ms`, else `joined_at` (seconds).
pub(crate) fn joined_at(participant: &Value) -> Option<Timestamp> {
    match int64(participant, "joined_at_ms").filter(|ms| *ms > 0) {
        Some(ms) => Some(Timestamp::from_millis(ms)),
        None => int64(participant, "joined_at")
            .filter(|s| *s > 0)
            .map(|s| Timestamp::from_millis(s.saturating_mul(1000))),
    }
}

/// Whether a `ParticipantInfo` is a SIP participant (`kind` `SIP`, or 3 as a number).
pub(crate) fn is_sip(participant: &Value) -> bool {
    match field(participant, "kind") {
        Some(Value::String(k)) => k == "SIP",
        Some(n) => n.as_i64() == Some(3),
        None => false,
    }
}

pub(crate) fn sip_call_status(participant: &Value) -> Option<SipCallStatus> {
    field(participant, "attributes")
        .and_then(|a| a.get("sip.callStatus"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(SipCallStatus::parse)
}

#[derive(Clone)]
pub struct LiveKitClient {
    http: reqwest::Client,
}

impl Default for LiveKitClient {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveKitClient {
    pub fn new() -> Self {
        Self {
            http: http::client(),
        }
    }

    /// Places a call: dispatches `agent_name` into the room with the call's metadata, then
    /// dials the callee into the same room without waiting for the answer (§1 steps 3-4).
    /// If the dial is refused, the dispatch is withdrawn (best effort) so no agent waits in
    /// an empty room.
    pub async fn dial(
        &self,
        project: &LiveKitProject,
        d: &LiveKitDial,
    ) -> Result<LiveKitCall, LiveKitError> {
        d.check()?;
        let metadata = serde_json::to_string(&d.metadata()).expect("metadata serialises");
        let dispatch = self
            .twirp(
                project,
                "AgentDispatchService",
                "CreateDispatch",
                &Grant::RoomAdmin(&d.room),
                &json!({"agent_name": d.agent_name, "room": d.room, "metadata": metadata}),
                Retry::Transient,
            )
            .await?;
        let dispatch_id = text(&dispatch, "id").map(str::to_owned);

        let participant_name = d.contact_name.as_deref().unwrap_or(d.to.as_str());
        let body = json!({
            "sip_trunk_id": d.trunk_id,
            "sip_call_to": d.to.as_str(),
            "sip_number": d.from.as_str(),
            "room_name": d.room,
            "participant_identity": d.participant_identity,
            "participant_name": participant_name,
            "wait_until_answered": false,
        });
        // A repeat could ring the callee twice: sent again only if it never left.
        let dialed = self
            .twirp(
                project,
                "SIP",
                "CreateSIPParticipant",
                &Grant::SipCall,
                &body,
                Retry::UnsentOnly,
            )
            .await;
        let participant = match dialed {
            Ok(p) => p,
            Err(e) => {
                // A dial that may have rung keeps its agent: the callee may pick up.
                let unconfirmed =
                    matches!(e, LiveKitError::Api(CarrierApiError::Unconfirmed { .. }));
                if let Some(id) = dispatch_id.as_ref().filter(|_| !unconfirmed) {
                    self.withdraw_dispatch(project, id, &d.room).await;
                }
                return Err(e);
            }
        };
        Ok(LiveKitCall {
            room: d.room.clone(),
            participant_identity: text(&participant, "participant_identity")
                .unwrap_or(&d.participant_identity)
                .to_owned(),
            participant_id: text(&participant, "participant_id").map(str::to_owned),
            sip_call_id: text(&participant, "sip_call_id").map(str::to_owned),
            dispatch_id,
        })
    }

    async fn withdraw_dispatch(&self, project: &LiveKitProject, dispatch_id: &str, room: &str) {
        let withdrawn = self
            .twirp(
                project,
                "AgentDispatchService",
                "DeleteDispatch",
                &Grant::RoomAdmin(room),
                &json!({"dispatch_id": dispatch_id, "room": room}),
                Retry::Transient,
            )
            .await;
        if let Err(e) = withdrawn {
            tracing::warn!(%room, error = %e, "could not withdraw the agent dispatch of a failed dial");
        }
    }

    /// Ends the call by deleting its room: the SIP leg hangs up and the agent leaves. A room
    /// that no longer exists counts as done.
    pub async fn hang_up(&self, project: &LiveKitProject, room: &str) -> Result<(), LiveKitError> {
        let done = self
            .twirp(
                project,
                "RoomService",
                "DeleteRoom",
                &Grant::RoomCreate,
                &json!({"room": room}),
                Retry::Transient,
            )
            .await;
        match done {
            Err(e) if e.twirp_code() == Some("not_found") => Ok(()),
            other => other.map(drop),
        }
    }

    /// The call's SIP participant as LiveKit sees it now (`ListParticipants`), or `None`
    /// when the room or the participant is gone (the call is over, or never connected).
    pub async fn call_status(
        &self,
        project: &LiveKitProject,
        room: &str,
    ) -> Result<Option<LiveKitCallStatus>, LiveKitError> {
        let listed = self
            .twirp(
                project,
                "RoomService",
                "ListParticipants",
                &Grant::RoomAdmin(room),
                &json!({"room": room}),
                Retry::Transient,
            )
            .await;
        let listed = match listed {
            Err(e) if e.twirp_code() == Some("not_found") => return Ok(None),
            other => other?,
        };
        let participants = field(&listed, "participants")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(participants
            .iter()
            .find(|p| is_sip(p))
            .map(|p| LiveKitCallStatus {
                participant_identity: text(p, "identity").unwrap_or_default().to_owned(),
                participant_id: text(p, "sid").unwrap_or_default().to_owned(),
                call_status: sip_call_status(p),
                joined_at: joined_at(p),
            }))
    }

    /// `POST {base}/twirp/livekit.{service}/{method}` with a JSON body; the JSON answer.
    async fn twirp(
        &self,
        project: &LiveKitProject,
        service: &str,
        method: &'static str,
        grant: &Grant<'_>,
        body: &Value,
        retry: Retry,
    ) -> Result<Value, LiveKitError> {
        let token = project.token(grant)?;
        let url = format!("{}/twirp/livekit.{service}/{method}", project.base);
        let answer = http::send_with(
            retry,
            CARRIER,
            method,
            || self.http.post(&url).bearer_auth(&token).json(body),
            twirp_error,
        )
        .await?;
        serde_json::from_str(&answer).map_err(|e| LiveKitError::Unreadable {
            action: method,
            detail: e.to_string(),
        })
    }
}

/// The code and readable message of a Twirp error body (`{"code", "msg", "meta"}`), with
/// the SIP status LiveKit attaches to a failed dial.
fn twirp_error(body: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct TwirpError {
        code: String,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        meta: BTreeMap<String, String>,
    }
    match serde_json::from_str::<TwirpError>(body) {
        Ok(e) => {
            let mut message = if e.msg.is_empty() {
                e.code.clone()
            } else {
                format!("{} ({})", e.msg, e.code)
            };
            if let Some(code) = e.meta.get("sip_status_code") {
                let status = e.meta.get("sip_status").map(String::as_str).unwrap_or("");
                message = format!("{message}; SIP {code} {status}")
                    .trim_end()
                    .to_owned();
            }
            (Some(e.code), message)
        }
        Err(_) => (None, body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use livekit_api::access_token::TokenVerifier;

    const KEY: &str = "APIswitchboardtest";
    const SECRET: &str = "a-long-enough-test-secret-for-hs256-signing";

    fn claims(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).expect("three parts");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn tokens_carry_exactly_the_grant_of_their_method() {
        let project = LiveKitProject::new("wss://proj.example.test/", KEY, SECRET).unwrap();
        assert_eq!(project.base(), "https://proj.example.test");

        let sip = project.token(&Grant::SipCall).unwrap();
        let c = claims(&sip);
        assert_eq!(c["iss"], KEY);
        assert_eq!(
            c["sip"],
            json!({"call": true}),
            "dialing needs sip.call only"
        );
        assert!(c.get("video").is_none(), "no room rights for a dial: {c}");
        let (nbf, exp) = (c["nbf"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
        assert!(
            (600..=601).contains(&(exp - nbf)),
            "a token lives for one request, not 6 h: {c}"
        );
        let header = sip.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "HS256");

        let admin = claims(&project.token(&Grant::RoomAdmin("call-c1")).unwrap());
        assert_eq!(
            admin["video"],
            json!({"roomAdmin": true, "room": "call-c1"})
        );
        assert!(admin.get("sip").is_none());
        let create = claims(&project.token(&Grant::RoomCreate).unwrap());
        assert_eq!(create["video"], json!({"roomCreate": true}));

        let verified = TokenVerifier::with_api_key(KEY, SECRET)
            .verify(&sip)
            .unwrap();
        assert!(verified.sip.call);
        assert!(
            TokenVerifier::with_api_key(KEY, "another-secret")
                .verify(&sip)
                .is_err(),
            "signed with the project's secret"
        );
    }

    #[test]
    fn the_reference_token_of_the_notes_verifies() {
        // protocols/livekit-sip.md §2, the SDK's test vector.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoibmFtZSIsInZpZGVvIjp7InJvb21Kb2luIjp0cnVlLCJyb29tIjoibXktcm9vbSIsImNhblB1Ymxpc2giOnRydWUsImNhblN1YnNjcmliZSI6dHJ1ZSwiY2FuUHVibGlzaERhdGEiOnRydWV9LCJyb29tQ29uZmlnIjp7ImFnZW50cyI6W3siYWdlbnROYW1lIjoidGVzdC1hZ2VudCIsIm1ldGFkYXRhIjoidGVzdC1tZXRhZGF0YSJ9XX0sInN1YiI6ImlkZW50aXR5IiwiaXNzIjoibXlhcGlrZXkiLCJuYmYiOjE3NDE4Njk2NzksImV4cCI6NDEwMjQ0NDgwMH0.hmKovgw6sDbQUFZxAQ9Xjb9-VUzeBw1A6URTXFuCLMU";
        let c = TokenVerifier::with_api_key("myapikey", "thiskeyistotallyunsafe")
            .verify(token)
            .unwrap();
        assert_eq!(
            (c.sub.as_str(), c.video.room.as_str()),
            ("identity", "my-room")
        );
    }

    #[test]
    fn debug_hides_the_key_and_secret() {
        let project = LiveKitProject::new("https://proj.example.test", KEY, SECRET).unwrap();
        let shown = format!("{project:?}");
        assert!(!shown.contains(SECRET) && !shown.contains(KEY), "{shown}");
        assert!(matches!(
            LiveKitProject::new("proj.example.test", KEY, SECRET),
            Err(LiveKitError::BadUrl)
        ));
    }

    fn dial() -> LiveKitDial {
        LiveKitDial {
            room: "call-c1".into(),
            trunk_id: "ST_abc123".into(),
            to: E164::parse("+61412345678", None).unwrap(),
            from: E164::parse("+61298765432", None).unwrap(),
            participant_identity: "pstn-c1".into(),
            agent_name: "switchboard-agent".into(),
            agent_id: "agt_42".into(),
            campaign_id: Some("cmp_7".into()),
            contact_name: Some("Jane".into()),
            campaign_prompt: Some("Offer the spring service.".into()),
        }
    }

    #[test]
    fn metadata_json_names_the_call() {
        let full = serde_json::to_value(dial().metadata()).unwrap();
        assert_eq!(
            full,
            json!({
                "phone_number": "+61412345678",
                "agent_id": "agt_42",
                "campaign_id": "cmp_7",
                "contact_name": "Jane",
                "campaign_prompt": "Offer the spring service.",
                "trunk_id": "ST_abc123",
            })
        );
        let bare = LiveKitDial {
            campaign_id: None,
            contact_name: None,
            campaign_prompt: None,
            ..dial()
        };
        assert_eq!(
            serde_json::to_value(bare.metadata()).unwrap(),
            json!({"phone_number": "+61412345678", "agent_id": "agt_42", "trunk_id": "ST_abc123"}),
            "unknown optional fields are left out"
        );
        let back: DispatchMetadata = serde_json::from_value(
            json!({"phone_number": "+61412345678", "agent_id": "a", "trunk_id": "t"}),
        )
        .unwrap();
        assert_eq!(back.campaign_id, None);
    }

    #[test]
    fn twirp_errors_read_with_their_sip_status() {
        let (code, message) = twirp_error(
            r#"{"code":"resource_exhausted","msg":"twirp error unknown: sip call failed","meta":{"sip_status_code":"486","sip_status":"Busy Here"}}"#,
        );
        assert_eq!(code.as_deref(), Some("resource_exhausted"));
        assert_eq!(
            message,
            "twirp error unknown: sip call failed (resource_exhausted); SIP 486 Busy Here"
        );
        assert_eq!(
            twirp_error(r#"{"code":"not_found","msg":"requested room does not exist"}"#),
            (
                Some("not_found".into()),
                "requested room does not exist (not_found)".into()
            )
        );
        assert_eq!(twirp_error("bad gateway"), (None, "bad gateway".into()));
    }

    #[test]
    fn fields_read_by_proto_or_camel_case_name() {
        let camel = json!({"joinedAtMs": "1700000000123", "kind": "SIP",
            "attributes": {"sip.callStatus": "active"}});
        assert_eq!(
            joined_at(&camel),
            Some(Timestamp::from_millis(1_700_000_000_123))
        );
        assert!(is_sip(&camel));
        assert_eq!(sip_call_status(&camel), Some(SipCallStatus::Active));
        let snake = json!({"joined_at": 1_700_000_000, "kind": "STANDARD"});
        assert_eq!(
            joined_at(&snake),
            Some(Timestamp::from_millis(1_700_000_000_000))
        );
        assert!(!is_sip(&snake));
        assert_eq!(sip_call_status(&snake), None);
    }
}
