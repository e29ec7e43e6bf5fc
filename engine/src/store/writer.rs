//! The one task that writes to the database, with group commit.
//!
//! Every write in the store is a job sent here. The task takes whatever jobs are queued, runs
//! each inside its own savepoint of one shared transaction, commits once, and only then tells
//! each caller how its job went. Writes that queue while one commits (a burst, a checkpoint
//! step) share the next commit, so the pages they all touch go to the WAL once. A lone write
//! is a batch of one and costs what it always did.
//!
//! On SQLite the task also owns WAL checkpoints, so none runs inside a caller's commit: see
//! `Checkpointer`. On PostgreSQL, where several nodes write to one database, each batch
//! first takes a lock the whole cluster shares (`CLUSTER_WRITE_LOCK`), so writes keep the one
//! total order they have on a single machine: a check and the write that depends on it (a
//! lead claimed, a concurrency limit counted) cannot interleave with another node's. The lock
//! is the schema's (`SCHEMA_LOCK`): clusters in other schemas of the database write freely.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::db::Conn;
use super::error::{Result, StoreError};

/// The advisory lock every node's write transaction takes first on PostgreSQL (an arbitrary
/// constant: "sb" and "write" in ASCII), as this schema's (`SCHEMA_LOCK`).
const CLUSTER_WRITE_LOCK: i64 = 0x0073_6277_7269_7465;

/// SQL: the advisory lock key `?` as the current schema's own. Advisory locks belong to the
/// whole database, while a cluster is the nodes of one schema: unscoped, a cluster in another
/// schema of the database (another deployment, another test's) would share its locks, writing
/// in turn with it and holding its campaigns' lead.
pub(super) const SCHEMA_LOCK: &str = "hashtextextended(coalesce(current_schema(), ''), ?)";

/// Jobs one transaction may carry. Bounds how long the first of them waits for its commit.
const MAX_BATCH: usize = 512;
/// Jobs waiting beyond this make callers wait to enqueue: back-pressure, not unbounded memory.
const QUEUE: usize = 8192;
/// Writes after which a checkpoint starts. (SQLite's own trigger, 1,000 WAL pages, needs
/// `sqlite3_wal_hook` to observe, which safe Rust cannot reach; a write count is a steady
/// stand-in.) Small, frequent checkpoints disturb writes least: measured at 1,000 calls/s,
/// 250–500 writes gave p99 under 4 ms, 1,000–8,000 gave 7–17 ms (BENCHMARKS.md).
const CHECKPOINT_AFTER_WRITES: usize = 500;
/// A quiet writer checkpoints what is pending after this long, so the log stays short and a
/// restart has little to replay.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

/// A background checkpoint round this short leaves a tail the writer copies quickly.
const SHORT_ROUND: Duration = Duration::from_millis(5);

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A write, type-erased so jobs of any result type share one queue.
trait Job: Send {
    /// Runs the job's statements. Returns whether they succeeded (so the writer knows to keep
    /// or roll back its savepoint) and how to report to the caller once the commit is known.
    fn run<'c>(self: Box<Self>, conn: &'c mut Conn<'c>) -> BoxFuture<'c, Ran>;
    /// Reports a failure without running (the transaction could not even start).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Ran {
    ok: bool,
    report: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

struct TypedJob<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for TypedJob<F, T>
where
    F: for<'c> FnOnce(&'c mut Conn<'c>) -> BoxFuture<'c, Result<T>> + Send + 'static,
    T: Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut Conn<'c>) -> BoxFuture<'c, Ran> {
        let TypedJob { work, reply } = *self;
        Box::pin(async move {
            let result = work(conn).await;
            Ran {
                ok: result.is_ok(),
                report: Box::new(move |commit_error| {
                    // The caller may have gone away (request cancelled): nothing to tell.
                    let _ = reply.send(match commit_error {
                        Some(e) => Err(e),
                        None => result,
                    });
                }),
            }
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// The handle the store keeps: cheap to clone, sends jobs to the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Job(_) => "Job",
            Msg::Close(_) => "Close",
        })
    }
}

