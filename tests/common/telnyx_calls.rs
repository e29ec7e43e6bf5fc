//! A Telnyx Call Control simulator for calls Switchboard places (protocols/telnyx.md §2, §3.3,
//! §3.6): `POST /v2/calls` dials and plays the call's life out by the destination's scripted
//! outcome, reporting it with Ed25519-signed webhooks to the Call Control application's
//! webhook URL (the engine's `/webhooks/telnyx`): `call.initiated`, `call.answered`, the
//! answering-machine result when the dial asked for one, and `call.hangup` with Telnyx's cause.
//! `POST /v2/calls/{id}/actions/hangup` hangs up; `GET /v2/calls/{id}` says whether the call
//! is alive. Every request is checked against the protocol notes, and the simulator keeps its
//! own log (see [`Ledger`]). Tests judge the dialer from this log.
//!
//! A Telnyx dial names no agent (the engine keeps it on its call record: the media stream
//! finds it through our call id in `client_state`), so to count calls per agent the simulator
//! asks the engine's API which agent the dialed call was recorded for ([`TelnyxCalls::agents_from`]).

use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use super::Api;
use super::carriers::{TelnyxKeys, telnyx_event_at};
use super::dialing::Ledger;
pub use super::dialing::{Dial, Script};
use super::telnyx_media::uuid_upper;

pub const TELNYX_API_KEY: &str = "KEY-telnyx-test";
/// The Call Control application (connection) whose webhooks reach the engine.
pub const TELNYX_CONNECTION_ID: &str = "1494404757140276705";

/// A request Telnyx received: the dial (`action` "dial", no call id yet) or a command.
#[derive(Debug, Clone)]
pub struct Command {
    pub call_control_id: String,
    pub action: String,
    pub body: Value,
}

/// Top-level dial fields (§3.6, with the answer command's `stream_*` fields, §3.1).
const DIAL_FIELDS: &[&str] = &[
    "connection_id",
    "to",
    "from",
    "from_display_name",
    "timeout_secs",
    "time_limit_secs",
    "answering_machine_detection",
    "answering_machine_detection_config",
    "stream_url",
    "stream_track",
    "stream_codec",
    "stream_bidirectional_mode",
    "stream_bidirectional_codec",
    "stream_bidirectional_sampling_rate",
    "stream_bidirectional_target_legs",
    "stream_establish_before_call_originate",
    "stream_auth_token",
    "send_silence_when_idle",
    "client_state",
    "command_id",
    "record",
    "record_channels",
    "record_format",
    "record_max_length",
    "record_timeout_secs",
    "record_track",
    "record_trim",
    "record_custom_file_name",
    "custom_headers",
    "sip_headers",
    "sip_auth_username",
    "sip_auth_password",
    "sip_transport_protocol",
    "sip_region",
    "media_encryption",
    "audio_url",
    "media_name",
    "send_digits_on_answer",
    "privacy",
    "webhook_url",
    "webhook_url_method",
    "webhook_urls",
    "webhook_urls_method",
    "webhook_retries_policies",
    "link_to",
    "bridge_intent",
    "bridge_on_answer",
    "billing_group_id",
    "preferred_codecs",
];

/// Fields with a closed set of values (§3.1, §3.6).
const DIAL_ENUMS: &[(&str, &[&str])] = &[
    (
        "answering_machine_detection",
        &[
            "premium",
            "detect",
            "detect_beep",
            "detect_words",
            "greeting_end",
            "disabled",
        ],
    ),
    (
        "stream_track",
        &["inbound_track", "outbound_track", "both_tracks"],
    ),
    (
        "stream_codec",
        &["PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default"],
    ),
    ("stream_bidirectional_mode", &["mp3", "rtp"]),
    (
        "stream_bidirectional_codec",
        &["PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"],
    ),
    (
        "stream_bidirectional_target_legs",
        &["both", "self", "opposite"],
    ),
];

struct Call {
    leg: String,
    session: String,
    to: String,
    from: String,
    client_state: Option<String>,
    started: jiff::Timestamp,
    answered: Option<Instant>,
    ended: Option<jiff::Timestamp>,
    /// How long the call was up after its answer, once it ended.
    talked: Option<std::time::Duration>,
}

