//! Keeping recordings: made whole after a crash, deleted past the retention the user chose,
//! and deleted with their call.
//!
//! A recording's file is in the data directory of the node that made it. On SQLite that is
//! this one, so a file missing here is gone; on a shared database (PostgreSQL) it may be on
//! another node's disk, so a node repairs only recordings whose node is dead and whose file
//! it has, and its sweep deletes only files it has, forgetting only the references to those.

use std::time::Duration;

use super::file;
use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::events::Event;
use crate::settings::RECORDING_RETENTION_DAYS;
use crate::store::{Kind, StoreError};

/// How often old recordings are looked for (and once at start, and when the setting changes).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Recordings deleted per batch: one read and a file each, so a sweep after a long pause (or a
/// shortened retention) does not hold the writer in one go.
const SWEEP_BATCH: u32 = 500;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Starts the upkeep: recordings cut short by the last stop are repaired now, old ones swept
/// now and every hour.
pub fn spawn(engine: Engine, started: Timestamp) {
    tokio::spawn(async move {
        repair_unfinished(&engine, started).await;
        let mut every = tokio::time::interval(SWEEP_EVERY);
        let stopping = engine.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    sweep(&engine).await;
                }
                () = &mut stopping => return,
            }
        }
    });
}

/// Recordings the engine stopped (or crashed) in the middle of, before `started`: trimmed to
/// what was flushed and measured.
async fn repair_unfinished(engine: &Engine, started: Timestamp) {
    let unfinished = match engine
        .store()
        .unfinished_recordings(started, Timestamp::now())
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "could not look for unfinished recordings");
            return;
        }
    };
    let shared = engine.store().kind() == Kind::Postgres;
    for r in unfinished {
        let path = file::path_for(engine.data_dir(), &r.file);
        if shared && !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            // Another node's (dead node's) disk: not this one's to repair, nor to forget.
            continue;
        }
        match file::blocking(move || file::repair(&path)).await {
            Ok(ms) => {
                tracing::info!(call_id = %r.call_id, ms, "repaired a recording cut short by a stop");
                if let Err(e) = engine.store().finish_recording(&r.call_id, ms).await {
                    tracing::error!(call_id = %r.call_id, error = %e, "could not note a repaired recording");
                }
            }
            Err(e) => {
                tracing::error!(call_id = %r.call_id, error = %e, "a recording cut short could not be repaired; forgetting it");
                let _ = engine.store().forget_recording(&r.call_id).await;
            }
        }
    }
}

/// Deletes the recordings of calls that ended longer ago than the retention setting says;
/// returns how many. Nothing is deleted while no retention is set.
pub async fn sweep(engine: &Engine) -> usize {
    let Some(days) = engine
        .settings()
        .get(RECORDING_RETENTION_DAYS)
        .and_then(|d| d.parse::<u32>().ok())
    else {
        return 0;
    };
    let cutoff = Timestamp::from_millis(engine.now().as_millis() - i64::from(days) * DAY_MS);
    // Alone on its database, a file missing here is gone: its reference goes too.
    let missing_is_gone = engine.store().kind() == Kind::Sqlite;
    let mut deleted = 0;
    let mut after = None;
    loop {
        let old = match engine
            .store()
            .recordings_ended_before(cutoff, after.as_ref(), SWEEP_BATCH)
            .await
        {
            Ok(old) => old,
            Err(e) => {
                tracing::error!(error = %e, "could not look for old recordings");
                return deleted;
            }
        };
        let batch = old.len();
        for r in old {
            match remove(engine, &r.file).await {
                Removed::Deleted => {}
                Removed::Missing if missing_is_gone => {}
                // Another node's file: that node's sweep deletes it.
                Removed::Missing => {
                    after = Some(r);
                    continue;
                }
                // Left for the next sweep; stop here rather than loop on it.
                Removed::Failed => return deleted,
            }
            if let Err(e) = engine.store().forget_recording(&r.call_id).await {
                tracing::error!(call_id = %r.call_id, error = %e, "could not forget a deleted recording");
                return deleted;
            }
            deleted += 1;
            after = Some(r);
        }
        if batch < SWEEP_BATCH as usize {
            break;
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, days, "deleted recordings past their retention");
    }
    deleted
}

/// Deletes an ended call, its record and its recording.
pub async fn delete_call(engine: &Engine, call_id: &str) -> Result<(), StoreError> {
    let file = engine.store().delete_call(call_id).await?;
    if let Some(file) = file {
        remove(engine, &file).await;
    }
    engine.events().publish(Event::CallDeleted {
        id: call_id.to_owned(),
    });
    Ok(())
}

/// What deleting a recording's file came to.
enum Removed {
    Deleted,
    /// Not in this data directory.
    Missing,
    Failed,
}

/// Deletes a recording's file from this data directory.
async fn remove(engine: &Engine, name: &str) -> Removed {
    let path = file::path_for(engine.data_dir(), name);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Removed::Deleted,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Removed::Missing,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "could not delete a recording");
            Removed::Failed
        }
    }
}
