//! The store: SQLite through sqlx, one module per aggregate (agents, phone numbers, calls,
//! campaigns, leads, settings, transfers, webhooks and their outbox), with the call row every
//! aggregate reads in a leaf module (`call_rows`). Functions return domain types; a missing row is `StoreError::NotFound`, a
//! broken uniqueness or reference rule is a `Conflict` or an `Invalid` (read in one place,
//! `error::refused`), so the API can map each to its status without string matching.

pub mod agents;
pub mod backup;
pub mod call_analyses;
pub mod call_costs;
mod call_rows;
pub mod call_search;
pub mod calls;
pub mod campaigns;
pub mod db;
pub mod dialect;
pub mod do_not_call;
mod error;
pub mod leads;
pub mod nodes;
pub mod overview;
pub mod phone_numbers;
mod postgres;
pub mod recordings;
pub mod relay;
mod restore;
pub mod retell_calls;
mod schema;
pub mod settings;
pub mod setups;
pub mod tool_secrets;
pub mod transfers;
pub mod webhooks;
mod writer;

pub use error::{Conflict, Result, StoreError};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use db::Conn;
use db::Readers;
pub use dialect::Kind;
pub use postgres::PgSettings;
pub use schema::known_version;
use writer::{BoxFuture, Writer};

pub use restore::DB_FILE;

/// A new row id: a UUIDv7, so ids sort by creation time.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A cheaply cloned handle on the database: a pool of readers and one writer task. SQLite
/// runs one write at a time anyway; queueing writes on our own task keeps them off SQLite's
/// sleeping busy handler, and lets one commit carry every write that queued meanwhile (see
/// `writer`).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Readers,
    writer: Writer,
    /// This node's id (`nodes`): new with every open.
    node: std::sync::Arc<str>,
    /// The PostgreSQL schema the store works in (empty on SQLite): its nodes' notification
    /// channels are its own (`relay`), as channels, like advisory locks, are the database's.
    schema: std::sync::Arc<str>,
    /// On SQLite, `backup::LOCK_FILE` held shared while the store is open, so a restore
    /// knows not to swap the database under it.
    lock: Option<std::sync::Arc<std::fs::File>>,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        // Before anything connects: a restore staged for this start takes the database's
        // place here.
        let lock = restore::hold(data_dir).await?;
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
        // Migrations run with foreign keys off, as SQLite's way of rebuilding a table needs
        // (dropping the old table would otherwise cascade into its children); that they left
        // every reference whole is checked before the connection goes to work.
        let mut conn = options.clone().foreign_keys(false).connect().await?;
        // A database a newer Switchboard migrated is refused in words, not sqlx's.
        let migrated: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await?;
        if migrated.is_some() {
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(&mut conn)
                    .await?;
            schema::not_newer(newest, &schema::SQLITE)?;
        }
        schema::SQLITE.run(&mut conn).await?;
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&mut conn)
                .await?;
        if let Some((table,)) = broken.first() {
            return Err(StoreError::Corrupt(format!(
                "a migration left rows of {table} referring to rows that do not exist"
            )));
        }
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut conn)
            .await?;
        let writer = Writer::start(conn, options.connect().await?).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            pool: Readers::Lite(pool),
            writer,
            node: new_id().into(),
            schema: "".into(),
            lock: Some(std::sync::Arc::new(lock)),
        })
    }

    /// Opens the PostgreSQL database `settings` names and brings its schema up to date: the
    /// store of several nodes sharing the work (see `postgres`).
    pub async fn open_postgres(settings: &PgSettings) -> Result<Self> {
        let (pool, writer, schema) = postgres::open(settings).await?;
        Ok(Self {
            pool: Readers::Pg(pool),
            writer,
            node: new_id().into(),
            schema: schema.into(),
            lock: None,
        })
    }

    /// A store for a unit test: SQLite in `dir`, or, when `SWITCHBOARD_TEST_DATABASE_URL`
    /// names a PostgreSQL database, a fresh schema of its own there (as the engine tests do).
    #[cfg(test)]
    pub(crate) async fn open_for_test(dir: &Path) -> Result<Self> {
        match std::env::var("SWITCHBOARD_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("u_{}", new_id().replace('-', ""));
                Self::open_postgres(&PgSettings {
                    url,
                    schema: Some(schema),
                })
                .await
            }
            _ => Self::open(dir).await,
        }
    }

    /// Test stores standing for the nodes of one database, each registered (alive): on
    /// PostgreSQL two, on one fresh schema; on SQLite one, as it only ever has one node.
    #[cfg(test)]
    pub(crate) async fn nodes_for_test(dir: &Path) -> Result<(Self, Option<Self>)> {
        let first = Self::open_for_test(dir).await?;
        let second = match &first.pool {
            Readers::Lite(_) => None,
            Readers::Pg(pool) => {
                let schema: String = sqlx::query_scalar("SELECT current_schema()")
                    .fetch_one(pool)
                    .await?;
                let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_default();
                Some(
                    Self::open_postgres(&PgSettings {
                        url,
                        schema: Some(schema),
                    })
                    .await?,
                )
            }
        };
        let now = crate::domain::Timestamp::now();
        for store in std::iter::once(&first).chain(&second) {
            store.heartbeat(None, now).await?;
        }
        Ok((first, second))
    }

    /// Which database this is.
    pub fn kind(&self) -> Kind {
        self.pool.kind()
    }

    /// The readers.
    pub fn pool(&self) -> &Readers {
        &self.pool
    }

    /// Runs `work` on the writer connection, inside a transaction shared with other writes
    /// queued at the same moment, and returns its result once that transaction has committed.
    /// An `Err` from `work` undoes exactly its own statements. `work` must not wait on
    /// anything but the database: every queued write waits with it.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut Conn<'c>) -> BoxFuture<'c, Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Finishes queued writes and closes the database cleanly (the last connection to go
    /// checkpoints the WAL and removes it).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
        // Closed for every clone: a restore may swap the file now.
        if let Some(lock) = &self.lock {
            let _ = lock.unlock();
        }
    }
}
