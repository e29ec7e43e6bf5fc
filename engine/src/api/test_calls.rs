//! `/api/test-calls`: an agent tried through this machine's microphone and speakers. The call
//! is then a call like any other: `GET /api/calls/{id}`, the Live page, `POST
//! /api/calls/{id}/hangup` to end it.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::carriers::local::{self, TestCallError};
use crate::domain::{Call, Mute, TestCallInput};
use crate::engine::Engine;
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json};

impl From<TestCallError> for ApiError {
    fn from(e: TestCallError) -> Self {
        match e {
            TestCallError::Invalid(e) => e.into(),
            TestCallError::Store(e) => e.into(),
            TestCallError::Audio(e) => e.into(),
            TestCallError::Opening(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::AudioUnavailable,
                e.to_string(),
            ),
            TestCallError::Busy(_) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            TestCallError::NotRunning(_) => ApiError::not_found(e.to_string()),
        }
    }
}

/// Starts a test call: the microphone and speakers set in Settings (or the system's
/// defaults) become the call's audio, bridged to the agent as a phone call would be.
#[utoipa::path(operation_id = "start_test_call", post, path = "/api/test-calls", tag = "calls",
    request_body = TestCallInput,
    responses(
        (status = 201, body = Call, description = "The call is up; the agent is connecting"),
        (status = 404, body = ErrorBody, description = "No such agent"),
        (status = 409, body = ErrorBody, description = "Another test call has the microphone, or the chosen microphone or speaker is not there now (code audio_unavailable)"),
        (status = 422, body = ErrorBody, description = "The agent is switched off"),
        (status = 503, body = ErrorBody, description = "No sound server, or a device failed"),
    ))]
pub async fn start(
    State(engine): State<Engine>,
    Json(input): Json<TestCallInput>,
) -> ApiResult<(StatusCode, axum::Json<Call>)> {
    let call = local::start(&engine, input).await?;
    Ok((StatusCode::CREATED, axum::Json(call)))
}

/// Mutes or unmutes the microphone of a running test call (the agent hears silence).
#[utoipa::path(operation_id = "mute_test_call", put, path = "/api/test-calls/{id}/mute", tag = "calls",
    request_body = Mute,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Mute),
        (status = 404, body = ErrorBody, description = "Not a test call in progress"),
    ))]
pub async fn mute(Path(id): Path<String>, Json(input): Json<Mute>) -> ApiResult<axum::Json<Mute>> {
    local::set_muted(&id, input.muted)?;
    Ok(axum::Json(input))
}
