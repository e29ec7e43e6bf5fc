//! `/api/do-not-call`: the do-not-call lists, global (no `campaign_id`) or one campaign's:
//! paged and searched, a number added (normalised, refused with the reason when it is not a
//! number) or removed, and a CSV file imported with a report per row.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::campaigns::do_not_call::{self, DncImportReport};
use crate::campaigns::import::ImportError;
use crate::domain::do_not_call::{MAX_NOTE_CHARS, note_of};
use crate::domain::{DncEntry, DncSource, E164, Invalid, NewDncEntry};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::calls::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::store::do_not_call::DncList;
use crate::web::{ApiError, ApiResult, ErrorBody, Json, Query};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The campaign whose list; absent: the global list.
    campaign_id: Option<String>,
    /// Digits the number contains.
    q: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DncPage {
    pub items: Vec<DncEntry>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

fn list_of(campaign_id: Option<String>) -> DncList {
    match campaign_id.filter(|c| !c.is_empty()) {
        None => DncList::Global,
        Some(id) => DncList::Campaign(id),
    }
}

/// A do-not-call list, newest first.
#[utoipa::path(operation_id = "list_do_not_call", get, path = "/api/do-not-call", tag = "do-not-call",
    params(ListParams),
    responses((status = 200, body = DncPage), (status = 404, body = ErrorBody, description = "No such campaign")))]
pub async fn list(
    State(engine): State<Engine>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<DncPage>> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::malformed(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    let (items, total) = engine
        .store()
        .list_dnc(&list_of(p.campaign_id), p.q.as_deref(), limit, offset)
        .await?;
    Ok(axum::Json(DncPage {
        items,
        total,
        limit,
        offset,
    }))
}

/// A number to put on a do-not-call list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DncInput {
    /// In international form, or national in the engine's default region.
    #[schema(example = "+14155552671")]
    pub number: String,
    /// The campaign whose list; absent or null: the global list.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Why, for the people who read the list (up to 500 characters).
    #[serde(default)]
    pub note: String,
    /// `manual` (the app) or `api` (the default: a script or CRM).
    #[serde(default)]
    pub source: Option<DncSource>,
}

/// Adds a number to the global list or a campaign's. Campaigns and single calls stop
/// dialing it at once.
#[utoipa::path(operation_id = "add_do_not_call", post, path = "/api/do-not-call", tag = "do-not-call",
    request_body = DncInput,
    responses(
        (status = 201, body = DncEntry),
        (status = 404, body = ErrorBody, description = "No such campaign"),
        (status = 409, body = ErrorBody, description = "Already on that list (since when and why)"),
        (status = 422, body = ErrorBody, description = "Not a phone number, or a note too long"),
    ))]
pub async fn add(
    State(engine): State<Engine>,
    Json(input): Json<DncInput>,
) -> ApiResult<(StatusCode, axum::Json<DncEntry>)> {
    let number = E164::parse(&input.number, engine.default_region().as_deref())
        .map_err(|e| Invalid::new("number", e.to_string()))?;
    if input.note.trim().chars().count() > MAX_NOTE_CHARS {
        return Err(Invalid::new(
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        )
        .into());
    }
    let source = match input.source.unwrap_or(DncSource::Api) {
        s @ (DncSource::Manual | DncSource::Api) => s,
        s => {
            return Err(Invalid::new(
                "source",
                format!(
                    "{} is set by Switchboard itself; use manual or api",
                    s.as_str()
                ),
            )
            .into());
        }
    };
    let entry = engine
        .store()
        .add_dnc_entry(NewDncEntry {
            number,
            campaign_id: input.campaign_id.filter(|c| !c.is_empty()),
            source,
            note: note_of(&input.note),
            call_id: None,
        })
        .await?;
    tracing::info!(id = entry.id, campaign_id = ?entry.campaign_id, "a number put on a do-not-call list");
    engine.events().publish(Event::DoNotCallAdded {
        entry: entry.clone(),
    });
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

/// Takes an entry off its list: the number may be dialed again.
#[utoipa::path(operation_id = "remove_do_not_call", delete, path = "/api/do-not-call/{id}", tag = "do-not-call",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn remove(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("do-not-call entry {id} does not exist")))?;
    engine.store().remove_dnc_entry(id).await?;
    engine.events().publish(Event::DoNotCallRemoved { id });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// The campaign whose list; absent: the global list.
    campaign_id: Option<String>,
    /// Check the file and report, without adding anything.
    dry_run: Option<bool>,
}

/// Imports numbers from a CSV file (UTF-8, header row, a `phone` column and an optional
/// `note`). Rows that are not numbers are reported with their line and reason and change
/// nothing; numbers already on the list are counted as duplicates.
#[utoipa::path(operation_id = "import_do_not_call", post, path = "/api/do-not-call/import", tag = "do-not-call",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "The numbers"),
    responses(
        (status = 200, body = DncImportReport),
        (status = 404, body = ErrorBody, description = "No such campaign"),
        (status = 422, body = ErrorBody, description = "The file as a whole cannot be read (not UTF-8, no phone column, ...)"),
    ))]
pub async fn import(
    State(engine): State<Engine>,
    Query(p): Query<ImportParams>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<DncImportReport>> {
    let campaign_id = p.campaign_id.filter(|c| !c.is_empty());
    match do_not_call::import(&engine, campaign_id, body, p.dry_run.unwrap_or(false)).await {
        Ok(report) => Ok(axum::Json(report)),
        Err(ImportError::Store(e)) => Err(e.into()),
        Err(ImportError::File(e)) => Err(Invalid::new("file", e.to_string()).into()),
        Err(e @ ImportError::Aborted(_)) => Err(ApiError::malformed(e.to_string())),
    }
}
