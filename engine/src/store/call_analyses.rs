//! Calls' post-call analyses (`call_analyses`), which are also the analysis jobs: a row is
//! queued by the database itself when an answered call of an agent with analysis on ends
//! (migration 20261207000101's trigger), claimed by the worker (`running`), and settled as
//! done, failed or skipped, or put back to `pending` for a later attempt. A running job
//! names the node running it (`claimed_by`); one whose node is dead (a restart, a crash, a
//! node gone from the cluster) is put back to `pending` (`resume_analyses`), and no other.

use super::Store;
use super::db;
use super::error::{Result, StoreError, not_found};
use super::nodes;
use crate::domain::analysis::AnalysisOutput;
use crate::domain::webhook::WebhookEventType;
use crate::domain::{AnalysisStatus, CallAnalysis, Sentiment, Timestamp};

type Row = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<bool>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "call_id, status, attempts, next_attempt_at, summary, goal_met, sentiment, \
                       fields, error, model, analyzed_at";

fn analysis(r: Row) -> Result<CallAnalysis> {
    let (call_id, status, attempts, next, summary, goal_met, sentiment, fields, error, model, at) =
        r;
    let corrupt = |what: String| StoreError::Corrupt(format!("analysis of {call_id}: {what}"));
    Ok(CallAnalysis {
        status: AnalysisStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
        sentiment: sentiment
            .as_deref()
            .map(|s| Sentiment::parse(s).ok_or_else(|| corrupt(s.to_owned())))
            .transpose()?,
        fields: serde_json::from_str(&fields).map_err(|e| corrupt(e.to_string()))?,
        call_id,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: next.map(Timestamp::from_millis),
        summary,
        goal_met,
        error,
        model,
        analyzed_at: at.map(Timestamp::from_millis),
    })
}

/// What asking for a call to be analysed again came to.
#[derive(Debug)]
pub enum Requeued {
    Queued(CallAnalysis),
    /// It is queued or running already.
    AlreadyQueued,
    /// The call has not ended, or was never answered: there is nothing to analyse yet.
    NotAnalysable,
}

