//! How Switchboard calls a carrier's REST API: bounded timeouts, retries with exponential
//! backoff on network errors, 5xx and 429 (the request may succeed later), none on other 4xx
//! (the request itself is wrong), and the carrier's own error message surfaced. A request whose
//! repeat could act twice is retried only when it never left (`Retry::UnsentOnly`).

use std::time::Duration;

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum CarrierApiError {
    #[error("{carrier} refused {action} ({status}): {message}")]
    Refused {
        carrier: &'static str,
        action: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The request may or may not have taken effect (a timeout or a server error after it
    /// was sent); repeating it could act twice.
    #[error("{carrier} did not confirm {action}: {last}")]
    Unconfirmed {
        carrier: &'static str,
        action: String,
        last: String,
    },
    #[error("{carrier} unreachable for {action} after {attempts} attempts: {last}")]
    Unreachable {
        carrier: &'static str,
        action: String,
        attempts: u32,
        last: String,
    },
}

impl CarrierApiError {
    /// The carrier's error code, when it refused with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => code.as_deref(),
            Self::Unreachable { .. } | Self::Unconfirmed { .. } => None,
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("TLS backend initialises")
}

/// For downloads (a call's recording): a long call's file takes longer than an API reply.
pub fn download_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("TLS backend initialises")
}

/// A GET of a file (safe to repeat), retried as `send` is; its bytes.
pub async fn download(
    carrier: &'static str,
    action: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
    read_error: fn(&str) -> (Option<String>, String),
) -> Result<Vec<u8>, CarrierApiError> {
    let res = respond(Retry::Transient, carrier, action, build, read_error).await?;
    match res.bytes().await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) => Err(CarrierApiError::Unreachable {
            carrier,
            action: action.to_owned(),
            attempts: 1,
            last: e.without_url().to_string(),
        }),
    }
}

/// Which failures a request may be sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Network errors, 5xx and 429: for requests that do no harm when repeated.
    Transient,
    /// Only when the request never reached the carrier (no connection was made): for requests
    /// whose repeat could act twice (placing a call rings a phone). A timeout or a 5xx after
    /// sending is `Unconfirmed`: the caller must find out what happened, not ask again.
    UnsentOnly,
}

/// Sends the request `build` makes, retrying as above. `read_error` turns an error body into
/// the carrier's code and a readable message. Returns the successful response's body.
pub async fn send(
    carrier: &'static str,
    action: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
    read_error: fn(&str) -> (Option<String>, String),
) -> Result<String, CarrierApiError> {
    send_with(Retry::Transient, carrier, action, build, read_error).await
}

/// `send` with the retry policy chosen by the caller.
pub async fn send_with(
    retry: Retry,
    carrier: &'static str,
    action: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
    read_error: fn(&str) -> (Option<String>, String),
) -> Result<String, CarrierApiError> {
    let res = respond(retry, carrier, action, build, read_error).await?;
    Ok(res.text().await.unwrap_or_default())
}

/// The retry loop of `send_with`: the successful response, its body unread.
async fn respond(
    retry: Retry,
    carrier: &'static str,
    action: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
    read_error: fn(&str) -> (Option<String>, String),
) -> Result<reqwest::Response, CarrierApiError> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let may_repeat = match build().send().await {
            Ok(res) if res.status().is_success() => return Ok(res),
            // A 429 is worth waiting out, unless a repeat could act twice: then it is the
            // carrier's answer that it did not act (LiveKit also says a SIP failure so).
            Ok(res)
                if res.status().is_client_error()
                    && (res.status().as_u16() != 429 || retry == Retry::UnsentOnly) =>
            {
                let status = res.status().as_u16();
                let (code, message) = read_error(&res.text().await.unwrap_or_default());
                return Err(CarrierApiError::Refused {
                    carrier,
                    action: action.to_owned(),
                    status,
                    code,
                    message,
                });
            }
            Ok(res) => {
                let status = res.status();
                let (_, message) = read_error(&res.text().await.unwrap_or_default());
                last = format!("{status}: {message}");
                retry == Retry::Transient
            }
            Err(e) => {
                let unsent = e.is_connect();
                last = e.without_url().to_string();
                retry == Retry::Transient || unsent
            }
        };
        if !may_repeat {
            return Err(CarrierApiError::Unconfirmed {
                carrier,
                action: action.to_owned(),
                last,
            });
        }
        if attempt < ATTEMPTS {
            tracing::warn!(carrier, action, attempt, error = %last, "carrier API call failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(CarrierApiError::Unreachable {
        carrier,
        action: action.to_owned(),
        attempts: ATTEMPTS,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A server answering every request with `status`; returns its URL and request count.
    async fn server(status: u16) -> (String, Arc<AtomicU32>) {
        let count = Arc::new(AtomicU32::new(0));
        let seen = count.clone();
        let app = axum::Router::new().fallback(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, count)
    }

    fn no_message(body: &str) -> (Option<String>, String) {
        (None, body.to_owned())
    }

    #[tokio::test]
    async fn a_request_that_may_have_acted_is_not_sent_again() {
        let (url, count) = server(503).await;
        let http = client();
        let err = send_with(
            Retry::UnsentOnly,
            "Test",
            "dial",
            || http.post(&url),
            no_message,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, CarrierApiError::Unconfirmed { .. }),
            "{err:?}"
        );
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "a 5xx may hide a placed call"
        );

        let (url, count) = server(503).await;
        let err = send("Test", "hang up", || http.post(&url), no_message)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CarrierApiError::Unreachable { .. }),
            "{err:?}"
        );
        assert_eq!(
            count.load(Ordering::SeqCst),
            ATTEMPTS,
            "a harmless repeat is retried"
        );
    }

    #[tokio::test]
    async fn a_request_that_never_left_is_sent_again_even_if_it_must_not_act_twice() {
        // Nothing listens on this port: every attempt fails to connect.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let http = client();
        let err = send_with(
            Retry::UnsentOnly,
            "Test",
            "dial",
            || http.post(&url),
            no_message,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                CarrierApiError::Unreachable {
                    attempts: ATTEMPTS,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
