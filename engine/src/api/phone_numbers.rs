//! `/api/phone-numbers`: managed numbers and their inbound and outbound agents.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::{Carrier, PhoneNumber, PhoneNumberInput};
use crate::engine::Engine;
use crate::events::Event;
use crate::numbers::{self, AccountSync, BuyInput, Pointed};
use crate::telephony::{AvailableNumber, NumberKind, NumberQuery, PurchaseRequirements};
use crate::web::{ApiError, ApiResult, ErrorBody, Json};

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

/// How a number is deleted.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also release the number at its carrier (the account stops paying for it and may not get
    /// it back). Without it the number stays on the carrier account.
    #[serde(default)]
    pub release: bool,
}

#[utoipa::path(operation_id = "delete_phone_number", delete, path = "/api/phone-numbers/{id}", tag = "phone-numbers",
    params(("id" = String, Path), DeleteQuery),
    responses(
        (status = 204, description = "Deleted (and released, if asked)"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Release asked of a carrier Switchboard cannot release numbers on, or no credentials"),
        (status = 502, body = ErrorBody, description = "The carrier refused or did not answer the release: nothing was deleted"),
    ))]
pub async fn delete(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    crate::web::Query(query): crate::web::Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    numbers::remove(&engine, &id, query.release).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The numbers on a carrier account (every page), where each sends its calls, which ones
/// Switchboard manages, and those it manages that the account no longer has.
#[utoipa::path(operation_id = "sync_account_numbers", get, path = "/api/carriers/{carrier}/numbers", tag = "phone-numbers",
    params(("carrier" = String, Path, description = "twilio, telnyx or livekit")),
    responses(
        (status = 200, body = AccountSync),
        (status = 404, body = ErrorBody, description = "No such carrier"),
        (status = 422, body = ErrorBody, description = "The carrier's credentials are missing, or it cannot list numbers"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn sync(
    State(engine): State<Engine>,
    Path(carrier): Path<String>,
) -> ApiResult<axum::Json<AccountSync>> {
    let carrier = number_carrier(&carrier)?;
    Ok(axum::Json(numbers::sync(&engine, carrier).await?))
}

/// Import options: the agents, and whether to point the number here at once.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportInput {
    pub inbound_agent_id: Option<String>,
    pub outbound_agent_id: Option<String>,
    /// Point its incoming calls at this engine too (default true).
    pub point: Option<bool>,
}

/// Takes a number of the carrier account into Switchboard, keeping the carrier's id of it,
/// and (unless `point` is false) points its incoming calls here.
#[utoipa::path(operation_id = "import_account_number", post, path = "/api/carriers/{carrier}/numbers/{carrier_number_id}/import", tag = "phone-numbers",
    params(("carrier" = String, Path, description = "twilio, telnyx or livekit"), ("carrier_number_id" = String, Path)),
    request_body = ImportInput,
    responses(
        (status = 201, body = PhoneNumber),
        (status = 404, body = ErrorBody, description = "No such carrier, or no such number on the account"),
        (status = 409, body = ErrorBody, description = "Already managed"),
        (status = 422, body = ErrorBody, description = "No public URL to point it at, an unknown agent, or credentials missing"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn import(
    State(engine): State<Engine>,
    Path((carrier, carrier_number_id)): Path<(String, String)>,
    Json(input): Json<ImportInput>,
) -> ApiResult<(StatusCode, axum::Json<PhoneNumber>)> {
    let carrier = number_carrier(&carrier)?;
    let fields = PhoneNumberInput {
        inbound_agent_id: input.inbound_agent_id.map(Some),
        outbound_agent_id: input.outbound_agent_id.map(Some),
        ..PhoneNumberInput::default()
    };
    let number = numbers::import(
        &engine,
        carrier,
        &carrier_number_id,
        fields,
        input.point.unwrap_or(true),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(number)))
}

/// Points a managed number's incoming calls and call reports at this engine's public URL.
#[utoipa::path(operation_id = "point_phone_number", post, path = "/api/phone-numbers/{id}/point", tag = "phone-numbers",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = PhoneNumber),
        (status = 404, body = ErrorBody, description = "No such number, or the carrier account does not have it"),
        (status = 422, body = ErrorBody, description = "No public URL set, credentials missing, or a carrier that cannot be pointed"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn point(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PhoneNumber>> {
    Ok(axum::Json(numbers::point(&engine, &id).await?))
}

/// Which numbers to point.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointAllInput {
    /// Every managed number, not only those Switchboard pointed at an older public URL.
    pub all: Option<bool>,
}

/// Re-points, in one step, the managed numbers Switchboard pointed at a public URL no longer in
/// force (or every managed number with `all`): each number's own result.
#[utoipa::path(operation_id = "point_phone_numbers", post, path = "/api/phone-numbers/point", tag = "phone-numbers",
    request_body = PointAllInput,
    responses((status = 200, body = [Pointed])))]
pub async fn point_all(
    State(engine): State<Engine>,
    Json(input): Json<PointAllInput>,
) -> ApiResult<axum::Json<Vec<Pointed>>> {
    Ok(axum::Json(
        numbers::point_all(&engine, input.all.unwrap_or(false)).await?,
    ))
}

/// A carrier numbers can be on, from a path.
fn number_carrier(name: &str) -> Result<Carrier, ApiError> {
    Carrier::parse(name)
        .filter(|c| *c != Carrier::Local)
        .ok_or_else(|| {
            ApiError::not_found(format!("no carrier {name:?}: twilio, telnyx or livekit"))
        })
}

/// A search for numbers to buy.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// ISO 3166-1 alpha-2 (`AU`, `US`).
    pub country: String,
    #[param(inline)]
    pub kind: NumberKind,
    /// US and Canada only.
    pub area_code: Option<String>,
    /// Digits the number contains.
    pub contains: Option<String>,
}

/// Numbers the carrier offers (voice-capable), with what buying each needs.
#[utoipa::path(operation_id = "search_available_numbers", get, path = "/api/carriers/{carrier}/available-numbers", tag = "phone-numbers",
    params(("carrier" = String, Path, description = "twilio, telnyx or livekit"), SearchParams),
    responses(
        (status = 200, body = [AvailableNumber]),
        (status = 400, body = ErrorBody, description = "Bad query parameters"),
        (status = 404, body = ErrorBody, description = "No such carrier"),
        (status = 422, body = ErrorBody, description = "A bad country or digits, credentials missing, or a carrier that cannot search"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn search(
    State(engine): State<Engine>,
    Path(carrier): Path<String>,
    crate::web::Query(p): crate::web::Query<SearchParams>,
) -> ApiResult<axum::Json<Vec<AvailableNumber>>> {
    let carrier = number_carrier(&carrier)?;
    let country = country_code(&p.country)?;
    let digits = |field: &'static str, v: Option<String>, max: usize| match v
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    {
        Some(v) if v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) => Err(
            crate::domain::Invalid::new(field, format!("up to {max} digits")),
        ),
        other => Ok(other),
    };
    let query = NumberQuery {
        country,
        kind: p.kind,
        area_code: digits("area_code", p.area_code, 3)?,
        contains: digits("contains", p.contains, 16)?,
    };
    Ok(axum::Json(numbers::search(&engine, carrier, &query).await?))
}

/// `AU` from ` au `; anything but two letters is refused, naming the field.
fn country_code(country: &str) -> Result<String, crate::domain::Invalid> {
    let country = country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(crate::domain::Invalid::new(
            "country",
            "a two-letter country code, such as AU or US",
        ));
    }
    Ok(country)
}

/// Which numbers a purchase is for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequirementsParams {
    /// ISO 3166-1 alpha-2 (`AU`, `US`).
    pub country: String,
    #[param(inline)]
    pub kind: NumberKind,
}

