//! `/api/calls`: the call log, filtered and paged, one call with its transcript, and what an
//! operator does to a call (place it, hang it up, change its context), each through its verb.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower::ServiceExt as _;
use utoipa::IntoParams;

use crate::calls::{self, place::PlaceError};
use crate::domain::{
    AnalysisStatus, Call, CallDirection, CallStatus, OutboundRequest, Sentiment, Timestamp,
};
use crate::engine::Engine;
use crate::recordings;
use crate::store::call_search::{Marker, SearchText};
use crate::store::calls::{CallDetail, CallFilter, CallPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::store::{Conflict, StoreError};
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json, Query};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    direction: Option<CallDirection>,
    agent_id: Option<String>,
    number_id: Option<String>,
    /// One status, several separated by commas, or `live` (queued, ringing, in progress).
    #[param(
        pattern = r"^(live|queued|ringing|in_progress|completed|busy|no_answer|failed|rejected|canceled)(,(live|queued|ringing|in_progress|completed|busy|no_answer|failed|rejected|canceled))*$"
    )]
    status: Option<String>,
    /// Started at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Started before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Words the call's transcript must hold (all of them; the last also as a word's start).
    /// Each listed call's best matching line comes in `matches`, the words marked.
    /// Searches the analysis summaries too (those calls come in `summary_matches`).
    #[param(max_length = 200)]
    q: Option<String>,
    /// Calls whose post-call analysis says they met (true) or missed (false) the agent's goal.
    goal_met: Option<bool>,
    /// Calls whose post-call analysis found this caller sentiment.
    sentiment: Option<Sentiment>,
    /// Calls whose post-call analysis stands so.
    analysis_status: Option<AnalysisStatus>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Calls to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

fn parse_time(name: &str, value: Option<&str>) -> ApiResult<Option<Timestamp>> {
    value
        .map(|v| {
            Timestamp::parse(v).map_err(|_| {
                ApiError::malformed(format!(
                    "{name} must be an RFC 3339 time such as 2026-01-31T09:00:00Z, not \"{v}\""
                ))
            })
        })
        .transpose()
}

fn parse_statuses(value: Option<&str>) -> ApiResult<Vec<CallStatus>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim) {
        if part == "live" {
            out.extend(CallStatus::ALL.into_iter().filter(|s| s.is_live()));
        } else {
            out.push(CallStatus::parse(part).ok_or_else(|| {
                if part.is_empty() {
                    return ApiError::malformed(
                        "status must not be empty; leave it out to list all",
                    );
                }
                let known: Vec<_> = CallStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::malformed(format!(
                    "unknown status \"{part}\"; use live or one of {}",
                    known.join(", ")
                ))
            })?);
        }
    }
    Ok(out)
}

/// The page size asked for (the default when none), if the document allows it.
fn check_limit(limit: Option<u32>) -> ApiResult<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::malformed(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(limit)
}

/// The filter the parameters ask for; `None` when a search holds no word at all (nothing
/// can match it).
fn filter_of(p: &ListParams) -> ApiResult<Option<CallFilter>> {
    let typed = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if typed.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::malformed("q must be at most 200 characters"));
    }
    // Every parameter is checked, even when the search alone would find nothing.
    let statuses = parse_statuses(p.status.as_deref())?;
    let since = parse_time("since", p.since.as_deref())?;
    let until = parse_time("until", p.until.as_deref())?;
    let text = typed.map(SearchText::parse);
    if text == Some(None) {
        return Ok(None);
    }
    Ok(Some(CallFilter {
        direction: p.direction,
        agent_id: p.agent_id.clone(),
        number_id: p.number_id.clone(),
        statuses,
        since,
        until,
        marker: typed.map(|t| std::sync::Arc::new(Marker::new(t))),
        text: text.flatten(),
        before: None,
        goal_met: p.goal_met,
        sentiment: p.sentiment,
        analysis_status: p.analysis_status,
    }))
}

/// Calls, newest first.
#[utoipa::path(operation_id = "list_calls", get, path = "/api/calls", tag = "calls", params(ListParams),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(engine): State<Engine>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<CallPage>> {
    let limit = check_limit(p.limit)?;
    let Some(filter) = filter_of(&p)? else {
        return Ok(axum::Json(CallPage {
            items: Vec::new(),
            total: 0,
            total_cost_usd: Some(0.0),
            limit,
            offset: p.offset.unwrap_or(0),
            matches: Vec::new(),
            capped: false,
            summary_matches: Vec::new(),
        }));
    };
    let mut page = engine
        .store()
        .list_calls(&filter, limit, p.offset.unwrap_or(0))
        .await?;
    let now = Timestamp::now();
    page.items = page
        .items
        .into_iter()
        .map(|c| c.with_duration_so_far(now))
        .collect();
    Ok(axum::Json(page))
}

