//! The overview's sums, read from the rollups the database keeps by trigger on every write to a
//! call or its analysis: `call_rollup` (migration 20261208000501), one row per quarter hour,
//! direction, agent, campaign and status, and its two summaries (20261209000101), per whole UTC
//! day and per quarter hour and direction. Reads here never touch `calls`, so they cost the
//! same on a log of a million calls as on a hundred, per day of range.

use super::db;
use std::collections::BTreeMap;

use super::Store;
use super::campaigns::fetch_campaign;
use super::error::{Result, StoreError};
use crate::domain::overview::{Group, OverviewRows, Sums};
use crate::domain::{CallDirection, CallStatus};

/// Cast, as PostgreSQL's sum of BIGINTs is a NUMERIC.
const SUMS: &str = "CAST(sum(calls) AS BIGINT), CAST(sum(answered) AS BIGINT), \
                    CAST(sum(voicemail) AS BIGINT), CAST(sum(timed) AS BIGINT), \
                    CAST(sum(duration_secs) AS BIGINT), CAST(sum(costed) AS BIGINT), \
                    CAST(sum(cost_micros) AS BIGINT), CAST(sum(analyzed) AS BIGINT), \
                    CAST(sum(goal_met) AS BIGINT), CAST(sum(goal_missed) AS BIGINT), \
                    CAST(sum(positive) AS BIGINT), CAST(sum(neutral) AS BIGINT), \
                    CAST(sum(negative) AS BIGINT)";

/// The measures' columns, in `SUMS`' order.
const MEASURES: &str = "calls, answered, voicemail, timed, duration_secs, costed, cost_micros, \
                        analyzed, goal_met, goal_missed, positive, neutral, negative";

/// Rollup buckets in a UTC day.
const BUCKETS_PER_DAY: i64 = 96;

/// The sums read from a row's columns starting at `at`, in `SUMS`' order.
fn sums(row: &db::Row, at: usize) -> Result<Sums> {
    let v = |i: usize| {
        row.get::<Option<i64>>(at + i)
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

impl OverviewFilter {
    /// The conditions that narrow a rollup table's rows, each with one `?` bound by `bind`.
    fn sql(&self) -> String {
        let mut out = String::new();
        if self.agent_id.is_some() {
            out.push_str(" AND agent_id = ?");
        }
        if self.campaign_id.is_some() {
            out.push_str(" AND campaign_id = ?");
        }
        out
    }

    fn bind<'q>(&self, q: db::Query<'q>) -> db::Query<'q> {
        let q = match &self.agent_id {
            Some(a) => q.bind(a.as_str()),
            None => q,
        };
        match &self.campaign_id {
            Some(c) => q.bind(c.as_str()),
            None => q,
        }
    }
}

/// Buckets `first..end` cut where `call_rollup_day` can answer: the whole UTC days inside it,
/// and the quarter hours before and after them. A range inside one UTC day is all edge.
fn split(first: i64, end: i64) -> ((i64, i64), [(i64, i64); 2]) {
    let (d0, d1) = (
        (first + BUCKETS_PER_DAY - 1).div_euclid(BUCKETS_PER_DAY),
        end.div_euclid(BUCKETS_PER_DAY),
    );
    if d0 < d1 {
        (
            (d0, d1),
            [(first, d0 * BUCKETS_PER_DAY), (d1 * BUCKETS_PER_DAY, end)],
        )
    } else {
        ((0, 0), [(first, end), (end, end)])
    }
}

