//! `/api/calls/{id}/analysis`: running a call's post-call analysis again (after a failure, or
//! for a call whose agent had analysis off). The analysis itself is on the call's detail.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::domain::CallAnalysis;
use crate::engine::Engine;
use crate::store::call_analyses::Requeued;
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode};

/// Queues the call's post-call analysis again, due now, its attempts counted afresh; the
/// agent's current settings apply. Its progress comes as `call_analysis` events.
#[utoipa::path(operation_id = "analyze_call", post, path = "/api/calls/{id}/analysis", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = CallAnalysis, description = "Queued"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already queued or running, or the call was not answered or has not ended"),
    ))]
pub async fn rerun(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<CallAnalysis>)> {
    let conflict = |m: &str| ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, m);
    match engine
        .store()
        .requeue_analysis(&id, crate::domain::Timestamp::now())
        .await?
    {
        Requeued::Queued(analysis) => {
            crate::analysis::queued(&engine, &analysis);
            Ok((StatusCode::ACCEPTED, axum::Json(analysis)))
        }
        Requeued::AlreadyQueued => Err(conflict("the call's analysis is already queued")),
        Requeued::NotAnalysable => Err(conflict(
            "only an answered call that has ended can be analysed",
        )),
    }
}