#[derive(Default)]
struct Inner {
    calls: HashMap<String, Call>,
    /// Dials by `command_id`: Telnyx ignores a repeated dial with the same one.
    dial_commands: HashMap<String, String>,
    /// Commands obeyed, by call and `command_id`: a repeat is ignored.
    obeyed: HashSet<(String, String)>,
    commands: Vec<Command>,
}

/// Scripts, the dial log and the limits seen are on [`Ledger`], reached through `Deref`.
#[derive(Clone)]
pub struct TelnyxCalls {
    ledger: Ledger,
    inner: Arc<Mutex<Inner>>,
    keys: Arc<TelnyxKeys>,
    /// The Call Control application's webhook URL.
    webhook_url: Arc<Mutex<String>>,
    /// Where to ask which agent a dialed call is for.
    agents: Arc<Mutex<Option<Api>>>,
    pub base: String,
}

impl Deref for TelnyxCalls {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

/// A UUID-shaped id, as Telnyx writes leg, session and event ids.
fn uuid() -> String {
    uuid_upper().to_lowercase()
}

fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn is_e164(n: &str) -> bool {
    let digits = n.strip_prefix('+').unwrap_or("");
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// §1: `client_state` "must be a valid Base-64 encoded string".
fn is_base64(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok())
}

/// A Telnyx error reply (§6): `{"errors": [{code, title, detail}]}`, `code` a string.
fn telnyx_error(status: StatusCode, code: &str, title: &str, detail: &str) -> Reply {
    (
        status,
        axum::Json(json!({"errors": [{"code": code, "title": title, "detail": detail}]})),
    )
}

type Reply = (StatusCode, axum::Json<Value>);

fn no_such_call() -> Reply {
    telnyx_error(
        StatusCode::NOT_FOUND,
        "10005",
        "Resource not found",
        "no call has this call_control_id",
    )
}

fn ok() -> Reply {
    (
        StatusCode::OK,
        axum::Json(json!({"data": {"result": "ok"}})),
    )
}

/// §1: `Authorization: Bearer {TELNYX_API_KEY}`.
fn unauthorized(headers: &HeaderMap) -> Option<Reply> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TELNYX_API_KEY}"));
    (!bearer).then(|| {
        telnyx_error(
            StatusCode::UNAUTHORIZED,
            "10009",
            "Authentication failed",
            "The API key is missing or wrong.",
        )
    })
}