/// Calls read per page while exporting: bounded memory whatever the log's size.
const EXPORT_PAGE: u32 = 1_000;

const EXPORT_COLUMNS: [&str; 18] = [
    "id",
    "started_at",
    "direction",
    "status",
    "from",
    "to",
    "agent",
    "agent_id",
    "carrier",
    "answered_at",
    "ended_at",
    "duration_secs",
    "hangup_cause",
    "answered_by",
    "cost_estimate_usd",
    "campaign_id",
    "lead_id",
    "recording_url",
];

/// A text a spreadsheet could take for a formula (`=`, `+`, `-`, `@` first) is kept as text.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn export_row(c: &Call) -> [String; 18] {
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        c.id.clone(),
        c.started_at.to_string(),
        c.direction.as_str().to_owned(),
        c.status.as_str().to_owned(),
        // E.164 as stored: a leading + is part of the number.
        c.from_number.clone(),
        c.to_number.clone(),
        cell(c.agent_name.as_deref().unwrap_or_default()),
        text(&c.agent_id),
        c.carrier.as_str().to_owned(),
        time(c.answered_at),
        time(c.ended_at),
        c.duration_secs.map(|d| d.to_string()).unwrap_or_default(),
        cell(c.hangup_cause.as_deref().unwrap_or_default()),
        text(&c.answered_by),
        c.cost_estimate_usd
            .map(|v| format!("{v:.4}"))
            .unwrap_or_default(),
        text(&c.campaign_id),
        c.lead_id.map(|l| l.to_string()).unwrap_or_default(),
        text(&c.recording_url),
    ]
}

fn csv_bytes<I: IntoIterator<Item = [String; 18]>>(rows: I, header: bool) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    if header {
        let _ = w.write_record(EXPORT_COLUMNS);
    }
    for r in rows {
        let _ = w.write_record(&r);
    }
    w.into_inner().unwrap_or_default()
}

/// The call log as CSV: every call the filters (and `q`) match, newest first, one row each;
/// `limit` and `offset` do not apply. Streamed a page at a time, so a big log costs no memory.
#[utoipa::path(operation_id = "export_calls", get, path = "/api/calls/export", tag = "calls",
    params(ListParams),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "A header row, then one row per call."),
        (status = 400, body = ErrorBody)))]
pub async fn export(
    State(engine): State<Engine>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::response::Response> {
    // Not used here, but a value the document does not allow is still refused.
    check_limit(p.limit)?;
    let filter = filter_of(&p)?;
    let first = csv_bytes([], true);
    let pages = futures_util::stream::unfold(filter, move |filter| {
        let engine = engine.clone();
        async move {
            let mut filter = filter?;
            match engine.store().calls_in_order(&filter, EXPORT_PAGE, 0).await {
                Err(e) => {
                    tracing::error!(error = %e, "the call log export stopped");
                    Some((Err(std::io::Error::other("the export stopped")), None))
                }
                Ok(calls) if calls.is_empty() => None,
                Ok(calls) => {
                    let last = calls.last().map(|c| (c.started_at, c.id.clone()));
                    let more = calls.len() == EXPORT_PAGE as usize;
                    let bytes = csv_bytes(calls.iter().map(export_row), false);
                    filter.before = last;
                    Some((Ok(bytes::Bytes::from(bytes)), more.then_some(filter)))
                }
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(bytes::Bytes::from(first)) }),
        pages,
    );
    let name = format!(
        "attachment; filename=\"calls-{}.csv\"",
        jiff::Timestamp::now().strftime("%Y%m%d-%H%M")
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_owned(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, name),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// One call with its transcript.
#[utoipa::path(operation_id = "get_call", get, path = "/api/calls/{id}", tag = "calls",
    params(("id" = String, Path)),
    responses((status = 200, body = CallDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CallDetail>> {
    let mut detail = engine.store().get_call_detail(&id).await?;
    detail.call = detail.call.with_duration_so_far(Timestamp::now());
    Ok(axum::Json(detail))
}

/// Deletes an ended call: its record, transcript, tool calls, transfers and recording.
#[utoipa::path(operation_id = "delete_call", delete, path = "/api/calls/{id}", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The call is still under way"),
    ))]
pub async fn delete(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    recordings::upkeep::delete_call(&engine, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The call's recording: a stereo WAV at 8 kHz, the caller on the left and the agent on the
/// right. Byte ranges are served (`Range`), so a player can seek. While the call is under way
/// the file holds what has been recorded so far.
#[utoipa::path(operation_id = "get_call_recording", get, path = "/api/calls/{id}/recording", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 200, content_type = "audio/wav", body = Vec<u8>, description = "The recording"),
        (status = 206, content_type = "audio/wav", body = Vec<u8>, description = "The range asked for"),
        (status = 404, body = ErrorBody, description = "No such call, or it was not recorded"),
        (status = 416, description = "The range asked for is outside the file"),
    ))]
pub async fn recording(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> ApiResult<axum::response::Response> {
    let Some(file) = engine.store().recording_file(&id).await? else {
        return Err(ApiError::not_found(
            "this call was not recorded (or its recording was deleted)",
        ));
    };
    let path = recordings::file::path_for(engine.data_dir(), &file);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(ApiError::not_found(
            "this call's recording file is missing from the data directory",
        ));
    }
    let served = tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await;
    match served {
        Ok(response) => Ok(response.map(axum::body::Body::new)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("the recording could not be read: {e}"),
        )),
    }
}

/// Replaces a call's own context (a JSON object; `name`, `email`, `phone` fill the agent's
/// prompt placeholders). A live call gets the new instructions at once.
#[utoipa::path(operation_id = "put_call_context", put, path = "/api/calls/{id}/context", tag = "calls",
    request_body(content = Object, description = "The new context: a JSON object"),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = super::agents::ContextUpdated),
        (status = 400, body = ErrorBody, description = "Not a JSON object"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The call has ended"),
    ))]
