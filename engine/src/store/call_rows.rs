//! The call row as every aggregate reads it: its columns, its conversion to a `Call`, and the
//! statuses of calls still in progress. A leaf: calls, campaigns and leads all build on it.

use sqlx::FromRow;

use super::db::{self, Conn};

use super::error::{Result, StoreError, not_found};
use crate::domain::{Call, CallDirection, CallStatus, Carrier, Recording, RejectReason, Timestamp};

#[derive(FromRow)]
pub(super) struct CallRow {
    id: String,
    direction: String,
    carrier: String,
    carrier_call_id: Option<String>,
    from_number: String,
    to_number: String,
    agent_id: Option<String>,
    agent_name: Option<String>,
    number_id: Option<String>,
    status: String,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    duration_secs: Option<i64>,
    hangup_cause: Option<String>,
    cost_estimate_usd: Option<f64>,
    reject_reason: Option<String>,
    recording_url: Option<String>,
    recording_started_at: Option<i64>,
    recording_ms: Option<i64>,
    answered_by: Option<String>,
    context: Option<String>,
    campaign_id: Option<String>,
    lead_id: Option<i64>,
}

impl TryFrom<CallRow> for Call {
    type Error = StoreError;
    fn try_from(r: CallRow) -> Result<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("call {}: {what}", r.id));
        let context = match r.context.as_deref() {
            None => serde_json::Map::new(),
            Some(text) => {
                serde_json::from_str(text).map_err(|e| corrupt(&format!("context: {e}")))?
            }
        };
        Ok(Call {
            direction: CallDirection::parse(&r.direction).ok_or_else(|| corrupt("direction"))?,
            carrier: Carrier::parse(&r.carrier).ok_or_else(|| corrupt("carrier"))?,
            status: CallStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            reject_reason: r
                .reject_reason
                .as_deref()
                .map(|s| RejectReason::parse(s).ok_or_else(|| corrupt("reject reason")))
                .transpose()?,
            id: r.id,
            carrier_call_id: r.carrier_call_id,
            from_number: r.from_number,
            to_number: r.to_number,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            number_id: r.number_id,
            started_at: Timestamp::from_millis(r.started_at),
            answered_at: r.answered_at.map(Timestamp::from_millis),
            ended_at: r.ended_at.map(Timestamp::from_millis),
            duration_secs: r.duration_secs,
            hangup_cause: r.hangup_cause,
            cost_estimate_usd: r.cost_estimate_usd,
            recording_url: r.recording_url,
            recording: r.recording_started_at.map(|at| Recording {
                started_at: Timestamp::from_millis(at),
                duration_ms: r.recording_ms.and_then(|ms| u64::try_from(ms).ok()),
            }),
            answered_by: r.answered_by,
            context,
            campaign_id: r.campaign_id,
            lead_id: r.lead_id,
        })
    }
}

pub(super) const SELECT: &str = "SELECT c.id, c.direction, c.carrier, c.carrier_call_id, c.from_number, \
       c.to_number, c.agent_id, a.name AS agent_name, c.number_id, c.status, c.started_at, \
       c.answered_at, c.ended_at, c.duration_secs, c.hangup_cause, c.cost_estimate_usd, \
       c.reject_reason, c.recording_url, c.recording_started_at, c.recording_ms, c.answered_by, c.context, c.campaign_id, c.lead_id \
     FROM calls c LEFT JOIN agents a ON a.id = c.agent_id";

/// Statuses of calls still in progress, as SQL, for load counts. Exactly the condition of
/// the `calls_live` partial index: SQLite uses that index only for this very text.
pub(super) const LIVE: &str = "('queued', 'ringing', 'in_progress')";

/// Phone calls only, as SQL: a test call through this machine's microphone holds none of an
/// agent's phone lines (testing an agent never turns a caller away).
pub(super) const PHONE: &str = "direction <> 'test'";

pub(super) async fn fetch_call(conn: &mut Conn<'_>, id: &str) -> Result<Call> {
    db::query_as::<CallRow>(&format!("{SELECT} WHERE c.id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("call", id))?
        .try_into()
}

pub(super) async fn find_by_carrier_id(
    conn: &mut Conn<'_>,
    carrier: Carrier,
    carrier_call_id: &str,
) -> Result<Option<Call>> {
    db::query_as::<CallRow>(&format!(
        "{SELECT} WHERE c.carrier = ? AND c.carrier_call_id = ?"
    ))
    .bind(carrier.as_str())
    .bind(carrier_call_id)
    .fetch_optional(conn)
    .await?
    .map(Call::try_from)
    .transpose()
}

/// Live calls of a campaign.
pub(super) async fn campaign_live_calls(conn: &mut Conn<'_>, campaign_id: &str) -> Result<i64> {
    db::query_scalar(&format!(
        "SELECT COUNT(*) FROM calls WHERE campaign_id = ? AND campaign_id IS NOT NULL \
         AND status IN {LIVE}"
    ))
    .bind(campaign_id)
    .fetch_one(conn)
    .await
}
