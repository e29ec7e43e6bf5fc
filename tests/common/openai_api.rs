//! OpenAI's Chat Completions on loopback, built from protocols/post-call-analysis.md (§4-§6):
//! it checks the bearer key and that a `json_schema` response format is strict (every object
//! at every depth with `additionalProperties: false` and all its properties required,
//! optional values as `["type", "null"]`), records every request, and answers what it is told
//! to, one reply per request: a valid answer, a status (with `retry-after`), a body that is
//! not JSON, an answer breaking the schema, or no answer at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const OPENAI_KEY: &str = "sk-test-analysis-0123456789";

/// What the fake answers one request with.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A completion whose content is this JSON (valid or not against the schema: the fake
    /// does not judge what it is told to say).
    Content(Value),
    /// This status with an OpenAI error body, and `retry-after` (seconds) when given.
    Status(u16, Option<&'static str>),
    /// A 200 whose content is not JSON.
    NotJson,
    /// No answer until the connection goes.
    Stall,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub authorization: String,
    pub body: Value,
}

struct Held {
    replies: VecDeque<Reply>,
    /// Answered once `replies` is used up.
    otherwise: Reply,
    seen: Vec<Seen>,
    violations: Vec<String>,
}

#[derive(Clone)]
pub struct FakeOpenAi {
    held: Arc<Mutex<Held>>,
    pub base: String,
}

impl FakeOpenAi {
    pub async fn start(otherwise: Reply) -> Self {
        let held = Arc::new(Mutex::new(Held {
            replies: VecDeque::new(),
            otherwise,
            seen: Vec::new(),
            violations: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(
                        json!({"error": {"message": "Not found", "type": "invalid_request_error"}}),
                    ),
                )
            })
            .with_state(held.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { held, base }
    }

    /// The next requests get these replies, in order.
    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.held.lock().unwrap().replies.extend(replies);
    }

    /// What every request gets once the queued replies are used up.
    pub fn otherwise(&self, reply: Reply) {
        self.held.lock().unwrap().otherwise = reply;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.held.lock().unwrap().seen.clone()
    }

    /// Requests that broke the protocol, each saying how.
    pub fn violations(&self) -> Vec<String> {
        self.held.lock().unwrap().violations.clone()
    }

    /// Waits until `n` requests have come.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Seen> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "the fake OpenAI got {} requests, not {n}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// How `schema` breaks OpenAI's strict mode, at `at`.
fn strict_violations(schema: &Value, at: &str, out: &mut Vec<String>) {
    if schema["type"] == "object" {
        if schema["additionalProperties"] != false {
            out.push(format!("{at}: additionalProperties is not false"));
        }
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut keys: Vec<String> = props.keys().cloned().collect();
        required.sort();
        keys.sort();
        if required != keys {
            out.push(format!(
                "{at}: required {required:?} is not every property {keys:?}"
            ));
        }
        for (k, v) in &props {
            strict_violations(v, &format!("{at}/{k}"), out);
        }
    }
    for banned in [
        "default",
        "allOf",
        "not",
        "if",
        "patternProperties",
        "minProperties",
    ] {
        if schema.get(banned).is_some() {
            out.push(format!("{at}: {banned} is not allowed in strict mode"));
        }
    }
}

async fn complete(
    State(held): State<Arc<Mutex<Held>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let reply = {
        let mut h = held.lock().unwrap();
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = match serde_json::from_str(&body) {
            Ok(b) => b,
            Err(e) => {
                h.violations.push(format!("the body is not JSON: {e}"));
                Value::Null
            }
        };
        if authorization != format!("Bearer {OPENAI_KEY}") {
            h.violations
                .push(format!("authorization {authorization:?}"));
        }
        if !body["model"].is_string() {
            h.violations.push("no model".into());
        }
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty()
            || messages
                .iter()
                .any(|m| !m["role"].is_string() || !m["content"].is_string())
        {
            h.violations.push(format!("messages {messages:?}"));
        }
        let format = &body["response_format"];
        if format["type"] != "json_schema"
            || format["json_schema"]["strict"] != true
            || !format["json_schema"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && n.len() <= 64)
        {
            h.violations.push(format!("response_format {format}"));
        }
        let mut strict = Vec::new();
        strict_violations(&format["json_schema"]["schema"], "", &mut strict);
        h.violations.extend(strict);
        h.seen.push(Seen {
            at: Instant::now(),
            authorization,
            body,
        });
        let otherwise = h.otherwise.clone();
        h.replies.pop_front().unwrap_or(otherwise)
    };
    match reply {
        Reply::Content(content) => completion(&content.to_string()),
        Reply::NotJson => completion("Sure! Here is the summary you asked for: the caller"),
        Reply::Status(status, retry_after) => {
            let status = StatusCode::from_u16(status).unwrap();
            let mut res = (
                status,
                axum::Json(json!({"error": {
                    "message": format!("fake failure {}", status.as_u16()),
                    "type": if status == StatusCode::TOO_MANY_REQUESTS { "requests" } else { "server_error" },
                    "param": null, "code": null,
                }})),
            )
                .into_response();
            if let Some(s) = retry_after {
                res.headers_mut().insert("retry-after", s.parse().unwrap());
            }
            res
        }
        Reply::Stall => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}

fn completion(content: &str) -> Response {
    let mut res = axum::Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_756_000_000,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }))
    .into_response();
    res.headers_mut()
        .insert("x-request-id", "req_test".parse().unwrap());
    res
}
