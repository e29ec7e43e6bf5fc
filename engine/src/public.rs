//! The public listener: what carriers reach through the public base URL. Today only a health
//! check; carrier webhooks and media streams mount here.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;

pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/health", get(health))
        .layer(crate::api::trace_layer())
        .with_state(engine)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "switchboard" }))
}
