//! `/api/credentials`: which providers have credentials, and write-only storage into the OS
//! keyring. No response ever carries a secret's value.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::events::Event;
use crate::secrets::{CredentialStatus, Credentials, KeyringStatus, Provider};
use crate::web::{ApiError, ApiResult, ErrorBody, Json};

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsOverview {
    pub keyring: KeyringStatus,
    pub providers: Vec<CredentialStatus>,
}

fn provider(name: &str) -> ApiResult<Provider> {
    Provider::parse(name).ok_or_else(|| {
        let known: Vec<_> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::not_found(format!(
            "no provider \"{name}\"; use one of {}",
            known.join(", ")
        ))
    })
}

/// Which providers' credentials are set, and from where. Values are never returned.
#[utoipa::path(operation_id = "list_credentials", get, path = "/api/credentials", tag = "settings",
    responses((status = 200, body = CredentialsOverview), (status = 401, body = ErrorBody)))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<CredentialsOverview>> {
    Ok(axum::Json(CredentialsOverview {
        keyring: engine.secrets().keyring_status(),
        providers: engine.secrets().status().await?,
    }))
}

/// Stores a provider's credentials in the OS keyring, replacing any there.
/// twilio: `account_sid`, `auth_token`; telnyx: `api_key`, `public_key`; openai: `api_key`;
/// livekit: `url`, `api_key`, `api_secret`; retell: `api_key`.
#[utoipa::path(operation_id = "put_credentials", put, path = "/api/credentials/{provider}", tag = "settings",
    params(("provider" = Provider, Path)),
    request_body(content = BTreeMap<String, String>, description = "The provider's fields"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown provider"),
        (status = 422, body = ErrorBody, description = "A field is missing, unknown or malformed"),
        (status = 503, body = ErrorBody, description = "No OS keyring on this machine"),
    ))]
pub async fn put(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    Json(values): Json<BTreeMap<String, String>>,
) -> ApiResult<StatusCode> {
    let provider = provider(&name)?;
    let credentials = Credentials::new(provider, values)?;
    engine.secrets().store(credentials).await?;
    tracing::info!(%provider, "credentials stored in the keyring");
    engine.events().publish(Event::CredentialsChanged {
        provider,
        set: true,
    });
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a provider's credentials from the keyring (environment variables still apply).
#[utoipa::path(operation_id = "delete_credentials", delete, path = "/api/credentials/{provider}", tag = "settings",
    params(("provider" = Provider, Path)),
    responses(
        (status = 204, description = "Removed (or was not there)"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn delete(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let provider = provider(&name)?;
    engine.secrets().delete(provider).await?;
    tracing::info!(%provider, "credentials removed from the keyring");
    let set = engine.secrets().credentials(provider).await.is_ok();
    engine
        .events()
        .publish(Event::CredentialsChanged { provider, set });
    Ok(StatusCode::NO_CONTENT)
}
