//! The public listener: what carriers reach through the public base URL. Carrier webhooks
//! (each verified by its adapter) and media streams; nothing of the control API.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;

pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/health", get(health))
        .route(
            "/webhooks/twilio/voice",
            post(crate::carriers::twilio::voice),
        )
        .route(
            "/webhooks/twilio/status",
            post(crate::carriers::twilio::status),
        )
        .route(
            crate::carriers::twilio::STREAM_STATUS_PATH,
            post(crate::carriers::twilio::stream_status),
        )
        .route(
            crate::carriers::twilio::AMD_PATH,
            post(crate::carriers::twilio::amd),
        )
        .route("/webhooks/telnyx", post(crate::carriers::telnyx::webhook))
        .route("/webhooks/livekit", post(crate::carriers::livekit::webhook))
        .route("/media/twilio", get(crate::carriers::twilio::media::stream))
        .route("/media/telnyx", get(crate::carriers::telnyx::media::stream))
        // Carrier webhooks are small; anything bigger is not one.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(crate::api::trace_layer())
        .with_state(engine)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "switchboard" }))
}
