//! LiveKit's server API on loopback, written from protocols/livekit-sip.md and independent of
//! the engine's client: Twirp JSON routes for the calls Switchboard makes, each checking its
//! bearer token (HS256 with the project secret, issuer = API key, in its validity window,
//! the grant the notes give for that method) and its body (field names and JSON types of the
//! proto message, required fields), recording every request, and answering like LiveKit or
//! with a Twirp error it was told to give. It also signs and sends webhooks the way LiveKit's
//! notifier does (bare token in `Authorization`, `sha256` claim over the exact body,
//! protobuf JSON in camelCase with 64-bit integers as strings).
//!
//! Stricter than LiveKit on one point, on purpose: an unknown field is refused
//! (`invalid_argument`) where the real server silently discards it, which would hide a
//! misspelt field in our requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const API_KEY: &str = "APIswitchboardSim";
pub const API_SECRET: &str = "sim-secret-0123456789abcdefghijklmnopqrstuvwxyz";

/// One request the simulator received (and accepted or refused).
#[derive(Debug, Clone)]
pub struct TwirpRequest {
    /// `SIP`, `AgentDispatchService`, `RoomService`.
    pub service: String,
    pub method: String,
    pub content_type: String,
    pub body: Value,
    /// The bearer token's claims, when its signature checked out.
    pub claims: Option<Value>,
}

#[derive(Default)]
struct Sim {
    requests: Vec<TwirpRequest>,
    /// Twirp errors to answer a method with, in order, before serving it again.
    failures: BTreeMap<String, VecDeque<(String, String, Value)>>,
    /// Rooms by name: their SIP and agent participants (proto JSON, snake_case).
    rooms: BTreeMap<String, Vec<Value>>,
    dispatches: BTreeMap<String, Value>,
    next_id: u64,
}

impl Sim {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_sim{:04}", self.next_id)
    }
}

#[derive(Clone)]
pub struct LiveKitSim {
    state: Arc<Mutex<Sim>>,
    /// The project URL to give the engine (`LIVEKIT_URL`).
    pub url: String,
    http: reqwest::Client,
}

impl LiveKitSim {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Sim::default()));
        let app = axum::Router::new()
            .route("/twirp/{service}/{method}", post(twirp))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            state,
            url,
            http: reqwest::Client::new(),
        }
    }

    /// The credentials a headless engine takes from its environment.
    pub fn credential_env(&self) -> Vec<(String, String)> {
        vec![
            ("LIVEKIT_URL".into(), self.url.clone()),
            ("LIVEKIT_API_KEY".into(), API_KEY.into()),
            ("LIVEKIT_API_SECRET".into(), API_SECRET.into()),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<TwirpRequest> {
        self.lock().requests.clone()
    }

    /// The methods called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.method).collect()
    }

    /// Answers the next call of `method` with a Twirp error (`code`, `msg`, `meta`).
    pub fn fail_next(&self, method: &str, code: &str, msg: &str, meta: Value) {
        self.lock()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back((code.to_owned(), msg.to_owned(), meta));
    }

    /// The SIP participant of `room`, as `ListParticipants` would show it.
    pub fn sip_participant(&self, room: &str) -> Option<Value> {
        self.lock()
            .rooms
            .get(room)?
            .iter()
            .find(|p| p["kind"] == "SIP")
            .cloned()
    }

    /// Moves the call in `room` along (`ringing`, `active`, `hangup`), as LiveKit updates
    /// the SIP participant's `sip.callStatus` attribute.
    pub fn set_call_status(&self, room: &str, status: &str) {
        let mut s = self.lock();
        let p = s
            .rooms
            .get_mut(room)
            .and_then(|ps| ps.iter_mut().find(|p| p["kind"] == "SIP"))
            .expect("the room has a SIP participant");
        p["attributes"]["sip.callStatus"] = json!(status);
    }

    /// A webhook token as LiveKit's notifier signs one: issuer the API key, valid 5 min,
    /// `sha256` the base64 SHA-256 of the body.
    pub fn webhook_token(&self, body: &str) -> String {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        let now = now_secs();
        sign_jwt(
            API_SECRET,
            &json!({"iss": API_KEY, "nbf": now, "exp": now + 300, "sha256": hash}),
        )
    }

    /// POSTs `body` to `url` signed as LiveKit would.
    pub async fn deliver(&self, url: &str, body: &str) -> (StatusCode, Value) {
        let token = self.webhook_token(body);
        self.deliver_with(url, body, Some(&token)).await
    }

    /// POSTs `body` with the `Authorization` header given (none when `None`).
    pub async fn deliver_with(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/webhook+json")
            .body(body.to_owned());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let res = req.send().await.expect("the engine answers");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 JWT over `claims` (RFC 7519 §3, written out rather than taken from the SDK).
pub fn sign_jwt(secret: &str, claims: &Value) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&mac.finalize().into_bytes()))
}

