//! LiveKit's server API on loopback, written from protocols/livekit-sip.md and independent of
//! the engine's client: Twirp JSON routes for the calls Switchboard makes, each checking its
//! bearer token (HS256 with the project secret, issuer = API key, in its validity window,
//! the grant the notes give for that method) and its body (field names and JSON types of the
//! proto message, required fields), recording every request, and answering like LiveKit or
//! with a Twirp error it was told to give. It also signs and sends webhooks the way LiveKit's
//! notifier does (bare token in `Authorization`, `sha256` claim over the exact body,
//! protobuf JSON in camelCase with 64-bit integers as strings).
//!
//! Told how a destination's calls go (`script`, `default_script`) and where the engine takes
//! webhooks (`deliver_to`), it plays out the calls it is asked to place, like the Twilio
//! dialing simulator: the callee's SIP participant joins the room ringing
//! (`participant_joined`), is answered (`sip.callStatus` `active`, its audio published:
//! `track_published`) or leaves with LiveKit's disconnect reason for busy, no answer or a
//! failed trunk (`participant_left`), after which the room finishes (`room_finished`);
//! `DeleteRoom` is a hang-up. What `ListParticipants` shows follows along. It keeps its own
//! log: every dial with its room, numbers, time, and the agent named in the room's dispatch,
//! and the most calls it ever had up at once, in all and per agent. Without a script a call
//! just stays dialing, for tests that move it along by hand.
//!
//! Stricter than LiveKit on one point, on purpose: an unknown field is refused
//! (`invalid_argument`) where the real server silently discards it, which would hide a
//! misspelt field in our requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use super::dialing::Script;
use super::dialing::{self, CallTally};

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

/// One call the simulator was asked to place (a `CreateSIPParticipant` that passed the
/// checks, refused by script or not).
#[derive(Debug, Clone)]
pub struct Dial {
    pub room: String,
    pub to: String,
    /// The caller id asked for (`sip_number`).
    pub from: String,
    pub trunk_id: String,
    /// The agent worker dispatched into the room (`agent_name`), empty when none was.
    pub agent_name: String,
    /// `agent_id` from the dispatch's metadata.
    pub agent_id: String,
    /// The dispatch's metadata as the agent worker receives it, read as JSON (`Null` when
    /// there was none or it was not JSON).
    pub metadata: Value,
    pub at: Instant,
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
    scripts: HashMap<String, Script>,
    default: Option<Script>,
    ring: Duration,
    /// How long a dial's answer takes after the call is under way (its webhooks may beat it).
    dial_answer_delay: Duration,
    dials: Vec<Dial>,
    /// Calls up (by room): from the dial until the callee leaves.
    tally: CallTally,
    /// The engine's `/webhooks/livekit`; no webhooks are sent until it is known.
    webhook_url: Option<String>,
    /// Every webhook is held back (as if delivery failed).
    mute: bool,
    /// Only the ends (`participant_left`, `room_finished`) are held back.
    mute_ends: bool,
    /// Deliveries the engine answered with anything but 200.
    webhook_refusals: Vec<String>,
}

