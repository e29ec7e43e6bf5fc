//! The store: SQLite through sqlx, one module per aggregate. Functions return domain types;
//! a missing row is `StoreError::NotFound`, a broken uniqueness or reference rule is a
//! `Conflict` or an `Invalid`, so the API can map each to its status without string matching.

pub mod agents;
pub mod calls;
pub mod phone_numbers;
pub mod settings;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the number {0} is already managed")]
    DuplicateNumber(String),
    #[error("an agent named \"{0}\" already exists")]
    DuplicateAgentName(String),
    #[error("the carrier call {0} is already recorded")]
    DuplicateCall(String),
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

/// A cheaply cloned handle on the database: a pool of readers and one writer. SQLite runs
/// one write at a time anyway; queueing writers on our own single connection keeps them off
/// SQLite's sleeping busy handler, which under load turns lock waits into long stalls.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
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
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
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

    /// The one connection that writes.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Waits for connections in use to be returned, then closes the database cleanly
    /// (checkpointing the WAL as the last connection goes).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}
