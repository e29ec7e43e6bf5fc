//! Campaigns, their agent pools and caller-ID numbers, and their leads in the store.
//!
//! The dialer's crash-safety rests on two writes here: `claim_lead` marks a lead as dialing
//! and records its attempt's call in one transaction before any carrier is asked, and a call
//! that ends settles its lead (done, retry later, failed) in the same transaction as the end.

use serde::Serialize;
use sqlx::{FromRow, SqliteConnection};
use utoipa::ToSchema;

use super::calls::{LIVE, fetch_call};
use super::{Conflict, Result, Store, StoreError, is_unique_violation, new_id, not_found};
use crate::domain::campaign::{CampaignFields, NextStep};
use crate::domain::{
    Call, CallDirection, CallStatus, Campaign, CampaignInput, CampaignSettings, CampaignStatus,
    Carrier, E164, Invalid, LeadStatus, Outcome, PoolAgent, Timestamp,
};

#[derive(FromRow)]
struct CampaignRow {
    id: String,
    name: String,
    status: String,
    prompt: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

/// A lead as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Lead {
    pub id: i64,
    pub campaign_id: String,
    /// Line in the imported file.
    pub line: Option<i64>,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub status: LeadStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending leads).
    pub next_attempt_at: Timestamp,
    pub last_outcome: Option<Outcome>,
    pub last_call_id: Option<String>,
}

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
        })
    }
}

const LEAD_SELECT: &str = "SELECT id, campaign_id, line, name, phone, email, fields, status, \
     attempts, next_attempt_at, last_outcome, last_call_id FROM leads";

/// A lead to add (already validated and normalised).
#[derive(Debug, Clone)]
pub struct NewLead {
    pub line: Option<i64>,
    pub name: String,
    pub phone: E164,
    pub email: Option<String>,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Leads per status, and what is under way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct LeadCounts {
    pub total: i64,
    pub pending: i64,
    pub dialing: i64,
    pub done: i64,
    pub failed: i64,
}

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
}

