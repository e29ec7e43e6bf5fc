//! Switchboard's own recordings of calls: the file a call's recording is in (a name in the data
//! directory's recordings folder), when it began and how long it is. The files themselves are
//! `recordings/`'s; the rows here are how it finds them. A carrier's recording of a call is kept
//! in the same columns once fetched; until then the call is marked as waiting for the fetch.

use super::Store;
use super::error::{Conflict, Result, not_found};
use super::{db, dialect};
use crate::domain::{CallStatus, Timestamp};

/// A call's recording file, as the sweep and the deletion of a call find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    pub call_id: String,
    pub file: String,
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

    /// Calls whose carrier recording is waiting to be fetched, with the URL the carrier gave.
    pub async fn pending_recording_fetches(&self) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT id, recording_url FROM calls WHERE {} AND recording_url IS NOT NULL",
            dialect::is_true(self.kind(), "recording_fetch_pending")
        );
        db::query_as(&sql).fetch_all(self.pool()).await
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
                     recording_ms = ?, recording_fetch_pending = FALSE \
                     WHERE id = ? AND recording_file IS NULL",
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
                db::query("UPDATE calls SET recording_fetch_pending = FALSE WHERE id = ?")
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

    /// Recordings of calls that ended before `cutoff`, oldest first, at most `limit`.
    pub async fn recordings_ended_before(
        &self,
        cutoff: Timestamp,
        limit: u32,
    ) -> Result<Vec<RecordingFile>> {
        let rows: Vec<(String, String)> = db::query_as(
            "SELECT id, recording_file FROM calls \
             WHERE recording_file IS NOT NULL AND ended_at < ? ORDER BY ended_at LIMIT ?",
        )
        .bind(cutoff.as_millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(call_id, file)| RecordingFile { call_id, file })
            .collect())
    }

    /// Recordings begun before `before` and left without a length: the engine stopped (or
    /// crashed) while they were recorded.
    pub async fn unfinished_recordings(&self, before: Timestamp) -> Result<Vec<RecordingFile>> {
        let rows: Vec<(String, String)> = db::query_as(
            "SELECT id, recording_file FROM calls WHERE recording_file IS NOT NULL \
             AND recording_ms IS NULL AND recording_started_at < ?",
        )
        .bind(before.as_millis())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(call_id, file)| RecordingFile { call_id, file })
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
