//! The nodes sharing this database, and what each holds. A node registers itself when it
//! opens the store and renews its heartbeat while it runs; one whose heartbeat is older than
//! `NODE_TIMEOUT` is dead, and what it held (its calls, its analyses, its setups) is for the
//! survivors to square. On SQLite there is one node, and the nodes of earlier runs are dead.

use sqlx::{ConnectOptions as _, Connection as _};

use super::db::{self, Readers};
use super::{Result, Store};
use crate::domain::{Call, Timestamp};

/// A node not seen for this long is dead. Heartbeats come every `HEARTBEAT_EVERY`; the rest
/// is room for a slow database and clocks a little apart (nodes' clocks must agree to within
/// a second or so: NTP).
pub const NODE_TIMEOUT_MS: i64 = 6_000;
/// How often a node renews its heartbeat.
pub const HEARTBEAT_EVERY_MS: u64 = 1_000;

/// SQL: the node `col` names is not a live one at `?` (the oldest heartbeat that counts:
/// bind [`oldest_live`]).
pub(crate) fn dead(col: &str) -> String {
    format!("({col} IS NULL OR {col} NOT IN (SELECT id FROM nodes WHERE seen_at >= ?))")
}

/// The oldest heartbeat of a node alive at `now`: what [`dead`]'s placeholder takes.
pub(crate) fn oldest_live(now: Timestamp) -> i64 {
    now.as_millis() - NODE_TIMEOUT_MS
}

/// A node, as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Node {
    pub id: String,
    pub url: Option<String>,
    pub started_at: i64,
    pub seen_at: i64,
}

impl Store {
    /// This node's id, new on every start (a restarted node is a new one: what its old self
    /// held is squared as a dead node's).
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Renews this node's heartbeat, registering it (with its public base `url`) if it is not
    /// there (its first beat, or a row swept away while it was paused for too long).
    pub async fn heartbeat(&self, url: Option<&str>, now: Timestamp) -> Result<()> {
        let (id, url) = (self.node.to_string(), url.map(str::to_owned));
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("UPDATE nodes SET seen_at = ?, url = ? WHERE id = ?")
                    .bind(now.as_millis())
                    .bind(&url)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    db::query(
                        "INSERT INTO nodes (id, url, started_at, seen_at) VALUES (?, ?, ?, ?)",
                    )
                    .bind(&id)
                    .bind(&url)
                    .bind(now.as_millis())
                    .bind(now.as_millis())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// The nodes alive at `now`, the longest running first.
    pub async fn live_nodes(&self, now: Timestamp) -> Result<Vec<Node>> {
        db::query_as(
            "SELECT id, url, started_at, seen_at FROM nodes WHERE seen_at >= ? \
             ORDER BY started_at, id",
        )
        .bind(now.as_millis() - NODE_TIMEOUT_MS)
        .fetch_all(self.pool())
        .await
    }

    /// Whether `node` is alive at `now`.
    pub async fn node_alive(&self, node: &str, now: Timestamp) -> Result<bool> {
        db::query_scalar("SELECT EXISTS (SELECT 1 FROM nodes WHERE id = ? AND seen_at >= ?)")
            .bind(node)
            .bind(now.as_millis() - NODE_TIMEOUT_MS)
            .fetch_one(self.pool())
            .await
    }

    /// Whether another node, alive at `now`, holds live call `call_id` (its session runs
    /// there).
    pub async fn held_elsewhere(&self, call_id: &str, now: Timestamp) -> Result<bool> {
        db::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM calls c JOIN nodes n ON n.id = c.node_id \
             WHERE c.id = ? AND c.status IN {} AND n.id <> ? AND n.seen_at >= ?)",
            super::call_rows::LIVE
        ))
        .bind(call_id)
        .bind(self.node_id())
        .bind(now.as_millis() - NODE_TIMEOUT_MS)
        .fetch_one(self.pool())
        .await
    }

    /// The node that answered or placed call `call_id`.
    pub async fn call_node(&self, call_id: &str) -> Result<Option<String>> {
        Ok(db::query_scalar("SELECT node_id FROM calls WHERE id = ?")
            .bind(call_id)
            .fetch_optional(self.pool())
            .await?
            .flatten())
    }

    /// Forgets nodes dead since before `before` that hold nothing any more.
    pub async fn forget_nodes(&self, before: Timestamp) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(&format!(
                    "DELETE FROM nodes WHERE seen_at < ? AND NOT EXISTS \
                     (SELECT 1 FROM calls WHERE node_id = nodes.id AND status IN {})",
                    super::call_rows::LIVE
                ))
                .bind(before.as_millis())
                .execute(conn)
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    /// Live calls (by status) whose node is dead at `now`, each with whether that node
    /// bridged its media (a Twilio or Telnyx call not handed over to Retell): nothing does now.
    /// LiveKit's calls and those handed to Retell run elsewhere and go on without the node.
    pub async fn calls_of_dead_nodes(&self, now: Timestamp) -> Result<Vec<(Call, bool)>> {
        let sql = format!(
            "{} WHERE c.status IN {} AND {} ORDER BY c.started_at LIMIT 500",
            super::call_rows::SELECT,
            super::call_rows::LIVE,
            dead("c.node_id")
        );
        let calls: Vec<Call> = db::query_as::<super::call_rows::CallRow>(&sql)
            .bind(now.as_millis() - NODE_TIMEOUT_MS)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Call::try_from)
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(calls.len());
        for call in calls {
            let handed_over: bool =
                db::query_scalar("SELECT EXISTS (SELECT 1 FROM retell_calls WHERE call_id = ?)")
                    .bind(&call.id)
                    .fetch_one(self.pool())
                    .await?;
            let bridged = call.carrier.media_bridged_here() && !handed_over;
            out.push((call, bridged));
        }
        Ok(out)
    }
}

