//! `/api/campaigns`: outbound campaigns, their leads and their progress; start, pause,
//! resume and stop. Also `/api/agents/load-stats`, the live load the dialer selects by.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::campaigns::import::{ImportError, ImportReport};
use crate::campaigns::{self, progress};
use crate::domain::{
    Campaign, CampaignAction, CampaignInput, CampaignProgress, Invalid, Lead, LeadHours, LeadStatus,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::calls::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::web::{ApiError, ApiResult, ErrorBody, Json, Query};

/// A campaign with where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub progress: CampaignProgress,
}

async fn view(engine: &Engine, campaign: Campaign) -> ApiResult<CampaignView> {
    let progress = progress::read(engine, &campaign, None).await?;
    Ok(CampaignView { campaign, progress })
}

/// Campaigns, newest first, each with its progress.
#[utoipa::path(operation_id = "list_campaigns", get, path = "/api/campaigns", tag = "campaigns",
    responses((status = 200, body = [CampaignView])))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<CampaignView>>> {
    let mut out = Vec::new();
    for c in engine.store().list_campaigns().await? {
        out.push(view(&engine, c).await?);
    }
    Ok(axum::Json(out))
}

/// Creates a campaign (as a draft: nothing is dialed until it is started).
#[utoipa::path(operation_id = "create_campaign", post, path = "/api/campaigns", tag = "campaigns",
    request_body = CampaignInput,
    responses(
        (status = 201, body = CampaignView),
        (status = 409, body = ErrorBody, description = "Another campaign has this name"),
        (status = 422, body = ErrorBody, description = "A value breaks a rule"),
    ))]
pub async fn create(
    State(engine): State<Engine>,
    Json(input): Json<CampaignInput>,
) -> ApiResult<(StatusCode, axum::Json<CampaignView>)> {
    within_floor(&engine, &input)?;
    let campaign = engine.store().create_campaign(input).await?;
    engine.events().publish(Event::CampaignCreated {
        campaign: campaign.clone(),
    });
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&engine, campaign).await?),
    ))
}

#[utoipa::path(operation_id = "get_campaign", get, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let campaign = engine.store().get_campaign(&id).await?;
    Ok(axum::Json(view(&engine, campaign).await?))
}

/// Changes a campaign; a running one picks the change up within a second.
#[utoipa::path(operation_id = "update_campaign", put, path = "/api/campaigns/{id}", tag = "campaigns",
    request_body = CampaignInput,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = CampaignView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Another campaign has this name"),
        (status = 422, body = ErrorBody, description = "A value breaks a rule"),
    ))]
pub async fn update(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(input): Json<CampaignInput>,
) -> ApiResult<axum::Json<CampaignView>> {
    within_floor(&engine, &input)?;
    let campaign = engine.store().update_campaign(&id, input).await?;
    engine.running_campaigns().changed(&id);
    engine.events().publish(Event::CampaignUpdated {
        campaign: campaign.clone(),
    });
    Ok(axum::Json(view(&engine, campaign).await?))
}

/// A window wider than the calling-hours floor is refused, naming the floor.
fn within_floor(engine: &Engine, input: &CampaignInput) -> Result<(), Invalid> {
    match input.settings.as_ref().and_then(|s| s.window.as_ref()) {
        Some(w) => engine.settings().calling_hours().contains(w),
        None => Ok(()),
    }
}

/// Deletes a campaign and its leads (its calls stay in the log).
#[utoipa::path(operation_id = "delete_campaign", delete, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Running, or calls are under way"),
    ))]
pub async fn delete(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.store().delete_campaign(&id).await?;
    engine.events().publish(Event::CampaignDeleted { id });
    Ok(StatusCode::NO_CONTENT)
}

async fn act(engine: &Engine, id: &str, action: CampaignAction) -> ApiResult<CampaignView> {
    let campaign = campaigns::control::act(engine, id, action).await?;
    view(engine, campaign).await
}

macro_rules! action_route {
    ($name:ident, $action:expr, $path:literal, $op:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(operation_id = $op, post, path = $path, tag = "campaigns",
            params(("id" = String, Path)),
            responses(
                (status = 200, body = CampaignView),
                (status = 404, body = ErrorBody),
                (status = 409, body = ErrorBody, description = "Not possible from the campaign's status"),
                (status = 422, body = ErrorBody, description = "Nothing to dial with (start, resume)"),
            ))]
        pub async fn $name(
            State(engine): State<Engine>,
            Path(id): Path<String>,
        ) -> ApiResult<axum::Json<CampaignView>> {
            Ok(axum::Json(act(&engine, &id, $action).await?))
        }
    };
}

