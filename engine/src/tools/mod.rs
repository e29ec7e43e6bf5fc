//! Running an agent's HTTP tools for the model during a call. The model's arguments are
//! checked against the tool's schema before anything is sent; the request has the tool's
//! timeout; whatever happens (a refusal, a timeout, an answer too big or not JSON) the model
//! gets a result it can speak about, and the call never waits on a tool for longer than that.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::domain::tool::{ValuePart, value_parts};
use crate::domain::{HttpMethod, HttpTool};

/// The most of a tool's answer that is read: it goes into the model's context.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The client every tool request goes through (its connections are kept between calls).
pub fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// The tools of one call, their argument schemas compiled once.
pub struct CallTools {
    tools: Vec<(HttpTool, jsonschema::Validator)>,
    http: reqwest::Client,
    call_id: String,
    /// The tool secrets the headers name, read from the keyring when the call began.
    secrets: std::collections::HashMap<String, String>,
}

/// What a tool call came to: the output the model is given, and a line for the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// JSON text for `function_call_output`: the tool's answer, or `{"error": …}`.
    pub output: String,
    pub ok: bool,
    /// For the transcript and the log: what it answered or why it failed, in short.
    pub summary: String,
    pub elapsed: Duration,
}

impl ToolOutcome {
    /// A call refused before anything was sent.
    pub fn refused(why: impl Into<String>) -> Self {
        Self::failed(why, Instant::now())
    }

    /// `send_dtmf`'s result: the keys were pressed.
    pub fn pressed(digits: &str, started: Instant) -> Self {
        Self {
            output: json!({"ok": true, "pressed": digits}).to_string(),
            ok: true,
            summary: format!("pressed {digits}"),
            elapsed: started.elapsed(),
        }
    }

    fn failed(why: impl Into<String>, started: Instant) -> Self {
        let why = why.into();
        Self {
            output: json!({ "error": why }).to_string(),
            ok: false,
            summary: why,
            elapsed: started.elapsed(),
        }
    }
}

/// A tool call checked and ready to send.
pub struct Prepared {
    request: reqwest::RequestBuilder,
    timeout: Duration,
    started: Instant,
}

impl CallTools {
    /// `tools` were checked when the agent was saved; one whose schema no longer compiles is
    /// left out (and said in the log), never a reason to refuse the call.
    pub fn new(
        tools: &[HttpTool],
        http: reqwest::Client,
        call_id: &str,
        secrets: std::collections::HashMap<String, String>,
    ) -> Self {
        let tools = tools
            .iter()
            .filter_map(|t| match jsonschema::validator_for(&t.parameters) {
                Ok(v) => Some((t.clone(), v)),
                Err(e) => {
                    tracing::error!(tool = %t.name, error = %e, "a tool's schema does not compile; left out");
                    None
                }
            })
            .collect();
        Self {
            tools,
            http,
            call_id: call_id.to_owned(),
            secrets,
        }
    }

    pub fn get(&self, name: &str) -> Option<&HttpTool> {
        self.tools.iter().map(|(t, _)| t).find(|t| t.name == name)
    }

    pub fn all(&self) -> impl Iterator<Item = &HttpTool> {
        self.tools.iter().map(|(t, _)| t)
    }

    /// Checks the model's `arguments` for tool `name` and builds its request; a call that
    /// cannot be sent is already its outcome.
    pub fn prepare(&self, name: &str, arguments: &str) -> Result<Prepared, ToolOutcome> {
        let started = Instant::now();
        let Some((tool, schema)) = self.tools.iter().find(|(t, _)| t.name == name) else {
            return Err(ToolOutcome::failed(
                format!("there is no tool named {name}"),
                started,
            ));
        };
        let args: Value = serde_json::from_str(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        })
        .map_err(|e| ToolOutcome::failed(format!("the arguments are not JSON: {e}"), started))?;
        let problems: Vec<String> = schema
            .iter_errors(&args)
            .take(3)
            .map(|e| match e.instance_path().to_string() {
                p if p.is_empty() => e.to_string(),
                p => format!("{p}: {e}"),
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolOutcome::failed(
                format!(
                    "the arguments do not fit the tool's schema: {}",
                    problems.join("; ")
                ),
                started,
            ));
        }
        let mut request = match tool.method {
            HttpMethod::Get | HttpMethod::Delete => {
                let query: Vec<(String, String)> = args
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect();
                let method = if tool.method == HttpMethod::Get {
                    reqwest::Method::GET
                } else {
                    reqwest::Method::DELETE
                };
                self.http.request(method, &tool.url).query(&query)
            }
            m => {
                let method = reqwest::Method::from_bytes(m.as_str().as_bytes())
                    .unwrap_or(reqwest::Method::POST);
                self.http.request(method, &tool.url).json(&args)
            }
        };
        for h in &tool.headers {
            let mut value = String::new();
            for part in value_parts(&h.value).unwrap_or_default() {
                match part {
                    ValuePart::Text(t) => value.push_str(t),
                    ValuePart::Secret(name) => match self.secrets.get(name) {
                        Some(secret) => value.push_str(secret),
                        None => {
                            return Err(ToolOutcome::failed(
                                format!(
                                    "the tool secret {name} is not set (Settings → Tool secrets)"
                                ),
                                started,
                            ));
                        }
                    },
                }
            }
            // Marked sensitive: never shown in debug output.
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                ToolOutcome::failed(
                    format!("header {} is not a valid header value", h.name),
                    started,
                )
            })?;
            value.set_sensitive(true);
            request = request.header(&h.name, value);
        }
        request = request
            .header("accept", "application/json")
            .header("x-switchboard-call", &self.call_id)
            .header("x-switchboard-tool", &tool.name);
        Ok(Prepared {
            request,
            timeout: Duration::from_millis(u64::from(tool.timeout_ms)),
            started,
        })
    }
}