impl Sim {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_sim{:04}", self.next_id)
    }

    fn sip_participant(&mut self, room: &str) -> Option<&mut Value> {
        self.rooms
            .get_mut(room)?
            .iter_mut()
            .find(|p| p["kind"] == "SIP")
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Self {
            state: Arc::new(Mutex::new(Sim {
                ring: Duration::from_millis(50),
                ..Sim::default()
            })),
            url: format!("http://{}", listener.local_addr().unwrap()),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .route("/twirp/{service}/{method}", post(twirp))
            .with_state(sim.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sim
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

    /// Where the engine takes LiveKit's webhooks (`{public}/webhooks/livekit`); again after
    /// a restart on a new port.
    pub fn deliver_to(&self, webhook_url: &str) {
        self.lock().webhook_url = Some(webhook_url.to_owned());
    }

    /// How calls to `to` go.
    pub fn script(&self, to: &str, script: Script) {
        self.lock().scripts.insert(to.to_owned(), script);
    }

    /// How calls to destinations without a script of their own go.
    pub fn default_script(&self, script: Script) {
        self.lock().default = Some(script);
    }

    /// How long a call rings before it is answered or given up.
    pub fn ring_for(&self, d: Duration) {
        self.lock().ring = d;
    }

    /// Answers each `CreateSIPParticipant` only `d` after the call is under way, so its
    /// first webhooks reach the engine before the answer does (LiveKit sends both at once,
    /// in no promised order).
    pub fn answer_dials_after(&self, d: Duration) {
        self.lock().dial_answer_delay = d;
    }

    /// Holds back every webhook from now on (the engine is down, say).
    pub fn mute(&self, mute: bool) {
        self.lock().mute = mute;
    }

    /// Holds back the webhooks that end calls (`participant_left`, `room_finished`).
    pub fn mute_ends(&self, mute: bool) {
        self.lock().mute_ends = mute;
    }

    pub fn dials(&self) -> Vec<Dial> {
        self.lock().dials.clone()
    }

    /// Dials per destination number.
    pub fn dials_per_number(&self) -> HashMap<String, usize> {
        dialing::per_number(self.lock().dials.iter().map(|d| d.to.as_str()))
    }

    pub fn up_now(&self) -> usize {
        self.lock().tally.up_now()
    }

    pub fn max_up(&self) -> usize {
        self.lock().tally.max_up()
    }

    /// The most calls up at once per agent (by the `agent_id` of the room's dispatch).
    pub fn max_up_per_agent(&self) -> HashMap<String, usize> {
        self.lock().tally.max_up_per_agent()
    }

    /// Webhook deliveries the engine did not accept; tests assert this is empty.
    pub fn webhook_refusals(&self) -> Vec<String> {
        self.lock().webhook_refusals.clone()
    }

    /// The SIP participant of `room`, as `ListParticipants` would show it.
    pub fn sip_participant(&self, room: &str) -> Option<Value> {
        self.lock().sip_participant(room).cloned()
    }

    /// Moves the call in `room` along (`ringing`, `active`, `hangup`), as LiveKit updates
    /// the SIP participant's `sip.callStatus` attribute.
    pub fn set_call_status(&self, room: &str, status: &str) {
        self.update_call_status(room, status)
            .expect("the room has a SIP participant");
    }

    /// Sets the SIP participant's `sip.callStatus`; the participant as it is now, `None`
    /// when the call is gone (hung up meanwhile).
    fn update_call_status(&self, room: &str, status: &str) -> Option<Value> {
        let mut s = self.lock();
        let p = s.sip_participant(room)?;
        p["attributes"]["sip.callStatus"] = json!(status);
        Some(p.clone())
    }

    /// The callee hangs up the call in `room` now (if it is still up).
    pub async fn hang_up_callee(&self, room: &str) {
        self.leave(room, "CLIENT_INITIATED").await;
    }

    /// The callee's leg of the call in `room` ends with `reason` (a `DisconnectReason`):
    /// the SIP participant leaves, then the agent, and the room finishes.
    async fn leave(&self, room: &str, reason: &str) {
        let participant = {
            let mut s = self.lock();
            let Some(p) = s.sip_participant(room).cloned() else {
                return;
            };
            s.rooms.remove(room);
            s.tally.end(room);
            p
        };
        self.finished(room, participant, reason).await;
    }

    /// Tells the engine a call's room is over: its SIP participant left with `reason`
    /// (already taken out of the room), then the room finished.
    async fn finished(&self, room: &str, mut participant: Value, reason: &str) {
        participant["state"] = json!("DISCONNECTED");
        participant["disconnect_reason"] = json!(reason);
        self.notify("participant_left", room, Some(participant), json!({}))
            .await;
        self.notify("room_finished", room, None, json!({})).await;
    }

    /// Sends a signed webhook about `room` to the engine, unless held back. A delivery the
    /// engine cannot take (it is down) is lost, as LiveKit gives up on it after its retries.
    async fn notify(&self, event: &str, room: &str, participant: Option<Value>, extra: Value) {
        let end = matches!(event, "participant_left" | "room_finished");
        let (url, id) = {
            let mut s = self.lock();
            let held = s.mute || (end && s.mute_ends);
            match s.webhook_url.clone() {
                Some(url) if !held => (url, s.id("EV")),
                _ => return,
            }
        };
        let participant = participant.map(|p| camel_keys(&p));
        let body = webhook_event(event, &id, room, now_secs(), participant, extra);
        let token = self.webhook_token(&body);
        if let Ok(res) = self.webhook(&url, &body, Some(&token)).send().await
            && res.status() != StatusCode::OK
        {
            let why = format!("{event} {id} answered {}", res.status());
            self.lock().webhook_refusals.push(why);
        }
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
        let res = self
            .webhook(url, body, authorization)
            .send()
            .await
            .expect("the engine answers");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn webhook(
        &self,
        url: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self
            .http
            .post(url)
            .header("content-type", "application/webhook+json")
            .body(body.to_owned());
        match authorization {
            Some(a) => req.header("authorization", a),
            None => req,
        }
    }
}

/// A call's life after the dial, told through webhooks: it rings, then is answered and
/// talks, or ends unanswered. A hang-up (`DeleteRoom`) meanwhile cuts it short.
async fn play(sim: LiveKitSim, room: String, script: Script) {
    let ring = sim.lock().ring;
    let Some(ringing) = sim.update_call_status(&room, "ringing") else {
        return;
    };
    sim.notify("participant_joined", &room, Some(ringing), json!({}))
        .await;
    tokio::time::sleep(ring).await;
    let talk = match script {
        Script::Answer { talk } | Script::Voicemail { talk } => talk,
        Script::Busy => return sim.leave(&room, "USER_REJECTED").await,
        Script::NoAnswer => return sim.leave(&room, "USER_UNAVAILABLE").await,
        Script::Fail => return sim.leave(&room, "SIP_TRUNK_FAILURE").await,
        Script::Refuse => return,
    };
    let Some(answered) = sim.update_call_status(&room, "active") else {
        return;
    };
    let track = json!({"track": {"sid": format!("TR_{room}"), "type": "AUDIO",
        "source": "MICROPHONE", "mimeType": "audio/PCMU"}});
    sim.notify("track_published", &room, Some(answered), track)
        .await;
    tokio::time::sleep(talk).await;
    sim.leave(&room, "CLIENT_INITIATED").await;
}

/// A snake_case message as protojson sends it in webhooks: top-level field names in
/// lowerCamelCase (map keys such as attributes stay as they are).
fn camel_keys(message: &Value) -> Value {
    match message.as_object() {
        Some(fields) => fields
            .iter()
            .map(|(k, v)| (camel(k), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        None => message.clone(),
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
    State(sim): State<LiveKitSim>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Reply {
    let delay = match method.as_str() {
        "CreateSIPParticipant" => sim.lock().dial_answer_delay,
        _ => Duration::ZERO,
    };
    let reply = answer(&sim, service, method, &headers, &body);
    tokio::time::sleep(delay).await;
    reply
}

/// Checks, records and serves one request.
fn answer(
    sim: &LiveKitSim,
    service: String,
    method: String,
    headers: &HeaderMap,
    body: &str,
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
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let service = service.strip_prefix("livekit.").unwrap_or("").to_owned();

    let mut s = sim.lock();
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
    serve(sim, &mut s, &method, &fields).unwrap_or_else(|e| e)
}

/// Answers an accepted request; `sim` (whose state `s` is) starts what follows it, the
/// webhooks of a dial or a hang-up.
fn serve(
    sim: &LiveKitSim,
    s: &mut Sim,
    method: &str,
    f: &BTreeMap<String, Value>,
) -> Result<Reply, Reply> {
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
            s.dispatches.insert(id.clone(), dispatch.clone());
            // The agent worker takes the job and joins the room.
            let (pa, now) = (s.id("PA"), now_secs());
            let agent = json!({
                "sid": pa, "identity": format!("agent-{id}"), "state": "ACTIVE", "kind": "AGENT",
                "joined_at": now.to_string(), "joined_at_ms": (now * 1000).to_string(),
                "attributes": {},
            });
            s.rooms.entry(room).or_default().push(agent);
            ok(dispatch)
        }
        "DeleteDispatch" => {
            let id = required(f, "dispatch_id")?;
            match s.dispatches.remove(id) {
                Some(d) => {
                    let agent = format!("agent-{id}");
                    if let Some(ps) = d["room"].as_str().and_then(|r| s.rooms.get_mut(r)) {
                        ps.retain(|p| p["identity"] != agent.as_str());
                    }
                    ok(d)
                }
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
            // The agent named in the room's latest dispatch, as the worker would read it.
            let dispatch = s.dispatches.values().rfind(|d| d["room"] == room.as_str());
            let agent_name = dispatch.map_or("", |d| d["agent_name"].as_str().unwrap_or(""));
            let metadata: Value = dispatch
                .and_then(|d| d["metadata"].as_str())
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(Value::Null);
            let agent_id = metadata["agent_id"].as_str().unwrap_or("").to_owned();
            s.dials.push(Dial {
                room: room.clone(),
                to: to.clone(),
                from: text("sip_number"),
                trunk_id: trunk.clone(),
                agent_name: agent_name.to_owned(),
                agent_id: agent_id.clone(),
                metadata,
                at: Instant::now(),
            });
            let script = s.scripts.get(&to).copied().or(s.default);
            if script == Some(Script::Refuse) {
                return Err(twirp_error(
                    "invalid_argument",
                    &format!("cannot place a call to {to}"),
                    json!({}),
                ));
            }
            s.rooms.entry(room.clone()).or_default().push(participant);
            s.tally.start(&room, &agent_id);
            if let Some(script) = script {
                tokio::spawn(play(sim.clone(), room.clone(), script));
            }
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
            let room = required(f, "room")?.to_owned();
            let participants = s.rooms.remove(&room).ok_or_else(no_room)?;
            // A hang-up: the callee is disconnected, the agent leaves, the room finishes.
            if let Some(callee) = participants.into_iter().find(|p| p["kind"] == "SIP") {
                s.tally.end(&room);
                let sim = sim.clone();
                tokio::spawn(async move { sim.finished(&room, callee, "ROOM_DELETED").await });
            }
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
