//! The Telnyx Call Control API client: commands on a call (`answer`, `reject`, `hangup`).
//! Network errors and 5xx are retried with exponential backoff; 4xx are not (the request
//! itself is wrong); the carrier's own error message is surfaced.

use std::time::Duration;

use serde_json::{Value, json};

pub const DEFAULT_API_URL: &str = "https://api.telnyx.com/v2";
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum TelnyxError {
    #[error("Telnyx refused {action} ({status}): {message}")]
    Refused {
        action: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("Telnyx unreachable for {action} after {attempts} attempts: {last}")]
    Unreachable {
        action: String,
        attempts: u32,
        last: String,
    },
}

impl TelnyxError {
    /// "Call has already ended": the outcome a hangup wanted anyway.
    pub fn is_call_already_ended(&self) -> bool {
        matches!(self, Self::Refused { code: Some(c), .. } if c == "90018")
    }
}

#[derive(Clone)]
pub struct TelnyxClient {
    http: reqwest::Client,
    base: String,
}

/// Answer-command fields for a bidirectional PCMU media stream (protocols/telnyx.md §3.1).
pub fn answer_with_stream(stream_url: &str, client_state: &str, command_id: &str) -> Value {
    json!({
        "stream_url": stream_url,
        "stream_track": "inbound_track",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_target_legs": "self",
        "send_silence_when_idle": true,
        "client_state": client_state,
        "command_id": command_id,
    })
}

impl TelnyxClient {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("TLS backend initialises");
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// `POST /calls/{call_control_id}/actions/{action}` with `body`.
    pub async fn command(
        &self,
        api_key: &str,
        call_control_id: &str,
        action: &str,
        body: &Value,
    ) -> Result<(), TelnyxError> {
        let id: String = url::form_urlencoded::byte_serialize(call_control_id.as_bytes()).collect();
        let url = format!("{}/calls/{id}/actions/{action}", self.base);
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .http
                .post(&url)
                .bearer_auth(api_key)
                .json(body)
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => return Ok(()),
                Ok(res) if res.status().is_client_error() => {
                    let status = res.status().as_u16();
                    let (code, message) = error_message(res.text().await.unwrap_or_default());
                    return Err(TelnyxError::Refused {
                        action: action.to_owned(),
                        status,
                        code,
                        message,
                    });
                }
                Ok(res) => {
                    let status = res.status();
                    let (_, message) = error_message(res.text().await.unwrap_or_default());
                    last = format!("{status}: {message}");
                }
                Err(e) => last = e.without_url().to_string(),
            }
            if attempt < ATTEMPTS {
                tracing::warn!(action, attempt, error = %last, "Telnyx command failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(TelnyxError::Unreachable {
            action: action.to_owned(),
            attempts: ATTEMPTS,
            last,
        })
    }
}

/// The code and readable message of a Telnyx error body (`{"errors": [{code, title, detail}]}`).
fn error_message(body: String) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let first = parsed.as_ref().and_then(|v| v["errors"].get(0));
    match first {
        Some(e) => {
            let code = e["code"].as_str().map(str::to_owned);
            let title = e["title"].as_str().unwrap_or("error");
            let message = match e["detail"].as_str() {
                Some(d) if d != title => format!("{title}: {d}"),
                _ => title.to_owned(),
            };
            (code, message)
        }
        None => (None, body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_telnyx_error_bodies() {
        let body = r#"{"errors":[{"code":"90018","title":"Call has already ended","detail":"This call is no longer active and can't receive commands."}]}"#;
        let (code, message) = error_message(body.into());
        assert_eq!(code.as_deref(), Some("90018"));
        assert_eq!(
            message,
            "Call has already ended: This call is no longer active and can't receive commands."
        );
        assert_eq!(
            error_message("gateway timeout".into()),
            (None, "gateway timeout".into())
        );
    }
}
