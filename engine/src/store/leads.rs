//! A campaign's leads in the store: importing them, paging through them, claiming the next
//! one to dial, and settling one when its call ends.
//!
//! The dialer's crash-safety rests on two writes here: `claim_lead` marks a lead as dialing
//! and records its attempt's call in one transaction before any carrier is asked, and a call
//! that ends settles its lead (done, retry later, failed) in the same transaction as the end
//! (`settle_lead`, called by the calls aggregate).

use sqlx::FromRow;

use super::db::{self, Conn};

use super::call_rows::{LIVE, PHONE, campaign_live_calls, fetch_call};
use super::campaigns::ensure_campaign;
use super::do_not_call::listed;
use super::error::{Result, StoreError, not_found};
use super::{Store, new_id};
use crate::domain::call::is_machine;
use crate::domain::campaign::NextStep;
use crate::domain::time_zones::{ZoneSource, zone_key, zones_in, zones_of_number};
use crate::domain::{
    Call, CallDirection, CallStatus, CampaignSettings, CampaignStatus, Carrier, E164, Lead,
    LeadCounts, LeadStatus, NewLead, Outcome, Timestamp,
};

#[derive(FromRow)]
struct LeadRowDb {
    id: i64,
    campaign_id: String,
    line: Option<i64>,
    name: String,
    phone: String,
    email: Option<String>,
    fields: Option<String>,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_outcome: Option<String>,
    last_call_id: Option<String>,
    time_zone: Option<String>,
    zones: String,
}

impl TryFrom<LeadRowDb> for Lead {
    type Error = StoreError;
    fn try_from(r: LeadRowDb) -> Result<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("lead {}: {what}", r.id));
        Ok(Lead {
            fields: match r.fields.as_deref() {
                None => serde_json::Map::new(),
                Some(t) => serde_json::from_str(t).map_err(|_| corrupt("fields"))?,
            },
            status: LeadStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            last_outcome: r
                .last_outcome
                .as_deref()
                .map(|o| Outcome::parse(o).ok_or_else(|| corrupt("outcome")))
                .transpose()?,
            id: r.id,
            campaign_id: r.campaign_id,
            line: r.line,
            name: r.name,
            phone: r.phone,
            email: r.email,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            next_attempt_at: Timestamp::from_millis(r.next_attempt_at),
            last_call_id: r.last_call_id,
            zone_source: match (&r.time_zone, r.zones.is_empty()) {
                (Some(_), _) => ZoneSource::Lead,
                (None, false) => ZoneSource::Number,
                (None, true) => ZoneSource::Campaign,
            },
            zones: zones_in(&r.zones).into_iter().map(str::to_owned).collect(),
            time_zone: r.time_zone,
            local_hours_open_at: None,
            waiting_for_local_hours: false,
        })
    }
}

const LEAD_SELECT: &str = "SELECT id, campaign_id, line, name, phone, email, fields, status, \
     attempts, next_attempt_at, last_outcome, last_call_id, time_zone, zones FROM leads";

/// One attempt, claimed: its lead is dialing and its call is on record, not yet placed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub call: Call,
    pub lead: Lead,
}

/// What `claim_lead` needs to write an attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    pub campaign_id: String,
    pub agent_id: String,
    pub agent_max: u32,
    pub campaign_max: u32,
    pub number_id: String,
    pub from: E164,
    pub carrier: Carrier,
    pub now: Timestamp,
    /// The zone keys whose local calling hours are open at `now`: only their leads are
    /// taken.
    pub open_zones: Vec<String>,
}

/// Why no lead was claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoClaim {
    /// No pending lead is due; the earliest one is due then (if any are pending).
    NothingDue(Option<Timestamp>),
    /// The campaign is at its maximum of calls at once.
    CampaignFull,
    /// The chosen agent filled up meanwhile.
    AgentFull,
    /// Leads are pending, but none due is inside its local calling hours now.
    OutsideHours,
    /// The campaign is no longer running (paused or stopped since the dialer last looked).
    NotRunning,
}