impl TelnyxCalls {
    /// Telnyx's Call Control API on loopback, with its own webhook signing key. Its webhooks
    /// go nowhere until [`deliver_to`](Self::deliver_to).
    pub async fn start() -> Self {
        let sim = Self {
            ledger: Ledger::default(),
            inner: Arc::new(Mutex::new(Inner::default())),
            keys: Arc::new(TelnyxKeys::new()),
            webhook_url: Arc::new(Mutex::new(String::new())),
            agents: Arc::new(Mutex::new(None)),
            base: String::new(),
        };
        let app = axum::Router::new()
            .route("/v2/calls", post(dial))
            .route("/v2/calls/{id}", get(status))
            .route("/v2/calls/{id}/actions/{action}", post(command))
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, ..sim }
    }

    /// The account's webhook public key (`TELNYX_PUBLIC_KEY`), base64.
    pub fn public_key_b64(&self) -> String {
        self.keys.public_key_b64()
    }

    /// Sends the application's webhooks to `/webhooks/telnyx` on the engine's public listener
    /// at `addr` (again after a restart on a new port).
    pub fn deliver_to(&self, addr: &str) {
        *self.webhook_url.lock().unwrap() = format!("{addr}/webhooks/telnyx");
    }

    /// Learns the agent of each dialed call from this engine API (the call's record).
    pub fn agents_from(&self, api: &Api) {
        *self.agents.lock().unwrap() = Some(api.clone());
    }

    /// Every request received, the dials included, in order.
    pub fn commands(&self) -> Vec<Command> {
        self.inner.lock().unwrap().commands.clone()
    }

    /// The `hangup` commands received for `call_control_id`.
    pub fn hangups_of(&self, call_control_id: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.action == "hangup" && c.call_control_id == call_control_id)
            .count()
    }

    fn record(&self, call_control_id: &str, action: &str, body: &Value) {
        self.inner.lock().unwrap().commands.push(Command {
            call_control_id: call_control_id.to_owned(),
            action: action.to_owned(),
            body: body.clone(),
        });
    }

    async fn agent_of(&self, call_id: &str) -> String {
        let api = self.agents.lock().unwrap().clone();
        let Some(api) = api.filter(|_| !call_id.is_empty()) else {
            return String::new();
        };
        let (status, call) = api.get(&format!("/api/calls/{call_id}")).await;
        match status {
            StatusCode::OK => call["agent_id"].as_str().unwrap_or_default().to_owned(),
            _ => String::new(),
        }
    }

    /// Sends a signed webhook about a call, unless muted. A refusal of a well-signed,
    /// well-formed event is the engine's fault and counted as a violation.
    async fn webhook(&self, event_type: &str, call_control_id: &str, extra: Value) {
        let url = self.webhook_url.lock().unwrap().clone();
        if self.muted() || url.is_empty() {
            return;
        }
        let mut payload = {
            let inner = self.inner.lock().unwrap();
            let call = &inner.calls[call_control_id];
            let mut p = json!({
                "call_control_id": call_control_id,
                "call_leg_id": call.leg,
                "call_session_id": call.session,
                "connection_id": TELNYX_CONNECTION_ID,
                "direction": "outgoing",
                "from": call.from,
                "to": call.to,
                "start_time": rfc3339(call.started),
            });
            if let Some(state) = &call.client_state {
                p["client_state"] = json!(state);
            }
            p
        };
        for (k, v) in extra.as_object().into_iter().flatten() {
            payload[k] = v.clone();
        }
        let now = rfc3339(jiff::Timestamp::now());
        let body = telnyx_event_at(event_type, &uuid(), &now, payload);
        if let Ok(res) = self.keys.deliver(&url, body).await
            && !res.status().is_success()
        {
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            self.violation(format!(
                "the engine answered {status} to a signed {event_type}: {text}"
            ));
        }
    }

    /// Ends the call here; false if it was over already.
    fn finish(&self, call_control_id: &str) -> bool {
        let was_up = self.ledger.end(call_control_id);
        if was_up && let Some(c) = self.inner.lock().unwrap().calls.get_mut(call_control_id) {
            c.ended = Some(jiff::Timestamp::now());
            c.talked = c.answered.map(|a| a.elapsed());
        }
        was_up
    }

    /// §2.2 `call.hangup`: `hangup_cause`, `hangup_source`, `sip_hangup_cause`.
    async fn hangup(&self, call_control_id: &str, cause: &str, source: &str, sip: &str) {
        if self.ends_muted() {
            return;
        }
        let extra = json!({"state": "hangup", "hangup_cause": cause, "hangup_source": source,
                           "sip_hangup_cause": sip});
        self.webhook("call.hangup", call_control_id, extra).await;
    }
}

/// Problems with a dial body as the protocol notes describe it (§3.6).
fn dial_problems(body: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for k in body.keys() {
        if !DIAL_FIELDS.contains(&k.as_str()) {
            out.push(format!("dial carries a field Telnyx does not know: {k}"));
        }
    }
    for (field, allowed) in DIAL_ENUMS {
        if let Some(v) = body.get(*field)
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            out.push(format!("dial {field} {v} is not one of {allowed:?}"));
        }
    }
    for field in ["connection_id", "to", "from"] {
        if body
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            out.push(format!("dial without {field}"));
        }
    }
    for field in ["to", "from"] {
        if let Some(n) = body.get(field).and_then(Value::as_str)
            && !is_e164(n)
        {
            out.push(format!("dial {field} {n} is not E.164"));
        }
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    if let Some(url) = text("stream_url")
        && !(url.starts_with("wss://") || url.starts_with("ws://"))
    {
        out.push(format!("stream_url {url} is not a WebSocket URL"));
    }
    if body.contains_key("stream_bidirectional_codec")
        && text("stream_bidirectional_mode") != Some("rtp")
    {
        out.push(
            "stream_bidirectional_codec is only used with stream_bidirectional_mode rtp".into(),
        );
    }
    if let Some(t) = body.get("timeout_secs")
        && !t.as_u64().is_some_and(|t| (5..=600).contains(&t))
    {
        out.push(format!("timeout_secs {t} is outside 5..=600"));
    }
    if let Some(t) = body.get("time_limit_secs")
        && !t.as_u64().is_some_and(|t| (1..=14_400).contains(&t))
    {
        out.push(format!("time_limit_secs {t} is outside 1..=14400"));
    }
    if let Some(state) = body.get("client_state")
        && !is_base64(state)
    {
        out.push(format!("client_state {state} is not base64"));
    }
    out
}

