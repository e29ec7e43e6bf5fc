//! `/api/overview` and a campaign's funnel: the numbers at a glance, read from the call log's
//! rollup (`store/overview.rs`) and laid out in the asked time zone's days
//! (`domain/overview.rs`).

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::Timestamp;
use crate::domain::overview::{
    DEFAULT_DAYS, Funnel, Overview, Range, RangeError, parse_date, parse_zone,
};
use crate::engine::Engine;
use crate::store::overview::OverviewFilter;
use crate::web::{ApiError, ApiResult, ErrorBody, Query};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewParams {
    /// First day, in `tz` (default: 29 days before `to`). From 2000-01-01 to 2100-12-31.
    #[param(format = Date)]
    from: Option<String>,
    /// Last day, included, in `tz` (default: today). At most 400 days after `from`.
    #[param(format = Date)]
    to: Option<String>,
    /// The time zone days are counted in: an IANA name (`Europe/Paris`), `UTC`, or an offset
    /// of whole quarter hours (`+05:30`). Default UTC.
    #[param(max_length = 64)]
    tz: Option<String>,
    /// Only this agent's calls.
    agent_id: Option<String>,
    /// Only this campaign's calls.
    campaign_id: Option<String>,
}

impl From<RangeError> for ApiError {
    fn from(e: RangeError) -> Self {
        ApiError::malformed(e.to_string())
    }
}

/// Calls per day (by direction), answered, duration and cost, outcomes, post-call analysis
/// results, per agent and per campaign, over a range of days in a time zone.
#[utoipa::path(operation_id = "get_overview", get, path = "/api/overview", tag = "calls",
    params(OverviewParams),
    responses(
        (status = 200, body = Overview),
        (status = 400, body = ErrorBody, description = "A date, the range or the time zone is not usable"),
        (status = 404, body = ErrorBody, description = "No such agent or campaign"),
    ))]
pub async fn overview(
    State(engine): State<Engine>,
    Query(p): Query<OverviewParams>,
) -> ApiResult<axum::Json<Overview>> {
    let tz_name = p.tz.as_deref().unwrap_or("UTC");
    let tz = parse_zone(tz_name)?;
    let to = match p.to.as_deref() {
        Some(t) => parse_date("to", t)?,
        None => jiff::Timestamp::from_millisecond(Timestamp::now().as_millis())
            .map_err(|_| ApiError::malformed("the clock is out of range"))?
            .to_zoned(tz.clone())
            .date(),
    };
    let range = match p.from.as_deref() {
        Some(f) => Range::new(parse_date("from", f)?, to, &tz)?,
        None => Range::last_days(to, DEFAULT_DAYS, &tz)?,
    };
    let store = engine.store();
    if let Some(id) = &p.agent_id {
        store.get_agent(id).await?;
    }
    if let Some(id) = &p.campaign_id {
        store.get_campaign(id).await?;
    }
    let (first, end) = range.buckets();
    let rows = store
        .overview_rows(
            first,
            end,
            &OverviewFilter {
                agent_id: p.agent_id,
                campaign_id: p.campaign_id,
            },
        )
        .await?;
    Ok(axum::Json(Overview::build(&range, tz_name, rows)))
}

/// A campaign's calls from dialed to goal met, over its whole life.
#[utoipa::path(operation_id = "campaign_funnel", get, path = "/api/campaigns/{id}/funnel", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = Funnel), (status = 404, body = ErrorBody)))]
pub async fn funnel(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Funnel>> {
    let (sums, completed) = engine.store().campaign_funnel(&id).await?;
    Ok(axum::Json(Funnel {
        completed,
        ..Funnel::from(sums)
    }))
}