impl Store {
    /// The rollup's sums over buckets `first..end`, per bucket and direction, per status, per
    /// agent and per campaign. One snapshot: the reads share a transaction, so a call written
    /// meanwhile is in all of them or none.
    ///
    /// What a month costs: the per-bucket series comes from `call_rollup_chart` (two rows a
    /// quarter hour) unless an agent or campaign narrows it, when it comes from that one's
    /// own quarter hours; the rest from `call_rollup_day`'s whole days and the edges'
    /// quarter hours, read once and grouped here.
    pub async fn overview_rows(
        &self,
        first: i64,
        end: i64,
        filter: &OverviewFilter,
    ) -> Result<OverviewRows> {
        let mut tx = self.pool().snapshot().await?;
        let narrow = filter.sql();
        let mut out = OverviewRows::default();

        let table = if narrow.is_empty() {
            "call_rollup_chart"
        } else {
            "call_rollup"
        };
        let sql = format!(
            "SELECT bucket, direction, {SUMS} FROM {table} \
             WHERE bucket >= ? AND bucket < ?{narrow} GROUP BY bucket, direction ORDER BY bucket"
        );
        let rows = filter
            .bind(db::query(&sql).bind(first).bind(end))
            .fetch_rows(&mut tx.conn())
            .await?;
        for row in rows {
            let d: String = row.get(1)?;
            out.buckets
                .push((row.get(0)?, direction(&d)?, sums(&row, 2)?));
        }

        let ((d0, d1), edges) = split(first, end);
        let part = |table: &str, key: &str| {
            format!(
                "SELECT direction, agent_id, campaign_id, status, {MEASURES} FROM {table} \
                 WHERE {key} >= ? AND {key} < ?{narrow}"
            )
        };
        let sql = format!(
            "SELECT g.*, a.name, c.name FROM (SELECT direction, agent_id, campaign_id, status, \
             {SUMS} FROM ({} UNION ALL {} UNION ALL {}) AS parts \
             GROUP BY direction, agent_id, campaign_id, status) g \
             LEFT JOIN agents a ON a.id = g.agent_id LEFT JOIN campaigns c ON c.id = g.campaign_id",
            part("call_rollup_day", "day"),
            part("call_rollup", "bucket"),
            part("call_rollup", "bucket"),
        );
        let mut q = filter.bind(db::query(&sql).bind(d0).bind(d1));
        for (from, to) in edges {
            q = filter.bind(q.bind(from).bind(to));
        }
        let mut statuses: BTreeMap<String, i64> = BTreeMap::new();
        let mut agents: BTreeMap<(String, String), (Sums, Option<String>)> = BTreeMap::new();
        let mut campaigns = agents.clone();
        for row in q.fetch_rows(&mut tx.conn()).await? {
            let (d, agent, campaign, status): (String, String, String, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
            let s = sums(&row, 4)?;
            *statuses.entry(status).or_default() += s.calls;
            let to = agents.entry((agent, d.clone())).or_default();
            to.0 += s;
            to.1 = row.get(17)?;
            let to = campaigns.entry((campaign, d)).or_default();
            to.0 += s;
            to.1 = row.get(18)?;
        }
        tx.finish().await?;
        for (s, calls) in statuses {
            if calls > 0 {
                let status = CallStatus::parse(&s)
                    .ok_or_else(|| StoreError::Corrupt(format!("call status {s}")))?;
                out.statuses.push((status, calls));
            }
        }
        for (from, list) in [(agents, &mut out.agents), (campaigns, &mut out.campaigns)] {
            for ((id, d), (sums, name)) in from {
                list.push(Group {
                    id: (!id.is_empty()).then_some(id),
                    direction: direction(&d)?,
                    sums,
                    name,
                });
            }
        }
        Ok(out)
    }

    /// A campaign's calls over its whole life, and how many of them completed.
    pub async fn campaign_funnel(&self, campaign_id: &str) -> Result<(Sums, i64)> {
        let mut conn = self.pool().acquire().await?;
        fetch_campaign(&mut conn, campaign_id).await?;
        let sql = format!(
            "SELECT {SUMS}, CAST(sum(CASE WHEN status = 'completed' THEN calls END) AS BIGINT) \
             FROM call_rollup WHERE campaign_id = ?"
        );
        let row = db::query(&sql)
            .bind(campaign_id)
            .fetch_row(&mut *conn)
            .await?;
        let completed: Option<i64> = row.get(13)?;
        Ok((sums(&row, 0)?, completed.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::overview::Range;
    use crate::domain::overview::parse_zone;
    use crate::domain::{Carrier, NewCall, Timestamp};

    type Keyed = BTreeMap<(String, String), Sums>;

    /// What a range must sum to, read the plain way: every quarter-hour row in it.
    async fn reference(
        store: &Store,
        first: i64,
        end: i64,
        filter: &OverviewFilter,
    ) -> (Keyed, BTreeMap<String, i64>, Keyed, Keyed) {
        let sql = format!(
            "SELECT bucket, direction, agent_id, campaign_id, status, {MEASURES} FROM call_rollup \
             WHERE bucket >= ? AND bucket < ?{}",
            filter.sql()
        );
        let rows = filter
            .bind(db::query(&sql).bind(first).bind(end))
            .fetch_rows(store.pool())
            .await
            .unwrap();
        let (mut buckets, mut statuses, mut agents, mut campaigns) =
            (Keyed::new(), BTreeMap::new(), Keyed::new(), Keyed::new());
        for row in rows {
            let key = |i: usize| row.get::<String>(i).unwrap();
            let b: i64 = row.get(0).unwrap();
            let s = sums(&row, 5).unwrap();
            *buckets.entry((b.to_string(), key(1))).or_default() += s;
            *statuses.entry(key(4)).or_default() += s.calls;
            *agents.entry((key(2), key(1))).or_default() += s;
            *campaigns.entry((key(3), key(1))).or_default() += s;
        }
        statuses.retain(|_, n| *n > 0);
        (buckets, statuses, agents, campaigns)
    }

    /// Test data goes in through the store's one writer (the pool is read-only).
    async fn exec(store: &Store, sql: String) {
        store
            .write(move |conn| {
                Box::pin(async move {
                    db::query(&sql).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    fn keyed(groups: &[Group]) -> Keyed {
        groups
            .iter()
            .map(|g| {
                let id = g.id.clone().unwrap_or_default();
                ((id, g.direction.as_str().to_owned()), g.sums)
            })
            .collect()
    }

    /// Calls spread over six weeks (agents, a campaign, statuses, analyses), some changed and
    /// some deleted, then ranges in zones whose days are not UTC days: the day and chart
    /// rollups with the edges' quarter hours sum to exactly what the quarter hours alone do.
    #[tokio::test]
    async fn a_range_sums_the_same_from_whole_days_and_edges_as_from_quarter_hours() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_for_test(dir.path()).await.unwrap();
        for a in ["ag-1", "ag-2", "ag-3"] {
            exec(
                &store,
                format!(
                    "INSERT INTO agents (id, name, voice, model, max_concurrent_calls, \
                     created_at, updated_at) VALUES ('{a}', '{a}', 'alloy', 'gpt-realtime', 1, 0, 0)"
                ),
            )
            .await;
        }
        exec(
            &store,
            "INSERT INTO campaigns (id, name, status, settings, created_at, updated_at) \
             VALUES ('cp-1', 'Spring', 'draft', '{}', 0, 0)"
                .into(),
        )
        .await;
        // 2026-10-20T00:00Z, then a call every 47 minutes and 13 seconds for 42 days.
        let origin: i64 = 1_792_454_400_000;
        let step = 47 * 60_000 + 13_000;
        let mut ids = Vec::new();
        for i in 0..(42 * 24 * 60 * 60_000 / step) {
            let call = store
                .create_call(NewCall {
                    direction: [CallDirection::Inbound, CallDirection::Outbound][(i % 2) as usize],
                    carrier: Carrier::Twilio,
                    carrier_call_id: Some(format!("CA{i}")),
                    from_number: "+14155550100".into(),
                    to_number: "+14155552671".into(),
                    agent_id: None,
                    number_id: None,
                    status: CallStatus::Ringing,
                    started_at: Timestamp::from_millis(origin + i * step),
                })
                .await
                .unwrap();
            let (agent, campaign) = (["ag-1", "ag-2", "ag-3", ""][(i % 4) as usize], i % 3 == 0);
            let status =
                ["completed", "no_answer", "busy", "completed", "failed"][(i % 5) as usize];
            let (id, duration, cost) = (&call.id, 30 + i % 200, 0.013 * (i % 7) as f64);
            let answered = status == "completed";
            exec(
                &store,
                format!(
                    "UPDATE calls SET agent_id = nullif('{agent}', ''), \
                     campaign_id = CASE WHEN {campaign} THEN 'cp-1' END, status = '{status}', \
                     answered_at = CASE WHEN {answered} THEN started_at END, \
                     duration_secs = CASE WHEN {answered} THEN {duration} END, \
                     cost_estimate_usd = {cost} WHERE id = '{id}'"
                ),
            )
            .await;
            if answered && i % 2 == 0 {
                exec(
                    &store,
                    format!(
                        "INSERT INTO call_analyses (call_id, status, goal_met, sentiment, \
                         created_at) VALUES ('{id}', 'done', {}, 'positive', 0)",
                        i % 4 == 0
                    ),
                )
                .await;
            }
            ids.push(call.id);
        }
        for id in ids.iter().step_by(11) {
            exec(&store, format!("DELETE FROM calls WHERE id = '{id}'")).await;
        }
        let pool = store.pool();

        // The coarser rollups hold exactly the quarter hours' sums, and no emptied rows.
        let diff = |sql: &str| {
            let sql = sql.to_owned();
            async move {
                let n: i64 = db::query_scalar(&sql).fetch_one(pool).await.unwrap();
                n
            }
        };
        let sums_by = |keys: &str, by: &str| {
            format!("SELECT {keys}, {SUMS} FROM call_rollup GROUP BY {by} HAVING sum(calls) <> 0")
        };
        let day = sums_by(
            "bucket / 96, direction, agent_id, campaign_id, status",
            "1, 2, 3, 4, 5",
        );
        let chart = sums_by("bucket, direction", "1, 2");
        for (table, plain) in [("call_rollup_day", day), ("call_rollup_chart", chart)] {
            let both = format!(
                "SELECT count(*) FROM (SELECT * FROM {table} EXCEPT {plain} \
                 UNION ALL SELECT * FROM ({plain} EXCEPT SELECT * FROM {table}) AS missing) AS both_ways"
            );
            assert_eq!(diff(&both).await, 0, "{table} against call_rollup");
        }
        assert!(diff("SELECT count(*) FROM call_rollup_day").await > 40 * 3);

        let filters = [
            OverviewFilter::default(),
            OverviewFilter {
                agent_id: Some("ag-2".into()),
                campaign_id: None,
            },
            OverviewFilter {
                agent_id: None,
                campaign_id: Some("cp-1".into()),
            },
        ];
        let day0 = jiff::civil::date(2026, 10, 22);
        for zone in [
            "UTC",
            "+05:30",
            "-08:00",
            "Asia/Kathmandu",
            "America/New_York",
        ] {
            let tz = parse_zone(zone).unwrap();
            for (skip, days) in [(0, 30), (3, 1), (10, 7), (0, 45)] {
                let from = day0.checked_add(jiff::Span::new().days(skip)).unwrap();
                let to = from.checked_add(jiff::Span::new().days(days - 1)).unwrap();
                let (first, end) = Range::new(from, to, &tz).unwrap().buckets();
                for filter in &filters {
                    let got = store.overview_rows(first, end, filter).await.unwrap();
                    let (buckets, statuses, agents, campaigns) =
                        reference(&store, first, end, filter).await;
                    let what = format!("{zone}, {days} days from {from}, {filter:?}");
                    let got_buckets: Keyed = got
                        .buckets
                        .iter()
                        .map(|(b, d, s)| ((b.to_string(), d.as_str().to_owned()), *s))
                        .collect();
                    assert_eq!(got_buckets, buckets, "per quarter hour: {what}");
                    let got_statuses: BTreeMap<String, i64> = got
                        .statuses
                        .iter()
                        .map(|(s, n)| (s.as_str().to_owned(), *n))
                        .collect();
                    assert_eq!(got_statuses, statuses, "per status: {what}");
                    assert!(!statuses.is_empty(), "{what}");
                    assert_eq!(keyed(&got.agents), agents, "per agent: {what}");
                    assert_eq!(keyed(&got.campaigns), campaigns, "per campaign: {what}");
                }
            }
        }
    }
}