/// A role only one node holds at a time (running the campaigns), while it holds this. On
/// PostgreSQL a session advisory lock (the schema's own) on a connection of its own: it goes
/// the moment the node's connection does (a node killed, a network cut), and another node
/// takes it.
pub struct Lease {
    conn: Option<sqlx::PgConnection>,
}

impl Lease {
    /// Whether the role is still held (the lock's connection still answers).
    pub async fn held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => c.ping().await.is_ok(),
        }
    }
}

impl Store {
    /// Takes the role `key` names if no node holds it. On SQLite, this node is the only one.
    pub async fn try_lease(&self, key: i64) -> Result<Option<Lease>> {
        let Readers::Pg(pool) = self.pool() else {
            return Ok(Some(Lease { conn: None }));
        };
        let mut conn = pool.connect_options().connect().await?;
        let sql = format!(
            "SELECT pg_try_advisory_lock({})",
            super::writer::SCHEMA_LOCK.replace('?', "$1")
        );
        let got: bool = sqlx::query_scalar(&sql)
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if got {
            Ok(Some(Lease { conn: Some(conn) }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Node `id`, the one that ran on this node's data directory before it, is dead now,
    /// whatever its last heartbeat says: a data directory has one node at a time, so what
    /// the last one held (its analyses, its setups, its recordings' files) is squared at once
    /// after a restart rather than `NODE_TIMEOUT_MS` later, on PostgreSQL as on SQLite.
    pub async fn retire_node(&self, id: &str) -> Result<()> {
        if id == &*self.node {
            return Ok(());
        }
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query("UPDATE nodes SET seen_at = 0 WHERE id = ?")
                    .bind(&id)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// On SQLite, every node but this one is from an earlier run: dead now, whatever its last
    /// heartbeat says, so what it held is squared at once.
    pub async fn retire_other_nodes(&self) -> Result<()> {
        if self.kind() != super::Kind::Sqlite {
            return Ok(());
        }
        let id = self.node.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                db::query("UPDATE nodes SET seen_at = 0 WHERE id <> ?")
                    .bind(&id)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clusters in two schemas of one database (on PostgreSQL, `open_for_test` gives each
    /// store a schema of its own) lead each their own campaigns; within one, the role is held
    /// once.
    #[tokio::test]
    async fn a_lease_is_held_once_within_a_schema_and_apart_from_other_schemas() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Store::open_for_test(a_dir.path()).await.unwrap();
        let b = Store::open_for_test(b_dir.path()).await.unwrap();
        let held = a.try_lease(7).await.unwrap();
        assert!(held.is_some(), "nobody held it");
        assert!(
            b.try_lease(7).await.unwrap().is_some(),
            "another schema's role is another cluster's"
        );
        if a.kind() == super::super::Kind::Postgres {
            assert!(
                a.try_lease(7).await.unwrap().is_none(),
                "within a schema, one holder at a time"
            );
            drop(held);
            let mut again = None;
            for _ in 0..50 {
                again = a.try_lease(7).await.unwrap();
                if again.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert!(again.is_some(), "a lease dropped is free again");
        }
    }
}
