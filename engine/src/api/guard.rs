//! The control API against web pages in the user's own browser. The API listens on loopback,
//! but any page the user opens can send requests there; these rules keep such a page out
//! even with the token unknown to it mattering less than it seems (a page can still make
//! simple requests blind, and DNS rebinding makes a foreign site look same-origin):
//! - **Host**: a request must name the listener by a loopback name or address (`127.0.0.1`,
//!   `[::1]`, `localhost`) or a host allowed by `--allow-origin`. A page that rebinds its own
//!   name to 127.0.0.1 still sends its own name as `Host`, and is refused.
//! - **Origin**: a browser names the page behind every cross-origin request, every WebSocket
//!   handshake and every POST/PUT/DELETE. It must be the listener's own origin (the UI it
//!   serves), the desktop window's (`tauri://localhost`), or one allowed by `--allow-origin`.
//!   No `Origin` at all is a program (curl, a CRM), not a page, and the token decides.
//! - **CORS** answers only the desktop window's and the allowed origins: same-origin needs none.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::{ApiError, ErrorCode, Refusals};

/// The desktop window's origins: Tauri serves its UI from `tauri://localhost` on Linux and
/// macOS, and from `http(s)://tauri.localhost` on Windows.
const DESKTOP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

#[derive(Debug, Default)]
pub(super) struct Guard {
    /// Origins allowed besides the listener's own, lower case, without a trailing slash.
    origins: Vec<String>,
    /// The hosts (`name[:port]`) of the allowed origins, accepted as `Host`.
    hosts: Vec<String>,
    refusals: Refusals,
}

impl Guard {
    /// `allowed`: the `--allow-origin` values, checked when the configuration was.
    pub(super) fn new(allowed: &[String]) -> Self {
        let mut guard = Self::default();
        for origin in DESKTOP_ORIGINS.iter().map(|o| (*o).to_owned()).chain(
            allowed
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()),
        ) {
            if let Some((_, host)) = origin.split_once("://")
                && !DESKTOP_ORIGINS.contains(&origin.as_str())
            {
                guard.hosts.push(host.to_owned());
            }
            guard.origins.push(origin);
        }
        guard
    }

    /// Whether a browser may read the answers of requests from `origin` (CORS).
    pub(super) fn cors_allows(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|o| self.origins.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }

    /// Why a request with these `Host` and `Origin` headers is refused, if it is.
    fn refusal(&self, host: Option<&str>, origin: Option<&str>) -> Option<(&'static str, String)> {
        let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
            return Some(("host", "the request names no Host".into()));
        };
        let host = host.to_ascii_lowercase();
        if !(is_loopback_host(&host) || self.hosts.contains(&host)) {
            return Some((
                "host",
                format!(
                    "the control API answers only to its loopback address (127.0.0.1, [::1] or \
                     localhost), not to \"{host}\"; a proxy in front of it is allowed with \
                     --allow-origin"
                ),
            ));
        }
        let origin = origin?.trim().trim_end_matches('/').to_ascii_lowercase();
        let own = format!("http://{host}");
        if origin == own || self.origins.contains(&origin) {
            return None;
        }
        Some((
            "origin",
            format!(
                "a page of {origin} may not use the control API (only its own UI and the \
                 desktop window may; others with --allow-origin)"
            ),
        ))
    }
}

/// `host` (`name[:port]`, lower case) names this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.parse::<axum::http::uri::Authority>() {
        Ok(a) => a.host().to_owned(),
        Err(_) => return false,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name == "localhost."
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests a page in a browser could have sent (see the module's doc), before
/// anything else looks at them: the token, CORS, the route.
pub(super) async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match guard.check(&req) {
        None => next.run(req).await,
        Some(why) => {
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, why).into_response()
        }
    }
}

impl Guard {
    /// Why `req` is refused, if it is (logged here, once per kind and source).
    fn check(&self, req: &Request) -> Option<String> {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        // HTTP/2 names the host in the request's authority instead of a Host header.
        let host = header(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
        let (kind, why) = if req
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|o| o.to_str().is_err())
        {
            ("origin", "the request's Origin is not readable".to_owned())
        } else {
            self.refusal(host, header(header::ORIGIN))?
        };
        let source = match kind {
            "host" => host.unwrap_or("(none)"),
            _ => header(header::ORIGIN).unwrap_or("(unreadable)"),
        };
        self.refusals.refused(kind, source, &why);
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_are_the_listeners_own() {
        for host in [
            "127.0.0.1:7720",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:7720",
            "localhost:7720",
            "localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.test:7720",
            "localhost.evil.test",
            "192.168.1.5:7720",
            "[::2]:7720",
            "0.0.0.0:7720",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_page_must_be_the_uis_own_the_desktops_or_allowed() {
        let g = Guard::new(&["https://switchboard.example.com/".into()]);
        let ok = |host, origin| g.refusal(Some(host), origin).is_none();
        assert!(ok("127.0.0.1:7720", None), "a program sends no Origin");
        assert!(ok("127.0.0.1:7720", Some("http://127.0.0.1:7720")));
        assert!(ok("LOCALHOST:7720", Some("http://localhost:7720/")));
        assert!(ok("127.0.0.1:7720", Some("tauri://localhost")));
        assert!(ok(
            "switchboard.example.com",
            Some("https://switchboard.example.com")
        ));
        assert!(
            !ok("127.0.0.1:7720", Some("http://127.0.0.1:9999")),
            "another port"
        );
        assert!(
            !ok("127.0.0.1:7720", Some("http://localhost:7720")),
            "another name"
        );
        assert!(!ok("127.0.0.1:7720", Some("https://evil.test")));
        assert!(!ok("127.0.0.1:7720", Some("null")));
        assert!(
            !ok("evil.test:7720", Some("http://evil.test:7720")),
            "rebinding"
        );
        assert!(!ok("evil.test:7720", None));
        assert!(g.refusal(None, None).is_some());
        assert!(g.cors_allows(&HeaderValue::from_static("tauri://localhost")));
        assert!(g.cors_allows(&HeaderValue::from_static("https://switchboard.example.com")));
        assert!(!g.cors_allows(&HeaderValue::from_static("http://127.0.0.1:9999")));
    }
}
