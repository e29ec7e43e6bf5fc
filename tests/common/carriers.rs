//! Carrier simulators for tests: webhook signers written from the carriers' published
//! algorithms (independent of the engine's verifiers), and a Telnyx Call Control API on
//! loopback that records every command on inbound calls and can be told to fail (calls
//! Switchboard places go through `telnyx_calls`). Twilio's REST API is `twilio_api`'s.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

#[allow(unused_imports)] // each test binary uses its own part of `common`
pub use super::twilio_api::{TwilioApi, TwilioRequest};

pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-test-auth-token";

/// Twilio's `X-Twilio-Signature` as its request validator documents it: the URL, then each
/// parameter name and value in name order, HMAC-SHA1 with the auth token, base64.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A Telnyx account's webhook key pair.
pub struct TelnyxKeys {
    signing: SigningKey,
}

impl TelnyxKeys {
    pub fn new() -> Self {
        Self {
            signing: SigningKey::from_bytes(&rand::random()),
        }
    }

    pub fn public_key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    /// `telnyx-signature-ed25519` for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &str) -> String {
        let message = format!("{timestamp}|{body}");
        base64::engine::general_purpose::STANDARD
            .encode(self.signing.sign(message.as_bytes()).to_bytes())
    }

    /// POSTs `body` to `url` signed now, as Telnyx delivers a webhook (§2.3).
    pub async fn deliver(&self, url: &str, body: String) -> reqwest::Result<reqwest::Response> {
        let ts = jiff::Timestamp::now().as_second();
        reqwest::Client::new()
            .post(url)
            .header("telnyx-timestamp", ts.to_string())
            .header("telnyx-signature-ed25519", self.sign(ts, &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    }
}

/// A Call Control event envelope as Telnyx sends it (protocols/telnyx.md §2.1), occurring at
/// a fixed time (2026-11-22 10:00:00 UTC).
pub fn telnyx_event(event_type: &str, event_id: &str, payload: Value) -> String {
    telnyx_event_at(event_type, event_id, "2026-11-22T10:00:00.000000Z", payload)
}

/// As [`telnyx_event`], occurring at `occurred_at` (RFC 3339, microseconds, UTC).
pub fn telnyx_event_at(
    event_type: &str,
    event_id: &str,
    occurred_at: &str,
    payload: Value,
) -> String {
    json!({
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id,
            "occurred_at": occurred_at,
            "payload": payload,
        },
        "meta": {"attempt": 1, "delivered_to": "https://sb.example.test/webhooks/telnyx"}
    })
    .to_string()
}

/// A command Telnyx received.
#[derive(Debug, Clone)]
pub struct Command {
    pub call_control_id: String,
    pub action: String,
    pub body: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct SimState {
    commands: Vec<Command>,
    /// Statuses (and bodies) to answer with before answering 200.
    script: VecDeque<(StatusCode, Value)>,
    /// Recordings' files by name, where `call.recording.saved`'s `recording_urls` point (the
    /// storage's pre-signed URLs, §7.3), and each fetch of one (whether it sent credentials).
    recordings: std::collections::HashMap<String, Vec<u8>>,
    recording_fetches: Vec<(String, bool)>,
}

/// Telnyx's Call Control API on loopback.
#[derive(Clone)]
pub struct TelnyxApi {
    state: Arc<Mutex<SimState>>,
    pub base: String,
}

impl TelnyxApi {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(SimState::default()));
        let app = axum::Router::new()
            .route("/v2/calls/{id}/actions/{action}", post(command))
            .route("/v2/calls", post(dial))
            .route("/storage/{name}", axum::routing::get(recording_file))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, base }
    }

    /// Answers the next requests with these statuses before going back to 200.
    pub fn fail_next(&self, responses: &[(u16, Value)]) {
        let mut s = self.state.lock().unwrap();
        for (status, body) in responses {
            s.script
                .push_back((StatusCode::from_u16(*status).unwrap(), body.clone()));
        }
    }

    pub fn commands(&self) -> Vec<Command> {
        self.state.lock().unwrap().commands.clone()
    }

    /// Serves `wav` as a recording's file; returns its URL, as `recording_urls.wav` gives it.
    pub fn add_recording(&self, name: &str, wav: Vec<u8>) -> String {
        self.state
            .lock()
            .unwrap()
            .recordings
            .insert(name.to_owned(), wav);
        self.recording_url(name)
    }

    /// The URL of recording `name` (served or not).
    pub fn recording_url(&self, name: &str) -> String {
        format!("{}/storage/{name}", self.base.trim_end_matches("/v2"))
    }

    /// Each fetch of a recording's file: its name, and whether credentials came with it.
    pub fn recording_fetches(&self) -> Vec<(String, bool)> {
        self.state.lock().unwrap().recording_fetches.clone()
    }

    /// Waits until `n` commands have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Command> {
        for _ in 0..200 {
            let c = self.commands();
            if c.len() >= n {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "Telnyx received {:?}, expected {n} commands",
            self.commands()
        );
    }
}

/// The fields telnyx.md requires of a command (§3.6, §7.2, §7.5), for the ones checked here.
fn missing(action: &str, body: &Value) -> Option<&'static str> {
    let required: &[&'static str] = match action {
        "dial" => &["connection_id", "to", "from"],
        "speak" => &["payload", "voice"],
        "bridge" => &["call_control_id"],
        "transfer" => &["to"],
        "record_start" => &["channels", "format"],
        _ => &[],
    };
    required
        .iter()
        .find(|f| body[**f].as_str().is_none_or(str::is_empty))
        .copied()
}

/// `POST /v2/calls` (§3.6): a new call (a warm transfer's call to a person), recorded as the
/// command `dial`; its events are for the test to send, as Telnyx would.
async fn dial(
    state: State<Arc<Mutex<SimState>>>,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    let n = state.0.lock().unwrap().commands.len();
    let client_state = body.0["client_state"].clone();
    let (status, reply) = command(
        state,
        Path((String::new(), "dial".to_owned())),
        headers,
        body,
    )
    .await;
    if status != StatusCode::OK {
        return (status, reply);
    }
    let data = json!({"data": {
        "call_control_id": format!("v3:sim-leg-{n}"), "call_leg_id": format!("leg-{n}"),
        "call_session_id": format!("session-{n}"), "is_alive": false,
        "record_type": "call", "client_state": client_state,
    }});
    (StatusCode::OK, axum::Json(data))
}

/// A recording's file at its pre-signed URL: 404 for one not served.
async fn recording_file(
    State(state): State<Arc<Mutex<SimState>>>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut s = state.lock().unwrap();
    let credentials = headers.contains_key("authorization");
    s.recording_fetches.push((name.clone(), credentials));
    match s.recordings.get(&name) {
        Some(wav) => ([("content-type", "audio/wav")], wav.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn command(
    State(state): State<Arc<Mutex<SimState>>>,
    Path((id, action)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    let mut s = state.lock().unwrap();
    let refused = missing(&action, &body).map(|field| {
        json!({"errors": [{"code": "10015", "title": "Invalid parameter",
            "detail": format!("{field} is required")}]})
    });
    s.commands.push(Command {
        call_control_id: id,
        action,
        body,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    if let Some(error) = refused {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(error));
    }
    match s.script.pop_front() {
        Some((status, body)) => (status, axum::Json(body)),
        None => (
            StatusCode::OK,
            axum::Json(json!({"data": {"result": "ok"}})),
        ),
    }
}
