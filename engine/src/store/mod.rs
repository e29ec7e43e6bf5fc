//! The store: SQLite through sqlx, one module per aggregate. Functions return domain types;
//! a missing row is `StoreError::NotFound`, a broken uniqueness or reference rule is a
//! `Conflict` or an `Invalid`, so the API can map each to its status without string matching.

pub mod agents;
pub mod calls;
pub mod campaigns;
pub mod phone_numbers;
pub mod settings;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, SqliteConnection, SqlitePool};

use writer::{BoxFuture, Writer};

use crate::domain::Invalid;

pub const DB_FILE: &str = "switchboard.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The commit that carried this write failed; the write did not happen.
    #[error("database commit failed: {0}")]
    Commit(std::sync::Arc<sqlx::Error>),
    #[error("the database is closed")]
    Closed,
    /// The write failed inside Switchboard (a bug, logged) and was rolled back.
    #[error("the write was abandoned and rolled back; see the log")]
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the number {0} is already managed")]
    DuplicateNumber(String),
    #[error("an agent named \"{0}\" already exists")]
    DuplicateAgentName(String),
    #[error("the carrier call {0} is already recorded")]
    DuplicateCall(String),
    #[error("the call has already ended")]
    CallEnded(String),
    #[error("a campaign named \"{0}\" already exists")]
    DuplicateCampaignName(String),
    #[error(
        "the campaign \"{0}\" is running or has calls under way; stop it and let them end first"
    )]
    CampaignActive(String),
    #[error("{0}")]
    CampaignStatus(String),
    #[error(
        "\"{agent}\" still handles calls for {}. Assign those numbers another agent first, or delete anyway to leave them without this agent.",
        numbers.join(", ")
    )]
    AgentInUse { agent: String, numbers: Vec<String> },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_owned(),
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A cheaply cloned handle on the database: a pool of readers and one writer task. SQLite
/// runs one write at a time anyway; queueing writes on our own task keeps them off SQLite's
/// sleeping busy handler, and lets one commit carry every write that queued meanwhile (see
/// `writer`).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
            // the last commits, which FULL would cost an fsync per commit to prevent.
            .synchronous(SqliteSynchronous::Normal)
            // Rows are small and most writes touch a handful of scattered index pages; each
            // touched page is copied whole to the WAL and again at checkpoint, so smaller
            // pages mean several times fewer bytes per call. (Takes effect for new
            // databases; an existing one keeps its page size.)
            .page_size(1024)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let mut conn = options.connect().await?;
        sqlx::migrate!("./migrations").run(&mut conn).await?;
        let writer = Writer::start(conn, options.connect().await?).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { pool, writer })
    }

    /// The readers.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs `work` on the writer connection, inside a transaction shared with other writes
    /// queued at the same moment, and returns its result once that transaction has committed.
    /// An `Err` from `work` undoes exactly its own statements. `work` must not wait on
    /// anything but the database: every queued write waits with it.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Finishes queued writes and closes the database cleanly (the last connection to go
    /// checkpoints the WAL and removes it).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}
