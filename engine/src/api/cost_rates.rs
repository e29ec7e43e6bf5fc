//! `/api/cost-rates`: the rates call costs are estimated at (`domain::cost`), editable, and
//! back to the published defaults on `DELETE`. A change applies to calls that end after it.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::CostRates;
use crate::engine::Engine;
use crate::store::call_costs::StoredRates;
use crate::web::{ApiResult, ErrorBody, Json};

#[derive(Debug, Serialize, ToSchema)]
pub struct CostRatesView {
    pub rates: CostRates,
    /// False while the rates are the defaults.
    pub customized: bool,
    /// Where each default comes from; every one is an estimate.
    pub default_sources: Vec<String>,
    /// The day the defaults were read (YYYY-MM-DD).
    pub defaults_as_of: String,
}

fn view(stored: StoredRates) -> CostRatesView {
    CostRatesView {
        rates: stored.rates,
        customized: stored.customized,
        default_sources: CostRates::default_sources().to_vec(),
        defaults_as_of: CostRates::defaults_as_of().to_owned(),
    }
}

#[utoipa::path(operation_id = "get_cost_rates", get, path = "/api/cost-rates", tag = "settings",
    responses((status = 200, body = CostRatesView)))]
pub async fn get(State(engine): State<Engine>) -> ApiResult<axum::Json<CostRatesView>> {
    Ok(axum::Json(view(engine.store().cost_rates().await?)))
}

/// Replaces the whole table: every carrier and backend, each carrier with an `other` row.
/// Calls that have already ended keep their estimates.
#[utoipa::path(operation_id = "put_cost_rates", put, path = "/api/cost-rates", tag = "settings",
    request_body = CostRates,
    responses(
        (status = 200, body = CostRatesView),
        (status = 422, body = ErrorBody, description = "A rate breaks a rule (the field is named)"),
    ))]
pub async fn put(
    State(engine): State<Engine>,
    Json(rates): Json<CostRates>,
) -> ApiResult<axum::Json<CostRatesView>> {
    rates.check()?;
    Ok(axum::Json(view(
        engine.store().set_cost_rates(Some(rates)).await?,
    )))
}

/// Back to the published defaults.
#[utoipa::path(operation_id = "reset_cost_rates", delete, path = "/api/cost-rates", tag = "settings",
    responses((status = 200, body = CostRatesView)))]
pub async fn reset(State(engine): State<Engine>) -> ApiResult<axum::Json<CostRatesView>> {
    Ok(axum::Json(view(engine.store().set_cost_rates(None).await?)))
}
