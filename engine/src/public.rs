//! The public listener: what carriers reach through the public base URL. Carrier webhooks
//! (each verified by its adapter), Retell's call webhooks, and media streams; nothing of the
//! control API.

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;

pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(crate::carriers::routes(engine.config()))
        // Carrier webhooks are small; anything bigger is not one.
        .layer(DefaultBodyLimit::max(64 * 1024))
        // After the limit above: Retell's reports carry whole transcripts and set their own.
        .merge(crate::retell::webhook::routes())
        .layer(crate::web::trace_layer())
        .with_state(engine)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "switchboard" }))
}