/// The claims of an HS256 JWT signed with `secret` by `key` and valid now.
pub fn verify_jwt(secret: &str, key: &str, token: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("not a JWT".into());
    };
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "not base64url".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "not JSON".to_owned())
    };
    if decode(header)?["alg"] != "HS256" {
        return Err("not HS256".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "signature not base64url".to_owned())?;
    mac.verify_slice(&signature)
        .map_err(|_| "signature does not match".to_owned())?;
    let claims = decode(payload)?;
    if claims["iss"] != key {
        return Err(format!("issuer {} is not the API key", claims["iss"]));
    }
    let now = now_secs();
    let (nbf, exp) = (claims["nbf"].as_i64(), claims["exp"].as_i64());
    if nbf.is_none_or(|nbf| nbf > now + 10) || exp.is_none_or(|exp| exp <= now) {
        return Err("outside its validity window".into());
    }
    Ok(claims)
}

/// HTTP status of a Twirp error code (Twirp spec).
fn http_status(code: &str) -> StatusCode {
    let n = match code {
        "invalid_argument" | "malformed" | "out_of_range" => 400,
        "unauthenticated" => 401,
        "permission_denied" => 403,
        "not_found" | "bad_route" => 404,
        "canceled" | "deadline_exceeded" => 408,
        "already_exists" | "aborted" => 409,
        "failed_precondition" => 412,
        "resource_exhausted" => 429,
        "unimplemented" => 501,
        "unavailable" => 503,
        _ => 500,
    };
    StatusCode::from_u16(n).unwrap()
}

type Reply = (StatusCode, axum::Json<Value>);

fn twirp_error(code: &str, msg: &str, meta: Value) -> Reply {
    let mut body = json!({"code": code, "msg": msg});
    if meta.as_object().is_some_and(|m| !m.is_empty()) {
        body["meta"] = meta;
    }
    (http_status(code), axum::Json(body))
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    /// google.protobuf.Duration: a decimal number of seconds with an `s`.
    Duration,
    /// A message or a map: a JSON object.
    Object,
    /// An enum, by name.
    Enum,
    Int,
}

/// The fields of each request message (proto names), from the notes and the .proto.
fn schema(method: &str) -> Option<&'static [(&'static str, Kind)]> {
    use Kind::*;
    Some(match method {
        "CreateSIPParticipant" => &[
            ("sip_trunk_id", Str),
            ("trunk", Object),
            ("sip_call_to", Str),
            ("sip_number", Str),
            ("room_name", Str),
            ("participant_identity", Str),
            ("participant_name", Str),
            ("participant_metadata", Str),
            ("participant_attributes", Object),
            ("dtmf", Str),
            ("play_ringtone", Bool),
            ("play_dialtone", Bool),
            ("hide_phone_number", Bool),
            ("headers", Object),
            ("include_headers", Enum),
            ("ringing_timeout", Duration),
            ("max_call_duration", Duration),
            ("krisp_enabled", Bool),
            ("media_encryption", Enum),
            ("media", Object),
            ("wait_until_answered", Bool),
            ("display_name", Str),
            ("destination", Object),
            ("to_user_override", Str),
            ("sip_request_uri", Str),
            ("sip_to_header", Str),
            ("sip_from_header", Str),
        ],
        "CreateDispatch" => &[
            ("agent_name", Str),
            ("room", Str),
            ("metadata", Str),
            ("restart_policy", Enum),
            ("deployment", Str),
            ("attributes", Object),
        ],
        "DeleteDispatch" => &[("dispatch_id", Str), ("room", Str)],
        "ListParticipants" | "DeleteRoom" => &[("room", Str)],
        "RemoveParticipant" => &[("room", Str), ("identity", Str), ("revoke_token_ts", Int)],
        _ => return None,
    })
}

