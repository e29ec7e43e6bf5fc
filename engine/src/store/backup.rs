//! Backups of the embedded SQLite database. (PostgreSQL has its own tools, `pg_dump` and
//! `pg_restore`; Switchboard does not stand in for them.)
//!
//! A backup is `VACUUM INTO` on a read connection: one read transaction, so a consistent,
//! compact copy while the writer keeps writing; the copy is integrity-checked (`restore::check`)
//! before it is called good. Restores: `restore`, re-exported here.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _};

use super::Store;
use super::db::Readers;
use super::error::{Result, StoreError};
use super::restore::DB_FILE;
pub use super::restore::{
    Applied, BEFORE_RESTORE, LOCK_FILE, NO_CREDENTIALS, STAGED_FILE, Staged, USE_PG_DUMP,
    apply_staged, check, is_staged, stage,
};

/// A backup made and checked.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
}

impl Store {
    /// Writes a consistent copy of the database to `out` (which must not exist) while the
    /// engine runs, and checks it.
    pub async fn backup_into(&self, out: &Path) -> Result<Backup> {
        let Readers::Lite(pool) = &self.pool else {
            return Err(StoreError::Unsupported(USE_PG_DUMP.into()));
        };
        let mut conn = pool.acquire().await?;
        let made = vacuum_into(&mut conn, out).await;
        drop(conn);
        made?;
        checked_copy(out).await
    }
}

/// The same as `Store::backup_into` for the database in `data_dir`, whether or not an engine
/// runs on it: a read-only connection of its own, which never blocks the engine's writer.
pub async fn backup_file(data_dir: &Path, out: &Path) -> Result<Backup> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(StoreError::Refused(format!(
            "there is no Switchboard database at {}",
            db.display()
        )));
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true)
        .connect()
        .await?;
    let made = vacuum_into(&mut conn, out).await;
    conn.close().await?;
    made?;
    checked_copy(out).await
}

async fn vacuum_into(conn: &mut SqliteConnection, out: &Path) -> Result<()> {
    let Some(name) = out.to_str() else {
        return Err(StoreError::Refused(format!(
            "{} is not a path SQLite can write to (not UTF-8)",
            out.display()
        )));
    };
    if tokio::fs::try_exists(out).await.unwrap_or(true) {
        return Err(StoreError::Refused(format!(
            "{} already exists; a backup is written to a new file",
            out.display()
        )));
    }
    let made = sqlx::query("VACUUM INTO ?")
        .bind(name)
        .execute(&mut *conn)
        .await;
    if let Err(e) = made {
        // Whatever part of a copy was written is no backup (and `out` was not there before).
        let _ = tokio::fs::remove_file(out).await;
        return Err(e.into());
    }
    Ok(())
}

/// The copy at `out` checked, or removed with the reason.
async fn checked_copy(out: &Path) -> Result<Backup> {
    match check(out, &out.display().to_string()).await {
        Ok(checked) => Ok(Backup {
            path: out.to_owned(),
            bytes: tokio::fs::metadata(out).await.map(|m| m.len()).unwrap_or(0),
            schema_version: checked.schema_version,
        }),
        Err(e) => {
            let _ = tokio::fs::remove_file(out).await;
            Err(StoreError::Corrupt(format!(
                "the backup failed its check: {e}"
            )))
        }
    }
}
