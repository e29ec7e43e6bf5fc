//! The overview's sums, read from `call_rollup` (migration 20261208000501): the rollup the
//! database keeps by trigger on every write to a call or its analysis, one row per quarter hour,
//! direction, agent, campaign and status. Reads here never touch `calls`, so they cost the
//! same on a log of a million calls as on a hundred, per day of range.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::Store;
use super::campaigns::fetch_campaign;
use super::error::{Result, StoreError};
use crate::domain::overview::{Group, OverviewRows, Sums};
use crate::domain::{CallDirection, CallStatus};

const SUMS: &str = "sum(calls), sum(answered), sum(voicemail), sum(timed), sum(duration_secs), \
                    sum(costed), sum(cost_micros), sum(analyzed), sum(goal_met), \
                    sum(goal_missed), sum(positive), sum(neutral), sum(negative)";

/// The rows of a range, filtered by agent and campaign: `?1..?2` are buckets, `?3` an agent id
/// or NULL, `?4` a campaign id or NULL.
const RANGE: &str = "FROM call_rollup WHERE bucket >= ?1 AND bucket < ?2 \
                     AND (?3 IS NULL OR agent_id = ?3) AND (?4 IS NULL OR campaign_id = ?4)";

/// The sums read from a row's columns starting at `at`, in `SUMS`' order.
fn sums(row: &SqliteRow, at: usize) -> Result<Sums> {
    let v = |i: usize| {
        row.try_get::<Option<i64>, _>(at + i)
            .map(Option::unwrap_or_default)
    };
    Ok(Sums {
        calls: v(0)?,
        answered: v(1)?,
        voicemail: v(2)?,
        timed: v(3)?,
        duration_secs: v(4)?,
        costed: v(5)?,
        cost_micros: v(6)?,
        analyzed: v(7)?,
        goal_met: v(8)?,
        goal_missed: v(9)?,
        positive: v(10)?,
        neutral: v(11)?,
        negative: v(12)?,
    })
}

fn direction(text: &str) -> Result<CallDirection> {
    CallDirection::parse(text).ok_or_else(|| StoreError::Corrupt(format!("call direction {text}")))
}

/// Who the range is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct OverviewFilter {
    pub agent_id: Option<String>,
    pub campaign_id: Option<String>,
}

async fn in_range(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    first: i64,
    end: i64,
    agent: Option<&str>,
    campaign: Option<&str>,
) -> Result<Vec<SqliteRow>> {
    Ok(sqlx::query(sql)
        .bind(first)
        .bind(end)
        .bind(agent)
        .bind(campaign)
        .fetch_all(conn)
        .await?)
}

impl Store {
    /// The rollup's sums over buckets `first..end`, per bucket and direction, per status, per
    /// agent and per campaign. One snapshot: the four reads share a transaction, so a call
    /// written meanwhile is in all of them or none.
    pub async fn overview_rows(
        &self,
        first: i64,
        end: i64,
        filter: &OverviewFilter,
    ) -> Result<OverviewRows> {
        let mut tx = self.pool().begin().await?;
        let (agent, campaign) = (filter.agent_id.as_deref(), filter.campaign_id.as_deref());
        let mut out = OverviewRows::default();
        let sql = format!(
            "SELECT bucket, direction, {SUMS} {RANGE} GROUP BY bucket, direction ORDER BY bucket"
        );
        for row in in_range(&mut tx, &sql, first, end, agent, campaign).await? {
            let d: String = row.try_get(1)?;
            out.buckets
                .push((row.try_get(0)?, direction(&d)?, sums(&row, 2)?));
        }
        let sql =
            format!("SELECT status, sum(calls) {RANGE} GROUP BY status HAVING sum(calls) > 0");
        for row in in_range(&mut tx, &sql, first, end, agent, campaign).await? {
            let s: String = row.try_get(0)?;
            let status = CallStatus::parse(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("call status {s}")))?;
            out.statuses.push((status, row.try_get(1)?));
        }
        for (key, table, list) in [
            ("agent_id", "agents", &mut out.agents),
            ("campaign_id", "campaigns", &mut out.campaigns),
        ] {
            let sql = format!(
                "SELECT g.*, t.name FROM (SELECT {key}, direction, {SUMS} {RANGE} \
                 GROUP BY {key}, direction) g LEFT JOIN {table} t ON t.id = g.{key}"
            );
            for row in in_range(&mut tx, &sql, first, end, agent, campaign).await? {
                let id: String = row.try_get(0)?;
                let d: String = row.try_get(1)?;
                list.push(Group {
                    id: (!id.is_empty()).then_some(id),
                    direction: direction(&d)?,
                    sums: sums(&row, 2)?,
                    name: row.try_get(15)?,
                });
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A campaign's calls over its whole life, and how many of them completed.
    pub async fn campaign_funnel(&self, campaign_id: &str) -> Result<(Sums, i64)> {
        let mut conn = self.pool().acquire().await?;
        fetch_campaign(&mut conn, campaign_id).await?;
        let sql = format!(
            "SELECT {SUMS}, sum(CASE WHEN status = 'completed' THEN calls END) \
             FROM call_rollup WHERE campaign_id = ?"
        );
        let row = sqlx::query(&sql)
            .bind(campaign_id)
            .fetch_one(&mut *conn)
            .await?;
        let completed: Option<i64> = row.try_get(13)?;
        Ok((sums(&row, 0)?, completed.unwrap_or(0)))
    }
}
