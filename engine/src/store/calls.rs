//! Calls and transcript lines in the store: recording a call, applying what its carrier
//! reports (each delivery once), and reading the log. A call's end settles its campaign lead
//! in the same transaction (`leads::settle_lead`).

use super::call_search::{PG_MATCH, SearchText};
use super::db::{self, Conn};
use super::dialect::Kind;
use serde::Serialize;
use utoipa::ToSchema;

use super::call_costs::settle_cost;
use super::call_rows::{
    CallRow, LIVE, PHONE, SELECT, campaign_live_calls, fetch_call, find_by_carrier_id,
};
use super::call_search::SEARCH_CAP;
use super::do_not_call::listed;
use super::error::{Conflict, Result, StoreError, existing_or, not_found, unique_or};
use super::leads::settle_lead;
use super::{Store, new_id};
use crate::domain::{
    AnalysisStatus, Call, CallAnalysis, CallDirection, CallEvent, CallStatus, Carrier, DncEntry,
    NewCall, Outcome, RejectReason, Sentiment, Speaker, Timestamp, TranscriptLine,
};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;
/// Up to this many matching calls, a page of the log carries their summed cost (a few ms);
/// past it the sum would read the whole table.
pub const COST_SUM_MAX_CALLS: i64 = 10_000;

/// Which calls to list. All filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub direction: Option<CallDirection>,
    pub agent_id: Option<String>,
    pub number_id: Option<String>,
    /// Any of these statuses; empty means all.
    pub statuses: Vec<CallStatus>,
    /// Started at or after.
    pub since: Option<Timestamp>,
    /// Started before.
    pub until: Option<Timestamp>,
    /// Whose transcript or summary has these words.
    pub text: Option<SearchText>,
    /// What marks the search's words in each found call's best line.
    pub marker: Option<std::sync::Arc<super::call_search::Marker>>,
    /// Older than this call (its start and id), for reading the log in order page after page
    /// without an offset (the export).
    pub before: Option<(Timestamp, String)>,
    /// Whose analysis says the call met (or did not meet) its agent's goal.
    pub goal_met: Option<bool>,
    /// Whose analysis found this caller sentiment.
    pub sentiment: Option<Sentiment>,
    /// Whose analysis stands so.
    pub analysis_status: Option<AnalysisStatus>,
}

/// How far a call log's count goes: pages reach that far; filters narrow what is past it.
pub const COUNT_CAP: u32 = 10_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallPage {
    pub items: Vec<Call>,
    /// Calls matching the filter, over all pages, counted up to [`COUNT_CAP`] (`capped` then
    /// says there are more).
    pub total: i64,
    /// The estimated cost of those calls, when at most [`COST_SUM_MAX_CALLS`] match (summing
    /// more would slow every page of a big log); `null` otherwise.
    pub total_cost_usd: Option<f64>,
    pub limit: u32,
    pub offset: u32,
    /// When searching: each listed call's best matching transcript line.
    pub matches: Vec<super::call_search::TranscriptMatch>,
    /// True when more calls match than `total` says: a log's count stops at [`COUNT_CAP`],
    /// and a search looks at the newest matching calls only (`call_search::SEARCH_CAP`), so
    /// older ones may match too.
    pub capped: bool,
    /// When searching: each listed call whose analysis summary matches, the words marked.
    pub summary_matches: Vec<super::call_search::SummaryMatch>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: Call,
    pub transcript: Vec<TranscriptLine>,
    /// The Retell call this call was handed over to, when its agent is on Retell.
    pub retell_call_id: Option<String>,
    /// Transfers the agent made, oldest first: each target, cold or warm, and how it went.
    pub transfers: Vec<crate::domain::CallTransfer>,
    /// The post-call analysis, when the call has one (its agent analyses calls).
    pub analysis: Option<CallAnalysis>,
    /// How `cost_estimate_usd` was reached (carrier and AI parts, the rates used), once the
    /// call has ended.
    pub cost: Option<crate::domain::CallCost>,
}

