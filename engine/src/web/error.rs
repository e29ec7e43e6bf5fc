//! The one error type at the HTTP edge, on both listeners: a status and
//! `{"error": {"code", "message"}}` with a small closed set of codes clients can branch on.
//! Internal errors are logged in full and shown to clients without detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;
use crate::secrets::SecretsError;
use crate::store::{Conflict, StoreError};
use crate::telephony::CarrierError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read: bad JSON, wrong types, bad query parameters.
    Malformed,
    /// No bearer token, or the wrong one.
    Unauthorized,
    /// A carrier webhook whose signature does not check out (public listener).
    Forbidden,
    /// No such id, or no such route.
    NotFound,
    /// The number is already managed.
    DuplicateNumber,
    /// Another agent has this name.
    DuplicateName,
    /// Numbers still use the agent; delete with `?force=true` to clear them.
    AgentInUse,
    /// The request conflicts with what is stored.
    Conflict,
    /// The number is on a do-not-call list; the message says which, since when and why.
    DoNotCall,
    /// A value breaks a rule (see `field`).
    Invalid,
    /// The OS keyring cannot be used on this machine.
    KeyringUnavailable,
    /// The carrier refused the request or could not be reached (its message says which).
    CarrierError,
    /// No sound server or audio device can be used (its message says which and why).
    AudioUnavailable,
    /// Too many requests from one address (public listener): try again after `Retry-After`.
    RateLimited,
    Internal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The offending field, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The numbers (E.164) still using the agent, for `agent_in_use`; `DELETE` with
    /// `?force=true` clears them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code,
                message: message.into(),
                field: None,
                numbers: None,
            },
        }
    }

    /// The same error (status, code, field) with its message rewritten by `f`.
    pub fn explained(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.detail.message = f(&self.detail.message);
        self
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::Malformed, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "missing or wrong bearer token: send `Authorization: Bearer <token>` (`switchboard token` prints it)",
        )
    }

    fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; see the engine's log",
        )
    }
}

/// A carrier API failure: its message names the carrier and what it said (never a
/// credential). Missing credentials or setup are the caller's to fix (422); the carrier's
/// refusal or silence is a bad gateway (502).
impl From<CarrierError> for ApiError {
    fn from(e: CarrierError) -> Self {
        match e {
            CarrierError::Credentials(s) => s.into(),
            CarrierError::NoCarrierId => {
                Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            CarrierError::NoPublicUrl
            | CarrierError::NotConfigured(_)
            | CarrierError::Unsupported(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            CarrierError::Api(_) | CarrierError::Setup(_) | CarrierError::Rejected(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::CarrierError,
                e.to_string(),
            ),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Invalid,
            e.to_string(),
        );
        err.detail.field = Some(e.field.to_owned());
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Self::not_found(e.to_string()),
            StoreError::Invalid(i) => i.into(),
            StoreError::Conflict(c) => {
                let numbers = match &c {
                    Conflict::AgentInUse { numbers, .. } => Some(numbers.clone()),
                    _ => None,
                };
                let code = match c {
                    Conflict::DuplicateNumber(_) => ErrorCode::DuplicateNumber,
                    Conflict::DuplicateAgentName(_) | Conflict::DuplicateCampaignName(_) => {
                        ErrorCode::DuplicateName
                    }
                    Conflict::AgentInUse { .. } => ErrorCode::AgentInUse,
                    Conflict::DuplicateCall(_)
                    | Conflict::CallEnded(_)
                    | Conflict::CallLive(_)
                    | Conflict::CampaignActive(_)
                    | Conflict::CampaignStatus(_)
                    | Conflict::AlreadyListed(_) => ErrorCode::Conflict,
                    Conflict::DoNotCall(_) => ErrorCode::DoNotCall,
                };
                let mut err = Self::new(StatusCode::CONFLICT, code, c.to_string());
                err.detail.numbers = numbers;
                err
            }
            StoreError::Newer { .. } | StoreError::Refused(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            StoreError::Unsupported(_) => {
                Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            StoreError::Db(_)
            | StoreError::Migrate(_)
            | StoreError::Corrupt(_)
            | StoreError::Commit(_)
            | StoreError::Closed
            | StoreError::Abandoned => Self::internal(&e),
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Invalid(i) => i.into(),
            SecretsError::KeyringUnavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::KeyringUnavailable,
                e.to_string(),
            ),
            SecretsError::Missing { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            SecretsError::Keyring(_) | SecretsError::TokenFile(_) => Self::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: self.detail })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
