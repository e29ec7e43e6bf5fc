//! Switchboard's own recordings of calls: the file a call's recording is in (a name in the data
//! directory's recordings folder), when it began and how long it is. The files themselves are
//! `recordings/`'s; the rows here are how it finds them. A carrier's recording of a call is kept
//! in the same columns once fetched; until then the call is marked as waiting for the fetch,
//! and names the node fetching it (`recording_fetch_by`) once one has claimed it.
//!
//! The files are in each node's own data directory. On a shared database, a node therefore
//! looks only at its own: it repairs only recordings whose node is dead (an earlier run on
//! its directory) and deletes only the files it has (`recordings::upkeep`).

use super::Store;
use super::error::{Conflict, Result, not_found};
use super::{db, dialect, nodes};
use crate::domain::{CallStatus, Timestamp};

/// A call's recording file, as the sweep and the deletion of a call find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    pub call_id: String,
    pub file: String,
    /// When the call ended (0 if it has not).
    pub ended_at: i64,
}

impl Store {
    /// Notes that `call_id` is being recorded into `file` from `started_at`.
    pub async fn start_recording(
        &self,
        call_id: &str,
        file: &str,
        started_at: Timestamp,
    ) -> Result<()> {
        let (call_id, file) = (call_id.to_owned(), file.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE calls SET recording_file = ?, recording_started_at = ?, \
                     recording_ms = NULL WHERE id = ?",
                )
                .bind(&file)
                .bind(started_at.as_millis())
                .bind(&call_id)
                .execute(conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("call", &call_id));
                }
                Ok(())
            })
        })
        .await
    }

    /// The recording's length, once the file is complete (at the call's end, or measured
    /// after a crash).
    pub async fn finish_recording(&self, call_id: &str, duration_ms: u64) -> Result<()> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "UPDATE calls SET recording_ms = ? WHERE id = ? AND recording_file IS NOT NULL",
                )
                .bind(i64::try_from(duration_ms).unwrap_or(i64::MAX))
                .bind(&call_id)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Calls whose carrier recording is waiting to be fetched and that this node may claim
    /// at `now` (see [`Store::claim_recording_fetch`]).
    pub async fn pending_recording_fetches(&self, now: Timestamp) -> Result<Vec<String>> {
        db::query_scalar(&format!("SELECT id FROM calls WHERE {}", self.fetchable()))
            .bind(self.node_id())
            .bind(nodes::oldest_live(now))
            .fetch_all(self.pool())
            .await
    }

    /// Claims the fetch of `call_id`'s carrier recording for this node, returning the URL to
    /// fetch; `None` when it is not waiting, or a live node other than this one has it.
    pub async fn claim_recording_fetch(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let (call_id, node) = (call_id.to_owned(), self.node_id().to_owned());
        let sql = format!(
            "UPDATE calls SET recording_fetch_by = ? WHERE id = ? AND {} \
             RETURNING recording_url",
            self.fetchable()
        );
        self.write(move |conn| {
            Box::pin(async move {
                db::query_scalar(&sql)
                    .bind(&node)
                    .bind(&call_id)
                    .bind(&node)
                    .bind(nodes::oldest_live(now))
                    .fetch_optional(conn)
                    .await
            })
        })
        .await
    }

    /// SQL: the call's carrier recording waits to be fetched, and nobody but this node (`?`)
    /// has the fetch while alive (`?`: `nodes::oldest_live`).
    fn fetchable(&self) -> String {
        format!(
            "{} AND recording_url IS NOT NULL AND (recording_fetch_by = ? OR {})",
            dialect::is_true(self.kind(), "recording_fetch_pending"),
            nodes::dead("recording_fetch_by")
        )
    }

    /// The carrier's recording of `call_id` was fetched into `file`: it is the call's
    /// recording now. `false` when the call is gone (deleted meanwhile) or has a recording of
    /// Switchboard's own, which is kept instead.
    pub async fn keep_carrier_recording(
        &self,
        call_id: &str,
        file: &str,
        started_at: Timestamp,
        duration_ms: u64,
    ) -> Result<bool> {
        let (call_id, file) = (call_id.to_owned(), file.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE calls SET recording_file = ?, recording_started_at = ?, \
                     recording_ms = ?, recording_fetch_pending = FALSE, \
                     recording_fetch_by = NULL WHERE id = ? AND recording_file IS NULL",
                )
                .bind(&file)
                .bind(started_at.as_millis())
                .bind(i64::try_from(duration_ms).unwrap_or(i64::MAX))
                .bind(&call_id)
                .execute(conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    /// The fetch of `call_id`'s carrier recording gave up: the call keeps the carrier's URL.
    pub async fn give_up_recording_fetch(&self, call_id: &str) -> Result<()> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "UPDATE calls SET recording_fetch_pending = FALSE, recording_fetch_by = NULL \
                     WHERE id = ?",
                )
                .bind(&call_id)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The call no longer has a recording (its file was deleted, or never written).
    pub async fn forget_recording(&self, call_id: &str) -> Result<()> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "UPDATE calls SET recording_file = NULL, recording_started_at = NULL, \
                     recording_ms = NULL WHERE id = ?",
                )
                .bind(&call_id)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The recording file of `call_id`, if it has one.
    pub async fn recording_file(&self, call_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            db::query_as("SELECT recording_file FROM calls WHERE id = ?")
                .bind(call_id)
                .fetch_optional(self.pool())
                .await?;
        match row {
            Some((file,)) => Ok(file),
            None => Err(not_found("call", call_id)),
        }
    }

    /// Recordings of calls that ended before `cutoff`, oldest first, at most `limit`, after
    /// `after` (the last of the previous page) if given.
    pub async fn recordings_ended_before(
        &self,
        cutoff: Timestamp,
        after: Option<&RecordingFile>,
        limit: u32,
    ) -> Result<Vec<RecordingFile>> {
        let (at, id) = after.map_or((i64::MIN, ""), |r| (r.ended_at, r.call_id.as_str()));
        let rows: Vec<(String, String, i64)> = db::query_as(
            "SELECT id, recording_file, ended_at FROM calls \
             WHERE recording_file IS NOT NULL AND ended_at < ? \
               AND (ended_at > ? OR (ended_at = ? AND id > ?)) \
             ORDER BY ended_at, id LIMIT ?",
        )
        .bind(cutoff.as_millis())
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(call_id, file, ended_at)| RecordingFile {
                call_id,
                file,
                ended_at,
            })
            .collect())
    }

    /// Recordings begun before `before` and left without a length, whose call's node is dead
    /// at `now`: the engine stopped (or crashed) while they were recorded. (A live node's are
    /// still being recorded, on its own disk.)
    pub async fn unfinished_recordings(
        &self,
        before: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<RecordingFile>> {
        let rows: Vec<(String, String, Option<i64>)> = db::query_as(&format!(
            "SELECT id, recording_file, ended_at FROM calls WHERE recording_file IS NOT NULL \
             AND recording_ms IS NULL AND recording_started_at < ? AND {}",
            nodes::dead("node_id")
        ))
        .bind(before.as_millis())
        .bind(nodes::oldest_live(now))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(call_id, file, ended_at)| RecordingFile {
                call_id,
                file,
                ended_at: ended_at.unwrap_or(0),
            })
            .collect())
    }

    /// Deletes an ended call and everything kept with it (its transcript, tool calls,
    /// transfers, a Retell report); returns its recording file, for the caller to delete. A
    /// campaign's lead keeps its outcome, without the link.
    pub async fn delete_call(&self, call_id: &str) -> Result<Option<String>> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let row: Option<(String, Option<String>)> =
                    db::query_as("SELECT status, recording_file FROM calls WHERE id = ?")
                        .bind(&call_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some((status, file)) = row else {
                    return Err(not_found("call", &call_id));
                };
                if CallStatus::parse(&status).is_some_and(CallStatus::is_live) {
                    return Err(Conflict::CallLive(call_id).into());
                }
                db::query("DELETE FROM retell_calls WHERE call_id = ?")
                    .bind(&call_id)
                    .execute(&mut *conn)
                    .await?;
                db::query(
                    "UPDATE leads SET last_call_id = NULL \
                     WHERE id = (SELECT lead_id FROM calls WHERE id = ?1) AND last_call_id = ?1",
                )
                .bind(&call_id)
                .execute(&mut *conn)
                .await?;
                db::query("DELETE FROM calls WHERE id = ?")
                    .bind(&call_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(file)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call `id` as `sql_values` says: `(node_id, recording_file, recording_ms, ended_at,
    /// recording_url, recording_fetch_pending)`.
    async fn call(store: &Store, id: &str, values: &str) {
        let sql = format!(
            "INSERT INTO calls (id, direction, carrier, from_number, to_number, status, \
             started_at, recording_started_at, node_id, recording_file, recording_ms, ended_at, \
             recording_url, recording_fetch_pending) VALUES ('{id}', 'inbound', 'twilio', \
             '+14155550100', '+14155552671', 'completed', 0, 0, {values})"
        );
        store
            .write(move |conn| {
                Box::pin(async move {
                    db::query(&sql).execute(conn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    fn ids(r: &[RecordingFile]) -> Vec<&str> {
        r.iter().map(|r| r.call_id.as_str()).collect()
    }

    /// Recordings left unfinished are a dead node's only (a live node is still recording its
    /// own, on its own disk); the retention's pages walk every old recording once.
    #[tokio::test]
    async fn only_a_dead_nodes_unfinished_recordings_are_repaired_and_old_ones_are_paged() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = Store::nodes_for_test(dir.path()).await.unwrap();
        let me = one.node_id().to_owned();
        call(
            &one,
            "live",
            &format!("'{me}', 'live.wav', NULL, NULL, NULL, FALSE"),
        )
        .await;
        call(&one, "dead", "'gone', 'dead.wav', NULL, 5, NULL, FALSE").await;
        call(&one, "old", "NULL, 'old.wav', NULL, 5, NULL, FALSE").await;
        call(&one, "done", "'gone', 'done.wav', 1000, 5, NULL, FALSE").await;
        let (before, now) = (Timestamp::from_millis(1), Timestamp::now());
        for store in std::iter::once(&one).chain(&two) {
            let mut got = store.unfinished_recordings(before, now).await.unwrap();
            got.sort_by(|a, b| a.call_id.cmp(&b.call_id));
            assert_eq!(ids(&got), ["dead", "old"], "not the live node's");
        }

        let cutoff = Timestamp::from_millis(10);
        let first = one.recordings_ended_before(cutoff, None, 2).await.unwrap();
        assert_eq!(ids(&first), ["dead", "done"], "ended together: by id");
        let next = one
            .recordings_ended_before(cutoff, first.last(), 2)
            .await
            .unwrap();
        assert_eq!(ids(&next), ["old"], "after the first page");
    }

    /// A carrier recording's fetch is claimed by one node: the one that has it keeps it (and
    /// may claim it again), another takes it only once that node is dead. On PostgreSQL, two
    /// nodes claiming one fetch at once: one gets it.
    #[tokio::test]
    async fn a_recording_fetch_is_claimed_by_one_node() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = Store::nodes_for_test(dir.path()).await.unwrap();
        let url = "'https://carrier.example/rec.wav'";
        for id in ["f", "g"] {
            call(&one, id, &format!("NULL, NULL, NULL, 5, {url}, TRUE")).await;
        }
        call(&one, "held", &format!("NULL, NULL, NULL, 5, {url}, TRUE")).await;
        one.write(|conn| {
            Box::pin(async move {
                db::query("UPDATE calls SET recording_fetch_by = 'gone' WHERE id = 'held'")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        let now = Timestamp::now();
        let mut waiting = one.pending_recording_fetches(now).await.unwrap();
        waiting.sort_unstable();
        assert_eq!(
            waiting,
            ["f", "g", "held"],
            "a dead node's claim holds nothing"
        );
        let got = one.claim_recording_fetch("f", now).await.unwrap();
        assert_eq!(got.as_deref(), Some("https://carrier.example/rec.wav"));
        assert!(
            one.claim_recording_fetch("f", now).await.unwrap().is_some(),
            "its own again (a fetch it left unfinished)"
        );
        assert!(
            one.claim_recording_fetch("held", now)
                .await
                .unwrap()
                .is_some()
        );
        one.give_up_recording_fetch("held").await.unwrap();
        assert!(
            one.claim_recording_fetch("held", now)
                .await
                .unwrap()
                .is_none(),
            "given up: not waiting any more"
        );

        let Some(two) = two else { return };
        assert_eq!(
            two.pending_recording_fetches(now).await.unwrap(),
            ["g"],
            "f is the other node's"
        );
        assert!(two.claim_recording_fetch("f", now).await.unwrap().is_none());
        let (x, y) = tokio::join!(
            one.claim_recording_fetch("g", now),
            two.claim_recording_fetch("g", now)
        );
        assert!(
            x.unwrap().is_some() != y.unwrap().is_some(),
            "one of them downloads it"
        );
        two.retire_node(one.node_id()).await.unwrap();
        assert!(
            two.claim_recording_fetch("f", now).await.unwrap().is_some(),
            "its node died: taken over"
        );
    }
}