/// `WITH hits AS (…) `: the newest calls (at most [`SEARCH_CAP`]) passing the filter whose
/// transcript matches `text`, and those whose analysis summary does. FTS5 walks its matches
/// newest line first and stops once it has enough calls, so a word in half the log costs what
/// a rare one does. PostgreSQL's GIN index has no order: it finds every matching line, and
/// keeps the calls of the newest.
fn search_hits(kind: Kind, f: &CallFilter, text: &SearchText) -> db::Builder {
    if kind == Kind::Postgres {
        let mut q = db::Builder::new(
            "WITH hits AS (SELECT id FROM (SELECT t.call_id AS id FROM transcript_lines t \
             JOIN calls c ON c.id = t.call_id",
        );
        push_filter(&mut q, f);
        let (t_match, a_match) = PG_MATCH.split_once('?').expect("one placeholder");
        q.push(" AND t.")
            .push(t_match)
            .push_bind(text.spaced())
            .push(a_match)
            .push(" GROUP BY t.call_id ORDER BY max(t.id) DESC LIMIT ")
            .push(SEARCH_CAP)
            .push(
                ") AS lines UNION SELECT id FROM (SELECT a.call_id AS id FROM call_analyses a \
                 JOIN calls c ON c.id = a.call_id",
            );
        push_filter(&mut q, f);
        q.push(" AND a.")
            .push(t_match)
            .push_bind(text.spaced())
            .push(a_match)
            .push(" ORDER BY a.id DESC LIMIT ")
            .push(SEARCH_CAP)
            .push(") AS summaries) ");
        return q;
    }
    let mut q = db::Builder::new(
        "WITH hits AS (SELECT id FROM (SELECT DISTINCT t.call_id AS id FROM transcript_fts \
         JOIN transcript_lines t ON t.id = transcript_fts.rowid JOIN calls c ON c.id = t.call_id",
    );
    push_filter(&mut q, f);
    q.push(" AND transcript_fts MATCH ")
        .push_bind(text.fts5())
        .push(" ORDER BY transcript_fts.rowid DESC LIMIT ")
        .push(SEARCH_CAP)
        .push(
            ") UNION SELECT id FROM (SELECT a.call_id AS id FROM summary_fts \
               JOIN call_analyses a ON a.id = summary_fts.rowid JOIN calls c ON c.id = a.call_id",
        );
    push_filter(&mut q, f);
    q.push(" AND summary_fts MATCH ")
        .push_bind(text.fts5())
        .push(" ORDER BY summary_fts.rowid DESC LIMIT ")
        .push(SEARCH_CAP)
        .push(")) ");
    q
}

fn push_filter(q: &mut db::Builder, f: &CallFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(d) = f.direction {
        q.push(" AND c.direction = ").push_bind(d.as_str());
    }
    if let Some(a) = &f.agent_id {
        q.push(" AND c.agent_id = ").push_bind(a.clone());
    }
    if let Some(n) = &f.number_id {
        q.push(" AND c.number_id = ").push_bind(n.clone());
    }
    if !f.statuses.is_empty() {
        let live = [
            CallStatus::Queued,
            CallStatus::Ringing,
            CallStatus::InProgress,
        ];
        if f.statuses.len() == live.len() && live.iter().all(|s| f.statuses.contains(s)) {
            // Written exactly as the calls_live index's condition, so SQLite uses that index.
            q.push(" AND c.status IN ").push(LIVE);
        } else {
            q.push(" AND c.status IN (");
            let mut list = q.separated(", ");
            for s in &f.statuses {
                list.push_bind(s.as_str());
            }
            q.push(")");
        }
    }
    if let Some(t) = f.since {
        q.push(" AND c.started_at >= ").push_bind(t.as_millis());
    }
    if let Some(t) = f.until {
        q.push(" AND c.started_at < ").push_bind(t.as_millis());
    }
    if let Some((at, id)) = &f.before {
        q.push(" AND (c.started_at < ")
            .push_bind(at.as_millis())
            .push(" OR (c.started_at = ")
            .push_bind(at.as_millis())
            .push(" AND c.id < ")
            .push_bind(id.clone())
            .push("))");
    }
    if let Some(met) = f.goal_met {
        q.push(
            " AND EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.goal_met = ",
        )
        .push_bind(met)
        .push(")");
    }
    if let Some(s) = f.sentiment {
        q.push(
            " AND EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.sentiment = ",
        )
        .push_bind(s.as_str())
        .push(")");
    }
    if let Some(s) = f.analysis_status {
        q.push(" AND EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.status = ")
            .push_bind(s.as_str())
            .push(")");
    }
}