action_route!(
    start,
    CampaignAction::Start,
    "/api/campaigns/{id}/start",
    "start_campaign",
    "Starts dialing (a draft, or a stopped or completed campaign with leads still pending)."
);
action_route!(
    pause,
    CampaignAction::Pause,
    "/api/campaigns/{id}/pause",
    "pause_campaign",
    "Stops placing new calls; calls under way go on."
);
action_route!(
    resume,
    CampaignAction::Resume,
    "/api/campaigns/{id}/resume",
    "resume_campaign",
    "Dials again after a pause."
);
action_route!(
    stop,
    CampaignAction::Stop,
    "/api/campaigns/{id}/stop",
    "stop_campaign",
    "Ends the campaign: nothing more is dialed; calls under way go on."
);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadParams {
    status: Option<LeadStatus>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadPage {
    pub items: Vec<Lead>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

/// A campaign's leads, in import order.
#[utoipa::path(operation_id = "list_leads", get, path = "/api/campaigns/{id}/leads", tag = "campaigns",
    params(("id" = String, Path), LeadParams),
    responses((status = 200, body = LeadPage), (status = 404, body = ErrorBody)))]
pub async fn leads(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Query(p): Query<LeadParams>,
) -> ApiResult<axum::Json<LeadPage>> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::malformed(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    let (mut items, total) = engine
        .store()
        .list_leads(&id, p.status, limit, offset)
        .await?;
    // Pending leads outside their local hours say so, and when those open.
    let campaign = engine.store().get_campaign(&id).await?;
    let hours = LeadHours::new(
        &engine.settings().calling_hours(),
        campaign.settings.window.as_ref(),
    );
    let now = engine.now();
    for lead in items.iter_mut().filter(|l| l.status == LeadStatus::Pending) {
        if let Err(opens) = hours.check(&lead.zones.join("&"), now) {
            lead.waiting_for_local_hours = true;
            lead.local_hours_open_at = opens;
        }
    }
    Ok(axum::Json(LeadPage {
        items,
        total,
        limit,
        offset,
    }))
}

/// One agent's live load.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentLoad {
    pub agent_id: String,
    pub name: String,
    pub active: bool,
    /// Live calls, inbound and outbound.
    pub live_calls: u32,
    pub max_concurrent_calls: u32,
    /// Active and below its maximum: selection may choose it.
    pub available: bool,
}

/// Live calls per agent against each agent's maximum.
#[utoipa::path(operation_id = "agent_load_stats", get, path = "/api/agents/load-stats", tag = "agents",
    responses((status = 200, body = [AgentLoad])))]
pub async fn load_stats(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<AgentLoad>>> {
    let loads = engine.store().live_calls_per_agent().await?;
    let agents = engine.store().list_agents().await?;
    Ok(axum::Json(
        agents
            .into_iter()
            .map(|a| {
                let live = loads.get(&a.id).copied().unwrap_or(0);
                AgentLoad {
                    available: a.active && live < a.max_concurrent_calls,
                    agent_id: a.id,
                    name: a.name,
                    active: a.active,
                    live_calls: live,
                    max_concurrent_calls: a.max_concurrent_calls,
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check the file and report, without adding anything.
    dry_run: Option<bool>,
}

/// Imports leads from a CSV file (UTF-8, header row; name, phone, email and any other
/// columns, kept as the lead's fields). Numbers without a country code are read in the
/// campaign's default region (else the engine's).
#[utoipa::path(operation_id = "import_leads", post, path = "/api/campaigns/{id}/leads/import", tag = "campaigns",
    params(("id" = String, Path), ImportParams),
    request_body(content = String, content_type = "text/csv", description = "The lead list"),
    responses(
        (status = 200, body = ImportReport),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The file as a whole cannot be read (not UTF-8, no phone column, ...)"),
    ))]
pub async fn import_leads(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Query(p): Query<ImportParams>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<ImportReport>> {
    match campaigns::import::import_leads(&engine, &id, body, p.dry_run.unwrap_or(false)).await {
        Ok(report) => Ok(axum::Json(report)),
        Err(ImportError::Store(e)) => Err(e.into()),
        Err(ImportError::File(e)) => Err(Invalid::new("file", e.to_string()).into()),
        Err(e @ ImportError::Aborted(_)) => Err(ApiError::malformed(e.to_string())),
    }
}