fn camel(proto_name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in proto_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks a body against its message and returns it keyed by proto names.
fn validate(method: &str, body: &Value) -> Result<BTreeMap<String, Value>, String> {
    let fields = schema(method).expect("routed methods have a schema");
    let object = body.as_object().ok_or("the body is not a JSON object")?;
    let mut out = BTreeMap::new();
    for (name, value) in object {
        let (proto, kind) = fields
            .iter()
            .find(|(f, _)| f == name || camel(f) == *name)
            .ok_or_else(|| format!("unknown field {name:?}"))?;
        let ok = match kind {
            Kind::Str | Kind::Enum => value.is_string(),
            Kind::Bool => value.is_boolean(),
            Kind::Object => value.is_object(),
            Kind::Int => value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
            Kind::Duration => value.as_str().is_some_and(|s| {
                s.strip_suffix('s')
                    .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
            }),
        };
        if !ok {
            return Err(format!("field {name:?} has the wrong JSON type: {value}"));
        }
        out.insert((*proto).to_owned(), value.clone());
    }
    Ok(out)
}

fn required<'a>(body: &'a BTreeMap<String, Value>, name: &str) -> Result<&'a str, Reply> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            twirp_error(
                "invalid_argument",
                &format!("{name} is required"),
                json!({}),
            )
        })
}

/// Whether the token's grants allow `method` on `body` (notes §2).
fn allowed(method: &str, claims: &Value, body: &BTreeMap<String, Value>) -> bool {
    let video = &claims["video"];
    let room_admin = || video["roomAdmin"] == true && body.get("room") == Some(&video["room"]);
    match method {
        "CreateSIPParticipant" => claims["sip"]["call"] == true,
        "CreateDispatch" | "DeleteDispatch" | "ListParticipants" | "RemoveParticipant" => {
            room_admin()
        }
        "DeleteRoom" => video["roomCreate"] == true,
        _ => false,
    }
}

async fn twirp(
    State(state): State<Arc<Mutex<Sim>>>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Reply {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header("content-type");
    let token = header("authorization")
        .strip_prefix("Bearer ")
        .map(str::to_owned);
    let claims = token.as_deref().map(|t| verify_jwt(API_SECRET, API_KEY, t));
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let service = service.strip_prefix("livekit.").unwrap_or("").to_owned();

    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(TwirpRequest {
        service: service.clone(),
        method: method.clone(),
        content_type: content_type.clone(),
        body: parsed.clone(),
        claims: claims.clone().and_then(Result::ok),
    });

    let known = matches!(
        (service.as_str(), method.as_str()),
        ("SIP", "CreateSIPParticipant")
            | ("AgentDispatchService", "CreateDispatch" | "DeleteDispatch")
            | (
                "RoomService",
                "ListParticipants" | "DeleteRoom" | "RemoveParticipant"
            )
    );
    if !known {
        return twirp_error(
            "bad_route",
            &format!("no handler for {service}/{method}"),
            json!({}),
        );
    }
    if !content_type.starts_with("application/json") {
        return twirp_error("bad_route", "unexpected Content-Type", json!({}));
    }
    let claims = match claims {
        None => return twirp_error("unauthenticated", "no bearer token", json!({})),
        Some(Err(why)) => return twirp_error("unauthenticated", &why, json!({})),
        Some(Ok(c)) => c,
    };
    let fields = match validate(&method, &parsed) {
        Ok(f) => f,
        Err(why) => return twirp_error("invalid_argument", &why, json!({})),
    };
    if !allowed(&method, &claims, &fields) {
        return twirp_error("permission_denied", "the token lacks the grant", json!({}));
    }
    if let Some((code, msg, meta)) = s.failures.get_mut(&method).and_then(VecDeque::pop_front) {
        return twirp_error(&code, &msg, meta);
    }
    serve(&mut s, &method, &fields).unwrap_or_else(|e| e)
}

fn serve(s: &mut Sim, method: &str, f: &BTreeMap<String, Value>) -> Result<Reply, Reply> {
    let ok = |v: Value| Ok((StatusCode::OK, axum::Json(v)));
    let no_room = || twirp_error("not_found", "requested room does not exist", json!({}));
    match method {
        "CreateDispatch" => {
            let room = required(f, "room")?.to_owned();
            let id = s.id("AD");
            let dispatch = json!({
                "id": id,
                "agent_name": f.get("agent_name").cloned().unwrap_or(json!("")),
                "room": room,
                "metadata": f.get("metadata").cloned().unwrap_or(json!("")),
                "state": {"jobs": [], "created_at": now_secs().to_string(), "deleted_at": "0"},
                "restart_policy": "JRP_ON_FAILURE",
                "deployment": "",
                "attributes": f.get("attributes").cloned().unwrap_or(json!({})),
            });
            s.dispatches.insert(id, dispatch.clone());
            s.rooms.entry(room).or_default();
            ok(dispatch)
        }
        "DeleteDispatch" => {
            let id = required(f, "dispatch_id")?;
            match s.dispatches.remove(id) {
                Some(d) => ok(d),
                None => Err(twirp_error("not_found", "dispatch not found", json!({}))),
            }
        }
        "CreateSIPParticipant" => {
            let to = required(f, "sip_call_to")?.to_owned();
            let room = required(f, "room_name")?.to_owned();
            let trunk = required(f, "sip_trunk_id")?.to_owned();
            let text = |name: &str| f.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
            let identity = Some(text("participant_identity"))
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("sip_{to}"));
            let (pa, scl) = (s.id("PA"), s.id("SCL"));
            let now = now_secs();
            let participant = json!({
                "sid": pa, "identity": identity, "state": "ACTIVE", "kind": "SIP",
                "name": text("participant_name"), "metadata": text("participant_metadata"),
                "joined_at": now.to_string(), "joined_at_ms": (now * 1000).to_string(),
                "attributes": {
                    "sip.callID": scl, "sip.callStatus": "dialing", "sip.phoneNumber": to,
                    "sip.trunkID": trunk, "sip.trunkPhoneNumber": text("sip_number"),
                },
            });
            s.rooms.entry(room.clone()).or_default().push(participant);
            ok(json!({
                "participant_id": pa, "participant_identity": identity,
                "room_name": room, "sip_call_id": scl,
            }))
        }
        "ListParticipants" => {
            let participants = s.rooms.get(required(f, "room")?).ok_or_else(no_room)?;
            ok(json!({"participants": participants}))
        }
        "DeleteRoom" => {
            s.rooms.remove(required(f, "room")?).ok_or_else(no_room)?;
            ok(json!({}))
        }
        "RemoveParticipant" => {
            let identity = required(f, "identity")?.to_owned();
            let participants = s.rooms.get_mut(required(f, "room")?).ok_or_else(no_room)?;
            let before = participants.len();
            participants.retain(|p| p["identity"] != identity.as_str());
            if participants.len() == before {
                return Err(twirp_error("not_found", "participant not found", json!({})));
            }
            ok(json!({}))
        }
        _ => unreachable!("routed above"),
    }
}