impl Writer {
    /// Starts the writer task on `conn`, which must already have its schema migrated.
    /// `checkpointer` is a second connection to the same database, used only to checkpoint.
    pub(super) async fn start(
        mut conn: SqliteConnection,
        mut checkpointer: SqliteConnection,
    ) -> Result<Self> {
        // Checkpoints are this task's business (see `Checkpointer`); SQLite must not start
        // one inside a caller's commit.
        for c in [&mut conn, &mut checkpointer] {
            sqlx::query("PRAGMA wal_autocheckpoint = 0")
                .execute(&mut *c)
                .await?;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let bg = Checkpointer {
            idle: Some(checkpointer),
            running: None,
        };
        tokio::spawn(run(conn, bg, rx));
        Ok(Self { tx })
    }

    /// Starts the writer task on PostgreSQL, writing through `pool` (one connection, taken
    /// again after the database went away and came back).
    pub(super) fn start_pg(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_pg(pool, rx));
        Self { tx }
    }

    /// Runs `work` in the writer's transaction and returns its result once it is committed.
    /// An `Err` from `work` rolls back only what `work` did.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'c> FnOnce(&'c mut Conn<'c>) -> BoxFuture<'c, Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Job(Box::new(TypedJob { work, reply })))
            .await
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means the job panicked; the writer rolled it back and lives on.
        answer.await.map_err(|_| StoreError::Abandoned)?
    }

    /// Finishes queued writes, checkpoints and closes the connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Checkpoints in two steps so that no write waits for the bulk of one. A second connection
/// copies the log into the database while the writer goes on appending (SQLite allows
/// that: a passive checkpoint takes no write lock). The log can only start over once every
/// frame is copied, which a checkpointer racing the writer never achieves alone, so when it
/// finishes, the writer itself copies the few frames appended meanwhile, between batches.
/// The next write then restarts the log from its beginning, and the WAL stays bounded.
struct Checkpointer {
    idle: Option<SqliteConnection>,
    running: Option<tokio::task::JoinHandle<SqliteConnection>>,
}

impl Checkpointer {
    fn start(&mut self) {
        if let Some(mut conn) = self.idle.take() {
            self.running = Some(tokio::spawn(async move {
                // Each round copies what the writer appended during the one before, so the
                // rounds shrink; stop when one is short, leaving the writer a small tail.
                for _ in 0..4 {
                    let started = Instant::now();
                    checkpoint(&mut conn, "background").await;
                    if started.elapsed() < SHORT_ROUND {
                        break;
                    }
                }
                conn
            }));
        }
    }

    /// Resolves when the running checkpoint finishes; never, when none runs.
    async fn finished(&mut self) {
        match &mut self.running {
            Some(handle) => {
                match handle.await {
                    Ok(conn) => self.idle = Some(conn),
                    Err(e) => tracing::error!(error = %e, "the WAL checkpointer failed"),
                }
                self.running = None;
            }
            None => std::future::pending().await,
        }
    }

    async fn close(mut self) {
        if let Some(handle) = self.running.take()
            && let Ok(conn) = handle.await
        {
            self.idle = Some(conn);
        }
        if let Some(conn) = self.idle {
            close_connection(conn).await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut bg: Checkpointer, mut rx: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    // Writes committed since the last checkpoint began.
    let mut unfolded = 0usize;
    loop {
        let idle = tokio::time::sleep(IDLE_CHECKPOINT);
        let received = tokio::select! {
            n = rx.recv_many(&mut msgs, MAX_BATCH) => n,
            () = bg.finished() => {
                // Copy what was appended while it ran: a short step, and the log can restart.
                checkpoint(&mut conn, "tail").await;
                continue;
            }
            () = idle, if unfolded > 0 && bg.running.is_none() => {
                // Quiet for a while: fold the log back into the database.
                checkpoint(&mut conn, "idle").await;
                unfolded = 0;
                continue;
            }
        };
        if received == 0 {
            break; // every handle dropped
        }
        let mut jobs = Vec::with_capacity(msgs.len());
        let mut close = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Job(job) => jobs.push(job),
                Msg::Close(done) => close = Some(done),
            }
        }
        if !jobs.is_empty() {
            unfolded += run_batch::<Sqlite>(&mut conn, None, jobs).await;
            if unfolded >= CHECKPOINT_AFTER_WRITES && bg.running.is_none() {
                bg.start();
                unfolded = 0;
            }
        }
        if let Some(done) = close {
            rx.close();
            // Jobs queued behind the close are refused, not lost silently.
            while let Ok(Msg::Job(job)) = rx.try_recv() {
                job.fail(StoreError::Closed);
            }
            bg.close().await;
            close_connection(conn).await;
            let _ = done.send(());
            return;
        }
    }
    bg.close().await;
    close_connection(conn).await;
}

