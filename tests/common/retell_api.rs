//! Retell's API on loopback, built from protocols/retell.md: the Retell LLMs and agents it
//! holds (§3, §4, §12), calls registered for dial-to-SIP (§6, §7.2), and signed webhooks
//! (§8.1, §15) sent to an engine. It checks the bearer key and each request's required fields
//! as Retell documents them, counts what it refused, and can be told to fail or stall the next
//! request to one endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const RETELL_KEY: &str = "key_retell_test_0123456789";

/// What the next request to an endpoint meets instead of Retell's answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status, with a Retell-like error body.
    Status(u16),
    /// No answer for this long (longer than the engine waits).
    Stall(Duration),
    /// Does what was asked, then gives no answer for this long: the engine cannot know.
    ActThenStall(Duration),
}

#[derive(Default)]
struct Held {
    llms: Vec<Value>,
    agents: Vec<Value>,
    calls: Vec<Value>,
    /// Requests refused as not Retell's wire (bad key, missing field): each says why.
    refused: Vec<String>,
    /// (method, endpoint) of every request, in order.
    log: Vec<(String, String)>,
    faults: HashMap<String, Fault>,
    next_id: u64,
}

#[derive(Clone)]
pub struct RetellApi {
    held: Arc<Mutex<Held>>,
    pub base: String,
}

type Reply = (StatusCode, axum::Json<Value>);

impl RetellApi {
    pub async fn start() -> Self {
        let held = Arc::new(Mutex::new(Held::default()));
        let app = axum::Router::new()
            .route("/create-retell-llm", post(create_llm))
            .route("/get-retell-llm/{id}", get(get_llm))
            .route("/update-retell-llm/{id}", patch(update_llm))
            .route("/delete-retell-llm/{id}", delete(delete_llm))
            .route("/v2/list-retell-llms", get(list_llms))
            .route("/create-agent", post(create_agent))
            .route("/get-agent/{id}", get(get_agent))
            .route("/update-agent/{id}", patch(update_agent))
            .route("/delete-agent/{id}", delete(delete_agent))
            .route("/v2/list-agents", post(list_agents))
            .route("/v2/register-phone-call", post(register_call))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"message": "not found"})),
                )
            })
            .with_state(held.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { held, base }
    }

    /// The next request to `endpoint` (its first path segment after any `/v2`, e.g.
    /// `create-agent`, `register-phone-call`) meets `fault`; later ones are answered.
    pub fn fault(&self, endpoint: &str, fault: Fault) {
        self.held
            .lock()
            .unwrap()
            .faults
            .insert(endpoint.to_owned(), fault);
    }

    pub fn llms(&self) -> Vec<Value> {
        self.held.lock().unwrap().llms.clone()
    }
    pub fn agents(&self) -> Vec<Value> {
        self.held.lock().unwrap().agents.clone()
    }
    pub fn calls(&self) -> Vec<Value> {
        self.held.lock().unwrap().calls.clone()
    }
    pub fn refused(&self) -> Vec<String> {
        self.held.lock().unwrap().refused.clone()
    }
    /// How many requests reached `endpoint`.
    pub fn requests_to(&self, endpoint: &str) -> usize {
        let held = self.held.lock().unwrap();
        held.log.iter().filter(|(_, e)| e == endpoint).count()
    }

    /// POSTs `{"event", "call"}` to `url` signed with `key` at `timestamp_ms` (now if `None`),
    /// as Retell does; `signature` overrides the header (`Some("")`: none). Returns the
    /// status and body.
    pub async fn send_webhook(
        url: &str,
        body: &str,
        key: &str,
        timestamp_ms: Option<i64>,
        signature: Option<&str>,
    ) -> (StatusCode, String) {
        let at = timestamp_ms.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        match signature {
            Some("") => {}
            Some(s) => req = req.header("x-retell-signature", s),
            None => req = req.header("x-retell-signature", sign(key, body, at)),
        }
        let res = req.send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }
}

/// `v={timestamp_ms},d={hex HMAC-SHA256(key, body + timestamp)}` (retell.md §8.1).
pub fn sign(key: &str, body: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.update(timestamp_ms.to_string().as_bytes());
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v={timestamp_ms},d={digest}")
}

fn error(status: u16, message: &str) -> Reply {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"status": "error", "message": message})),
    )
}

/// A fault that lets the request act; the handler applies it once the work is done.
async fn after_acting(held: &Mutex<Held>, endpoint: &str, reply: Reply) -> Reply {
    let fault = {
        let mut h = held.lock().unwrap();
        match h.faults.get(endpoint) {
            Some(Fault::ActThenStall(_)) => h.faults.remove(endpoint),
            _ => None,
        }
    };
    match fault {
        Some(Fault::ActThenStall(d)) => {
            tokio::time::sleep(d).await;
            error(504, "stalled")
        }
        _ => reply,
    }
}