impl Store {
    pub async fn list_campaigns(&self) -> Result<Vec<Campaign>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query_as::<_, CampaignRow>(
            "SELECT id, name, status, prompt, settings, created_at, updated_at FROM campaigns \
             ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(hydrate(&mut conn, r).await?);
        }
        Ok(out)
    }

    pub async fn get_campaign(&self, id: &str) -> Result<Campaign> {
        let mut conn = self.pool().acquire().await?;
        fetch_campaign(&mut conn, id).await
    }

    pub async fn create_campaign(&self, input: CampaignInput) -> Result<Campaign> {
        let fields = input.apply(CampaignFields::default())?;
        self.write(move |conn| {
            Box::pin(async move {
                let id = new_id();
                let now = Timestamp::now().as_millis();
                let settings = serde_json::to_string(&fields.settings)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let done = sqlx::query(
                    "INSERT INTO campaigns (id, name, status, prompt, settings, created_at, \
                     updated_at) VALUES (?, ?, 'draft', ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(&fields.name)
                .bind(&fields.prompt)
                .bind(settings)
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await;
                name_free(done, &fields.name)?;
                write_pool(conn, &id, &fields.agents, &fields.number_ids).await?;
                fetch_campaign(conn, &id).await
            })
        })
        .await
    }

    pub async fn update_campaign(&self, id: &str, input: CampaignInput) -> Result<Campaign> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let current = fetch_campaign(conn, &id).await?;
                let pool_changed = input.agents.is_some() || input.number_ids.is_some();
                let fields = input.apply(CampaignFields::from(&current))?;
                let settings = serde_json::to_string(&fields.settings)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let done = sqlx::query(
                    "UPDATE campaigns SET name = ?, prompt = ?, settings = ?, updated_at = ? \
                     WHERE id = ?",
                )
                .bind(&fields.name)
                .bind(&fields.prompt)
                .bind(settings)
                .bind(Timestamp::now().as_millis())
                .bind(&id)
                .execute(&mut *conn)
                .await;
                name_free(done, &fields.name)?;
                if pool_changed {
                    sqlx::query("DELETE FROM campaign_agents WHERE campaign_id = ?")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("DELETE FROM campaign_numbers WHERE campaign_id = ?")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?;
                    write_pool(conn, &id, &fields.agents, &fields.number_ids).await?;
                }
                fetch_campaign(conn, &id).await
            })
        })
        .await
    }

    /// Deletes a campaign and its leads. Refused while it runs or has calls under way: stop
    /// it first. Its past calls stay in the log.
    pub async fn delete_campaign(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let c = fetch_campaign(conn, &id).await?;
                let live = live_calls(conn, &id).await?;
                if c.status == CampaignStatus::Running || live > 0 {
                    return Err(Conflict::CampaignActive(c.name).into());
                }
                sqlx::query("DELETE FROM campaigns WHERE id = ?")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Moves a campaign to `status` if it is still in `from` (the caller checked the move).
    pub async fn set_campaign_status(
        &self,
        id: &str,
        from: CampaignStatus,
        status: CampaignStatus,
    ) -> Result<Campaign> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                )
                .bind(status.as_str())
                .bind(Timestamp::now().as_millis())
                .bind(&id)
                .bind(from.as_str())
                .execute(&mut *conn)
                .await?;
                let c = fetch_campaign(conn, &id).await?;
                if done.rows_affected() == 0 {
                    return Err(Conflict::CampaignStatus(format!(
                        "the campaign is {} now",
                        c.status.as_str()
                    ))
                    .into());
                }
                Ok(c)
            })
        })
        .await
    }

    /// Running campaigns, for the dialer at start-up.
    pub async fn running_campaign_ids(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM campaigns WHERE status = 'running'")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Adds leads; a phone already in the campaign is skipped and returned by line.
    pub async fn add_leads(&self, campaign_id: &str, leads: Vec<NewLead>) -> Result<Vec<NewLead>> {
        let campaign_id = campaign_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                fetch_campaign_row(conn, &campaign_id).await?;
                let mut skipped = Vec::new();
                for lead in leads {
                    let fields = (!lead.fields.is_empty())
                        .then(|| serde_json::Value::Object(lead.fields.clone()).to_string());
                    let done = sqlx::query(
                        "INSERT INTO leads (campaign_id, line, name, phone, email, fields) \
                         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, phone) DO NOTHING",
                    )
                    .bind(&campaign_id)
                    .bind(lead.line)
                    .bind(&lead.name)
                    .bind(lead.phone.as_str())
                    .bind(&lead.email)
                    .bind(fields)
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
        let phones: Vec<String> =
            sqlx::query_scalar("SELECT phone FROM leads WHERE campaign_id = ?")
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
        fetch_campaign_row(&mut conn, campaign_id).await?;
        let filter = if status.is_some() {
            " AND status = ?2"
        } else {
            " AND ?2 IS NULL"
        };
        let rows = sqlx::query_as::<_, LeadRowDb>(&format!(
            "{LEAD_SELECT} WHERE campaign_id = ?1{filter} ORDER BY id LIMIT ?3 OFFSET ?4"
        ))
        .bind(campaign_id)
        .bind(status.map(LeadStatus::as_str))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
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

    pub async fn lead_counts(&self, campaign_id: &str) -> Result<LeadCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
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
        Ok(c)
    }

    /// Calls under way for a campaign.
    pub async fn campaign_live_calls(&self, campaign_id: &str) -> Result<i64> {
        let mut conn = self.pool().acquire().await?;
        live_calls(&mut conn, campaign_id).await
    }

    /// Live calls per agent (inbound and outbound alike), for selection and load stats.
    pub async fn live_calls_per_agent(&self) -> Result<std::collections::HashMap<String, u32>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT agent_id, COUNT(*) FROM calls WHERE agent_id IS NOT NULL AND status IN {LIVE} \
             GROUP BY agent_id"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(a, n)| (a, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    /// Claims the campaign's next due lead for `claim.agent_id` and records the attempt's call,
    /// in one transaction, re-checking the campaign's and the agent's limits inside it.
    pub async fn claim_lead(&self, claim: Claim) -> Result<Result<Claimed, NoClaim>> {
        self.write(move |conn| {
            Box::pin(async move {
                if live_calls(conn, &claim.campaign_id).await? >= i64::from(claim.campaign_max) {
                    return Ok(Err(NoClaim::CampaignFull));
                }
                let agent_live: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM calls WHERE agent_id = ? AND status IN {LIVE}"
                ))
                .bind(&claim.agent_id)
                .fetch_one(&mut *conn)
                .await?;
                if agent_live >= i64::from(claim.agent_max) {
                    return Ok(Err(NoClaim::AgentFull));
                }
                let now = claim.now.as_millis();
                let lead = sqlx::query_as::<_, LeadRowDb>(&format!(
                    "{LEAD_SELECT} WHERE campaign_id = ? AND status = 'pending' \
                     AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1"
                ))
                .bind(&claim.campaign_id)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(lead) = lead else {
                    let next: Option<i64> = sqlx::query_scalar(
                        "SELECT MIN(next_attempt_at) FROM leads \
                         WHERE campaign_id = ? AND status = 'pending'",
                    )
                    .bind(&claim.campaign_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    return Ok(Err(NoClaim::NothingDue(next.map(Timestamp::from_millis))));
                };
                let lead = Lead::try_from(lead)?;
                let call_id = new_id();
                let mut context = lead.fields.clone();
                context.insert("name".into(), lead.name.clone().into());
                context.insert("phone".into(), lead.phone.clone().into());
                if let Some(e) = &lead.email {
                    context.insert("email".into(), e.clone().into());
                }
                sqlx::query(
                    "INSERT INTO calls (id, direction, carrier, from_number, to_number, agent_id, \
                     number_id, status, started_at, context, campaign_id, lead_id) \
                     VALUES (?, 'outbound', ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
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
                .execute(&mut *conn)
                .await?;
                sqlx::query(
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

    /// Records the carrier's id for a call Switchboard placed.
    pub async fn set_carrier_call_id(&self, call_id: &str, carrier_call_id: &str) -> Result<Call> {
        let (id, cid) = (call_id.to_owned(), carrier_call_id.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE calls SET carrier_call_id = ? WHERE id = ? AND carrier_call_id IS NULL",
                )
                .bind(&cid)
                .bind(&id)
                .execute(&mut *conn)
                .await;
                match done {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Conflict::DuplicateCall(cid).into());
                    }
                    other => other?,
                };
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
                sqlx::query(
                    "UPDATE calls SET status = 'failed', ended_at = ?, hangup_cause = ? \
                     WHERE id = ? AND ended_at IS NULL",
                )
                .bind(now)
                .bind(&cause)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                settle_lead(conn, &id, Some(outcome)).await?;
                fetch_call(conn, &id).await
            })
        })
        .await
    }

    /// A campaign's calls that have not ended and started before `before` (all of them
    /// when `None`): those to square with the carrier after a restart, or when a report is
    /// overdue.
    pub async fn campaign_unended_calls(
        &self,
        campaign_id: &str,
        before: Option<Timestamp>,
    ) -> Result<Vec<Call>> {
        let mut conn = self.pool().acquire().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM calls WHERE campaign_id = ? AND ended_at IS NULL AND started_at < ?",
        )
        .bind(campaign_id)
        .bind(before.map_or(i64::MAX, Timestamp::as_millis))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(fetch_call(&mut conn, &id).await?);
        }
        Ok(out)
    }
}

