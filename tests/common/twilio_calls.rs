//! A Twilio Programmable Voice simulator for calls Switchboard places (protocols/twilio.md §5,
//! §7.1-§7.3): `POST Calls.json` creates a call and plays its life out by the destination's
//! scripted outcome, reporting it with signed status callbacks (and the asynchronous AMD
//! callback) to the URLs the request named; `POST Calls/{sid}.json` hangs up; `GET` fetches and
//! lists. Every request is checked against Twilio's OpenAPI document (`twilio_spec`; one that
//! is not a valid operation is refused with Twilio's error) and against the protocol notes;
//! what fails either is a violation. The simulator keeps its own log: every dial with its
//! time, the agent named in the TwiML and where its media stream was to go, and the most calls
//! it ever had up at once, in all and per agent. Tests judge the dialer from this log.
//!
//! Callbacks go to one engine, or, for several nodes, through a load balancer in front of
//! them (`deliver_to_any`): each to a node picked at random, passed on to another when the
//! one picked is gone (refuses the connection, or drops the request unanswered), as a load
//! balancer configured to retry every request (nginx's `proxy_next_upstream error
//! non_idempotent`) does; safe because the engine applies each delivery once.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::carriers::{TWILIO_SID, TWILIO_TOKEN, twilio_signature};
use super::dialing::Ledger;
pub use super::dialing::{Dial, Script};
use super::twilio_api::authorized;
use super::twilio_spec;

#[derive(Default)]
struct Inner {
    /// Every call ever created, with its status (for GET).
    calls: HashMap<String, Value>,
    /// Each call's status callback URL and numbers, for the report of a hang-up.
    callbacks: HashMap<String, (String, String, String)>,
}

/// Scripts, the dial log and the limits seen are on [`Ledger`], reached through `Deref`.
#[derive(Clone)]
pub struct TwilioCalls {
    ledger: Ledger,
    inner: Arc<Mutex<Inner>>,
    pub base: String,
    /// The public base URL the engine gives Twilio, and where such URLs really reach it
    /// (several bases: the nodes behind a load balancer).
    public_base: Arc<Mutex<(String, Vec<String>)>>,
    /// One client for every callback: its connections are kept, as Twilio's are.
    http: reqwest::Client,
}

