//! What every carrier's webhook shares: the signature check's prelude (the credentials read,
//! the development switch that skips it, a refusal logged once with its reason), and the one
//! error a webhook answers with, in the same `{"error": {"code", "message"}}` shape as the
//! control API.

use std::fmt::Display;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::Carrier;
use crate::engine::Engine;
use crate::secrets::{Credentials, Provider};
use crate::store::StoreError;
use crate::web::{ApiError, ErrorCode};

/// Why a webhook was refused. Bodies never echo what the request carried.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature check failed: {0}")]
    Forbidden(String),
    #[error("malformed webhook: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let error = match &self {
            Self::Forbidden(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "signature check failed",
            ),
            Self::Malformed(m) => ApiError::malformed(m.clone()),
            Self::Store(e) => {
                tracing::error!(error = %e, "webhook could not be stored");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error",
                )
            }
        };
        error.into_response()
    }
}

/// Logs a refused webhook: the reason and the route, never the body (it may carry numbers and
/// tokens) or the presented signature.
pub(super) fn refuse(carrier: Carrier, reason: impl Display) -> WebhookError {
    let reason = reason.to_string();
    tracing::warn!(carrier = carrier.as_str(), %reason, "webhook refused");
    WebhookError::Forbidden(reason)
}

/// Checks a delivery's signature: `check` is given the carrier's credentials (`provider`'s)
/// and says whether the request is theirs. With signature checks off (development only;
/// loudly logged at start-up) every delivery passes, and each says so in the log.
pub(super) async fn check_signature<E: Display>(
    engine: &Engine,
    carrier: Carrier,
    provider: Provider,
    check: impl FnOnce(&Credentials) -> Result<(), E>,
) -> Result<(), WebhookError> {
    if engine.config().insecure_skip_webhook_signatures {
        tracing::warn!(
            carrier = carrier.as_str(),
            "webhook accepted WITHOUT signature verification"
        );
        return Ok(());
    }
    let credentials = engine
        .secrets()
        .credentials(provider)
        .await
        .map_err(|e| refuse(carrier, e))?;
    check(&credentials).map_err(|e| refuse(carrier, e))
}

/// Tells the live call that transfer `transfer_id` belongs to what became of its call to the
/// person (`leg`). Returns the call's id when its session took the news; `None` when the
/// transfer is unknown or its call is no longer live (the caller hung up: the carrier's
/// caller then hangs the person up).
pub(super) async fn tell_transfer(
    engine: &Engine,
    transfer_id: &str,
    leg: &str,
    news: crate::live::LegNews,
) -> Option<String> {
    let transfer = match engine.store().get_transfer(transfer_id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%transfer_id, error = %e, "news of an unknown transfer");
            return None;
        }
    };
    let live = engine.live_calls().get(&transfer.call_id)?;
    let control = crate::live::Control::Transfer {
        leg: leg.to_owned(),
        news,
    };
    live.send(control).then_some(transfer.call_id)
}