/// A campaign write's result, with a clash on the unique name said as such.
fn name_free(
    done: std::result::Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>,
    name: &str,
) -> Result<()> {
    match done {
        Err(e) if is_unique_violation(&e) => {
            Err(Conflict::DuplicateCampaignName(name.to_owned()).into())
        }
        other => other.map(drop).map_err(Into::into),
    }
}

async fn live_calls(conn: &mut SqliteConnection, campaign_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM calls WHERE campaign_id = ? AND campaign_id IS NOT NULL \
         AND status IN {LIVE}"
    ))
    .bind(campaign_id)
    .fetch_one(conn)
    .await?)
}

async fn write_pool(
    conn: &mut SqliteConnection,
    id: &str,
    agents: &[PoolAgent],
    numbers: &[String],
) -> Result<()> {
    for (i, a) in agents.iter().enumerate() {
        let done = sqlx::query(
            "INSERT INTO campaign_agents (campaign_id, agent_id, is_primary, position) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&a.agent_id)
        .bind(a.primary)
        .bind(i as i64)
        .execute(&mut *conn)
        .await;
        match done {
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                return Err(
                    Invalid::new("agents", format!("agent {} does not exist", a.agent_id)).into(),
                );
            }
            other => other?,
        };
    }
    for (i, n) in numbers.iter().enumerate() {
        let done = sqlx::query(
            "INSERT INTO campaign_numbers (campaign_id, number_id, position) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(n)
        .bind(i as i64)
        .execute(&mut *conn)
        .await;
        match done {
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                return Err(
                    Invalid::new("number_ids", format!("number {n} does not exist")).into(),
                );
            }
            other => other?,
        };
    }
    Ok(())
}

