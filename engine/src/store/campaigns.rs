//! Campaigns, their agent pools and caller-ID numbers in the store (their leads: `leads`).

use sqlx::FromRow;

use super::db::{self, Conn};

use super::call_rows::campaign_live_calls;
use super::error::{Conflict, Result, StoreError, existing_or, not_found, unique_or};
use super::{Store, new_id};
use crate::domain::campaign::CampaignFields;
use crate::domain::{
    Campaign, CampaignInput, CampaignSettings, CampaignStatus, Invalid, PoolAgent, Timestamp,
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

impl Store {
    pub async fn list_campaigns(&self) -> Result<Vec<Campaign>> {
        let mut conn = self.pool().acquire().await?;
        let rows = db::query_as::<CampaignRow>(
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
                let done = db::query(
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
                let done = db::query(
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
                    db::query("DELETE FROM campaign_agents WHERE campaign_id = ?")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?;
                    db::query("DELETE FROM campaign_numbers WHERE campaign_id = ?")
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
                let live = campaign_live_calls(conn, &id).await?;
                if c.status == CampaignStatus::Running || live > 0 {
                    return Err(Conflict::CampaignActive(c.name).into());
                }
                db::query("DELETE FROM campaigns WHERE id = ?")
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
                let done = db::query(
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
        db::query_scalar("SELECT id FROM campaigns WHERE status = 'running'")
            .fetch_all(self.pool())
            .await
    }
}

/// A campaign write's result, with a clash on the unique name said as such.
fn name_free(done: Result<db::Done>, name: &str) -> Result<()> {
    unique_or(done, || {
        Conflict::DuplicateCampaignName(name.to_owned()).into()
    })
    .map(drop)
}

async fn write_pool(
    conn: &mut Conn<'_>,
    id: &str,
    agents: &[PoolAgent],
    numbers: &[String],
) -> Result<()> {
    for (i, a) in agents.iter().enumerate() {
        let on_retell: Option<String> =
            db::query_scalar("SELECT name FROM agents WHERE id = ? AND backend = 'retell'")
                .bind(&a.agent_id)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(name) = on_retell {
            return Err(Invalid::new(
                "agents",
                format!("{name} is on Retell, which takes inbound calls only: a campaign needs agents on OpenAI Realtime"),
            )
            .into());
        }
        let done = db::query(
            "INSERT INTO campaign_agents (campaign_id, agent_id, is_primary, position) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&a.agent_id)
        .bind(a.primary)
        .bind(i as i64)
        .execute(&mut *conn)
        .await;
        existing_or(done, || {
            Invalid::new("agents", format!("agent {} does not exist", a.agent_id)).into()
        })?;
    }
    for (i, n) in numbers.iter().enumerate() {
        let done = db::query(
            "INSERT INTO campaign_numbers (campaign_id, number_id, position) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(n)
        .bind(i as i64)
        .execute(&mut *conn)
        .await;
        existing_or(done, || {
            Invalid::new("number_ids", format!("number {n} does not exist")).into()
        })?;
    }
    Ok(())
}

/// `NotFound` unless the campaign exists.
pub(super) async fn ensure_campaign(conn: &mut Conn<'_>, id: &str) -> Result<()> {
    fetch_campaign_row(conn, id).await.map(drop)
}

async fn fetch_campaign_row(conn: &mut Conn<'_>, id: &str) -> Result<CampaignRow> {
    db::query_as::<CampaignRow>(
        "SELECT id, name, status, prompt, settings, created_at, updated_at FROM campaigns \
         WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| not_found("campaign", id))
}

pub(crate) async fn fetch_campaign(conn: &mut Conn<'_>, id: &str) -> Result<Campaign> {
    let row = fetch_campaign_row(conn, id).await?;
    hydrate(conn, row).await
}

async fn hydrate(conn: &mut Conn<'_>, r: CampaignRow) -> Result<Campaign> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("campaign {}: {what}", r.id));
    let settings: CampaignSettings =
        serde_json::from_str(&r.settings).map_err(|e| corrupt(&format!("settings: {e}")))?;
    let agents: Vec<(String, bool)> = db::query_as(
        "SELECT agent_id, is_primary FROM campaign_agents WHERE campaign_id = ? ORDER BY position",
    )
    .bind(&r.id)
    .fetch_all(&mut *conn)
    .await?;
    let number_ids: Vec<String> = db::query_scalar(
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
