//! Telnyx Call Control v2: signed JSON webhooks for every call event (protocols/telnyx.md
//! §2), Call Control commands (§3), media streaming (§4), and the engine's `CarrierApi`.

pub mod adapter;
pub mod client;
pub mod media_stream;
pub mod signature;
pub(crate) mod webhook;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::config::Config;
use crate::engine::Engine;
use crate::telephony::urls::{TELNYX_MEDIA_PATH, TELNYX_WEBHOOK_PATH};

pub use adapter::TelnyxCarrier;
pub use client::TelnyxClient;

/// Telnyx's webhook and media stream on the public listener. The webhook answers calls
/// through its own client of the Call Control API.
pub(super) fn routes(config: &Config) -> Router<Engine> {
    Router::new()
        .route(TELNYX_WEBHOOK_PATH, post(webhook::webhook))
        .route(TELNYX_MEDIA_PATH, get(media_stream::stream))
        .layer(Extension(TelnyxClient::new(&config.telnyx_api_url)))
}
