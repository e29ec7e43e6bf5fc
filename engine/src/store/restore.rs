//! Restores of the embedded SQLite database, and what they share with backups: the data
//! directory's files and the check of a backup file.
//!
//! A restore never swaps the database under a running engine: the checked file is staged
//! beside it (`switchboard.db.restore`) and takes its place at the next start, the current
//! database set aside as `switchboard.db.before-restore-<time>`. Every step is a rename, so a
//! crash leaves either the old or the new database in place, never a mix.
//!
//! Who has the database open is known by `switchboard.lock`: every open store holds a shared
//! lock on it, and the swap needs it exclusively.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use super::error::{Result, StoreError};
use super::schema;

/// The embedded database, in the data directory.
pub const DB_FILE: &str = "switchboard.db";

/// A restore waiting for the next start.
pub const STAGED_FILE: &str = "switchboard.db.restore";
/// Held shared by every open store, exclusively by a restore's swap.
pub const LOCK_FILE: &str = "switchboard.lock";
/// What the database a restore replaced is renamed to, followed by the time.
pub const BEFORE_RESTORE: &str = "switchboard.db.before-restore-";

/// Said wherever a backup is made: what it does not hold.
pub const NO_CREDENTIALS: &str = "A backup holds no credentials: carrier and OpenAI keys, tool \
    and webhook secrets and the control token stay in the OS keyring (or secrets.json); keep \
    them, or enter them again after a restore on another machine.";

/// The answer to a backup or restore asked of an engine on PostgreSQL.
pub const USE_PG_DUMP: &str = "this engine keeps its data in PostgreSQL (--database-url): back \
    it up with pg_dump and restore it with pg_restore (e.g. `pg_dump -Fc -f switchboard.dump \
    \"$DATABASE_URL\"`); Switchboard's own backup covers the embedded SQLite database only";

/// A restore staged for the next start.
#[derive(Debug, Clone)]
pub struct Staged {
    pub schema_version: i64,
}

/// Checks that `file` (called `what` in messages) is a whole Switchboard database this binary
/// can open: a SQLite file, SQLite's integrity check passes, it has Switchboard's migrations
/// and none newer than this binary knows. Reads only: opened immutable, so not even a
/// `-wal` or `-shm` file appears beside it.
pub async fn check(file: &Path, what: &str) -> Result<Staged> {
    let refused = |why: String| StoreError::Refused(format!("{what} {why}"));
    let mut magic = [0u8; 16];
    let read = async {
        use tokio::io::AsyncReadExt as _;
        tokio::fs::File::open(file)
            .await?
            .read_exact(&mut magic)
            .await
    };
    if let Err(e) = read.await {
        return Err(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => refused("is not a SQLite database".into()),
            _ => refused(format!("cannot be read: {e}")),
        });
    }
    if &magic != b"SQLite format 3\0" {
        return Err(refused("is not a SQLite database".into()));
    }
    let unreadable = |e: sqlx::Error| refused(format!("cannot be read as a database: {e}"));
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .map_err(unreadable)?;
    let checked = async {
        let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(unreadable)?;
        if problems.iter().map(String::as_str).ne(["ok"]) {
            return Err(refused(format!(
                "is damaged: SQLite's integrity check says \"{}\"",
                problems.first().map(String::as_str).unwrap_or("nothing")
            )));
        }
        let migrations: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(unreadable)?;
        if migrations.is_none() {
            return Err(refused(
                "is not a Switchboard database (it has no _sqlx_migrations table)".into(),
            ));
        }
        let (newest, failed): (Option<i64>, i64) = sqlx::query_as(
            "SELECT MAX(version), COALESCE(SUM(success = 0), 0) FROM _sqlx_migrations",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(unreadable)?;
        if let Err(StoreError::Newer { found, known }) = schema::not_newer(newest, &schema::SQLITE)
        {
            return Err(refused(format!(
                "was made by a newer Switchboard (schema {found}; this one knows up to \
                 {known}): install that version or newer to restore it"
            )));
        }
        let Some(version) = newest else {
            return Err(refused(
                "is not a Switchboard database (no migration was ever applied to it)".into(),
            ));
        };
        if failed > 0 {
            return Err(refused(
                "holds a migration that failed half way; it cannot be restored".into(),
            ));
        }
        Ok(Staged {
            schema_version: version,
        })
    }
    .await;
    let _ = conn.close().await;
    checked
}