/// Logs the request and checks its key; applies a fault set for `endpoint` that keeps the
/// request from acting.
async fn admit(
    held: &Mutex<Held>,
    method: &str,
    endpoint: &str,
    headers: &HeaderMap,
) -> Option<Reply> {
    let fault = {
        let mut h = held.lock().unwrap();
        h.log.push((method.to_owned(), endpoint.to_owned()));
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {RETELL_KEY}")) {
            h.refused
                .push(format!("{method} {endpoint}: authorization {auth:?}"));
            return Some(error(401, "Invalid API Key"));
        }
        match h.faults.get(endpoint) {
            Some(Fault::ActThenStall(_)) | None => None,
            Some(_) => h.faults.remove(endpoint),
        }
    };
    match fault {
        None | Some(Fault::ActThenStall(_)) => None,
        Some(Fault::Status(status)) => Some(error(status, "injected fault")),
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            Some(error(504, "stalled"))
        }
    }
}

fn refuse(held: &Mutex<Held>, why: String) -> Reply {
    held.lock().unwrap().refused.push(why.clone());
    error(400, &why)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn next_id(held: &Mutex<Held>, prefix: &str) -> String {
    let mut h = held.lock().unwrap();
    h.next_id += 1;
    format!("{prefix}_{:024x}", h.next_id)
}

/// Copies the fields of `patch` that `allowed` names onto `object`.
fn merge(object: &mut Value, patch: &Value, allowed: &[&str]) -> Result<(), String> {
    let Some(fields) = patch.as_object() else {
        return Err("body is not a JSON object".into());
    };
    for (k, v) in fields {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("unknown field {k}"));
        }
        object[k] = v.clone();
    }
    Ok(())
}

const LLM_FIELDS: &[&str] = &[
    "model",
    "s2s_model",
    "model_temperature",
    "model_high_priority",
    "start_speaker",
    "begin_message",
    "begin_after_user_silence_ms",
    "general_prompt",
    "general_tools",
    "states",
    "starting_state",
    "default_dynamic_variables",
    "knowledge_base_ids",
    "kb_config",
    "mcps",
    "tool_call_strict_mode",
];
const AGENT_FIELDS: &[&str] = &[
    "response_engine",
    "voice_id",
    "agent_name",
    "language",
    "webhook_url",
    "webhook_events",
    "interruption_sensitivity",
    "responsiveness",
    "enable_backchannel",
    "end_call_after_silence_ms",
    "max_call_duration_ms",
    "voicemail_option",
    "voice_model",
    "voice_speed",
    "voice_temperature",
    "volume",
    "fallback_voice_ids",
    "webhook_timeout_ms",
];

async fn create_llm(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    if let Some(r) = admit(&held, "POST", "create-retell-llm", &headers).await {
        return r;
    }
    // `start_speaker` is the one field documented as required (retell.md §3).
    if !matches!(body["start_speaker"].as_str(), Some("agent" | "user")) {
        return refuse(
            &held,
            "create-retell-llm: start_speaker must be agent or user".into(),
        );
    }
    let mut llm = json!({
        "llm_id": next_id(&held, "llm"), "version": 0, "is_published": false,
        "model": "gpt-4.1", "last_modification_timestamp": now_ms(),
    });
    if let Err(e) = merge(&mut llm, &body, LLM_FIELDS) {
        return refuse(&held, format!("create-retell-llm: {e}"));
    }
    held.lock().unwrap().llms.push(llm.clone());
    after_acting(
        &held,
        "create-retell-llm",
        (StatusCode::CREATED, axum::Json(llm)),
    )
    .await
}

async fn get_llm(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    if let Some(r) = admit(&held, "GET", "get-retell-llm", &headers).await {
        return r;
    }
    let h = held.lock().unwrap();
    match h.llms.iter().find(|l| l["llm_id"] == id.as_str()) {
        Some(l) => (StatusCode::OK, axum::Json(l.clone())),
        None => error(404, "LLM not found"),
    }
}

async fn update_llm(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    if let Some(r) = admit(&held, "PATCH", "update-retell-llm", &headers).await {
        return r;
    }
    let mut h = held.lock().unwrap();
    let Some(llm) = h.llms.iter_mut().find(|l| l["llm_id"] == id.as_str()) else {
        return error(404, "LLM not found");
    };
    let mut updated = llm.clone();
    if let Err(e) = merge(&mut updated, &body, LLM_FIELDS) {
        drop(h);
        return refuse(&held, format!("update-retell-llm: {e}"));
    }
    updated["last_modification_timestamp"] = json!(now_ms());
    *llm = updated.clone();
    (StatusCode::OK, axum::Json(updated))
}

