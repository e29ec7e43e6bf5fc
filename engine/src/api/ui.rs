//! The control UI for a browser, on the control listener: from `--ui-dir` when one is given,
//! otherwise from the files built into the binary (`embedded-ui`, on by default), so a server
//! installed alone serves its UI with nothing beside it.
//!
//! Paths that are not a file are the UI's own routes (`/calls/…`) and get `index.html`; a
//! missing asset (a name with an extension) is a 404, never a page of HTML in its place.
//! Vite names assets by their content, so those are cached for good; `index.html` is
//! revalidated every time (its ETag is its hash).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::{ApiError, ErrorCode};

#[cfg(feature = "embedded-ui")]
#[derive(rust_embed::RustEmbed)]
// Relative to engine/, as the crate is built.
#[folder = "../ui/dist"]
// A build before the UI's (clippy in a fresh clone) is a binary without it, which says so.
#[allow_missing = true]
struct Built;

/// One of the built-in UI's files: its bytes, type and content hash.
struct File {
    bytes: std::borrow::Cow<'static, [u8]>,
    mime: String,
    hash: [u8; 32],
}

#[cfg(feature = "embedded-ui")]
fn file(path: &str) -> Option<File> {
    Built::get(path).map(|f| File {
        mime: f.metadata.mimetype().to_owned(),
        hash: f.metadata.sha256_hash(),
        bytes: f.data,
    })
}

#[cfg(not(feature = "embedded-ui"))]
fn file(_path: &str) -> Option<File> {
    None
}

/// Whether this binary carries the UI.
fn built_in() -> bool {
    file("index.html").is_some()
}

/// Answers a request for a UI path from the built-in files.
pub async fn serve(req: Request) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Malformed,
            format!("{} is not allowed on {}", req.method(), req.uri().path()),
        )
        .into_response();
    }
    let path = req.uri().path().trim_start_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    let found = match file(path) {
        Some(f) if !path.is_empty() => Some((path, f)),
        // A UI route (no extension) is the app's page; the app reads the route itself.
        _ if !last.contains('.') => file("index.html").map(|f| ("index.html", f)),
        _ => None,
    };
    let Some((name, f)) = found else {
        let why = if built_in() {
            format!("no file {}", req.uri().path())
        } else {
            "this switchboard was built without its control UI: pass --ui-dir with a built UI \
             (cd ui && npm run build), or build the UI before building switchboard"
                .to_owned()
        };
        return ApiError::not_found(why).into_response();
    };
    respond(name, f, req.headers())
}

fn respond(name: &str, f: File, asked: &HeaderMap) -> Response {
    let etag = format!(
        "\"{}\"",
        f.hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = asked
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, cache.to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mime = HeaderValue::from_str(&f.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let body = match f.bytes {
        std::borrow::Cow::Borrowed(b) => bytes::Bytes::from_static(b),
        std::borrow::Cow::Owned(v) => bytes::Bytes::from(v),
    };
    let mut res = (headers, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, mime);
    res
}