/// Checks `file` and stages it in `data_dir`, to take the database's place at the next start
/// (replacing a restore staged before). A file that fails its check changes nothing.
pub async fn stage(data_dir: &Path, file: &Path, what: &str) -> Result<Staged> {
    let checked = check(file, what).await?;
    let partial = data_dir.join(format!("{STAGED_FILE}.partial-{}", uuid::Uuid::now_v7()));
    let copied = async {
        tokio::fs::copy(file, &partial).await?;
        tokio::fs::File::open(&partial).await?.sync_all().await?;
        tokio::fs::rename(&partial, data_dir.join(STAGED_FILE)).await?;
        sync_dir(data_dir)
    };
    if let Err(e) = copied.await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(StoreError::Refused(format!(
            "cannot stage the restore in {}: {e}",
            data_dir.display()
        )));
    }
    Ok(checked)
}

/// Whether a restore waits for the next start.
pub fn is_staged(data_dir: &Path) -> bool {
    data_dir.join(STAGED_FILE).is_file()
}

/// What applying a staged restore did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Nothing was staged.
    NothingStaged,
    /// The staged file is the database now; the one before it (if any) was kept there.
    Restored { kept: Option<PathBuf> },
    /// Another process (a running engine) has the database open; the restore stays staged.
    InUse,
}

/// Applies a staged restore now if nothing has the database open.
pub async fn apply_staged(data_dir: &Path) -> Result<Applied> {
    if !is_staged(data_dir) {
        return Ok(Applied::NothingStaged);
    }
    let lock = open_lock(data_dir)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Applied::InUse),
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(data_dir, e)),
    }
    let applied = swap(data_dir).await;
    let _ = lock.unlock();
    applied
}

/// Taken by `Store::open` before it connects: applies a staged restore if this is the only
/// process on the data directory, then holds the lock shared for as long as the store lives.
pub(super) async fn hold(data_dir: &Path) -> Result<std::fs::File> {
    match apply_staged(data_dir).await? {
        Applied::Restored { kept } => tracing::info!(
            kept = %kept.as_deref().map(|k| k.display().to_string()).unwrap_or_default(),
            "a staged backup was restored; the database before it is kept beside it"
        ),
        Applied::InUse => tracing::warn!(
            "a restore is staged, but another Switchboard has this data directory's database \
             open; it takes effect at a start with the directory to itself"
        ),
        Applied::NothingStaged => {}
    }
    let lock = open_lock(data_dir)?;
    // An exclusive holder is a swap in progress: a few renames.
    for _ in 0..300 {
        match lock.try_lock_shared() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(data_dir, e)),
        }
    }
    Err(StoreError::Refused(format!(
        "{} stayed locked for 30 seconds by a restore in progress",
        data_dir.join(LOCK_FILE).display()
    )))
}

fn open_lock(data_dir: &Path) -> Result<std::fs::File> {
    let path = data_dir.join(LOCK_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| lock_error(data_dir, e))
}

fn lock_error(data_dir: &Path, e: std::io::Error) -> StoreError {
    StoreError::Refused(format!(
        "cannot lock {}: {e}",
        data_dir.join(LOCK_FILE).display()
    ))
}

/// The swap, with the data directory to ourselves. Each step is a rename, in an order that a
/// crash at any point leaves for the next start to finish: the old database's log is emptied
/// into it first (so the old database is one file, set aside whole), then it is renamed away,
/// then the staged file is renamed in. A database missing while a restore is staged is a
/// crash between the last two steps.
async fn swap(data_dir: &Path) -> Result<Applied> {
    let db = data_dir.join(DB_FILE);
    let wal = data_dir.join(format!("{DB_FILE}-wal"));
    let shm = data_dir.join(format!("{DB_FILE}-shm"));
    let io = |what: &str, e: std::io::Error| {
        StoreError::Corrupt(format!("restoring the staged backup: {what}: {e}"))
    };
    let mut kept = None;
    if db.is_file() {
        let mut conn = SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(false)
            .connect()
            .await?;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        if busy != 0 {
            return Ok(Applied::InUse);
        }
    }
    // Checkpointed (or no database at all): a log left now holds nothing, unless it is a log
    // whose database went missing by other hands, which is not ours to throw away.
    if let Ok(m) = std::fs::metadata(&wal) {
        if m.len() > 0 {
            return Err(StoreError::Corrupt(format!(
                "{} still holds writes of a database that is not there; move it away to \
                 restore the staged backup",
                wal.display()
            )));
        }
        std::fs::remove_file(&wal).map_err(|e| io("removing the empty log", e))?;
    }
    if shm.exists() {
        std::fs::remove_file(&shm).map_err(|e| io("removing the log's index", e))?;
    }
    if db.is_file() {
        let stamp = jiff::Timestamp::now().strftime("%Y-%m-%dT%H%M%SZ");
        let aside = data_dir.join(format!("{BEFORE_RESTORE}{stamp}"));
        std::fs::rename(&db, &aside).map_err(|e| io("setting the database aside", e))?;
        kept = Some(aside);
    }
    std::fs::rename(data_dir.join(STAGED_FILE), &db)
        .map_err(|e| io("putting the backup in place", e))?;
    sync_dir(data_dir).map_err(|e| io("syncing the data directory", e))?;
    Ok(Applied::Restored { kept })
}

