//! `/api/diagnostics`: what the engine holds right now (live tokio tasks, bridged calls,
//! running campaigns, uptime), so a long run can be watched from outside for leaks: a task or
//! a call left behind by each call shows as a number that keeps growing.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::web::ErrorBody;

#[derive(Debug, Serialize, ToSchema)]
pub struct Diagnostics {
    /// Tokio tasks alive in the engine's runtime (spawned and not yet finished).
    pub tasks: u64,
    /// Calls whose media is bridged on this node right now.
    pub live_calls: u64,
    /// Seconds since this engine started.
    pub uptime_seconds: u64,
}

/// Live tasks, live calls and uptime of this engine.
#[utoipa::path(operation_id = "get_diagnostics", get, path = "/api/diagnostics", tag = "settings",
    responses((status = 200, body = Diagnostics), (status = 401, body = ErrorBody)))]
pub async fn get(State(engine): State<Engine>) -> axum::Json<Diagnostics> {
    // Stable since tokio 1.39 (no `tokio_unstable` needed).
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    axum::Json(Diagnostics {
        tasks: tasks as u64,
        live_calls: engine.live_calls().len() as u64,
        uptime_seconds: engine.uptime().as_secs(),
    })
}