/// A `ParticipantInfo` for the callee as webhooks carry it (camelCase, int64 as strings).
pub fn webhook_sip_participant(identity: &str, call_status: &str, extra: Value) -> Value {
    let now = now_secs();
    let mut p = json!({
        "sid": "PA_simwebhook",
        "identity": identity,
        "state": "ACTIVE",
        "joinedAt": now.to_string(),
        "joinedAtMs": (now * 1000).to_string(),
        "name": "Jane",
        "version": 2,
        "permission": {"canSubscribe": true, "canPublish": true, "canPublishData": true},
        "kind": "SIP",
        "attributes": {
            "sip.callID": "SCL_simwebhook",
            "sip.callStatus": call_status,
            "sip.phoneNumber": "+61412345678",
            "sip.trunkID": "ST_abc123",
            "sip.trunkPhoneNumber": "+61298765432",
        },
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    p
}

/// A `WebhookEvent` body as LiveKit's notifier sends it (protojson: camelCase names,
/// int64 as strings, default values left out).
pub fn webhook_event(
    event: &str,
    id: &str,
    room: &str,
    created_at: i64,
    participant: Option<Value>,
    extra: Value,
) -> String {
    let mut e = json!({
        "event": event,
        "room": {
            "sid": "RM_simroom",
            "name": room,
            "emptyTimeout": 300,
            "departureTimeout": 20,
            "creationTime": (created_at - 5).to_string(),
            "creationTimeMs": ((created_at - 5) * 1000).to_string(),
            "turnPassword": "sim-turn",
            "enabledCodecs": [{"mime": "audio/opus"}, {"mime": "audio/red"}, {"mime": "video/VP8"}],
            "numParticipants": 2,
        },
        "id": id,
        "createdAt": created_at.to_string(),
    });
    if let Some(p) = participant {
        e["participant"] = p;
    }
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    e.to_string()
}