/// Makes renames in `dir` durable (a directory's entries are synced through the directory).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A database in `dir` whose setting `which` says `value`, closed.
    async fn database(dir: &Path, value: &str) {
        let store = Store::open(dir).await.unwrap();
        store
            .write_settings(&[("which", Some(value.into()))])
            .await
            .unwrap();
        store.close().await;
    }

    async fn which(dir: &Path) -> String {
        let store = Store::open(dir).await.unwrap();
        let value = store.settings().await.unwrap().remove("which").unwrap();
        store.close().await;
        value
    }

    /// `dir`'s database, staged in `into` as a restore.
    async fn staged_from(dir: &Path, into: &Path) {
        let copy = dir.join("copy.sqlite");
        crate::store::backup::backup_file(dir, &copy).await.unwrap();
        stage(into, &copy, "the copy").await.unwrap();
    }

    #[tokio::test]
    async fn a_crash_after_the_old_database_was_set_aside_finishes_with_the_new_one() {
        let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        database(old.path(), "old").await;
        database(new.path(), "new").await;
        staged_from(new.path(), old.path()).await;
        // The first steps of the swap as a crash left them: the database set aside, the
        // staged file not yet renamed in.
        std::fs::rename(
            old.path().join(DB_FILE),
            old.path().join(format!("{BEFORE_RESTORE}crash")),
        )
        .unwrap();
        assert_eq!(which(old.path()).await, "new");
        assert!(!is_staged(old.path()));
    }

    #[tokio::test]
    async fn a_crash_before_the_swap_keeps_the_old_database_and_the_next_start_swaps() {
        let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        database(old.path(), "old").await;
        database(new.path(), "new").await;
        // A leftover of a copy cut short changes nothing.
        std::fs::write(old.path().join(format!("{STAGED_FILE}.partial-x")), b"half").unwrap();
        assert_eq!(which(old.path()).await, "old");
        staged_from(new.path(), old.path()).await;
        assert_eq!(which(old.path()).await, "new");
        let kept: Vec<_> = std::fs::read_dir(old.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(BEFORE_RESTORE))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        // The database set aside is whole: staged back, it is the old one again.
        staged_from_file(old.path(), &old.path().join(&kept[0])).await;
        assert_eq!(which(old.path()).await, "old");
    }

    async fn staged_from_file(dir: &Path, file: &Path) {
        stage(dir, file, "the kept database").await.unwrap();
    }

    #[tokio::test]
    async fn a_log_without_its_database_is_not_thrown_away() {
        let (dir, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        database(new.path(), "new").await;
        staged_from(new.path(), dir.path()).await;
        std::fs::write(dir.path().join(format!("{DB_FILE}-wal")), b"writes").unwrap();
        let refused = Store::open(dir.path()).await.unwrap_err().to_string();
        assert!(refused.contains("still holds writes"), "{refused}");
        assert!(is_staged(dir.path()), "the restore stays staged");
    }

    #[tokio::test]
    async fn an_open_store_keeps_a_restore_staged() {
        let (dir, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        database(dir.path(), "old").await;
        database(new.path(), "new").await;
        let running = Store::open(dir.path()).await.unwrap();
        staged_from(new.path(), dir.path()).await;
        assert!(matches!(
            apply_staged(dir.path()).await.unwrap(),
            Applied::InUse
        ));
        assert_eq!(
            running.settings().await.unwrap()["which"],
            "old",
            "nothing moved under the open store"
        );
        running.close().await;
        assert!(matches!(
            apply_staged(dir.path()).await.unwrap(),
            Applied::Restored { kept: Some(_) }
        ));
        assert_eq!(which(dir.path()).await, "new");
    }
}