pub async fn put_context(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(context): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<super::agents::ContextUpdated>> {
    let (call, told) = calls::context::set_call_context(&engine, &id, context).await?;
    Ok(axum::Json(super::agents::ContextUpdated {
        context: call.context,
        live_calls_updated: usize::from(told),
    }))
}

/// A note for a call's agent.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Whisper {
    /// What the agent should know or do; the caller does not hear it.
    #[schema(min_length = 1, max_length = 500)]
    pub text: String,
}

/// Whispers a note to a live call's agent: the caller does not hear it. It joins the call's
/// context (`operator_notes`), reaching the agent as a live context edit does, and the
/// transcript as the operator's.
#[utoipa::path(operation_id = "whisper_to_agent", post, path = "/api/calls/{id}/whisper", tag = "calls",
    request_body = Whisper,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = super::agents::ContextUpdated),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The call has ended"),
        (status = 422, body = ErrorBody, description = "An empty or too long note"),
    ))]
pub async fn whisper(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(input): Json<Whisper>,
) -> ApiResult<axum::Json<super::agents::ContextUpdated>> {
    let (call, told) = calls::context::whisper(&engine, &id, &input.text).await?;
    Ok(axum::Json(super::agents::ContextUpdated {
        context: call.context,
        live_calls_updated: usize::from(told),
    }))
}

/// Ends a call now: a live call hangs up through its carrier and its record says an operator
/// ended it; a call not yet bridged is hung up at the carrier.
#[utoipa::path(operation_id = "hang_up_call", post, path = "/api/calls/{id}/hangup", tag = "calls",
    params(("id" = String, Path)),
    responses(
        (status = 202, description = "Hanging up"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The call has ended"),
        (status = 422, body = ErrorBody, description = "The carrier's credentials are missing"),
        (status = 502, body = ErrorBody, description = "The carrier could not be told"),
    ))]
pub async fn hang_up(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let call = engine.store().get_call(&id).await?;
    if call.ended_at.is_some() {
        return Err(StoreError::from(Conflict::CallEnded(id)).into());
    }
    calls::hang_up::hang_up(&engine, &call, "ended by an operator").await?;
    Ok(StatusCode::ACCEPTED)
}

/// Places one call: the agent speaks for Switchboard once the callee answers (it lets them
/// speak first, and greets them after a few seconds of silence).
#[utoipa::path(operation_id = "place_call", post, path = "/api/calls/outbound", tag = "calls",
    request_body = OutboundRequest,
    responses(
        (status = 201, body = Call, description = "The carrier is placing the call"),
        (status = 404, body = ErrorBody, description = "No such number or agent"),
        (status = 409, body = ErrorBody, description = "The agent is on its maximum of calls"),
        (status = 422, body = ErrorBody, description = "Bad number, no agent, inactive agent or number, or setup missing"),
        (status = 502, body = ErrorBody, description = "The carrier refused or could not be reached"),
    ))]
pub async fn place(
    State(engine): State<Engine>,
    Json(req): Json<OutboundRequest>,
) -> ApiResult<(StatusCode, axum::Json<Call>)> {
    match calls::place::place(&engine, req).await {
        Ok(call) => Ok((StatusCode::CREATED, axum::Json(call))),
        Err(PlaceError::Invalid(e)) => Err(e.into()),
        Err(PlaceError::Store(e)) => Err(e.into()),
        Err(PlaceError::Carrier(e)) => Err(e.into()),
        Err(e @ PlaceError::AgentBusy { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            e.to_string(),
        )),
    }
}