impl Deref for TwilioCalls {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

impl TwilioCalls {
    /// `public_base`: the engine's configured public URL; `deliver_to`: its public listener.
    pub async fn start(public_base: &str, deliver_to: &str) -> Self {
        let sim = Self {
            ledger: Ledger::default(),
            inner: Arc::new(Mutex::new(Inner::default())),
            base: String::new(),
            public_base: Arc::new(Mutex::new((public_base.into(), vec![deliver_to.into()]))),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Calls.json",
                post(create).get(list),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Calls/{call}",
                post(update).get(fetch),
            )
            .with_state(sim.clone())
            .layer(axum::middleware::from_fn_with_state(
                {
                    let ledger = sim.ledger.clone();
                    Arc::new(move |v| ledger.violation(v)) as twilio_spec::Violations
                },
                twilio_spec::enforce,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/2010-04-01", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, ..sim }
    }

    /// Where the engine now listens (after a restart on a new port).
    pub fn deliver_to(&self, addr: &str) {
        self.public_base.lock().unwrap().1 = vec![addr.to_owned()];
    }

    /// Sends callbacks through a load balancer in front of these nodes (their public
    /// listeners): each to one picked at random, and on to another if that one is gone.
    pub fn deliver_to_any(&self, addrs: &[String]) {
        assert!(!addrs.is_empty(), "a load balancer needs a node behind it");
        self.public_base.lock().unwrap().1 = addrs.to_vec();
    }

    /// Forgets every call made so far, as an account other than the one that placed them
    /// would: fetching them answers 404.
    pub fn forget_calls(&self) {
        self.inner.lock().unwrap().calls.clear();
    }

    /// Sends a signed callback to `url` (a public URL the engine gave), unless muted.
    async fn callback(&self, url: &str, params: Vec<(&str, String)>) {
        let end = params.iter().any(|(k, v)| {
            *k == "CallStatus"
                && ["completed", "busy", "no-answer", "failed", "canceled"].contains(&v.as_str())
        });
        if self.muted() || (end && self.ends_muted()) {
            return;
        }
        let (public, mut nodes) = self.public_base.lock().unwrap().clone();
        {
            use rand::seq::SliceRandom as _;
            nodes.shuffle(&mut rand::rng());
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signature = twilio_signature(TWILIO_TOKEN, url, &pairs);
        for node in nodes {
            let sent = self
                .http
                .post(url.replacen(&public, &node, 1))
                .header("x-twilio-signature", &signature)
                .form(&pairs)
                .send()
                .await;
            // Any answer, even an error status, is the node's: only a node gone is skipped.
            if sent.is_ok() {
                return;
            }
        }
    }

    fn end(&self, sid: &str, status: &str, duration: u64) -> bool {
        let was_up = self.ledger.end(sid);
        if let Some(c) = self.inner.lock().unwrap().calls.get_mut(sid)
            && was_up
        {
            c["status"] = json!(status);
            c["duration"] = json!(duration.to_string());
        }
        was_up
    }
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> (StatusCode, axum::Json<Value>) {
    (
        status,
        axum::Json(json!({"code": code, "message": message, "status": status.as_u16()})),
    )
}

/// The value of `<Parameter name="{name}" value="…"/>` in TwiML.
fn twiml_parameter(twiml: &str, name: &str) -> Option<String> {
    let key = format!("<Parameter name=\"{name}\" value=\"");
    let at = twiml.find(&key)? + key.len();
    Some(twiml[at..].split('"').next()?.to_owned())
}

async fn create(
    State(sim): State<TwilioCalls>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) || account != TWILIO_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let one = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let all = |k: &str| -> Vec<String> {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (to, from, twiml, status_cb) =
        (one("To"), one("From"), one("Twiml"), one("StatusCallback"));
    // §7.1: To, From, and exactly one of Url / Twiml / ApplicationSid.
    if to.is_empty() || from.is_empty() {
        sim.violation(format!("create without To/From: {body}"));
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21201,
            "No 'To' number is specified",
        );
    }
    if twiml.is_empty() == one("Url").is_empty() {
        sim.violation(format!("create needs exactly one of Url/Twiml: {body}"));
    }
    if twiml.len() > 4000 {
        sim.violation("Twiml over 4000 characters".into());
    }
    if !twiml.contains("<Connect><Stream") {
        sim.violation(format!("outbound TwiML does not stream the call: {twiml}"));
    }
    let events = all("StatusCallbackEvent");
    for e in &events {
        if !["initiated", "ringing", "answered", "completed"].contains(&e.as_str()) {
            sim.violation(format!("unknown StatusCallbackEvent {e}"));
        }
    }
    if status_cb.is_empty() || !events.iter().any(|e| e == "completed") {
        sim.violation("no status callback for the call's end".into());
    }
    let amd_cb = one("AsyncAmdStatusCallback");
    if !amd_cb.is_empty() && one("MachineDetection").is_empty() {
        sim.violation("AsyncAmdStatusCallback without MachineDetection".into());
    }
    let Some(script) = sim.script_for(&to) else {
        return twilio_error(StatusCode::BAD_REQUEST, 21211, "Invalid 'To' Phone Number");
    };
    let agent_id = twiml_parameter(&twiml, "agent_id").unwrap_or_default();
    let call_id = twiml_parameter(&twiml, "call_id").unwrap_or_default();
    let media = twiml
        .split_once("<Stream url=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let sid = format!("CA{:032x}", rand::random::<u128>());
    sim.dialed(Dial {
        carrier_call_id: sid.clone(),
        to: to.clone(),
        from: from.clone(),
        agent_id: agent_id.clone(),
        call_id: call_id.clone(),
        media,
        at: Instant::now(),
        script,
        machine_detection: one("MachineDetection") == "Enable" && !amd_cb.is_empty(),
    });
    if script == Script::Refuse {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21217,
            "Phone number does not appear to be valid",
        );
    }
    let resource = json!({
        "sid": sid, "account_sid": TWILIO_SID, "to": to, "from": from, "status": "queued",
        "direction": "outbound-api", "duration": null, "answered_by": null,
        "start_time": null, "end_time": null, "price": null, "price_unit": "USD",
        "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls/{sid}.json"),
        "date_created": jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
    });
    {
        let mut inner = sim.inner.lock().unwrap();
        inner.calls.insert(sid.clone(), resource.clone());
        inner
            .callbacks
            .insert(sid.clone(), (status_cb.clone(), to.clone(), from.clone()));
    }
    sim.up(&sid, &agent_id);
    tokio::spawn(play(sim.clone(), sid, to, from, status_cb, amd_cb, script));
    (StatusCode::CREATED, axum::Json(resource))
}

/// A call's life after its creation, told through status callbacks.
async fn play(
    sim: TwilioCalls,
    sid: String,
    to: String,
    from: String,
    status_cb: String,
    amd_cb: String,
    script: Script,
) {
    let seq = std::sync::atomic::AtomicU32::new(0);
    let report = |status: &str, extra: Vec<(&'static str, String)>| {
        let mut p = vec![
            ("AccountSid", TWILIO_SID.to_owned()),
            ("CallSid", sid.clone()),
            ("From", from.clone()),
            ("To", to.clone()),
            ("Direction", "outbound-api".to_owned()),
            ("CallStatus", status.to_owned()),
            ("CallbackSource", "call-progress-events".to_owned()),
            (
                "SequenceNumber",
                seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .to_string(),
            ),
            (
                "Timestamp",
                jiff::Timestamp::now()
                    .strftime("%a, %d %b %Y %H:%M:%S +0000")
                    .to_string(),
            ),
        ];
        p.extend(extra);
        let (sim, url) = (sim.clone(), status_cb.clone());
        async move { sim.callback(&url, p).await }
    };
    let ring = sim.ring();
    report("initiated", vec![]).await;
    report("ringing", vec![]).await;
    tokio::time::sleep(ring).await;
    let (talk, machine) = match script {
        Script::Busy | Script::NoAnswer | Script::Fail => {
            let status = match script {
                Script::Busy => "busy",
                Script::NoAnswer => "no-answer",
                _ => "failed",
            };
            if sim.end(&sid, status, 0) {
                report(status, vec![("CallDuration", "0".into())]).await;
            }
            return;
        }
        Script::Answer { talk } => (talk, false),
        Script::Voicemail { talk } => (talk, true),
        Script::Refuse => return,
    };
    let answered = Instant::now();
    if !amd_cb.is_empty() {
        // The call's resource says who answered, whether or not the AMD callback arrives.
        let who = if machine { "machine_start" } else { "human" };
        if let Some(c) = sim.inner.lock().unwrap().calls.get_mut(&sid) {
            c["answered_by"] = json!(who);
        }
    }
    report("in-progress", vec![]).await;
    if machine && !amd_cb.is_empty() {
        let p = vec![
            ("AccountSid", TWILIO_SID.to_owned()),
            ("CallSid", sid.clone()),
            ("AnsweredBy", "machine_start".to_owned()),
            ("MachineDetectionDuration", "1200".to_owned()),
        ];
        sim.callback(&amd_cb, p).await;
    }
    tokio::time::sleep(talk).await;
    if sim.end(&sid, "completed", answered.elapsed().as_secs()) {
        let secs = answered.elapsed().as_secs().to_string();
        report("completed", vec![("CallDuration", secs)]).await;
    }
}

/// §7.3: `Status=completed|canceled` hangs up.
async fn update(
    State(sim): State<TwilioCalls>,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) || account != TWILIO_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let sid = call.trim_end_matches(".json").to_owned();
    let status = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "Status")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !["completed", "canceled"].contains(&status.as_str()) {
        sim.violation(format!("call update with Status={status}"));
    }
    if !sim.inner.lock().unwrap().calls.contains_key(&sid) {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "not found");
    }
    if sim.end(&sid, "completed", 0) {
        // Twilio reports the end it was asked for like any other.
        let (url, to, from) = sim.inner.lock().unwrap().callbacks[&sid].clone();
        let p = vec![
            ("AccountSid", TWILIO_SID.to_owned()),
            ("CallSid", sid.clone()),
            ("From", from),
            ("To", to),
            ("Direction", "outbound-api".to_owned()),
            ("CallStatus", "completed".to_owned()),
            ("CallDuration", "0".to_owned()),
            ("SequenceNumber", "99".to_owned()),
        ];
        let sim2 = sim.clone();
        tokio::spawn(async move { sim2.callback(&url, p).await });
    } else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21220,
            "Call is not in-progress. Cannot redirect.",
        );
    }
    let resource = sim.inner.lock().unwrap().calls.get(&sid).cloned().unwrap();
    (StatusCode::OK, axum::Json(resource))
}

async fn fetch(
    State(sim): State<TwilioCalls>,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) || account != TWILIO_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let sid = call.trim_end_matches(".json");
    match sim.inner.lock().unwrap().calls.get(sid) {
        Some(c) => (StatusCode::OK, axum::Json(c.clone())),
        None => twilio_error(StatusCode::NOT_FOUND, 20404, "not found"),
    }
}

async fn list(
    State(sim): State<TwilioCalls>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) || account != TWILIO_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let calls: Vec<Value> = sim
        .inner
        .lock()
        .unwrap()
        .calls
        .values()
        .filter(|c| q.get("To").is_none_or(|t| c["to"] == json!(t)))
        .filter(|c| q.get("From").is_none_or(|f| c["from"] == json!(f)))
        .cloned()
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({"calls": calls, "page": 0, "page_size": 50})),
    )
}
