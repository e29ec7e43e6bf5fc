//! `/api/phone-numbers`: managed numbers and their inbound and outbound agents.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::domain::{PhoneNumber, PhoneNumberInput};
use crate::engine::Engine;
use crate::events::Event;
use crate::web::{ApiResult, ErrorBody, Json};

/// All managed numbers, with their agents' names.
#[utoipa::path(operation_id = "list_phone_numbers", get, path = "/api/phone-numbers", tag = "phone-numbers",
    responses((status = 200, body = [PhoneNumber]), (status = 401, body = ErrorBody)))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<PhoneNumber>>> {
    Ok(axum::Json(engine.store().list_phone_numbers().await?))
}

/// Adds a number. `number` and `carrier` are required; the number is normalised to E.164.
#[utoipa::path(operation_id = "create_phone_number", post, path = "/api/phone-numbers", tag = "phone-numbers",
    request_body = PhoneNumberInput,
    responses(
        (status = 201, body = PhoneNumber),
        (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The number is already managed"),
        (status = 422, body = ErrorBody, description = "Not a valid number, or an unknown agent id"),
    ))]
pub async fn create(
    State(engine): State<Engine>,
    Json(input): Json<PhoneNumberInput>,
) -> ApiResult<(StatusCode, axum::Json<PhoneNumber>)> {
    let region = engine.default_region();
    let phone_number = engine
        .store()
        .create_phone_number(input, region.as_deref())
        .await?;
    engine.events().publish(Event::PhoneNumberCreated {
        phone_number: phone_number.clone(),
    });
    Ok((StatusCode::CREATED, axum::Json(phone_number)))
}

#[utoipa::path(operation_id = "get_phone_number", get, path = "/api/phone-numbers/{id}", tag = "phone-numbers",
    params(("id" = String, Path)),
    responses((status = 200, body = PhoneNumber), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PhoneNumber>> {
    Ok(axum::Json(engine.store().get_phone_number(&id).await?))
}

/// Updates a number: assigns (an agent id) or clears (`null`) `inbound_agent_id` and
/// `outbound_agent_id`; fields left out keep their values.
#[utoipa::path(operation_id = "update_phone_number", put, path = "/api/phone-numbers/{id}", tag = "phone-numbers",
    request_body = PhoneNumberInput,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = PhoneNumber),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "An unknown agent id, or a bad value"),
    ))]
pub async fn update(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(input): Json<PhoneNumberInput>,
) -> ApiResult<axum::Json<PhoneNumber>> {
    let phone_number = engine.store().update_phone_number(&id, input).await?;
    engine.events().publish(Event::PhoneNumberUpdated {
        phone_number: phone_number.clone(),
    });
    Ok(axum::Json(phone_number))
}

#[utoipa::path(operation_id = "delete_phone_number", delete, path = "/api/phone-numbers/{id}", tag = "phone-numbers",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.store().delete_phone_number(&id).await?;
    engine.events().publish(Event::PhoneNumberDeleted { id });
    Ok(StatusCode::NO_CONTENT)
}
