//! Retell's failures as the control API says them: what went wrong and what to do.

use axum::http::StatusCode;

use super::client::RetellError;
use super::provision::ProvisionError;
use crate::secrets::SecretsError;
use crate::telephony::CarrierApiError;
use crate::web::{ApiError, ErrorCode};

impl From<RetellError> for ApiError {
    fn from(e: RetellError) -> Self {
        let message = match &e {
            RetellError::Api(CarrierApiError::Refused {
                status,
                action,
                message,
                ..
            }) => match status {
                401 | 403 => format!(
                    "Retell refused the API key while {action} ({status}): check the Retell API key in Settings"
                ),
                402 => format!(
                    "Retell refused {action} for billing ({status}): check the Retell account's plan and payment"
                ),
                429 => format!(
                    "Retell is limiting requests ({status}) and nothing was done: try again in a minute"
                ),
                _ => format!("Retell refused {action} ({status}): {message}"),
            },
            RetellError::Api(CarrierApiError::Unconfirmed { action, last, .. }) => format!(
                "Retell did not confirm {action} ({last}); what was done so far was undone where it could be: try again, and check Retell's dashboard if it keeps failing"
            ),
            RetellError::Api(CarrierApiError::Unreachable { action, last, .. }) => format!(
                "Retell could not be reached for {action} ({last}): check this machine's connection and try again"
            ),
            RetellError::Unreadable { .. } => format!("{e}: try again"),
        };
        ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::CarrierError, message)
    }
}

impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Store(e) => e.into(),
            ProvisionError::NoKey(SecretsError::Missing { .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            ProvisionError::NoKey(e) => e.into(),
            ProvisionError::NoPublicUrl => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                e.to_string(),
            ),
            ProvisionError::Retell(e) => e.into(),
        }
    }
}