impl Prepared {
    /// Sends the request; its whole answer must come within the tool's timeout.
    pub async fn send(self) -> ToolOutcome {
        let started = self.started;
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, exchange(self.request)).await {
            Ok(Ok(answer)) => ToolOutcome {
                summary: summarize(&answer),
                output: answer,
                ok: true,
                elapsed: started.elapsed(),
            },
            Ok(Err(Failure(why))) => ToolOutcome::failed(why, started),
            Err(_) => ToolOutcome::failed(
                format!("the tool did not answer within {} ms", timeout.as_millis()),
                started,
            ),
        }
    }
}

/// Why a request came to no answer the model can use, in words.
struct Failure(String);

/// The request and its answer, read up to [`MAX_ANSWER_BYTES`]: the answer as compact JSON.
async fn exchange(request: reqwest::RequestBuilder) -> Result<String, Failure> {
    let mut response = request.send().await.map_err(|e| {
        let what = if e.is_connect() {
            "the tool could not be reached"
        } else {
            "the request to the tool failed"
        };
        Failure(format!("{what}: {}", without_url(&e)))
    })?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure(format!("the tool's answer broke off: {}", without_url(&e))))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Failure(format!(
                "the tool's answer is over {} KB",
                MAX_ANSWER_BYTES / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(Failure(format!(
            "the tool answered HTTP {}{}",
            status.as_u16(),
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", text.trim())
            }
        )));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure(format!("the tool's answer is not JSON: {e}")))?;
    Ok(value.to_string())
}

/// reqwest's errors name the URL, which may carry a query the model filled in: left out.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
        text = text.replace(url.as_str(), "the tool's URL");
    }
    text
}

/// A short form of an answer for the transcript: the JSON, cut at 300 characters.
/// A tool's answer in short, for the transcript and the log.
pub fn summarize(answer: &str) -> String {
    let mut s: String = answer.chars().take(300).collect();
    if s.len() < answer.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tool::{HttpToolInput, validate_tools};

    fn tools(v: Value) -> CallTools {
        let input: Vec<HttpToolInput> = serde_json::from_value(v).unwrap();
        CallTools::new(
            &validate_tools(input).unwrap(),
            reqwest::Client::new(),
            "call-1",
            Default::default(),
        )
    }

    #[test]
    fn arguments_are_checked_before_anything_is_sent() {
        let t = tools(json!([{
            "name": "book", "url": "http://127.0.0.1:9/book",
            "parameters": {"type": "object", "required": ["date"],
                           "properties": {"date": {"type": "string"}, "people": {"type": "integer"}}}
        }]));
        let no = |args: &str| t.prepare("book", args).err().unwrap().summary;
        assert!(
            no("{\"people\": 2}").contains("date"),
            "{}",
            no("{\"people\": 2}")
        );
        assert!(no("{\"date\": \"x\", \"people\": \"two\"}").contains("/people"));
        assert!(no("not json").contains("not JSON"));
        assert!(
            t.prepare("nope", "{}")
                .err()
                .unwrap()
                .summary
                .contains("no tool named nope")
        );
        assert!(t.prepare("book", "{\"date\": \"2026-12-07\"}").is_ok());
        let failed = t.prepare("book", "{}").err().unwrap();
        assert!(!failed.ok);
        let output: Value = serde_json::from_str(&failed.output).unwrap();
        assert!(output["error"].as_str().unwrap().contains("schema"));
    }
}