async fn run_pg(pool: PgPool, mut rx: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    loop {
        if rx.recv_many(&mut msgs, MAX_BATCH).await == 0 {
            break; // every handle dropped
        }
        let mut jobs = Vec::with_capacity(msgs.len());
        let mut close = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Job(job) => jobs.push(job),
                Msg::Close(done) => close = Some(done),
            }
        }
        if !jobs.is_empty() {
            match pool.acquire().await {
                Ok(mut conn) => {
                    run_batch::<Postgres>(&mut conn, Some(CLUSTER_WRITE_LOCK), jobs).await;
                }
                Err(e) => {
                    let e = Arc::new(e);
                    tracing::error!(error = %e, "cannot reach the database to write");
                    for job in jobs {
                        job.fail(StoreError::Commit(e.clone()));
                    }
                }
            }
        }
        if let Some(done) = close {
            rx.close();
            while let Ok(Msg::Job(job)) = rx.try_recv() {
                job.fail(StoreError::Closed);
            }
            pool.close().await;
            let _ = done.send(());
            return;
        }
    }
    pool.close().await;
}

/// A database the writer runs batches on.
trait Side: sqlx::Database {
    fn conn(c: &mut Self::Connection) -> Conn<'_>;
}

impl Side for Sqlite {
    fn conn(c: &mut SqliteConnection) -> Conn<'_> {
        Conn::Lite(c)
    }
}

impl Side for Postgres {
    fn conn(c: &mut PgConnection) -> Conn<'_> {
        Conn::Pg(c)
    }
}

async fn close_connection(conn: SqliteConnection) {
    // The last connection to close checkpoints the log and removes it.
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the database writer");
    }
}

/// Runs one batch in one transaction, which first takes `lock` (an advisory lock of
/// PostgreSQL's) when given. Returns how many writes it committed.
async fn run_batch<DB: Side>(
    conn: &mut DB::Connection,
    lock: Option<i64>,
    jobs: Vec<Box<dyn Job>>,
) -> usize {
    let begun = match conn.begin().await {
        Ok(mut tx) => match lock {
            Some(key) => super::db::query(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
                .bind(key)
                .execute(&mut DB::conn(&mut tx))
                .await
                .map(|_| tx)
                .map_err(|e| match e {
                    StoreError::Db(e) => e,
                    other => sqlx::Error::Protocol(other.to_string()),
                }),
            None => Ok(tx),
        },
        Err(e) => Err(e),
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(e) => {
            let e = Arc::new(e);
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in jobs {
                job.fail(StoreError::Commit(e.clone()));
            }
            return 0;
        }
    };
    let mut reports = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A savepoint per job, so one job's failure undoes only its own statements.
        let mut sp = match tx.begin().await {
            Ok(sp) => sp,
            Err(e) => {
                job.fail(e.into());
                continue;
            }
        };
        let mut conn = DB::conn(&mut sp);
        let ran = AssertUnwindSafe(job.run(&mut conn)).catch_unwind().await;
        match ran {
            Ok(Ran { ok: true, report }) => match sp.commit().await {
                Ok(()) => reports.push(report),
                Err(e) => report(Some(e.into())),
            },
            Ok(Ran { ok: false, report }) => {
                let _ = sp.rollback().await;
                // A failed job has nothing to commit: its caller can hear now.
                report(None);
            }
            Err(_) => {
                tracing::error!("a database write panicked; its changes were rolled back");
                let _ = sp.rollback().await;
            }
        }
    }
    let committed = tx.commit().await.map_err(Arc::new);
    match committed {
        Ok(()) => {
            let n = reports.len();
            for report in reports {
                report(None);
            }
            n
        }
        Err(e) => {
            tracing::error!(error = %e, "a write transaction failed to commit");
            for report in reports {
                report(Some(StoreError::Commit(e.clone())));
            }
            0
        }
    }
}

