//! One post-call analysis request to OpenAI's Chat Completions (protocols/post-call-analysis.md
//! §4): the transcript in, the answer's JSON out. What may succeed if tried again (a network
//! error, 408, 409, 429, a 5xx, an answer that is not JSON or was cut off) is told apart from
//! what will not (a refused key, an unknown model, a refusal), with the server's `retry-after`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::domain::analysis::SCHEMA_NAME;

/// Longer waits a server asks for are not waited (the SDK's rule): the job backs off instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Error texts kept on the call are cut to this many characters.
const REASON_MAX: usize = 300;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// Worth another attempt, after `retry_after` when the server said.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way.
    Fatal(String),
}

pub struct Ask<'a> {
    pub base_url: &'a str,
    pub api_key: &'a str,
    pub model: &'a str,
    pub instructions: &'a str,
    pub input: &'a str,
    pub schema: &'a Value,
}

fn cut(text: &str) -> String {
    let mut t: String = text.chars().take(REASON_MAX).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    t
}

/// `retry-after-ms`, else `retry-after` in seconds, when given and at most two minutes.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let wait = read("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| read("retry-after"))?;
    (wait > 0.0 && wait <= MAX_RETRY_AFTER.as_secs_f64()).then(|| Duration::from_secs_f64(wait))
}

/// The `error.message` of an OpenAI error body, else the body's start.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

impl Ask<'_> {
    /// Sends the request and returns the model's answer, parsed as JSON (not yet checked
    /// against the schema). Never puts the key in an error.
    pub async fn send(&self, http: &reqwest::Client) -> Result<Value, AskError> {
        let result = self.send_inner(http).await;
        let redact = |s: String| {
            if self.api_key.is_empty() {
                s
            } else {
                s.replace(self.api_key, "<redacted>")
            }
        };
        result.map_err(|e| match e {
            AskError::Retry {
                reason,
                retry_after,
            } => AskError::Retry {
                reason: redact(reason),
                retry_after,
            },
            AskError::Fatal(reason) => AskError::Fatal(redact(reason)),
        })
    }

    async fn send_inner(&self, http: &reqwest::Client) -> Result<Value, AskError> {
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.instructions},
                {"role": "user", "content": self.input},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": SCHEMA_NAME,
                    "description": "Post-call analysis of one phone call",
                    "strict": true,
                    "schema": self.schema,
                },
            },
            "max_completion_tokens": 2000,
            "store": false,
        });
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let res = http
            .post(&url)
            .bearer_auth(self.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| AskError::Retry {
                reason: cut(&format!("OpenAI could not be reached: {e}")),
                retry_after: None,
            })?;
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            tracing::debug!(request_id = id, %status, "post-call analysis answered");
        }
        let text = res.text().await.map_err(|e| AskError::Retry {
            reason: cut(&format!("OpenAI's answer was cut off: {e}")),
            retry_after: None,
        })?;
        if !status.is_success() {
            let reason = cut(&format!(
                "OpenAI answered {}: {}",
                status.as_u16(),
                error_message(&text)
            ));
            let should = headers
                .get("x-should-retry")
                .and_then(|v| v.to_str().ok())
                .map(|v| v == "true");
            let retry = should.unwrap_or(
                matches!(
                    status,
                    StatusCode::REQUEST_TIMEOUT
                        | StatusCode::CONFLICT
                        | StatusCode::TOO_MANY_REQUESTS
                ) || status.is_server_error(),
            );
            return Err(if retry {
                AskError::Retry {
                    reason,
                    retry_after: retry_after(&headers),
                }
            } else {
                AskError::Fatal(reason)
            });
        }
        let retry = |reason: &str| AskError::Retry {
            reason: reason.to_owned(),
            retry_after: None,
        };
        let answer: Value =
            serde_json::from_str(&text).map_err(|_| retry("OpenAI's answer is not JSON"))?;
        let choice = &answer["choices"][0];
        if let Some(refusal) = choice["message"]["refusal"].as_str() {
            return Err(AskError::Fatal(cut(&format!(
                "the model refused: {refusal}"
            ))));
        }
        match choice["finish_reason"].as_str() {
            Some("length") => {
                return Err(retry("the model's answer was cut off at its length limit"));
            }
            Some("content_filter") => {
                return Err(AskError::Fatal(
                    "the model's answer was filtered out".into(),
                ));
            }
            _ => {}
        }
        let content = choice["message"]["content"]
            .as_str()
            .ok_or_else(|| retry("the model's answer has no content"))?;
        serde_json::from_str(content).map_err(|e| AskError::Retry {
            reason: cut(&format!("the model's answer is not JSON: {e}")),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_ms_or_seconds_and_long_waits_are_not_obeyed() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut long = HeaderMap::new();
        long.insert("retry-after", "600".parse().unwrap());
        assert_eq!(retry_after(&long), None);
    }

    #[test]
    fn errors_read_openais_message() {
        assert_eq!(
            error_message(r#"{"error": {"message": "Invalid schema", "type": "x"}}"#),
            "Invalid schema"
        );
        assert_eq!(error_message(" oops "), "oops");
    }
}