/// The account's addresses in that country and its approved, unexpired regulatory bundles for
/// that kind of number: what buying a number there may need (Australian mobiles need both).
#[utoipa::path(operation_id = "purchase_requirements", get, path = "/api/carriers/{carrier}/available-numbers/requirements", tag = "phone-numbers",
    params(("carrier" = String, Path, description = "twilio, telnyx or livekit"), RequirementsParams),
    responses(
        (status = 200, body = PurchaseRequirements),
        (status = 400, body = ErrorBody, description = "Bad query parameters"),
        (status = 404, body = ErrorBody, description = "No such carrier"),
        (status = 422, body = ErrorBody, description = "A bad country, credentials missing, or a carrier that cannot say"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn requirements(
    State(engine): State<Engine>,
    Path(carrier): Path<String>,
    crate::web::Query(p): crate::web::Query<RequirementsParams>,
) -> ApiResult<axum::Json<PurchaseRequirements>> {
    let carrier = number_carrier(&carrier)?;
    let country = country_code(&p.country)?;
    Ok(axum::Json(
        numbers::purchase_requirements(&engine, carrier, &country, p.kind).await?,
    ))
}

/// Buys a number, pointed at this engine, and manages it. Never bought twice: a purchase whose
/// answer was lost is looked for on the account, not repeated; a number Switchboard cannot keep
/// is released again.
#[utoipa::path(operation_id = "buy_number", post, path = "/api/carriers/{carrier}/available-numbers/buy", tag = "phone-numbers",
    params(("carrier" = String, Path, description = "twilio, telnyx or livekit")),
    request_body = BuyInput,
    responses(
        (status = 201, body = PhoneNumber),
        (status = 404, body = ErrorBody, description = "No such carrier"),
        (status = 409, body = ErrorBody, description = "Already managed"),
        (status = 422, body = ErrorBody, description = "No public URL, a bad number or agent, credentials missing"),
        (status = 502, body = ErrorBody, description = "The carrier refused (in words: what to do) or could not be reached"),
    ))]
pub async fn buy(
    State(engine): State<Engine>,
    Path(carrier): Path<String>,
    Json(input): Json<BuyInput>,
) -> ApiResult<(StatusCode, axum::Json<PhoneNumber>)> {
    let carrier = number_carrier(&carrier)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(numbers::buy(&engine, carrier, input).await?),
    ))
}