async fn fetch_campaign_row(conn: &mut SqliteConnection, id: &str) -> Result<CampaignRow> {
    sqlx::query_as::<_, CampaignRow>(
        "SELECT id, name, status, prompt, settings, created_at, updated_at FROM campaigns \
         WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| not_found("campaign", id))
}

async fn fetch_campaign(conn: &mut SqliteConnection, id: &str) -> Result<Campaign> {
    let row = fetch_campaign_row(conn, id).await?;
    hydrate(conn, row).await
}

async fn hydrate(conn: &mut SqliteConnection, r: CampaignRow) -> Result<Campaign> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("campaign {}: {what}", r.id));
    let settings: CampaignSettings =
        serde_json::from_str(&r.settings).map_err(|e| corrupt(&format!("settings: {e}")))?;
    let agents: Vec<(String, bool)> = sqlx::query_as(
        "SELECT agent_id, is_primary FROM campaign_agents WHERE campaign_id = ? ORDER BY position",
    )
    .bind(&r.id)
    .fetch_all(&mut *conn)
    .await?;
    let number_ids: Vec<String> = sqlx::query_scalar(
        "SELECT number_id FROM campaign_numbers WHERE campaign_id = ? ORDER BY position",
    )
    .bind(&r.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Campaign {
        status: CampaignStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
        id: r.id,
        name: r.name,
        prompt: r.prompt,
        settings,
        agents: agents
            .into_iter()
            .map(|(agent_id, primary)| PoolAgent { agent_id, primary })
            .collect(),
        number_ids,
        created_at: Timestamp::from_millis(r.created_at),
        updated_at: Timestamp::from_millis(r.updated_at),
    })
}

async fn fetch_lead(conn: &mut SqliteConnection, id: i64) -> Result<Lead> {
    sqlx::query_as::<_, LeadRowDb>(&format!("{LEAD_SELECT} WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("lead", &id.to_string()))?
        .try_into()
}

/// What an ended call means for its lead.
pub(crate) fn outcome_of(call: &Call) -> Outcome {
    let machine = call
        .answered_by
        .as_deref()
        .is_some_and(|a| a.starts_with("machine") || a == "fax");
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
pub(crate) async fn settle_lead(
    conn: &mut SqliteConnection,
    call_id: &str,
    outcome: Option<Outcome>,
) -> Result<()> {
    // Every call's end comes through here (inbound webhooks included): those without a lead
    // cost one primary-key read.
    let lead: Option<Option<i64>> = sqlx::query_scalar("SELECT lead_id FROM calls WHERE id = ?")
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
    let settings: String = sqlx::query_scalar("SELECT settings FROM campaigns WHERE id = ?")
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
    sqlx::query(
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
