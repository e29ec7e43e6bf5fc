//! Messages between the nodes of one PostgreSQL database: notifications (LISTEN/NOTIFY) on a
//! few channels, and, for what does not fit in one (8,000 bytes), `relayed_events` rows the
//! notification points at. On SQLite there is one node: nothing is sent, nothing arrives.

use sqlx::postgres::PgListener;

use super::db::{self, Readers};
use super::{Result, Store};
use crate::domain::Timestamp;

/// The most a notification's payload may hold (PostgreSQL's limit is 8,000 bytes).
pub const MAX_NOTIFICATION: usize = 7_900;

/// The channel a listen-in's audio travels on (`listen_id`: 32 hex digits).
pub fn audio_channel(listen_id: &str) -> String {
    format!("sb_audio_{listen_id}")
}

/// Said on an audio channel when the call has ended.
pub const AUDIO_END: &str = "end";

/// A node's ear on the others: the notifications of the channels it listens to.
pub struct Listener(PgListener);

impl Listener {
    /// The next notification: its channel and payload. After the connection was lost (and
    /// taken again), `Ok(None)` says notifications may have been missed meanwhile.
    pub async fn next(&mut self) -> Result<Option<(String, String)>> {
        Ok(self
            .0
            .try_recv()
            .await?
            .map(|n| (n.channel().to_owned(), n.payload().to_owned())))
    }
}

impl Store {
    /// Listens to `channels`; `None` on SQLite, where no other node can speak.
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>> {
        let Readers::Pg(pool) = self.pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Some(Listener(listener)))
    }

    /// Listens to one channel on a connection of its own (a listen-in's audio).
    pub async fn listen_alone(&self, channel: &str) -> Result<Option<Listener>> {
        let Readers::Pg(pool) = self.pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Some(Listener(listener)))
    }

    /// Tells every node listening to `channel` (this one too) `payload`, at most
    /// `MAX_NOTIFICATION` bytes. Nothing on SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if let Readers::Pg(pool) = self.pool() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Keeps `body` for the other nodes to read by the number returned.
    pub async fn put_relayed(&self, body: String, now: Timestamp) -> Result<i64> {
        self.write(move |conn| {
            Box::pin(async move {
                db::query_scalar(
                    "INSERT INTO relayed_events (body, created_at) VALUES (?, ?) RETURNING seq",
                )
                .bind(&body)
                .bind(now.as_millis())
                .fetch_one(conn)
                .await
            })
        })
        .await
    }

    /// What `put_relayed` kept under `seq`, while it is kept.
    pub async fn relayed(&self, seq: i64) -> Result<Option<String>> {
        db::query_scalar("SELECT body FROM relayed_events WHERE seq = ?")
            .bind(seq)
            .fetch_optional(self.pool())
            .await
    }

    /// Forgets what was relayed before `before`.
    pub async fn prune_relayed(&self, before: Timestamp) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("DELETE FROM relayed_events WHERE created_at < ?")
                    .bind(before.as_millis())
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}