impl Store {
    /// Newest first.
    pub async fn list_calls(
        &self,
        filter: &CallFilter,
        limit: u32,
        offset: u32,
    ) -> Result<CallPage> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let (items, total, capped, total_cost_usd) = match &filter.text {
            Some(text) => self.search_page(filter, text, limit, offset).await?,
            None => {
                // Counted up to the cap only: an exact count of a big log walks all of it on
                // every page, and past a few thousand the number is for reading, not paging.
                let mut q = db::Builder::new("SELECT COUNT(*) FROM (SELECT 1 FROM calls c");
                push_filter(&mut q, filter);
                q.push(" LIMIT ")
                    .push_bind(i64::from(COUNT_CAP) + 1)
                    .push(") AS capped");
                let counted: i64 = q.build_query_scalar().fetch_one(self.pool()).await?;
                let capped = counted > i64::from(COUNT_CAP);
                let total = counted.min(i64::from(COUNT_CAP));
                let total_cost_usd = if !capped && total <= COST_SUM_MAX_CALLS {
                    let mut q = db::Builder::new(
                        "SELECT COALESCE(SUM(c.cost_estimate_usd), 0.0) FROM calls c",
                    );
                    push_filter(&mut q, filter);
                    let usd: f64 = q.build_query_scalar().fetch_one(self.pool()).await?;
                    Some(usd)
                } else {
                    None
                };
                let items = self.calls_in_order(filter, limit, offset).await?;
                (items, total, capped, total_cost_usd)
            }
        };
        let total_cost_usd = total_cost_usd.map(|usd| (usd * 1e6).round() / 1e6);
        let (matches, summary_matches) = match &filter.marker {
            Some(marker) => {
                let ids: Vec<String> = items.iter().map(|c: &Call| c.id.clone()).collect();
                (
                    self.transcript_matches(marker, &ids).await?,
                    self.summary_matches(marker, &ids).await?,
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        Ok(CallPage {
            capped,
            items,
            total,
            total_cost_usd,
            limit,
            offset,
            matches,
            summary_matches,
        })
    }

    /// A page of a search, with how many calls matched (at most [`SEARCH_CAP`] from the
    /// transcripts and as many from summaries) and their cost. The matches are found once: the
    /// page's ids, the count and the cost come from one walk of the index (the walk is the
    /// cost of a search: a common word's list, or a prefix's merged lists), then the page's
    /// calls are read by id.
    async fn search_page(
        &self,
        filter: &CallFilter,
        text: &SearchText,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Call>, i64, bool, Option<f64>)> {
        let mut q = search_hits(self.kind(), filter, text);
        q.push(
            "SELECT c.id, count(*) OVER (), COALESCE(SUM(c.cost_estimate_usd) OVER (), 0.0) FROM calls c \
             WHERE c.id IN (SELECT id FROM hits) ORDER BY c.started_at DESC, c.id DESC LIMIT ",
        )
        .push_bind(i64::from(limit))
        .push(" OFFSET ")
        .push_bind(i64::from(offset));
        let page: Vec<(String, i64, f64)> = q.build_query_as().fetch_all(self.pool()).await?;
        let (counted, usd) = match page.first() {
            Some((_, n, usd)) => (*n, *usd),
            None if offset == 0 => (0, 0.0),
            // Past the last match: the page is empty, the total still says how many.
            None => {
                let mut q = search_hits(self.kind(), filter, text);
                q.push("SELECT COUNT(*), COALESCE(SUM(c.cost_estimate_usd), 0.0) FROM calls c WHERE c.id IN (SELECT id FROM hits)");
                q.build_query_as().fetch_one(self.pool()).await?
            }
        };
        let items = if page.is_empty() {
            Vec::new()
        } else {
            let mut q = db::Builder::new(SELECT);
            q.push(" WHERE c.id IN (");
            let mut list = q.separated(", ");
            for (id, _, _) in &page {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY c.started_at DESC, c.id DESC");
            q.build_query_as::<CallRow>()
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(Call::try_from)
                .collect::<Result<Vec<_>>>()?
        };
        let capped = counted >= i64::from(SEARCH_CAP);
        let total = counted.min(i64::from(COUNT_CAP));
        let cost = (!capped && total <= COST_SUM_MAX_CALLS).then_some(usd);
        Ok((items, total, capped, cost))
    }

    /// Up to `limit` calls matching the filter, newest first, without counting them all (the
    /// export reads the whole log this way, `filter.before` moving on).
    pub async fn calls_in_order(
        &self,
        filter: &CallFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Call>> {
        let mut q = match &filter.text {
            Some(text) => {
                let mut q = search_hits(self.kind(), filter, text);
                q.push(SELECT).push(" WHERE c.id IN (SELECT id FROM hits)");
                q
            }
            None => {
                let mut q = db::Builder::new(SELECT);
                push_filter(&mut q, filter);
                q
            }
        };
        q.push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::from(offset));
        q.build_query_as::<CallRow>()
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Call::try_from)
            .collect()
    }

    pub async fn get_call(&self, id: &str) -> Result<Call> {
        let mut conn = self.pool().acquire().await?;
        fetch_call(&mut conn, id).await
    }

    /// The call a carrier knows by `carrier_call_id`, if Switchboard has it.
    pub async fn find_call_by_carrier_id(
        &self,
        carrier: Carrier,
        carrier_call_id: &str,
    ) -> Result<Option<Call>> {
        let mut conn = self.pool().acquire().await?;
        find_by_carrier_id(&mut conn, carrier, carrier_call_id).await
    }

    pub async fn get_call_detail(&self, id: &str) -> Result<CallDetail> {
        let call = self.get_call(id).await?;
        let transcript = self.transcript(id).await?;
        let retell_call_id = self.retell_call_id(id).await?;
        let transfers = self.transfers_of_call(id).await?;
        let analysis = self.call_analysis(id).await?;
        let cost = self.call_cost(id).await?;
        Ok(CallDetail {
            cost,
            call,
            transcript,
            retell_call_id,
            transfers,
            analysis,
        })
    }

    pub async fn transcript(&self, call_id: &str) -> Result<Vec<TranscriptLine>> {
        let rows: Vec<(i64, String, String, String, i64)> = db::query_as(
            "SELECT id, call_id, speaker, text, at FROM transcript_lines \
             WHERE call_id = ? ORDER BY at, id",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, call_id, speaker, text, at)| {
                Ok(TranscriptLine {
                    id,
                    speaker: Speaker::parse(&speaker)
                        .ok_or_else(|| StoreError::Corrupt(format!("speaker {speaker}")))?,
                    call_id,
                    text,
                    at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    pub async fn create_call(&self, new: NewCall) -> Result<Call> {
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let id = insert_call(conn, &new, None, &node).await?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    /// Writes an inbound call routed to `agent_id`, but only while that agent has fewer than
    /// `max_live` live calls. One statement: the count and the insert cannot be separated by
    /// a racing call for the agent's last slot, and the number's count rises with it (by
    /// trigger). Returns `None` when the agent is full.
    pub async fn insert_routed_call(
        &self,
        new: &NewCall,
        agent_name: &str,
        max_live: u32,
    ) -> Result<Option<Call>> {
        let agent_id = new.agent_id.clone().expect("a routed call has an agent");
        let call = written(new_id(), new, Some(agent_name), None);
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move { insert_if_room(conn, call, &agent_id, max_live, &node).await })
        })
        .await
    }

    /// `insert_routed_call` for a single call placed through the API: also refused, in the
    /// same write, when the number it dials is on the global do-not-call list.
    pub async fn insert_placed_call(
        &self,
        new: &NewCall,
        agent_name: &str,
        max_live: u32,
    ) -> Result<Placed> {
        let agent_id = new.agent_id.clone().expect("a placed call has an agent");
        let call = written(new_id(), new, Some(agent_name), None);
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                if let Some(entry) = listed(conn, &call.to_number, None).await? {
                    return Ok(Placed::Listed(entry));
                }
                Ok(
                    match insert_if_room(conn, call, &agent_id, max_live, &node).await? {
                        Some(call) => Placed::Call(Box::new(call)),
                        None => Placed::AgentFull,
                    },
                )
            })
        })
        .await
    }