/// Copies the log into the database without waiting on readers; frames a reader still
/// needs stay for the next one.
async fn checkpoint(conn: &mut SqliteConnection, step: &'static str) {
    let started = Instant::now();
    let result: std::result::Result<(i64, i64, i64), _> =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await;
    match result {
        Ok((busy, log, done)) => tracing::debug!(
            step,
            busy,
            log,
            done,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "checkpoint"
        ),
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .write(|c| {
                Box::pin(async move {
                    super::super::db::query("CREATE TABLE t (x INTEGER UNIQUE, pad BLOB)")
                        .execute(c)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        (dir, store)
    }

    async fn insert(store: &Store, x: i64) -> Result<()> {
        store
            .write(move |c| {
                Box::pin(async move {
                    super::super::db::query("INSERT INTO t (x, pad) VALUES (?, zeroblob(200))")
                        .bind(x)
                        .execute(c)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn count(store: &Store) -> i64 {
        super::super::db::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failing_write_in_a_batch_undoes_only_itself() {
        let (_dir, store) = store().await;
        // Queued together, so they share transactions; the duplicate and the two-statement
        // job that fails half-way must leave no trace, the others must all land.
        let mut writes = Vec::new();
        for x in 0..50 {
            writes.push(tokio::spawn({
                let store = store.clone();
                async move { insert(&store, x % 40).await }
            }));
        }
        let half_done = store.write(|c| {
            Box::pin(async move {
                super::super::db::query("INSERT INTO t (x) VALUES (1000)")
                    .execute(&mut *c)
                    .await?;
                super::super::db::query("INSERT INTO nowhere VALUES (1)")
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        });
        assert!(half_done.await.is_err());
        let mut failed = 0;
        for w in writes {
            if w.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 10, "the ten duplicates fail");
        assert_eq!(
            count(&store).await,
            40,
            "every other write landed, x = 1000 did not"
        );
    }

    #[tokio::test]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, store) = store().await;
        let panicked = store
            .write::<(), _>(|c| {
                Box::pin(async move {
                    super::super::db::query("INSERT INTO t (x) VALUES (7)")
                        .execute(c)
                        .await?;
                    panic!("a bug in a write");
                })
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Abandoned)),
            "{panicked:?}"
        );
        insert(&store, 8).await.unwrap();
        assert_eq!(
            count(&store).await,
            1,
            "only the write after the panic is there"
        );
    }

    /// The WAL header's checkpoint sequence number: SQLite adds one each time the log
    /// starts over from its beginning.
    fn wal_restarts(dir: &std::path::Path) -> u32 {
        let header = std::fs::read(dir.join("switchboard.db-wal")).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    #[tokio::test]
    async fn the_log_restarts_under_continuous_writes() {
        let (dir, store) = store().await;
        let before = wal_restarts(dir.path());
        // A steady stream with never an idle second: only the two-step checkpoint lets the
        // log start over (a checkpointer racing the writer alone never completes one).
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..3_000 {
                    insert(&store, worker * 1_000_000 + i).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(count(&store).await, 12_000);
        let restarts = wal_restarts(dir.path()) - before;
        assert!(
            restarts >= 2,
            "the log started over {restarts} times during 12,000 writes"
        );
    }

    #[tokio::test]
    async fn writes_after_close_are_refused() {
        let (dir, store) = store().await;
        insert(&store, 1).await.unwrap();
        store.close().await;
        assert!(matches!(insert(&store, 2).await, Err(StoreError::Closed)));
        assert!(
            !dir.path().join("switchboard.db-wal").exists(),
            "a clean close folds the log into the database and removes it"
        );
    }
}