async fn delete_llm(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    if let Some(r) = admit(&held, "DELETE", "delete-retell-llm", &headers).await {
        return r;
    }
    let mut h = held.lock().unwrap();
    let before = h.llms.len();
    h.llms.retain(|l| l["llm_id"] != id.as_str());
    if h.llms.len() == before {
        return error(404, "LLM not found");
    }
    (StatusCode::NO_CONTENT, axum::Json(Value::Null))
}

async fn list_llms(State(held): State<Arc<Mutex<Held>>>, headers: HeaderMap) -> Reply {
    if let Some(r) = admit(&held, "GET", "list-retell-llms", &headers).await {
        return r;
    }
    (StatusCode::OK, axum::Json(json!(held.lock().unwrap().llms)))
}

async fn create_agent(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    if let Some(r) = admit(&held, "POST", "create-agent", &headers).await {
        return r;
    }
    // Required: `response_engine` and `voice_id` (retell.md §4).
    let engine = &body["response_engine"];
    if engine["type"] != "retell-llm" || !engine["llm_id"].is_string() {
        return refuse(&held, format!("create-agent: response_engine {engine}"));
    }
    if body["voice_id"].as_str().is_none_or(str::is_empty) {
        return refuse(&held, "create-agent: voice_id is required".into());
    }
    let llm_known = held
        .lock()
        .unwrap()
        .llms
        .iter()
        .any(|l| l["llm_id"] == engine["llm_id"]);
    if !llm_known {
        return error(404, "response engine LLM not found");
    }
    let mut agent = json!({
        "agent_id": next_id(&held, "agent"), "version": 0, "is_published": false,
        "last_modification_timestamp": now_ms(),
    });
    if let Err(e) = merge(&mut agent, &body, AGENT_FIELDS) {
        return refuse(&held, format!("create-agent: {e}"));
    }
    held.lock().unwrap().agents.push(agent.clone());
    after_acting(
        &held,
        "create-agent",
        (StatusCode::CREATED, axum::Json(agent)),
    )
    .await
}

async fn get_agent(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    if let Some(r) = admit(&held, "GET", "get-agent", &headers).await {
        return r;
    }
    let h = held.lock().unwrap();
    match h.agents.iter().find(|a| a["agent_id"] == id.as_str()) {
        Some(a) => (StatusCode::OK, axum::Json(a.clone())),
        None => error(404, "agent not found"),
    }
}

async fn update_agent(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    if let Some(r) = admit(&held, "PATCH", "update-agent", &headers).await {
        return r;
    }
    let mut h = held.lock().unwrap();
    let Some(agent) = h.agents.iter_mut().find(|a| a["agent_id"] == id.as_str()) else {
        return error(404, "agent not found");
    };
    let mut updated = agent.clone();
    if let Err(e) = merge(&mut updated, &body, AGENT_FIELDS) {
        drop(h);
        return refuse(&held, format!("update-agent: {e}"));
    }
    updated["last_modification_timestamp"] = json!(now_ms());
    *agent = updated.clone();
    (StatusCode::OK, axum::Json(updated))
}

async fn delete_agent(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    if let Some(r) = admit(&held, "DELETE", "delete-agent", &headers).await {
        return r;
    }
    let mut h = held.lock().unwrap();
    let before = h.agents.len();
    h.agents.retain(|a| a["agent_id"] != id.as_str());
    if h.agents.len() == before {
        return error(404, "agent not found");
    }
    (StatusCode::NO_CONTENT, axum::Json(Value::Null))
}

async fn list_agents(State(held): State<Arc<Mutex<Held>>>, headers: HeaderMap) -> Reply {
    if let Some(r) = admit(&held, "POST", "list-agents", &headers).await {
        return r;
    }
    (
        StatusCode::OK,
        axum::Json(json!(held.lock().unwrap().agents)),
    )
}

async fn register_call(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Reply {
    if let Some(r) = admit(&held, "POST", "register-phone-call", &headers).await {
        return r;
    }
    // Required: `agent_id`, an agent Retell holds (retell.md §6).
    let Some(agent_id) = body["agent_id"].as_str() else {
        return refuse(&held, "register-phone-call: agent_id is required".into());
    };
    if !held
        .lock()
        .unwrap()
        .agents
        .iter()
        .any(|a| a["agent_id"] == agent_id)
    {
        return error(404, "agent not found");
    }
    let call = json!({
        "call_id": next_id(&held, "call"), "call_type": "phone_call", "agent_id": agent_id,
        "agent_version": 0, "call_status": "registered", "direction": body["direction"],
        "from_number": body["from_number"], "to_number": body["to_number"],
        "metadata": body["metadata"],
    });
    held.lock().unwrap().calls.push(call.clone());
    after_acting(
        &held,
        "register-phone-call",
        (StatusCode::CREATED, axum::Json(call)),
    )
    .await
}
