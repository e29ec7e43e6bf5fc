//! `/api/webhooks`: endpoints of the user's own systems told about calls (docs/WEBHOOKS.md),
//! their signing secrets (in the OS keyring or a server's secrets file; returned only when
//! made and when asked for explicitly), and each endpoint's delivery log, with redelivery.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{WebhookDelivery, WebhookEndpoint, WebhookFields, WebhookInput};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::webhooks::{DEFAULT_PAGE_SIZE, DeliveryPage, MAX_PAGE_SIZE};
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json, Query};

/// An endpoint just made, with its signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verifies the `Switchboard-Signature` header (docs/WEBHOOKS.md).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    pub secret: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Deliveries to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

/// Every endpoint, oldest first.
#[utoipa::path(operation_id = "list_webhooks", get, path = "/api/webhooks", tag = "webhooks",
    responses((status = 200, body = [WebhookEndpoint])))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<WebhookEndpoint>>> {
    Ok(axum::Json(engine.store().list_webhooks().await?))
}

/// Adds an endpoint. Its signing secret is made here, kept in the OS keyring and returned
/// once in this answer (and again only by `GET /api/webhooks/{id}/secret`).
#[utoipa::path(operation_id = "create_webhook", post, path = "/api/webhooks", tag = "webhooks",
    request_body = WebhookInput,
    responses(
        (status = 201, body = WebhookCreated),
        (status = 422, body = ErrorBody, description = "A value breaks a rule (the field is named)"),
        (status = 503, body = ErrorBody, description = "No OS keyring on this machine"),
    ))]
pub async fn create(
    State(engine): State<Engine>,
    Json(input): Json<WebhookInput>,
) -> ApiResult<(StatusCode, axum::Json<WebhookCreated>)> {
    let fields = WebhookFields::new(input)?;
    let id = crate::store::new_id();
    let secret = crate::webhooks::new_secret();
    // The secret first: an endpoint whose deliveries could not be signed is never listed.
    engine.secrets().store_webhook_secret(&id, &secret).await?;
    let endpoint = match engine.store().create_webhook(&id, fields).await {
        Ok(e) => e,
        Err(e) => {
            if let Err(k) = engine.secrets().delete_webhook_secret(&id).await {
                tracing::warn!(error = %k, webhook = %id, "an unused webhook secret stays in the keyring");
            }
            return Err(e.into());
        }
    };
    tracing::info!(webhook = %id, "webhook endpoint added");
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookCreated { endpoint, secret }),
    ))
}

#[utoipa::path(operation_id = "get_webhook", get, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WebhookEndpoint>> {
    Ok(axum::Json(engine.store().get_webhook(&id).await?))
}

/// Changes an endpoint; fields left out keep their value (`campaign_id: null` clears it).
#[utoipa::path(operation_id = "update_webhook", put, path = "/api/webhooks/{id}", tag = "webhooks",
    request_body = WebhookInput,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = WebhookEndpoint),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A value breaks a rule (the field is named)"),
    ))]
pub async fn update(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(input): Json<WebhookInput>,
) -> ApiResult<axum::Json<WebhookEndpoint>> {
    Ok(axum::Json(engine.store().update_webhook(&id, input).await?))
}

/// Removes an endpoint, its delivery log and its secret.
#[utoipa::path(operation_id = "delete_webhook", delete, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn delete(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.store().delete_webhook(&id).await?;
    if let Err(e) = engine.secrets().delete_webhook_secret(&id).await {
        tracing::warn!(error = %e, webhook = %id, "a deleted webhook's secret stays in the keyring");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's signing secret, from the OS keyring.
#[utoipa::path(operation_id = "get_webhook_secret", get, path = "/api/webhooks/{id}/secret", tag = "webhooks",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = WebhookSecret),
        (status = 404, body = ErrorBody, description = "No such endpoint, or the keyring lost its secret (rotate it)"),
        (status = 503, body = ErrorBody, description = "No OS keyring on this machine"),
    ))]
pub async fn secret(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WebhookSecret>> {
    engine.store().get_webhook(&id).await?;
    match engine.secrets().webhook_secret(&id).await? {
        Some(secret) => Ok(axum::Json(WebhookSecret { secret })),
        None => Err(ApiError::not_found(
            "the keyring holds no secret for this webhook: rotate it to make a new one",
        )),
    }
}

/// Replaces the endpoint's signing secret with a new one; deliveries from now on are signed
/// with it (also those waiting for a retry).
#[utoipa::path(operation_id = "rotate_webhook_secret", post, path = "/api/webhooks/{id}/secret/rotate", tag = "webhooks",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = WebhookSecret),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "No OS keyring on this machine"),
    ))]
pub async fn rotate_secret(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<WebhookSecret>> {
    engine.store().get_webhook(&id).await?;
    let secret = crate::webhooks::new_secret();
    engine.secrets().store_webhook_secret(&id, &secret).await?;
    tracing::info!(webhook = %id, "webhook secret rotated");
    Ok(axum::Json(WebhookSecret { secret }))
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = DeliveryPage), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<DeliveryPage>> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::malformed(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(axum::Json(
        engine
            .store()
            .webhook_deliveries(&id, limit, p.offset.unwrap_or(0))
            .await?,
    ))
}

/// Sends a delivery again now, with the same event id and body (so the same
/// `Idempotency-Key`), and a fresh retry schedule should it fail.
#[utoipa::path(operation_id = "redeliver_webhook", post, path = "/api/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's id")),
    responses(
        (status = 202, body = WebhookDelivery, description = "Queued; the log shows how it went"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The endpoint is disabled"),
    ))]
pub async fn redeliver(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<WebhookDelivery>)> {
    let missing = || ApiError::not_found(format!("no webhook delivery {id}"));
    let number: i64 = id.parse().map_err(|_| missing())?;
    let current = engine.store().get_webhook_delivery(number).await?;
    let endpoint = engine.store().get_webhook(&current.endpoint_id).await?;
    if !endpoint.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "the endpoint is disabled: enable it first",
        ));
    }
    let delivery = engine
        .store()
        .redeliver_webhook(number, crate::domain::Timestamp::now())
        .await?;
    engine.events().publish(Event::WebhookDelivery {
        delivery: delivery.clone(),
    });
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}