impl Store {
    /// Adds leads; a phone already in the campaign is skipped and returned by line.
    pub async fn add_leads(&self, campaign_id: &str, leads: Vec<NewLead>) -> Result<Vec<NewLead>> {
        let campaign_id = campaign_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                ensure_campaign(conn, &campaign_id).await?;
                let mut skipped = Vec::new();
                for lead in leads {
                    let fields = (!lead.fields.is_empty())
                        .then(|| serde_json::Value::Object(lead.fields.clone()).to_string());
                    let (zones, _) = zone_key(lead.time_zone.as_deref(), &lead.phone);
                    let done = db::query(
                        "INSERT INTO leads (campaign_id, line, name, phone, email, fields, \
                         time_zone, zones) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                         ON CONFLICT (campaign_id, phone) DO NOTHING",
                    )
                    .bind(&campaign_id)
                    .bind(lead.line)
                    .bind(&lead.name)
                    .bind(lead.phone.as_str())
                    .bind(&lead.email)
                    .bind(fields)
                    .bind(&lead.time_zone)
                    .bind(zones)
                    .execute(&mut *conn)
                    .await?;
                    if done.rows_affected() == 0 {
                        skipped.push(lead);
                    }
                }
                Ok(skipped)
            })
        })
        .await
    }

    /// Whether each phone is already a lead of the campaign.
    pub async fn existing_lead_phones(
        &self,
        campaign_id: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let phones: Vec<String> = db::query_scalar("SELECT phone FROM leads WHERE campaign_id = ?")
            .bind(campaign_id)
            .fetch_all(self.pool())
            .await?;
        Ok(phones.into_iter().collect())
    }

    pub async fn list_leads(
        &self,
        campaign_id: &str,
        status: Option<LeadStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Lead>, i64)> {
        let mut conn = self.pool().acquire().await?;
        ensure_campaign(&mut conn, campaign_id).await?;
        let filter = if status.is_some() {
            " AND status = ?2"
        } else {
            " AND ?2 IS NULL"
        };
        let rows = db::query_as::<LeadRowDb>(&format!(
            "{LEAD_SELECT} WHERE campaign_id = ?1{filter} ORDER BY id LIMIT ?3 OFFSET ?4"
        ))
        .bind(campaign_id)
        .bind(status.map(LeadStatus::as_str))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = db::query_scalar(&format!(
            "SELECT COUNT(*) FROM leads WHERE campaign_id = ?1{filter}"
        ))
        .bind(campaign_id)
        .bind(status.map(LeadStatus::as_str))
        .fetch_one(&mut *conn)
        .await?;
        Ok((
            rows.into_iter()
                .map(Lead::try_from)
                .collect::<Result<_>>()?,
            total,
        ))
    }

    /// Infers the zones of pending leads stored before leads had zones (their key is empty,
    /// with no zone of their own): once a campaign runs again, they too are called in their
    /// own local hours. Returns how many were filled in; numbers the table cannot place stay
    /// empty (the campaign's window zone stands in).
    pub async fn fill_lead_zones(&self, campaign_id: &str) -> Result<usize> {
        let rows: Vec<(i64, String)> = db::query_as(
            "SELECT id, phone FROM leads WHERE campaign_id = ? AND status = 'pending' \
             AND zones = '' AND time_zone IS NULL",
        )
        .bind(campaign_id)
        .fetch_all(self.pool())
        .await?;
        let found: Vec<(i64, String)> = rows
            .into_iter()
            .map(|(id, phone)| (id, zones_of_number(&E164::from_stored(phone))))
            .filter(|(_, zones)| !zones.is_empty())
            .collect();
        let n = found.len();
        for chunk in found.chunks(1000) {
            let chunk = chunk.to_vec();
            self.write(move |conn| {
                Box::pin(async move {
                    for (id, zones) in chunk {
                        db::query("UPDATE leads SET zones = ? WHERE id = ? AND zones = ''")
                            .bind(zones)
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        }
        Ok(n)
    }

    /// The zone keys of the campaign's pending leads (the dialer judges each key's hours
    /// once, not each lead's).
    pub async fn pending_lead_zones(&self, campaign_id: &str) -> Result<Vec<String>> {
        db::query_scalar(
            "SELECT DISTINCT zones FROM leads WHERE campaign_id = ? AND status = 'pending'",
        )
        .bind(campaign_id)
        .fetch_all(self.pool())
        .await
    }

    pub async fn lead_counts(&self, campaign_id: &str) -> Result<LeadCounts> {
        let rows: Vec<(String, i64)> = db::query_as(
            "SELECT status, COUNT(*) FROM leads WHERE campaign_id = ? GROUP BY status",
        )
        .bind(campaign_id)
        .fetch_all(self.pool())
        .await?;
        let mut c = LeadCounts::default();
        for (status, n) in rows {
            match LeadStatus::parse(&status) {
                Some(LeadStatus::Pending) => c.pending = n,
                Some(LeadStatus::Dialing) => c.dialing = n,
                Some(LeadStatus::Done) => c.done = n,
                Some(LeadStatus::Failed) => c.failed = n,
                None => {}
            }
            c.total += n;
        }
        c.do_not_call = db::query_scalar(
            "SELECT COUNT(*) FROM leads WHERE campaign_id = ? AND status = 'failed' \
             AND last_outcome = ?",
        )
        .bind(campaign_id)
        .bind(Outcome::DoNotCall.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(c)
    }

    /// Claims the campaign's next due lead for `claim.agent_id` and records the attempt's call,
    /// in one transaction, re-checking the campaign's and the agent's limits inside it.
    pub async fn claim_lead(&self, claim: Claim) -> Result<Result<Claimed, NoClaim>> {
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                // Read in the claim's own write: a pause committed a moment ago holds.
                let status: Option<String> =
                    db::query_scalar("SELECT status FROM campaigns WHERE id = ?")
                        .bind(&claim.campaign_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                if status.as_deref() != Some(CampaignStatus::Running.as_str()) {
                    return Ok(Err(NoClaim::NotRunning));
                }
                if campaign_live_calls(conn, &claim.campaign_id).await?
                    >= i64::from(claim.campaign_max)
                {
                    return Ok(Err(NoClaim::CampaignFull));
                }
                let agent_live: i64 = db::query_scalar(&format!(
                    "SELECT COUNT(*) FROM calls WHERE agent_id = ? AND status IN {LIVE} AND {PHONE}"
                ))
                .bind(&claim.agent_id)
                .fetch_one(&mut *conn)
                .await?;
                if agent_live >= i64::from(claim.agent_max) {
                    return Ok(Err(NoClaim::AgentFull));
                }
                let now = claim.now.as_millis();
                let lead =
                    match next_callable(conn, &claim.campaign_id, &claim.open_zones, now).await? {
                        Next::Lead(lead) => Some(*lead),
                        Next::None => None,
                        // Many listed leads passed by: the writer goes to others' writes, and
                        // the dialer comes straight back.
                        Next::Again => return Ok(Err(NoClaim::NothingDue(Some(claim.now)))),
                    };
                let Some(lead) = lead else {
                    let next: Option<i64> = db::query_scalar(
                        "SELECT MIN(next_attempt_at) FROM leads \
                         WHERE campaign_id = ? AND status = 'pending'",
                    )
                    .bind(&claim.campaign_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    // Due, but outside its hours: the dialer waits for them to open.
                    if next.is_some_and(|n| n <= now) {
                        return Ok(Err(NoClaim::OutsideHours));
                    }
                    return Ok(Err(NoClaim::NothingDue(next.map(Timestamp::from_millis))));
                };
                let lead = Lead::try_from(lead)?;
                let call_id = new_id();
                let context = lead.call_context();
                db::query(
                    "INSERT INTO calls (id, direction, carrier, from_number, to_number, agent_id, \
                     number_id, status, started_at, context, campaign_id, lead_id, node_id) \
                     VALUES (?, 'outbound', ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                )
                .bind(&call_id)
                .bind(claim.carrier.as_str())
                .bind(claim.from.as_str())
                .bind(&lead.phone)
                .bind(&claim.agent_id)
                .bind(&claim.number_id)
                .bind(now)
                .bind(serde_json::Value::Object(context).to_string())
                .bind(&claim.campaign_id)
                .bind(lead.id)
                .bind(&node)
                .execute(&mut *conn)
                .await?;
                db::query(
                    "UPDATE leads SET status = 'dialing', attempts = attempts + 1, \
                     last_call_id = ? WHERE id = ?",
                )
                .bind(&call_id)
                .bind(lead.id)
                .execute(&mut *conn)
                .await?;
                let call = fetch_call(conn, &call_id).await?;
                let lead = fetch_lead(conn, lead.id).await?;
                Ok(Ok(Claimed { call, lead }))
            })
        })
        .await
    }
}

/// Most listed leads one claim settles before it lets the writer go: a list holding most of
/// a big campaign must not hold the one writer for long.
const LISTED_PER_CLAIM: usize = 1_000;

enum Next {
    Lead(Box<LeadRowDb>),
    /// No pending lead is due.
    None,
    /// `LISTED_PER_CLAIM` listed leads were settled: ask again.
    Again,
}

/// The campaign's next due lead whose number is on no do-not-call list; every due lead
/// before it whose number is listed is settled on the way (failed, `do_not_call`), never
/// dialed. Read in the claim's transaction, so an entry committed before it is obeyed.
async fn next_callable(
    conn: &mut Conn<'_>,
    campaign_id: &str,
    open_zones: &[String],
    now: i64,
) -> Result<Next> {
    for _ in 0..LISTED_PER_CLAIM {
        let Some(lead) = earliest_due(conn, campaign_id, open_zones, now).await? else {
            return Ok(Next::None);
        };
        if listed(conn, &lead.phone, Some(campaign_id))
            .await?
            .is_none()
        {
            return Ok(Next::Lead(Box::new(lead)));
        }
        db::query("UPDATE leads SET status = 'failed', last_outcome = ? WHERE id = ?")
            .bind(Outcome::DoNotCall.as_str())
            .bind(lead.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Next::Again)
}

/// The earliest due lead of each open zone key (one index seek each), earliest of all.
async fn earliest_due(
    conn: &mut Conn<'_>,
    campaign_id: &str,
    open_zones: &[String],
    now: i64,
) -> Result<Option<LeadRowDb>> {
    let mut lead: Option<LeadRowDb> = None;
    for zones in open_zones {
        let due = db::query_as::<LeadRowDb>(&format!(
            "{LEAD_SELECT} WHERE campaign_id = ? AND zones = ? AND status = 'pending' \
             AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1"
        ))
        .bind(campaign_id)
        .bind(zones)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(d) = due
            && lead
                .as_ref()
                .is_none_or(|l| (d.next_attempt_at, d.id) < (l.next_attempt_at, l.id))
        {
            lead = Some(d);
        }
    }
    Ok(lead)
}

async fn fetch_lead(conn: &mut Conn<'_>, id: i64) -> Result<Lead> {
    db::query_as::<LeadRowDb>(&format!("{LEAD_SELECT} WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("lead", &id.to_string()))?
        .try_into()
}

/// What an ended call means for its lead.
pub(super) fn outcome_of(call: &Call) -> Outcome {
    let machine = call.answered_by.as_deref().is_some_and(is_machine);
    match call.status {
        CallStatus::Completed if machine => Outcome::Voicemail,
        CallStatus::Completed => Outcome::Answered,
        CallStatus::Busy => Outcome::Busy,
        CallStatus::NoAnswer | CallStatus::Canceled => Outcome::NoAnswer,
        _ => Outcome::Failed,
    }
}

/// Settles the lead of an ended call, if the call was its current attempt: done, due again
/// later, or failed, by the campaign's retry policy. Runs in the transaction that ended the
/// call, so an end and its lead's next step are never seen apart.
pub(super) async fn settle_lead(
    conn: &mut Conn<'_>,
    call_id: &str,
    outcome: Option<Outcome>,
) -> Result<()> {
    // Every call's end comes through here (inbound webhooks included): those without a lead
    // cost one primary-key read.
    let lead: Option<Option<i64>> = db::query_scalar("SELECT lead_id FROM calls WHERE id = ?")
        .bind(call_id)
        .fetch_optional(&mut *conn)
        .await?;
    if lead.flatten().is_none() {
        return Ok(());
    }
    let call = fetch_call(conn, call_id).await?;
    let (Some(campaign_id), Some(lead_id)) = (&call.campaign_id, call.lead_id) else {
        return Ok(());
    };
    if call.ended_at.is_none() || call.direction != CallDirection::Outbound {
        return Ok(());
    }
    let lead = match fetch_lead(conn, lead_id).await {
        Ok(l) => l,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if lead.status != LeadStatus::Dialing || lead.last_call_id.as_deref() != Some(call_id) {
        return Ok(());
    }
    let settings: String = db::query_scalar("SELECT settings FROM campaigns WHERE id = ?")
        .bind(campaign_id)
        .fetch_one(&mut *conn)
        .await?;
    let settings: CampaignSettings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Corrupt(format!("campaign {campaign_id} settings: {e}")))?;
    let outcome = outcome.unwrap_or_else(|| outcome_of(&call));
    let ended = call.ended_at.unwrap_or_else(Timestamp::now);
    let (status, next, attempts_delta) = match settings.next_attempt(outcome, lead.attempts, ended)
    {
        NextStep::Done => (LeadStatus::Done, lead.next_attempt_at, 0),
        NextStep::Failed => (LeadStatus::Failed, lead.next_attempt_at, 0),
        // An attempt never placed is given back.
        NextStep::Retry { at } if outcome == Outcome::NotPlaced => (LeadStatus::Pending, at, 1),
        NextStep::Retry { at } => (LeadStatus::Pending, at, 0),
    };
    db::query(
        "UPDATE leads SET status = ?, next_attempt_at = ?, last_outcome = ?, \
         attempts = attempts - ? WHERE id = ?",
    )
    .bind(status.as_str())
    .bind(next.as_millis())
    .bind(outcome.as_str())
    .bind(attempts_delta)
    .bind(lead_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CampaignInput;

    /// Leads stored before leads had zones (an empty key, no zone of their own) get their
    /// number's zones; a lead stored with its own zone is left as it is.
    #[tokio::test]
    async fn leads_stored_without_zones_get_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::nodes_for_test(dir.path()).await.unwrap();
        let campaign = store
            .create_campaign(CampaignInput {
                name: Some("Old".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let id = campaign.id.clone();
        store
            .write(move |conn| {
                Box::pin(async move {
                    // The last as a lead is stored now: its own zone, and its key.
                    for (phone, tz, key) in [
                        ("+13125550102", None, ""),
                        ("+12085550104", None, ""),
                        ("+14155550105", Some("Europe/Paris"), "Europe/Paris"),
                    ] {
                        db::query(
                            "INSERT INTO leads (campaign_id, name, phone, time_zone, zones) \
                             VALUES (?, '', ?, ?, ?)",
                        )
                        .bind(&id)
                        .bind(phone)
                        .bind(tz)
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        assert_eq!(store.fill_lead_zones(&campaign.id).await.unwrap(), 2);
        let (leads, _) = store.list_leads(&campaign.id, None, 10, 0).await.unwrap();
        let zones: Vec<(Vec<String>, ZoneSource)> = leads
            .into_iter()
            .map(|l| (l.zones, l.zone_source))
            .collect();
        assert_eq!(
            zones,
            [
                (vec!["America/Chicago".to_owned()], ZoneSource::Number),
                (
                    vec!["America/Boise".to_owned(), "America/Los_Angeles".to_owned()],
                    ZoneSource::Number
                ),
                (vec!["Europe/Paris".to_owned()], ZoneSource::Lead),
            ]
        );
        assert_eq!(
            store.fill_lead_zones(&campaign.id).await.unwrap(),
            0,
            "nothing left to fill"
        );
        let mut keys = store.pending_lead_zones(&campaign.id).await.unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                "America/Boise&America/Los_Angeles",
                "America/Chicago",
                "Europe/Paris"
            ]
        );
    }
}