    /// Writes a call Switchboard refused, with the reason.
    pub async fn insert_rejected_call(
        &self,
        new: &NewCall,
        agent_name: Option<&str>,
        reason: RejectReason,
    ) -> Result<Call> {
        let new = new.clone();
        let agent_name = agent_name.map(str::to_owned);
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let id = insert_call(conn, &new, Some(reason), &node).await?;
                settle_cost(conn, &id).await?;
                let mut call = written(id, &new, agent_name.as_deref(), Some(reason));
                call.cost_estimate_usd = Some(0.0);
                Ok(call)
            })
        })
        .await
    }

    /// Records the answer. Idempotent: a repeated answer keeps the first time.
    pub async fn mark_call_answered(&self, id: &str, at: Timestamp) -> Result<Call> {
        self.apply_to_call(id, CallEvent::Answered { at }).await
    }

    /// Records the end with its final status; the duration runs from the answer, if any.
    /// Idempotent: a call already ended keeps its first end.
    pub async fn mark_call_ended(
        &self,
        id: &str,
        status: CallStatus,
        at: Timestamp,
        hangup_cause: Option<&str>,
    ) -> Result<Call> {
        let event = CallEvent::Ended {
            status,
            at,
            cause: hangup_cause.map(str::to_owned),
            duration_secs: None,
        };
        self.apply_to_call(id, event).await
    }

    async fn apply_to_call(&self, id: &str, event: CallEvent) -> Result<Call> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                apply(conn, &id, &event).await?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    /// Applies what one carrier delivery reports about a call, once: `event_key` identifies
    /// the delivery, and a repeat (or a delivery for a call Switchboard does not know) changes
    /// nothing and returns `None`. All its events apply together. Returns the call when they
    /// changed it.
    pub async fn apply_call_events(
        &self,
        carrier: Carrier,
        event_key: &str,
        carrier_call_id: &str,
        events: &[CallEvent],
    ) -> Result<Option<Call>> {
        self.apply_call_events_linking(carrier, event_key, carrier_call_id, None, events)
            .await
    }

    /// As `apply_call_events`, for a call Switchboard placed: the carrier's report may come
    /// before the reply to the dial that would have told Switchboard the carrier's id, so
    /// `our_call_id` (carried in the callback URL or client state) finds the call then, and
    /// the carrier's id is recorded on it.
    pub async fn apply_call_events_linking(
        &self,
        carrier: Carrier,
        event_key: &str,
        carrier_call_id: &str,
        our_call_id: Option<&str>,
        events: &[CallEvent],
    ) -> Result<Option<Call>> {
        let event_key = event_key.to_owned();
        let carrier_call_id = carrier_call_id.to_owned();
        let our_call_id = our_call_id.map(str::to_owned);
        let events = events.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let fresh = db::query(
                    "INSERT INTO carrier_events (carrier, event_key, received_at) \
                     VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                )
                .bind(carrier.as_str())
                .bind(&event_key)
                .bind(Timestamp::now().as_millis())
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    == 1;
                if !fresh {
                    return Ok(None);
                }
                let mut found = find_by_carrier_id(conn, carrier, &carrier_call_id).await?;
                if found.is_none()
                    && let Some(ours) = &our_call_id
                {
                    let linked = db::query(
                        "UPDATE calls SET carrier_call_id = ? \
                         WHERE id = ? AND carrier = ? AND carrier_call_id IS NULL",
                    )
                    .bind(&carrier_call_id)
                    .bind(ours)
                    .bind(carrier.as_str())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if linked == 1 {
                        found = Some(fetch_call(conn, ours).await?);
                    }
                }
                let Some(before) = found else {
                    return Ok(None);
                };
                for event in &events {
                    apply(conn, &before.id, event).await?;
                }
                let after = fetch_call(conn, &before.id).await?;
                Ok((after != before).then_some(after))
            })
        })
        .await
    }

    /// Records what a single call does when a machine answers (before it is dialed).
    pub async fn set_call_machine_policy(
        &self,
        id: &str,
        policy: &crate::domain::campaign::VoicemailPolicy,
    ) -> Result<()> {
        let (id, text) = (
            id.to_owned(),
            serde_json::to_string(policy).expect("plain data"),
        );
        self.write(move |conn| {
            Box::pin(async move {
                db::query("UPDATE calls SET machine_policy = ? WHERE id = ?")
                    .bind(text)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// A single call's policy for a machine answering; `None` when it asked for no detection.
    pub async fn call_machine_policy(
        &self,
        id: &str,
    ) -> Result<Option<crate::domain::campaign::VoicemailPolicy>> {
        let text: Option<Option<String>> =
            db::query_scalar("SELECT machine_policy FROM calls WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Replaces a call's own context. Refused once the call has ended: nothing would read it.
    pub async fn set_call_context(
        &self,
        id: &str,
        context: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Call> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let call = fetch_call(conn, &id).await?;
                if call.ended_at.is_some() {
                    return Err(Conflict::CallEnded(id).into());
                }
                let text =
                    (!context.is_empty()).then(|| serde_json::Value::Object(context).to_string());
                db::query("UPDATE calls SET context = ? WHERE id = ?")
                    .bind(text)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    pub async fn add_transcript_line(
        &self,
        call_id: &str,
        speaker: Speaker,
        text: &str,
        at: Timestamp,
    ) -> Result<TranscriptLine> {
        let call_id = call_id.to_owned();
        let text = text.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let result = db::query_scalar(
                    "INSERT INTO transcript_lines (call_id, speaker, text, at) \
                     VALUES (?, ?, ?, ?) RETURNING id",
                )
                .bind(&call_id)
                .bind(speaker.as_str())
                .bind(&text)
                .bind(at.as_millis())
                .fetch_one(conn)
                .await;
                let id: i64 = existing_or(result, || not_found("call", &call_id))?;
                Ok(TranscriptLine {
                    id,
                    call_id,
                    speaker,
                    text,
                    at,
                })
            })
        })
        .await
    }
    /// Calls under way for a campaign.
    pub async fn campaign_live_calls(&self, campaign_id: &str) -> Result<i64> {
        let mut conn = self.pool().acquire().await?;
        campaign_live_calls(&mut conn, campaign_id).await
    }

    /// Live phone calls per agent (inbound and outbound alike), for selection and load stats.
    pub async fn live_calls_per_agent(&self) -> Result<std::collections::HashMap<String, u32>> {
        let rows: Vec<(String, i64)> = db::query_as(&format!(
            "SELECT agent_id, COUNT(*) FROM calls WHERE agent_id IS NOT NULL AND status IN {LIVE} \
             AND {PHONE} GROUP BY agent_id"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(a, n)| (a, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    /// Records the carrier's id for a call Switchboard placed.
    pub async fn set_carrier_call_id(&self, call_id: &str, carrier_call_id: &str) -> Result<Call> {
        let (id, cid) = (call_id.to_owned(), carrier_call_id.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE calls SET carrier_call_id = ? WHERE id = ? AND carrier_call_id IS NULL",
                )
                .bind(&cid)
                .bind(&id)
                .execute(&mut *conn)
                .await;
                unique_or(done, || Conflict::DuplicateCall(cid.clone()).into())?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    /// Ends an attempt the carrier never placed (or refused): the call is failed with
    /// `cause`, and its lead settles with `outcome` (a `NotPlaced` lead goes back in line
    /// without using an attempt).
    pub async fn end_unplaced_call(
        &self,
        call_id: &str,
        outcome: Outcome,
        cause: &str,
    ) -> Result<Call> {
        let (id, cause) = (call_id.to_owned(), cause.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now().as_millis();
                db::query(
                    "UPDATE calls SET status = 'failed', ended_at = ?, hangup_cause = ? \
                     WHERE id = ? AND ended_at IS NULL",
                )
                .bind(now)
                .bind(&cause)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                settle_lead(conn, &id, Some(outcome)).await?;
                settle_cost(conn, &id).await?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    /// A campaign's calls that have not ended and started before `before` (all of them
    /// when `None`): those to square with the carrier after a restart, or when a report is
    /// overdue. Those another live node holds at `now` are left out: that node squares its own.
    pub async fn campaign_unended_calls(
        &self,
        campaign_id: &str,
        before: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Vec<Call>> {
        let mut conn = self.pool().acquire().await?;
        // A call not ended is live: saying so lets SQLite walk the campaign's live calls
        // (`calls_campaign_live`) instead of every call it made, once a second per campaign.
        let ids: Vec<String> = db::query_scalar(&format!(
            "SELECT id FROM calls WHERE campaign_id = ? AND status IN {LIVE} AND ended_at IS NULL \
             AND started_at < ? AND (node_id = ? OR {})",
            super::nodes::dead("node_id")
        ))
        .bind(campaign_id)
        .bind(before.map_or(i64::MAX, Timestamp::as_millis))
        .bind(self.node_id())
        .bind(now.as_millis() - super::nodes::NODE_TIMEOUT_MS)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(fetch_call(&mut conn, &id).await?);
        }
        Ok(out)
    }
}

async fn insert_call(
    conn: &mut Conn<'_>,
    new: &NewCall,
    rejected: Option<RejectReason>,
    node: &str,
) -> Result<String> {
    let id = new_id();
    let status = if rejected.is_some() {
        CallStatus::Rejected
    } else {
        new.status
    };
    let result = db::query(
        "INSERT INTO calls (id, direction, carrier, carrier_call_id, from_number, to_number, \
         agent_id, number_id, status, started_at, reject_reason, ended_at, node_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(new.direction.as_str())
    .bind(new.carrier.as_str())
    .bind(&new.carrier_call_id)
    .bind(&new.from_number)
    .bind(&new.to_number)
    .bind(&new.agent_id)
    .bind(&new.number_id)
    .bind(status.as_str())
    .bind(new.started_at.as_millis())
    .bind(rejected.map(RejectReason::as_str))
    .bind(rejected.map(|_| new.started_at.as_millis()))
    .bind(node)
    .execute(conn)
    .await;
    unique_or(result, || duplicate(&new.carrier_call_id))?;
    Ok(id)
}

fn duplicate(carrier_call_id: &Option<String>) -> StoreError {
    StoreError::Conflict(Conflict::DuplicateCall(
        carrier_call_id.clone().unwrap_or_default(),
    ))
}

/// The record just inserted for `new`, without reading it back.
fn written(
    id: String,
    new: &NewCall,
    agent_name: Option<&str>,
    rejected: Option<RejectReason>,
) -> Call {
    Call {
        id,
        direction: new.direction,
        carrier: new.carrier,
        carrier_call_id: new.carrier_call_id.clone(),
        from_number: new.from_number.clone(),
        to_number: new.to_number.clone(),
        agent_id: new.agent_id.clone(),
        agent_name: agent_name.map(str::to_owned),
        number_id: new.number_id.clone(),
        status: if rejected.is_some() {
            CallStatus::Rejected
        } else {
            new.status
        },
        started_at: new.started_at,
        answered_at: None,
        ended_at: rejected.map(|_| new.started_at),
        duration_secs: None,
        hangup_cause: None,
        cost_estimate_usd: None,
        reject_reason: rejected,
        recording_url: None,
        recording: None,
        answered_by: None,
        context: serde_json::Map::new(),
        campaign_id: None,
        lead_id: None,
    }
}

/// Applies one event to a call. Every arm is idempotent and order-tolerant: an end is final
/// (a later, conflicting end is ignored); an answer is never placed before the call started
/// (an inferred or skewed time is clamped); and an answer that arrives after the end of a
/// completed call still fills in when it was answered and how long it lasted.
pub(super) async fn apply(conn: &mut Conn<'_>, id: &str, event: &CallEvent) -> Result<()> {
    let q = match event {
        CallEvent::Ringing => {
            db::query("UPDATE calls SET status = 'ringing' WHERE id = ? AND status = 'queued'")
                .bind(id)
        }
        CallEvent::Answered { at } => db::query(
            "UPDATE calls SET \
               answered_at = CASE WHEN ended_at IS NULL OR status = 'completed' \
                 THEN COALESCE(answered_at, CASE WHEN started_at > ?1 THEN started_at ELSE ?1 END) \
                 ELSE answered_at END, \
               duration_secs = CASE WHEN ended_at IS NOT NULL AND status = 'completed' \
                 AND duration_secs IS NULL THEN CASE \
                   WHEN ended_at > started_at AND ended_at > ?1 \
                   THEN (ended_at - CASE WHEN started_at > ?1 THEN started_at ELSE ?1 END) / 1000 \
                   ELSE 0 END \
                 ELSE duration_secs END, \
               status = CASE WHEN ended_at IS NULL THEN 'in_progress' ELSE status END \
             WHERE id = ?2",
        )
        .bind(at.as_millis())
        .bind(id),
        CallEvent::Ended {
            status,
            at,
            cause,
            duration_secs,
        } => db::query(
            "UPDATE calls SET \
               status = CASE WHEN answered_at IS NOT NULL THEN 'completed' ELSE ?1 END, \
               hangup_cause = ?2, \
               duration_secs = COALESCE(?3, CASE WHEN answered_at IS NOT NULL \
                 THEN CASE WHEN ?4 > answered_at THEN (?4 - answered_at) / 1000 ELSE 0 END END), \
               ended_at = ?4 \
             WHERE id = ?5 AND ended_at IS NULL",
        )
        .bind(status.as_str())
        .bind(cause.as_deref())
        .bind(*duration_secs)
        .bind(at.as_millis())
        .bind(id),
        // (A later report of the same end may still say why, when the first did not: see
        // below.)
        CallEvent::RecordingSaved { url } => {
            // A call without a recording of our own gets the carrier's, fetched
            // (`recordings::fetch`); until then it waits, across a restart.
            db::query(
                "UPDATE calls SET recording_url = ?, \
                 recording_fetch_pending = (recording_file IS NULL) WHERE id = ?",
            )
            .bind(url)
            .bind(id)
        }
        CallEvent::MachineDetected { result } => {
            db::query("UPDATE calls SET answered_by = ? WHERE id = ?")
                .bind(result)
                .bind(id)
        }
    };
    q.execute(&mut *conn).await?;
    if let CallEvent::Ended { cause, .. } = event {
        if let Some(cause) = cause {
            // The first end wins, but an end seen without a cause (the media stream stopping)
            // takes the carrier's cause when its report follows.
            db::query("UPDATE calls SET hangup_cause = ? WHERE id = ? AND hangup_cause IS NULL")
                .bind(cause)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        settle_lead(conn, id, None).await?;
    }
    if matches!(event, CallEvent::Ended { .. } | CallEvent::Answered { .. }) {
        // The end (or a late answer to an ended call) and its cost commit together.
        settle_cost(conn, id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_for_test(dir.path()).await.unwrap();
        (dir, store)
    }

    fn new_call(started_ms: i64, direction: CallDirection) -> NewCall {
        NewCall {
            direction,
            carrier: Carrier::Twilio,
            carrier_call_id: Some(format!("CA{started_ms}")),
            from_number: "+14155550100".into(),
            to_number: "+14155552671".into(),
            agent_id: None,
            number_id: None,
            status: CallStatus::Ringing,
            started_at: Timestamp::from_millis(started_ms),
        }
    }

    #[tokio::test]
    async fn a_log_is_counted_up_to_the_cap_and_says_when_there_are_more() {
        let (_dir, store) = store().await;
        let add = async |from: i64, n: i64| {
            // Concurrently: the writer commits what queued together.
            futures_util::future::join_all((from..from + n).map(|i| {
                let store = store.clone();
                async move {
                    store
                        .create_call(new_call(i * 10, CallDirection::Inbound))
                        .await
                        .unwrap()
                }
            }))
            .await
        };
        let cap = i64::from(COUNT_CAP);
        add(0, cap).await;
        let all = CallFilter::default();
        let page = store.list_calls(&all, 50, 0).await.unwrap();
        assert_eq!(
            (page.total, page.capped, page.items.len()),
            (cap, false, 50)
        );
        add(cap, 1).await;
        let page = store.list_calls(&all, 50, 0).await.unwrap();
        assert_eq!((page.total, page.capped), (cap, true), "10,000 and more");
        // A filter that narrows it below the cap counts exactly again.
        let recent = CallFilter {
            since: Some(Timestamp::from_millis((cap - 1_000) * 10)),
            ..CallFilter::default()
        };
        let page = store.list_calls(&recent, 50, 0).await.unwrap();
        assert_eq!((page.total, page.capped), (1_001, false));
    }

    /// A search's pages: the matches found once give the page, the total and the cost, in
    /// the order and with the totals the whole list has; a page past the end still counts.
    #[tokio::test]
    async fn a_search_is_paged_counted_and_costed_from_one_walk_of_its_matches() {
        let (_dir, store) = store().await;
        let mut refunds = Vec::new();
        for i in 0..7_i64 {
            let call = store
                .create_call(new_call(1_000 + i * 10, CallDirection::Inbound))
                .await
                .unwrap();
            let text = if i % 2 == 0 {
                "I want a refund please"
            } else {
                "Just saying hello"
            };
            store
                .add_transcript_line(&call.id, Speaker::Caller, text, Timestamp::from_millis(5))
                .await
                .unwrap();
            let id = call.id.clone();
            store
                .write(move |conn| {
                    Box::pin(async move {
                        db::query("UPDATE calls SET cost_estimate_usd = ? WHERE id = ?")
                            .bind(0.25 * (i + 1) as f64)
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
                .await
                .unwrap();
            if i % 2 == 0 {
                refunds.push((call.id, 0.25 * (i + 1) as f64));
            }
        }
        refunds.reverse(); // newest first
        let search = CallFilter {
            text: SearchText::parse("refu"),
            ..CallFilter::default()
        };
        let mut seen = Vec::new();
        for offset in [0, 3] {
            let page = store.list_calls(&search, 3, offset).await.unwrap();
            assert_eq!((page.total, page.capped), (4, false), "offset {offset}");
            assert_eq!(page.total_cost_usd, Some(0.25 + 0.75 + 1.25 + 1.75));
            seen.extend(page.items.into_iter().map(|c| c.id));
        }
        let expected: Vec<String> = refunds.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(seen, expected, "both pages, newest first, none twice");
        let past = store.list_calls(&search, 3, 9).await.unwrap();
        assert!(past.items.is_empty());
        assert_eq!(
            (past.total, past.total_cost_usd),
            (4, Some(4.0)),
            "past the end"
        );
        let none = CallFilter {
            text: SearchText::parse("zebra"),
            ..CallFilter::default()
        };
        let page = store.list_calls(&none, 3, 0).await.unwrap();
        assert_eq!(
            (page.total, page.items.len(), page.total_cost_usd),
            (0, 0, Some(0.0))
        );
    }

    #[tokio::test]
    async fn hangup_before_answer_then_late_answer_keeps_a_correct_record() {
        let (_dir, store) = store().await;
        let call = store
            .create_call(new_call(1_000, CallDirection::Inbound))
            .await
            .unwrap();
        let ended = store
            .mark_call_ended(
                &call.id,
                CallStatus::NoAnswer,
                Timestamp::from_millis(5_000),
                Some("no-answer"),
            )
            .await
            .unwrap();
        assert_eq!(ended.status, CallStatus::NoAnswer);
        assert_eq!(ended.duration_secs, None, "never answered, so no talk time");
        // A late, out-of-order answer must not reopen the call.
        let late = store
            .mark_call_answered(&call.id, Timestamp::from_millis(3_000))
            .await
            .unwrap();
        assert_eq!(late.status, CallStatus::NoAnswer);
        let again = store
            .mark_call_ended(
                &call.id,
                CallStatus::Completed,
                Timestamp::from_millis(9_000),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            again.ended_at,
            Some(Timestamp::from_millis(5_000)),
            "the first end wins"
        );
        assert_eq!(again.hangup_cause.as_deref(), Some("no-answer"));
    }

    #[tokio::test]
    async fn duration_runs_from_answer_to_end() {
        let (_dir, store) = store().await;
        let call = store
            .create_call(new_call(1_000, CallDirection::Outbound))
            .await
            .unwrap();
        store
            .mark_call_answered(&call.id, Timestamp::from_millis(2_000))
            .await
            .unwrap();
        let c = store
            .mark_call_answered(&call.id, Timestamp::from_millis(4_000))
            .await
            .unwrap();
        assert_eq!(
            c.answered_at,
            Some(Timestamp::from_millis(2_000)),
            "duplicate answers keep the first"
        );
        assert_eq!(c.status, CallStatus::InProgress);
        let c = store
            .mark_call_ended(
                &call.id,
                CallStatus::Completed,
                Timestamp::from_millis(63_500),
                None,
            )
            .await
            .unwrap();
        assert_eq!(c.duration_secs, Some(61));
    }

    #[tokio::test]
    async fn transcript_for_an_unknown_call_is_not_found() {
        let (_dir, store) = store().await;
        let err = store
            .add_transcript_line("nope", Speaker::Caller, "hi", Timestamp::now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { what: "call", .. }),
            "{err:?}"
        );
    }
}

/// What became of a single call's write.
#[derive(Debug)]
pub enum Placed {
    Call(Box<Call>),
    /// The agent is on its maximum of calls at once.
    AgentFull,
    /// The number is on the global do-not-call list: nothing was written.
    Listed(DncEntry),
}

/// Writes a routed call unless its agent is already on `max_live` calls at once.
async fn insert_if_room(
    conn: &mut Conn<'_>,
    call: Call,
    agent_id: &str,
    max_live: u32,
    node: &str,
) -> Result<Option<Call>> {
    let done = db::query(&format!(
        "INSERT INTO calls (id, direction, carrier, carrier_call_id, from_number, \
         to_number, agent_id, number_id, status, started_at, node_id) \
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
         WHERE (SELECT COUNT(*) FROM calls WHERE agent_id = ? AND status IN {LIVE} \
           AND {PHONE}) < ?"
    ))
    .bind(&call.id)
    .bind(call.direction.as_str())
    .bind(call.carrier.as_str())
    .bind(&call.carrier_call_id)
    .bind(&call.from_number)
    .bind(&call.to_number)
    .bind(agent_id)
    .bind(&call.number_id)
    .bind(call.status.as_str())
    .bind(call.started_at.as_millis())
    .bind(node)
    .bind(agent_id)
    .bind(i64::from(max_live))
    .execute(conn)
    .await;
    let done = unique_or(done, || duplicate(&call.carrier_call_id))?;
    Ok((done.rows_affected() == 1).then_some(call))
}
