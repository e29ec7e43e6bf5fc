//! The public listener: what carriers reach through the public base URL. Carrier webhooks
//! (each verified by its adapter), Retell's call webhooks, and media streams; nothing of the
//! control API.
//!
//! It answers the whole internet, so it holds against what the internet sends:
//! - a sender slow to send its headers is cut off (`HEADER_READ`), and one slow to send its
//!   body too (`BODY_READ`); a request is answered within `ANSWER_WITHIN` or refused;
//! - bodies are capped (carriers' webhooks are small);
//! - open sockets are capped, media WebSockets included (a socket holds its place until it
//!   closes, upgraded or not);
//! - each address may send at most so many requests a second, and an address whose requests
//!   keep being refused (bad signatures, malformed, unknown routes) is shut out for a while:
//!   a flood of forged webhooks costs its sender, not the carriers' signed ones. Behind a
//!   local tunnel or proxy, the address is the one it saw (the last `X-Forwarded-For` hop).
//!
//! Every refusal is logged once per kind and address a minute (`web::Refusals`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::config::PublicLimits as Limits;
use crate::engine::Engine;
use crate::web::{ApiError, ErrorCode, Refusals};

/// Time to send a request's headers, from the connection's start or its previous request.
const HEADER_READ: Duration = Duration::from_secs(10);
/// Time to send a request's body.
const BODY_READ: Duration = Duration::from_secs(10);
/// Time to answer a request (a media WebSocket is answered when it is upgraded).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// Carrier webhooks are small; anything bigger is not one.
const BODY_MAX: usize = 64 * 1024;

pub fn router(engine: Engine) -> Router {
    let guard = Arc::new(Guard::new(engine.config().public_limits()));
    Router::new()
        .route("/health", get(health))
        .merge(crate::carriers::routes(engine.config()))
        .layer(DefaultBodyLimit::max(BODY_MAX))
        // After the limit above: Retell's reports carry whole transcripts and set their own.
        .merge(crate::retell::webhook::routes())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_READ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            ANSWER_WITHIN,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, limit))
        .layer(crate::web::trace_layer())
        .with_state(engine)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "status": "ok", "service": "switchboard" }))
}

/// How long an address whose refusals ran over is refused unread.
const SHUT_OUT_FOR: Duration = Duration::from_secs(5);
/// Addresses the limiters remember before they forget the idle ones (a flood from many
/// addresses must not grow them without bound).
const REMEMBERED: usize = 65_536;

/// Per-address limits, shared by the listener's requests.
struct Guard {
    requests: DefaultKeyedRateLimiter<IpAddr>,
    refusals: DefaultKeyedRateLimiter<IpAddr>,
    shut_out: Mutex<HashMap<IpAddr, Instant>>,
    log: Refusals,
}

impl Guard {
    fn new(limits: Limits) -> Self {
        let quota = |per_second: u32, burst: u32| {
            let rate = NonZeroU32::new(per_second.max(1)).expect("at least one");
            let burst = NonZeroU32::new(per_second.max(1).saturating_mul(burst)).unwrap_or(rate);
            Quota::per_second(rate).allow_burst(burst)
        };
        Self {
            requests: DefaultKeyedRateLimiter::keyed(quota(limits.per_address, 2)),
            refusals: DefaultKeyedRateLimiter::keyed(quota(limits.refusals_per_address, 5)),
            shut_out: Mutex::default(),
            log: Refusals::default(),
        }
    }

    fn is_shut_out(&self, ip: IpAddr) -> bool {
        let mut shut = self.shut_out.lock().unwrap_or_else(|e| e.into_inner());
        match shut.get(&ip) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                shut.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Counts a refused request of `ip`'s; past its allowance, the address is shut out.
    fn refused(&self, ip: IpAddr) {
        if self.refusals.check_key(&ip).is_err() {
            let now = Instant::now();
            let mut shut = self.shut_out.lock().unwrap_or_else(|e| e.into_inner());
            if shut.len() >= REMEMBERED {
                shut.retain(|_, until| *until > now);
            }
            shut.insert(ip, now + SHUT_OUT_FOR);
        }
    }

    fn forget_idle(&self) {
        for limiter in [&self.requests, &self.refusals] {
            if limiter.len() >= REMEMBERED {
                limiter.retain_recent();
            }
        }
    }
}

/// The address a request is counted against: its peer's, or, when the peer is a tunnel or
/// proxy on this machine, the address that one saw (the last `X-Forwarded-For` hop: the ones
/// before it are the sender's to write).
fn sender(req: &Request) -> Option<IpAddr> {
    let peer = req.extensions().get::<Peer>()?.0.ip();
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|ip| ip.trim().parse().ok());
    Some(forwarded.unwrap_or(peer))
}

async fn limit(
    axum::extract::State(guard): axum::extract::State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(ip) = sender(&req) else {
        return next.run(req).await;
    };
    guard.forget_idle();
    // Spelled out only for a refusal's log line: most requests are answered unrefused.
    let source = || ip.to_string();
    if guard.is_shut_out(ip) {
        guard.log.refused(
            "shut out",
            &source(),
            "too many refused requests from this address; refused unread for a few seconds",
        );
        return too_many();
    }
    if guard.requests.check_key(&ip).is_err() {
        guard.log.refused(
            "rate",
            &source(),
            "more requests a second than one address may send",
        );
        return too_many();
    }
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    if status.is_client_error() {
        guard.refused(ip);
        guard.log.refused(
            "refused",
            &source(),
            &format!("{path} answered {status} (a forged, malformed or misdirected request)"),
        );
    }
    res
}

fn too_many() -> Response {
    let mut res = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "too many requests from this address; try again in a few seconds",
    )
    .into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    res
}

/// The peer of a request's connection.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Serves `app` on `listener` until `stopped` completes, with the socket cap and the header
/// timeout (see the module's doc); then lets the open connections finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    sockets: usize,
    stopped: impl std::future::Future<Output = ()> + Send,
) {
    let open = Arc::new(Semaphore::new(sockets));
    let log = Arc::new(Refusals::default());
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stopped);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(error = %e, "public listener: cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            log.refused(
                "sockets",
                &peer.ip().to_string(),
                &format!("{sockets} sockets are open already (--max-public-sockets)"),
            );
            drop(tcp);
            continue;
        };
        // Media frames are small and latency-bound: never hold one back for Nagle.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let app = app
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req.map(axum::body::Body::new)
            });
        let conn = http.serve_connection_with_upgrades(
            TokioIo::new(Counted {
                tcp,
                _permit: permit,
            }),
            TowerToHyperService::new(app),
        );
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "public connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A connection holding its place among the open sockets for as long as it lives, through an
/// upgrade to a WebSocket too (the upgraded stream owns this).
struct Counted {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
