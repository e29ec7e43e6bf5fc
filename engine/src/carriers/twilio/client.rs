//! The Twilio REST client (protocols/twilio.md §7): what Switchboard asks of a call once it
//! runs, today ending it. Retries and error reading as every carrier API (`carriers::http`).

use serde_json::Value;

use crate::carriers::http::{self, CarrierApiError};

pub const DEFAULT_API_URL: &str = "https://api.twilio.com/2010-04-01";

#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
}

impl TwilioClient {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            http: http::client(),
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Hangs up a call (§7.3): `Status=completed` once it is in progress, `canceled` while it
    /// is still queued or ringing. A call that already ended is not an error.
    pub async fn hang_up(
        &self,
        account_sid: &str,
        auth_token: &str,
        call_sid: &str,
        ringing: bool,
    ) -> Result<(), CarrierApiError> {
        let status = if ringing { "canceled" } else { "completed" };
        let path =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let url = format!(
            "{}/Accounts/{}/Calls/{}.json",
            self.base,
            path(account_sid),
            path(call_sid)
        );
        let done = http::send(
            "Twilio",
            "hang up",
            || {
                self.http
                    .post(&url)
                    .basic_auth(account_sid, Some(auth_token))
                    .header("accept", "application/json")
                    .form(&[("Status", status)])
            },
            error_message,
        )
        .await;
        match done {
            // 21220: the call is not in progress (it ended meanwhile).
            Err(e) if e.code() == Some("21220") => Ok(()),
            other => other.map(drop),
        }
    }
}

/// The code and message of a Twilio error body: the REST `{code, message}` form or RFC 9457
/// problem details (`{type, title, status, code, detail}`).
fn error_message(body: &str) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    match parsed {
        Some(v) if v.get("code").is_some() => {
            let code = match &v["code"] {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            let message = v["message"]
                .as_str()
                .or_else(|| v["detail"].as_str())
                .or_else(|| v["title"].as_str())
                .unwrap_or("error")
                .to_owned();
            (code, message)
        }
        _ => (None, body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_twilio_error_shapes() {
        let legacy = r#"{"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "more_info": "https://www.twilio.com/docs/errors/21220", "status": 400}"#;
        assert_eq!(
            error_message(legacy),
            (
                Some("21220".into()),
                "Call is not in-progress. Cannot redirect.".into()
            )
        );
        let problem = r#"{"type": "https://x", "title": "Bad", "status": 400, "code": 12345, "detail": "Nope"}"#;
        assert_eq!(
            error_message(problem),
            (Some("12345".into()), "Nope".into())
        );
        assert_eq!(error_message("<html>"), (None, "<html>".into()));
    }
}