impl Store {
    pub async fn call_analysis(&self, call_id: &str) -> Result<Option<CallAnalysis>> {
        let row: Option<Row> = db::query_as(&format!(
            "SELECT {COLUMNS} FROM call_analyses WHERE call_id = ?"
        ))
        .bind(call_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(analysis).transpose()
    }

    /// The analyses of `call_ids` (those that have one).
    pub async fn call_analyses(&self, call_ids: &[String]) -> Result<Vec<CallAnalysis>> {
        if call_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = db::Builder::new(format!(
            "SELECT {COLUMNS} FROM call_analyses WHERE call_id IN ("
        ));
        let mut list = q.separated(", ");
        for id in call_ids {
            list.push_bind(id.clone());
        }
        q.push(")");
        let rows: Vec<Row> = q.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(analysis).collect()
    }

    /// When the next pending analysis is due, if any is pending.
    pub async fn next_analysis_due(&self) -> Result<Option<Timestamp>> {
        let at: Option<i64> = db::query_scalar(
            "SELECT MIN(next_attempt_at) FROM call_analyses WHERE status = 'pending'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(at.map(Timestamp::from_millis))
    }

    /// Claims the pending analysis due first (at `now` or before) for this node: it is
    /// `running` from then on, so nothing else takes it while this node lives. Returns it with
    /// the attempt now made counted.
    pub async fn claim_due_analysis(&self, now: Timestamp) -> Result<Option<CallAnalysis>> {
        // Read first: a claim is a write (on PostgreSQL, under the cluster's lock), and most
        // looks find nothing due.
        let due: bool = db::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM call_analyses WHERE status = 'pending' \
             AND next_attempt_at <= ?)",
        )
        .bind(now.as_millis())
        .fetch_one(self.pool())
        .await?;
        if !due {
            return Ok(None);
        }
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let row: Option<Row> = db::query_as(&format!(
                    "UPDATE call_analyses SET status = 'running', attempts = attempts + 1, \
                       claimed_by = ? \
                     WHERE id = (SELECT id FROM call_analyses WHERE status = 'pending' \
                       AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1) \
                     RETURNING {COLUMNS}"
                ))
                .bind(&node)
                .bind(now.as_millis())
                .fetch_optional(conn)
                .await?;
                row.map(analysis).transpose()
            })
        })
        .await
    }

    /// Puts analyses left `running` by a node dead at `now` (an earlier run of this one, or
    /// another node) back in the queue, due now; a live node's stay its own. Writes only when
    /// there is one, so any node may call it as often as it likes.
    pub async fn resume_analyses(&self, now: Timestamp) -> Result<u64> {
        let orphaned = format!("status = 'running' AND {}", nodes::dead("claimed_by"));
        let any: bool = db::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM call_analyses WHERE {orphaned})"
        ))
        .bind(nodes::oldest_live(now))
        .fetch_one(self.pool())
        .await?;
        if !any {
            return Ok(0);
        }
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(&format!(
                    "UPDATE call_analyses SET status = 'pending', next_attempt_at = ?, \
                     claimed_by = NULL WHERE {orphaned}"
                ))
                .bind(now.as_millis())
                .bind(nodes::oldest_live(now))
                .execute(conn)
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    /// Stores what the model said.
    pub async fn analysis_done(
        &self,
        call_id: &str,
        output: AnalysisOutput,
        model: &str,
        at: Timestamp,
    ) -> Result<CallAnalysis> {
        let (call_id, model) = (call_id.to_owned(), model.to_owned());
        self.settle(call_id, move |q| {
            q.push("status = 'done', next_attempt_at = NULL, error = NULL, summary = ")
                .push_bind(output.summary)
                .push(", goal_met = ")
                .push_bind(output.goal_met)
                .push(", sentiment = ")
                .push_bind(output.sentiment.as_str())
                .push(", fields = ")
                .push_bind(serde_json::Value::Object(output.fields).to_string())
                .push(", model = ")
                .push_bind(model)
                .push(", analyzed_at = ")
                .push_bind(at.as_millis());
        })
        .await
    }

    /// Puts an analysis back in the queue, due at `at`, with `attempts` made so far and why
    /// the last one failed (`None`: the reason stays as it was).
    pub async fn analysis_retry_at(
        &self,
        call_id: &str,
        at: Timestamp,
        attempts: u32,
        error: Option<&str>,
    ) -> Result<CallAnalysis> {
        let error = error.map(str::to_owned);
        self.settle(call_id.to_owned(), move |q| {
            q.push("status = 'pending', next_attempt_at = ")
                .push_bind(at.as_millis())
                .push(", attempts = ")
                .push_bind(i64::from(attempts))
                .push(", error = COALESCE(")
                .push_bind(error)
                .push(", error)");
        })
        .await
    }

    /// Gives up on (`Failed`) or skips (`Skipped`) an analysis, saying why.
    pub async fn analysis_ended(
        &self,
        call_id: &str,
        status: AnalysisStatus,
        error: &str,
        at: Timestamp,
    ) -> Result<CallAnalysis> {
        let error = error.to_owned();
        self.settle(call_id.to_owned(), move |q| {
            q.push("next_attempt_at = NULL, status = ")
                .push_bind(status.as_str())
                .push(", error = ")
                .push_bind(error)
                .push(", analyzed_at = ")
                .push_bind(at.as_millis());
        })
        .await
    }

    async fn settle(
        &self,
        call_id: String,
        set: impl FnOnce(&mut db::Builder) + Send + 'static,
    ) -> Result<CallAnalysis> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut q = db::Builder::new("UPDATE call_analyses SET ");
                set(&mut q);
                // Settled, or back in the queue: no node runs it now.
                q.push(", claimed_by = NULL WHERE call_id = ")
                    .push_bind(call_id.clone())
                    .push(format!(" RETURNING {COLUMNS}"));
                let row: Option<Row> = q.build_query_as().fetch_optional(&mut *conn).await?;
                let settled = analysis(row.ok_or_else(|| not_found("call analysis", &call_id))?)?;
                // The user's systems hear of an analysis that is final, in the write that made
                // it so: a crash cannot store one without the other.
                if matches!(
                    settled.status,
                    AnalysisStatus::Done | AnalysisStatus::Failed
                ) {
                    let call = super::call_rows::fetch_call(&mut *conn, &call_id).await?;
                    let data = serde_json::json!({ "call": call, "analysis": settled });
                    super::webhooks::enqueue(
                        &mut *conn,
                        &call_id,
                        WebhookEventType::CallAnalyzed,
                        &data,
                    )
                    .await?;
                }
                Ok(settled)
            })
        })
        .await
    }

    /// Queues a call's analysis again (or for the first time, for a call of an agent that
    /// had analysis off), due now, its attempts counted from zero.
    pub async fn requeue_analysis(&self, call_id: &str, now: Timestamp) -> Result<Requeued> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let call: Option<(Option<i64>, Option<i64>)> =
                    db::query_as("SELECT answered_at, ended_at FROM calls WHERE id = ?")
                        .bind(&call_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                match call {
                    None => return Err(not_found("call", &call_id)),
                    Some((Some(_), Some(_))) => {}
                    Some(_) => return Ok(Requeued::NotAnalysable),
                }
                let row: Option<Row> = db::query_as(&format!(
                    "INSERT INTO call_analyses (call_id, status, attempts, next_attempt_at, \
                       created_at) VALUES (?1, 'pending', 0, ?2, ?2) \
                     ON CONFLICT (call_id) DO UPDATE SET status = 'pending', attempts = 0, \
                       next_attempt_at = ?2, error = NULL \
                       WHERE call_analyses.status NOT IN ('pending', 'running') \
                     RETURNING {COLUMNS}"
                ))
                .bind(&call_id)
                .bind(now.as_millis())
                .fetch_optional(&mut *conn)
                .await?;
                Ok(match row {
                    Some(r) => Requeued::Queued(analysis(r)?),
                    None => Requeued::AlreadyQueued,
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::nodes::NODE_TIMEOUT_MS;

    async fn status(store: &Store, call_id: &str) -> (String, Option<String>) {
        db::query_as("SELECT status, claimed_by FROM call_analyses WHERE call_id = ?")
            .bind(call_id)
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// A running analysis is its node's: a resume (at a node's start, and every few seconds)
    /// puts back only those whose node is dead. On PostgreSQL another live node neither
    /// resumes nor claims it, and takes it over once its node is dead.
    #[tokio::test]
    async fn a_running_analysis_goes_back_in_the_queue_only_when_its_node_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = Store::nodes_for_test(dir.path()).await.unwrap();
        one.write(|conn| {
            Box::pin(async move {
                for (i, id) in ["c1", "c2"].into_iter().enumerate() {
                    db::query(
                        "INSERT INTO calls (id, direction, carrier, from_number, to_number, \
                         status, started_at) VALUES (?, 'inbound', 'twilio', '+14155550100', \
                         '+14155552671', 'completed', 0)",
                    )
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    db::query(
                        "INSERT INTO call_analyses (call_id, status, attempts, next_attempt_at, \
                         created_at) VALUES (?, 'pending', 0, ?, 0)",
                    )
                    .bind(id)
                    .bind(i as i64)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
        let now = Timestamp::now();
        let job = one.claim_due_analysis(now).await.unwrap().unwrap();
        assert_eq!(job.call_id, "c1", "the one due first");
        let mine = Some(one.node_id().to_owned());
        assert_eq!(status(&one, "c1").await, ("running".into(), mine.clone()));
        assert_eq!(
            one.resume_analyses(now).await.unwrap(),
            0,
            "its node is alive: it stays running"
        );

        // A job a dead node left running (an earlier run, a node gone) is due again.
        one.write(|conn| {
            Box::pin(async move {
                db::query(
                    "UPDATE call_analyses SET status = 'running', claimed_by = 'gone' \
                     WHERE call_id = 'c2'",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        assert_eq!(one.resume_analyses(now).await.unwrap(), 1);
        assert_eq!(status(&one, "c2").await, ("pending".into(), None));
        assert_eq!(status(&one, "c1").await, ("running".into(), mine));

        let mut running = 1;
        if let Some(two) = &two {
            assert_eq!(
                two.resume_analyses(now).await.unwrap(),
                0,
                "a node starting leaves a live node's job alone"
            );
            let job = two.claim_due_analysis(now).await.unwrap().unwrap();
            assert_eq!(job.call_id, "c2");
            assert!(
                two.claim_due_analysis(now).await.unwrap().is_none(),
                "c1 is the other node's"
            );
            two.retire_node(one.node_id()).await.unwrap();
            assert_eq!(two.resume_analyses(now).await.unwrap(), 1, "its node died");
            let job = two.claim_due_analysis(now).await.unwrap().unwrap();
            assert_eq!(job.call_id, "c1");
            assert_eq!(job.attempts, 2, "its second attempt");
            assert_eq!(
                status(two, "c1").await,
                ("running".into(), Some(two.node_id().to_owned()))
            );
            running = 2;
        }
        // A node whose heartbeat stopped is dead once it is old enough.
        let later = Timestamp::from_millis(now.as_millis() + NODE_TIMEOUT_MS + 1);
        assert_eq!(one.resume_analyses(later).await.unwrap(), running);
    }
}