/// `POST /v2/calls` (§3.6).
async fn dial(State(sim): State<TelnyxCalls>, headers: HeaderMap, body: String) -> Reply {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    sim.record("", "dial", &parsed);
    let Some(fields) = parsed.as_object() else {
        sim.violation(format!("dial body is not a JSON object: {body}"));
        return telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid value",
            "body",
        );
    };
    let problems = dial_problems(fields);
    if !problems.is_empty() {
        let detail = problems.join("; ");
        for p in problems {
            sim.violation(p);
        }
        return telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid value",
            &detail,
        );
    }
    let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_owned);
    let (to, from) = (text("to").unwrap(), text("from").unwrap());
    if text("connection_id").as_deref() != Some(TELNYX_CONNECTION_ID) {
        return telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid value",
            "connection_id is not a Call Control application of this account",
        );
    }
    let command_id = text("command_id");
    if let Some(id) = &command_id {
        let repeated = {
            let inner = sim.inner.lock().unwrap();
            inner.dial_commands.get(id).map(|ccid| {
                let c = &inner.calls[ccid];
                (ccid.clone(), c.leg.clone(), c.session.clone())
            })
        };
        // Telnyx ignores a repeated dial: no second call.
        if let Some((ccid, leg, session)) = repeated {
            return dialed_reply(&ccid, &leg, &session, fields.get("client_state"));
        }
    }
    let client_state = text("client_state");
    let call_id = client_state
        .as_deref()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let Some(script) = sim.script_for(&to) else {
        return telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid value",
            "to is not a number this simulator was told about",
        );
    };
    let agent_id = sim.agent_of(&call_id).await;
    // Telnyx's ids are `v3:` and URL-safe base64, `-` and `_` included.
    let ccid = format!(
        "v3:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 40]>())
    );
    sim.dialed(Dial {
        carrier_call_id: ccid.clone(),
        to: to.clone(),
        from: from.clone(),
        agent_id: agent_id.clone(),
        call_id,
        media: text("stream_url").unwrap_or_default(),
        at: Instant::now(),
        script,
        machine_detection: text("answering_machine_detection").is_some_and(|a| a != "disabled"),
    });
    if script == Script::Refuse {
        return telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10015",
            "Invalid value",
            "to is not a reachable destination",
        );
    }
    let (leg, session) = (uuid(), uuid());
    {
        let mut inner = sim.inner.lock().unwrap();
        inner.calls.insert(
            ccid.clone(),
            Call {
                leg: leg.clone(),
                session: session.clone(),
                to,
                from,
                client_state,
                started: jiff::Timestamp::now(),
                answered: None,
                ended: None,
                talked: None,
            },
        );
        if let Some(id) = command_id {
            inner.dial_commands.insert(id, ccid.clone());
        }
    }
    sim.up(&ccid, &agent_id);
    let amd = text("answering_machine_detection").filter(|a| a != "disabled");
    tokio::spawn(play(sim.clone(), ccid.clone(), script, amd));
    dialed_reply(&ccid, &leg, &session, fields.get("client_state"))
}

/// The dial's reply: the new call's ids; `is_alive` false, as nothing rings yet.
fn dialed_reply(ccid: &str, leg: &str, session: &str, client_state: Option<&Value>) -> Reply {
    (
        StatusCode::OK,
        axum::Json(json!({"data": {
            "call_control_id": ccid, "call_leg_id": leg, "call_session_id": session,
            "is_alive": false, "record_type": "call", "client_state": client_state,
        }})),
    )
}

