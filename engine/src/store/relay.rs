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
pub struct Listener(PgListener, std::collections::HashMap<String, String>);

impl Listener {
    /// The next notification: its channel and payload. After the connection was lost (and
    /// taken again), `Ok(None)` says notifications may have been missed meanwhile.
    pub async fn next(&mut self) -> Result<Option<(String, String)>> {
        Ok(self.0.try_recv().await?.map(|n| {
            let channel = self
                .1
                .get(n.channel())
                .cloned()
                .unwrap_or_else(|| n.channel().to_owned());
            (channel, n.payload().to_owned())
        }))
    }
}

impl Store {
    /// `channel` as this schema's own: notification channels are the whole database's, and
    /// nodes of another schema (another deployment, another test) must not hear these.
    fn scoped(&self, channel: &str) -> String {
        // FNV-1a of the schema's name: short, and stable across nodes and versions.
        let mut h: u32 = 0x811c_9dc5;
        for b in self.schema.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        format!("{channel}_{h:08x}")
    }

    /// Listens to `channels`; `None` on SQLite, where no other node can speak. A
    /// notification comes back with the channel's name as given here.
    pub async fn listen(&self, channels: &[&str]) -> Result<Option<Listener>> {
        let Readers::Pg(pool) = self.pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        let scoped: Vec<String> = channels.iter().map(|c| self.scoped(c)).collect();
        listener
            .listen_all(scoped.iter().map(String::as_str))
            .await?;
        let names = channels
            .iter()
            .zip(scoped)
            .map(|(c, s)| (s, (*c).to_owned()))
            .collect();
        Ok(Some(Listener(listener, names)))
    }

    /// Listens to one channel on a connection of its own (a listen-in's audio).
    pub async fn listen_alone(&self, channel: &str) -> Result<Option<Listener>> {
        let Readers::Pg(pool) = self.pool() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        let scoped = self.scoped(channel);
        listener.listen(&scoped).await?;
        Ok(Some(Listener(
            listener,
            [(scoped, channel.to_owned())].into_iter().collect(),
        )))
    }

    /// Tells every node listening to `channel` (this one too) `payload`, at most
    /// `MAX_NOTIFICATION` bytes. Nothing on SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if let Readers::Pg(pool) = self.pool() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(self.scoped(channel))
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