/// A call's life after the dial, told through webhooks.
async fn play(sim: TelnyxCalls, ccid: String, script: Script, amd: Option<String>) {
    sim.webhook("call.initiated", &ccid, json!({"state": "bridging"}))
        .await;
    tokio::time::sleep(sim.ring()).await;
    let (talk, machine) = match script {
        Script::Answer { talk } => (talk, false),
        Script::Voicemail { talk } => (talk, true),
        Script::Busy | Script::NoAnswer | Script::Fail => {
            // §2.2 causes; `timeout` is what the dial's `timeout_secs` running out reports.
            let (cause, source, sip) = match script {
                Script::Busy => ("user_busy", "callee", "486"),
                Script::NoAnswer => ("timeout", "unknown", "487"),
                _ => ("unspecified", "unknown", "503"),
            };
            if sim.finish(&ccid) {
                sim.hangup(&ccid, cause, source, sip).await;
            }
            return;
        }
        Script::Refuse => return,
    };
    if let Some(c) = sim.inner.lock().unwrap().calls.get_mut(&ccid) {
        c.answered = Some(Instant::now());
    }
    sim.webhook("call.answered", &ccid, json!({"state": "answered"}))
        .await;
    // §3.6: which AMD events follow an answer, by the detection asked for.
    let results: &[(&str, &str)] = match (amd.as_deref(), machine) {
        (Some("detect" | "detect_words" | "greeting_end"), true) => &[
            ("call.machine.detection.ended", "machine"),
            ("call.machine.greeting.ended", "ended"),
        ],
        (Some("detect" | "detect_words" | "greeting_end"), false) => {
            &[("call.machine.detection.ended", "human")]
        }
        (Some("detect_beep"), true) => &[("call.machine.greeting.ended", "beep_detected")],
        (Some("premium"), true) => &[
            ("call.machine.premium.detection.ended", "machine"),
            ("call.machine.premium.greeting.ended", "beep_detected"),
        ],
        (Some("premium"), false) => &[("call.machine.premium.detection.ended", "human_residence")],
        _ => &[],
    };
    for (event, result) in results {
        sim.webhook(event, &ccid, json!({"result": result})).await;
    }
    tokio::time::sleep(talk).await;
    if sim.finish(&ccid) {
        sim.hangup(&ccid, "normal_clearing", "callee", "200").await;
    }
}

/// `POST /v2/calls/{id}/actions/{action}` (§3): `hangup` ends the call; `answer` and `reject`
/// are for incoming calls only; anything else is acknowledged and logged.
async fn command(
    State(sim): State<TelnyxCalls>,
    Path((ccid, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Reply {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    sim.record(&ccid, &action, &parsed);
    if !parsed.is_object() {
        sim.violation(format!("{action} body is not a JSON object: {body}"));
    }
    if let Some(state) = parsed.get("client_state")
        && !is_base64(state)
    {
        sim.violation(format!("{action} client_state {state} is not base64"));
    }
    let (known, ended, answered) = {
        let inner = sim.inner.lock().unwrap();
        match inner.calls.get(&ccid) {
            Some(c) => (true, c.ended.is_some(), c.answered.is_some()),
            None => (false, false, false),
        }
    };
    if !known {
        return no_such_call();
    }
    if let Some(id) = parsed.get("command_id").and_then(Value::as_str) {
        let fresh = sim
            .inner
            .lock()
            .unwrap()
            .obeyed
            .insert((ccid.clone(), id.to_owned()));
        if !fresh {
            return ok();
        }
    }
    match action.as_str() {
        "answer" | "reject" => {
            sim.violation(format!("{action} sent for a call Switchboard placed"));
            telnyx_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "10015",
                "Invalid value",
                "answer and reject are for incoming calls",
            )
        }
        "hangup" if ended => telnyx_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "90018",
            "Call has already ended",
            "This call is no longer active and can't receive commands.",
        ),
        "hangup" => {
            if sim.finish(&ccid) {
                // We placed the call: hanging up before the answer cancels it.
                let cause = if answered {
                    "normal_clearing"
                } else {
                    "originator_cancel"
                };
                let sim = sim.clone();
                tokio::spawn(async move { sim.hangup(&ccid, cause, "caller", "200").await });
            }
            ok()
        }
        _ => ok(),
    }
}

/// `GET /v2/calls/{id}`: the call's status, `is_alive` above all (how the engine squares a
/// call whose reports it missed).
async fn status(
    State(sim): State<TelnyxCalls>,
    Path(ccid): Path<String>,
    headers: HeaderMap,
) -> Reply {
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let inner = sim.inner.lock().unwrap();
    let Some(c) = inner.calls.get(&ccid) else {
        return no_such_call();
    };
    let talked = c.talked.or_else(|| c.answered.map(|a| a.elapsed()));
    let duration = talked.map(|d| d.as_secs()).unwrap_or(0);
    (
        StatusCode::OK,
        axum::Json(json!({"data": {
            "call_control_id": ccid, "call_leg_id": c.leg, "call_session_id": c.session,
            "client_state": c.client_state, "is_alive": c.ended.is_none(),
            "record_type": "call", "call_duration": duration,
            "start_time": rfc3339(c.started), "end_time": c.ended.map(rfc3339),
        }})),
    )
}
