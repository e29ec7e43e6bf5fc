//! Webhook endpoints and their outbox: events (what happened to which call, the body once
//! rendered) and deliveries (one per endpoint and event: status, attempts, next attempt, the
//! last answer). call.started and call.ended are enqueued by triggers on `calls` in the
//! transaction that answers or ends the call (migration `20261206000009_webhooks.sql`);
//! `enqueue` adds other events (call.analyzed) in the caller's own transaction. Signing
//! secrets are not here: they are in the OS keyring, or a server's secrets file (`secrets`).

use super::db::{self, Conn};
use super::dialect::{self, Kind};
use super::nodes;

use serde::Serialize;
use utoipa::ToSchema;

use super::error::{Result, StoreError, existing_or, not_found};
use super::{Store, new_id};
use crate::domain::webhook::envelope;
use crate::domain::{
    DeliveryStatus, Timestamp, WebhookDelivery, WebhookEndpoint, WebhookEventType, WebhookFields,
    WebhookInput,
};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest error text kept for a delivery (an endpoint's answer can be a whole page).
const ERROR_MAX: usize = 300;

const ENDPOINT_COLUMNS: &str =
    "id, url, description, campaign_id, events, enabled, created_at, updated_at";
type EndpointRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    i64,
    i64,
);

fn endpoint(r: EndpointRow) -> Result<WebhookEndpoint> {
    let (id, url, description, campaign_id, events, enabled, created, updated) = r;
    let names: Vec<String> = serde_json::from_str(&events)
        .map_err(|e| StoreError::Corrupt(format!("webhook {id} events: {e}")))?;
    let events = names
        .iter()
        .map(|n| {
            WebhookEventType::parse(n)
                .ok_or_else(|| StoreError::Corrupt(format!("webhook {id} event {n}")))
        })
        .collect::<Result<_>>()?;
    Ok(WebhookEndpoint {
        id,
        url,
        description,
        campaign_id,
        events,
        enabled,
        created_at: Timestamp::from_millis(created),
        updated_at: Timestamp::from_millis(updated),
    })
}

fn events_json(events: &[WebhookEventType]) -> String {
    serde_json::to_string(&events.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .expect("strings serialise")
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.endpoint_id, ev.id, ev.type, ev.call_id, d.status, \
     d.attempts, d.next_attempt_at, d.last_attempt_at, d.response_status, d.error, \
     d.delivered_at, d.created_at \
     FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq";
type DeliveryRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
);

fn delivery(r: DeliveryRow) -> Result<WebhookDelivery> {
    let (id, endpoint_id, event_id, kind, call_id, status, attempts, next, last, code, error) =
        (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10);
    let (delivered, created) = (r.11, r.12);
    Ok(WebhookDelivery {
        event_type: WebhookEventType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook event type {kind}")))?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("webhook delivery status {status}")))?,
        id,
        endpoint_id,
        event_id,
        call_id,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: next.map(Timestamp::from_millis),
        last_attempt_at: last.map(Timestamp::from_millis),
        response_status: code.and_then(|c| u16::try_from(c).ok()),
        error,
        delivered_at: delivered.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(created),
    })
}

async fn fetch_delivery(conn: &mut Conn<'_>, id: i64) -> Result<WebhookDelivery> {
    let row: Option<DeliveryRow> = db::query_as(&format!("{DELIVERY_SELECT} WHERE d.id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    delivery(row.ok_or_else(|| not_found("webhook delivery", &id.to_string()))?)
}

async fn fetch_endpoint(conn: &mut Conn<'_>, id: &str) -> Result<WebhookEndpoint> {
    let row: Option<EndpointRow> = db::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    endpoint(row.ok_or_else(|| not_found("webhook", id))?)
}

/// Endpoints that want `event` about a call of campaign `?1`, as SQL (`e` is the endpoint).
fn wants(kind: Kind) -> String {
    format!(
        "e.enabled AND (e.campaign_id IS NULL OR e.campaign_id = ?1) AND {}",
        dialect::json_array_has(kind, "e.events", "?2")
    )
}

/// Enqueues `event_type` about call `call_id` with `data` as the body's `data`, for every
/// enabled endpoint that wants it, on `conn`: call it inside the write that stores what the
/// event reports, so both commit or neither does. Returns the event's id, or `None` when no
/// endpoint wants it (nothing is written then).
pub(crate) async fn enqueue(
    conn: &mut Conn<'_>,
    call_id: &str,
    event_type: WebhookEventType,
    data: &serde_json::Value,
) -> Result<Option<String>> {
    let campaign: Option<Option<String>> =
        db::query_scalar("SELECT campaign_id FROM calls WHERE id = ?")
            .bind(call_id)
            .fetch_optional(&mut *conn)
            .await?;
    let campaign = campaign.ok_or_else(|| not_found("call", call_id))?;
    let wanted: bool = db::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {})",
        wants(conn.kind())
    ))
    .bind(&campaign)
    .bind(event_type.as_str())
    .fetch_one(&mut *conn)
    .await?;
    if !wanted {
        return Ok(None);
    }
    let id = format!("evt_{}", new_id().replace('-', ""));
    let now = Timestamp::now();
    let seq: i64 = db::query_scalar(
        "INSERT INTO webhook_events (id, type, call_id, data, payload, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(&id)
    .bind(event_type.as_str())
    .bind(call_id)
    .bind(data.to_string())
    .bind(envelope(&id, event_type, now, data))
    .bind(now.as_millis())
    .fetch_one(&mut *conn)
    .await?;
    db::query(&format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, created_at) \
         SELECT e.id, ?3, ?4, ?4 FROM webhook_endpoints e WHERE {}",
        wants(conn.kind())
    ))
    .bind(&campaign)
    .bind(event_type.as_str())
    .bind(seq)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// The deliveries due to be sent, with their endpoints and events (`d`, `e`, `ev`).
const DUE_FROM: &str = "FROM webhook_deliveries d \
     JOIN webhook_endpoints e ON e.id = d.endpoint_id \
     JOIN webhook_events ev ON ev.seq = d.event_seq";

/// SQL: nothing holds delivery `d`'s endpoint at `?` (now), `?` (`nodes::oldest_live`): none
/// of its deliveries is claimed by a live node whose claim has not expired.
fn free() -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM webhook_deliveries c WHERE c.endpoint_id = d.endpoint_id \
         AND c.claimed_by IS NOT NULL AND c.claimed_until >= ? AND NOT {})",
        nodes::dead("c.claimed_by")
    )
}

/// SQL: delivery `d` is due at `?` and may be claimed at `?`, `?` (see `free`).
fn claimable() -> String {
    format!(
        "d.status = 'pending' AND d.next_attempt_at <= ? AND e.enabled \
         AND ev.payload IS NOT NULL AND {}",
        free()
    )
}

/// SQL: ` AND col NOT IN (?, …)` for `n` placeholders, nothing for none.
fn not_in(col: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    format!(" AND {col} NOT IN ({})", vec!["?"; n].join(", "))
}

/// An event whose body is not written yet (call.started, call.ended: enqueued by trigger).
#[derive(Debug, Clone)]
pub struct Unrendered {
    pub seq: i64,
    pub id: String,
    pub event_type: WebhookEventType,
    pub call_id: Option<String>,
    pub created_at: Timestamp,
}

/// A delivery whose time has come, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    /// Attempts already made.
    pub attempts: u32,
    pub endpoint_id: String,
    pub url: String,
    pub event_id: String,
    pub event_type: WebhookEventType,
    pub payload: String,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// It did not: its answer's status if any, why, and when to try again (`None`: give up).
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<Timestamp>,
    },
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<WebhookDelivery>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

impl Store {
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        let rows: Vec<EndpointRow> = db::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(endpoint).collect()
    }

    pub async fn get_webhook(&self, id: &str) -> Result<WebhookEndpoint> {
        let mut conn = self.pool().acquire().await?;
        fetch_endpoint(&mut conn, id).await
    }

    /// Creates endpoint `id` (the caller chose it: its signing secret is kept under it).
    pub async fn create_webhook(&self, id: &str, f: WebhookFields) -> Result<WebhookEndpoint> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now().as_millis();
                let done = db::query(&format!(
                    "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .bind(&id)
                .bind(&f.url)
                .bind(&f.description)
                .bind(&f.campaign_id)
                .bind(events_json(&f.events))
                .bind(f.enabled)
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await;
                existing_or(done, || no_campaign(f.campaign_id.as_deref()))?;
                fetch_endpoint(conn, &id).await
            })
        })
        .await
    }

    /// Changes endpoint `id` as `input` says (fields left out are kept).
    pub async fn update_webhook(&self, id: &str, input: WebhookInput) -> Result<WebhookEndpoint> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let current = fetch_endpoint(conn, &id).await?;
                let f = WebhookFields::apply(Some(&current), input)?;
                let done = db::query(
                    "UPDATE webhook_endpoints SET url = ?, description = ?, campaign_id = ?, \
                     events = ?, enabled = ?, updated_at = ? WHERE id = ?",
                )
                .bind(&f.url)
                .bind(&f.description)
                .bind(&f.campaign_id)
                .bind(events_json(&f.events))
                .bind(f.enabled)
                .bind(Timestamp::now().as_millis())
                .bind(&id)
                .execute(&mut *conn)
                .await;
                existing_or(done, || no_campaign(f.campaign_id.as_deref()))?;
                fetch_endpoint(conn, &id).await
            })
        })
        .await
    }

    /// Deletes endpoint `id` and its deliveries.
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("DELETE FROM webhook_endpoints WHERE id = ?")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("webhook", &id));
                }
                // Events no endpoint will be sent any more.
                db::query(
                    "DELETE FROM webhook_events WHERE NOT EXISTS \
                     (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = webhook_events.seq)",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Enqueues `event_type` about call `call_id` (see [`enqueue`]) in a write of its own. A
    /// caller that stores what the event reports should call `enqueue` inside that write
    /// instead, so a crash cannot keep one without the other.
    pub async fn enqueue_webhook_event(
        &self,
        call_id: &str,
        event_type: WebhookEventType,
        data: serde_json::Value,
    ) -> Result<Option<String>> {
        let call_id = call_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move { enqueue(conn, &call_id, event_type, &data).await })
        })
        .await
    }

    /// Events (oldest first) whose body is still to be written.
    pub async fn unrendered_webhook_events(&self, limit: u32) -> Result<Vec<Unrendered>> {
        let rows: Vec<(i64, String, String, Option<String>, i64)> = db::query_as(
            "SELECT seq, id, type, call_id, created_at FROM webhook_events \
             WHERE payload IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(seq, id, kind, call_id, at)| {
                Ok(Unrendered {
                    event_type: WebhookEventType::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("webhook event type {kind}")))?,
                    seq,
                    id,
                    call_id,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    /// Writes event `seq`'s body, unless one is written already (it never changes after).
    pub async fn render_webhook_event(&self, seq: i64, payload: String) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "UPDATE webhook_events SET payload = ? WHERE seq = ? AND payload IS NULL",
                )
                .bind(&payload)
                .bind(seq)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Endpoints with deliveries due at `now` that a node may claim (see
    /// [`Store::claim_webhook_deliveries`]): read before claiming, which writes, and for a
    /// node to leave those whose signing secret it lacks to the others.
    pub async fn claimable_webhook_endpoints(&self, now: Timestamp) -> Result<Vec<String>> {
        db::query_scalar(&format!(
            "SELECT DISTINCT d.endpoint_id {DUE_FROM} WHERE {} ORDER BY d.endpoint_id",
            claimable()
        ))
        .bind(now.as_millis())
        .bind(now.as_millis())
        .bind(nodes::oldest_live(now))
        .fetch_all(self.pool())
        .await
    }

    /// Claims for this node up to `limit` deliveries due at `now` to enabled endpoints but
    /// those in `skip`, the longest waiting first, and returns them in that order. A
    /// delivery is claimable when nothing holds its endpoint: no delivery of it is claimed by
    /// a live node whose claim has not expired, so each endpoint's deliveries go out from one
    /// node at a time, in order. An endpoint's claims last `lease_ms` for each of its
    /// deliveries taken (they are sent one after another); the attempt's record ends them.
    pub async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        skip: Vec<String>,
        lease_ms: i64,
    ) -> Result<Vec<Due>> {
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT d.id, d.attempts, e.id, e.url, ev.id, ev.type, ev.payload \
                     {DUE_FROM} WHERE {}{} ORDER BY d.next_attempt_at, d.id LIMIT ?",
                    claimable(),
                    not_in("d.endpoint_id", skip.len())
                );
                let mut q =
                    db::query_as::<(i64, i64, String, String, String, String, String)>(&sql)
                        .bind(now.as_millis())
                        .bind(now.as_millis())
                        .bind(nodes::oldest_live(now));
                for id in &skip {
                    q = q.bind(id.as_str());
                }
                let rows = q.bind(i64::from(limit)).fetch_all(&mut *conn).await?;
                let due = rows
                    .into_iter()
                    .map(
                        |(id, attempts, endpoint_id, url, event_id, kind, payload)| {
                            Ok(Due {
                                event_type: WebhookEventType::parse(&kind).ok_or_else(|| {
                                    StoreError::Corrupt(format!("webhook event type {kind}"))
                                })?,
                                id,
                                attempts: u32::try_from(attempts).unwrap_or(0),
                                endpoint_id,
                                url,
                                event_id,
                                payload,
                            })
                        },
                    )
                    .collect::<Result<Vec<Due>>>()?;
                let mut endpoints: Vec<(&str, Vec<i64>)> = Vec::new();
                for d in &due {
                    match endpoints.iter_mut().find(|(e, _)| *e == d.endpoint_id) {
                        Some((_, ids)) => ids.push(d.id),
                        None => endpoints.push((&d.endpoint_id, vec![d.id])),
                    }
                }
                for (_, ids) in endpoints {
                    let until = now
                        .as_millis()
                        .saturating_add(lease_ms.saturating_mul(ids.len() as i64));
                    let mut q = db::Builder::new("UPDATE webhook_deliveries SET claimed_by = ");
                    q.push_bind(node.as_str())
                        .push(", claimed_until = ")
                        .push_bind(until)
                        .push(" WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in ids {
                        list.push_bind(id);
                    }
                    q.push(")");
                    q.build().execute(&mut *conn).await?;
                }
                Ok(due)
            })
        })
        .await
    }

    /// When the next pending delivery this node may claim (to an enabled endpoint not in
    /// `skip`, nothing holding it at `now`) is due, if any is.
    pub async fn next_webhook_due(
        &self,
        now: Timestamp,
        skip: &[String],
    ) -> Result<Option<Timestamp>> {
        let sql = format!(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND e.enabled AND {}{}",
            free(),
            not_in("d.endpoint_id", skip.len())
        );
        let mut q = db::query_scalar::<Option<i64>>(&sql)
            .bind(now.as_millis())
            .bind(nodes::oldest_live(now));
        for id in skip {
            q = q.bind(id.as_str());
        }
        let at = q.fetch_one(self.pool()).await?;
        Ok(at.map(Timestamp::from_millis))
    }

    /// Records attempt number `attempts + 1` of delivery `id`, made at `at`. A delivery no
    /// longer pending (redelivered meanwhile: then it is pending again, and this answer still
    /// counts) is updated all the same; a deleted one is `NotFound`.
    pub async fn record_webhook_attempt(
        &self,
        id: i64,
        at: Timestamp,
        attempt: Attempt,
    ) -> Result<WebhookDelivery> {
        let node = self.node_id().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let (status, code, error, next, delivered) = match attempt {
                    Attempt::Delivered { status } => (
                        DeliveryStatus::Delivered,
                        Some(status),
                        None,
                        None,
                        Some(at.as_millis()),
                    ),
                    Attempt::Failed {
                        status,
                        error,
                        retry_at,
                    } => (
                        if retry_at.is_some() {
                            DeliveryStatus::Pending
                        } else {
                            DeliveryStatus::Failed
                        },
                        status,
                        Some(error.chars().take(ERROR_MAX).collect::<String>()),
                        retry_at.map(Timestamp::as_millis),
                        None,
                    ),
                };
                // This node's claim ends with the attempt (one another node took over
                // meanwhile, its own having expired, stays that node's).
                let done = db::query(
                    "UPDATE webhook_deliveries SET status = ?1, attempts = attempts + 1, \
                     last_attempt_at = ?2, response_status = ?3, error = ?4, \
                     next_attempt_at = ?5, delivered_at = COALESCE(?6, delivered_at), \
                     claimed_until = CASE WHEN claimed_by = ?7 THEN NULL ELSE claimed_until END, \
                     claimed_by = CASE WHEN claimed_by = ?7 THEN NULL ELSE claimed_by END \
                     WHERE id = ?8",
                )
                .bind(status.as_str())
                .bind(at.as_millis())
                .bind(code.map(i64::from))
                .bind(error)
                .bind(next)
                .bind(delivered)
                .bind(&node)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("webhook delivery", &id.to_string()));
                }
                fetch_delivery(conn, id).await
            })
        })
        .await
    }

    /// Endpoint `endpoint_id`'s deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: u32,
        offset: u32,
    ) -> Result<DeliveryPage> {
        let mut conn = self.pool().acquire().await?;
        fetch_endpoint(&mut conn, endpoint_id).await?;
        let total: i64 =
            db::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?")
                .bind(endpoint_id)
                .fetch_one(&mut *conn)
                .await?;
        let rows: Vec<DeliveryRow> = db::query_as(&format!(
            "{DELIVERY_SELECT} WHERE d.endpoint_id = ? ORDER BY d.id DESC LIMIT ? OFFSET ?"
        ))
        .bind(endpoint_id)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        Ok(DeliveryPage {
            items: rows.into_iter().map(delivery).collect::<Result<_>>()?,
            total,
            limit,
            offset,
        })
    }

    pub async fn get_webhook_delivery(&self, id: i64) -> Result<WebhookDelivery> {
        let mut conn = self.pool().acquire().await?;
        fetch_delivery(&mut conn, id).await
    }

    /// Deletes up to `batch` events made before `before`, oldest first, with their deliveries,
    /// unless one of them is still owed (pending: retrying, or held by a disabled endpoint).
    /// Returns how many events went.
    pub async fn prune_webhook_log(&self, before: Timestamp, batch: u32) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "DELETE FROM webhook_events WHERE seq IN (SELECT e.seq FROM webhook_events e \
                     WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
                     WHERE d.event_seq = e.seq AND d.status = 'pending') \
                     ORDER BY e.created_at LIMIT ?)",
                )
                .bind(before.as_millis())
                .bind(i64::from(batch))
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    /// Queues delivery `id` again, due at `now`, with a fresh retry schedule; the event (its
    /// id, body and idempotency key) is the same.
    pub async fn redeliver_webhook(&self, id: i64, now: Timestamp) -> Result<WebhookDelivery> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
                     next_attempt_at = ? WHERE id = ?",
                )
                .bind(now.as_millis())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("webhook delivery", &id.to_string()));
                }
                fetch_delivery(conn, id).await
            })
        })
        .await
    }
}

fn no_campaign(id: Option<&str>) -> StoreError {
    crate::domain::Invalid::new(
        "campaign_id",
        format!("no campaign {}", id.unwrap_or_default()),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endpoints `names`, each with `per` rendered events' deliveries due since `due`: their
    /// ids per endpoint, oldest first.
    async fn seed(store: &Store, names: &[&str], per: i64, due: i64) -> Vec<Vec<i64>> {
        let mut sql = String::new();
        for (n, name) in names.iter().enumerate() {
            sql.push_str(&format!(
                "INSERT INTO webhook_endpoints (id, url, events, created_at, updated_at) \
                 VALUES ('{name}', 'http://127.0.0.1:9/{name}', '[]', 0, 0);"
            ));
            for i in 0..per {
                // Interleaved across endpoints in time, as a busy log is.
                let at = due + i * 10 + n as i64;
                sql.push_str(&format!(
                    "INSERT INTO webhook_events (id, type, payload, created_at) \
                     VALUES ('ev-{name}-{i}', 'call.ended', '{{}}', {at}); \
                     INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, \
                     created_at) SELECT '{name}', seq, {at}, {at} FROM webhook_events \
                     WHERE id = 'ev-{name}-{i}';"
                ));
            }
        }
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        store
            .write(move |conn| {
                Box::pin(async move {
                    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
                        db::query(statement).execute(&mut *conn).await?;
                    }
                    let mut ids = Vec::new();
                    for name in names {
                        ids.push(
                            db::query_scalar(
                                "SELECT id FROM webhook_deliveries WHERE endpoint_id = ? \
                                 ORDER BY next_attempt_at",
                            )
                            .bind(&name)
                            .fetch_all(&mut *conn)
                            .await?,
                        );
                    }
                    Ok(ids)
                })
            })
            .await
            .unwrap()
    }

    fn ids(due: &[Due]) -> Vec<i64> {
        due.iter().map(|d| d.id).collect()
    }

    /// A due delivery is claimed by one node, an endpoint's deliveries by one node at a time
    /// and in their order; a claim ends with the attempt's record, its lease running out, or
    /// its node dying; a node leaves the endpoints it is told to skip (it lacks their secret).
    /// On PostgreSQL, two nodes claiming at once get disjoint sets, whole endpoints each.
    #[tokio::test]
    async fn each_delivery_and_each_endpoint_is_claimed_by_one_node_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = Store::nodes_for_test(dir.path()).await.unwrap();
        let now = Timestamp::now();
        let lease = 30_000;
        let seeded = seed(&one, &["a", "b", "c"], 3, now.as_millis() - 60_000).await;
        let (a, b, c) = (&seeded[0], &seeded[1], &seeded[2]);

        let first = one
            .claim_webhook_deliveries(now, 100, vec!["c".into()], lease)
            .await
            .unwrap();
        let mut want: Vec<i64> = (0..3).flat_map(|i| [a[i], b[i]]).collect();
        assert_eq!(ids(&first), want, "a's and b's, the longest waiting first");
        let again = one
            .claim_webhook_deliveries(now, 100, Vec::new(), lease)
            .await
            .unwrap();
        assert_eq!(&ids(&again), c, "only c's: a's and b's are claimed already");
        assert!(
            one.claim_webhook_deliveries(now, 100, Vec::new(), lease)
                .await
                .unwrap()
                .is_empty(),
            "nothing is claimed twice"
        );
        assert_eq!(
            one.next_webhook_due(now, &[]).await.unwrap(),
            None,
            "nothing due that this node may claim"
        );

        // a's first attempt is recorded: its claim ends, but a stays held by the other two.
        one.record_webhook_attempt(a[0], now, Attempt::Delivered { status: 200 })
            .await
            .unwrap();
        one.redeliver_webhook(a[0], now).await.unwrap();
        assert!(
            one.claim_webhook_deliveries(now, 100, Vec::new(), lease)
                .await
                .unwrap()
                .is_empty(),
            "a's due again, but a is still being sent to: its order is kept"
        );

        // Three deliveries each, three leases: past them, what is left is claimable again.
        let later = Timestamp::from_millis(now.as_millis() + 3 * lease + 1);
        let expired = one
            .claim_webhook_deliveries(later, 100, Vec::new(), lease)
            .await
            .unwrap();
        let mut got = ids(&expired);
        got.sort_unstable();
        want = seeded.iter().flatten().copied().collect();
        want.sort_unstable();
        assert_eq!(got, want, "every lease ran out");

        // A dead node's claims are void at once, whatever their lease says.
        one.write(|conn| {
            Box::pin(async move {
                db::query("UPDATE webhook_deliveries SET claimed_by = 'gone', claimed_until = ?")
                    .bind(i64::MAX)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        assert_eq!(
            one.claim_webhook_deliveries(later, 100, Vec::new(), lease)
                .await
                .unwrap()
                .len(),
            9,
            "a node not alive holds nothing"
        );

        let Some(two) = two else { return };
        // Two nodes at once, on a log of their own.
        one.write(|conn| {
            Box::pin(async move {
                db::query("UPDATE webhook_deliveries SET status = 'delivered'")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
        let seeded = seed(
            &one,
            &["p", "q", "r", "s", "t", "u"],
            4,
            now.as_millis() - 60_000,
        )
        .await;
        // Three each: the first to claim takes three endpoints' first deliveries, the other
        // the next three's (the first's are held).
        let (x, y) = tokio::join!(
            one.claim_webhook_deliveries(now, 3, Vec::new(), lease),
            two.claim_webhook_deliveries(now, 3, Vec::new(), lease),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!((x.len(), y.len()), (3, 3), "{x:?} {y:?}");
        for d in &x {
            assert!(
                !y.iter().any(|e| e.endpoint_id == d.endpoint_id),
                "endpoint {} went to both nodes",
                d.endpoint_id
            );
        }
        let firsts: Vec<i64> = seeded.iter().map(|e| e[0]).collect();
        let mut got: Vec<i64> = ids(&x).into_iter().chain(ids(&y)).collect();
        got.sort_unstable();
        assert_eq!(got, firsts, "each endpoint's first delivery, once");
        let mine: i64 =
            db::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE claimed_by = ?")
                .bind(two.node_id())
                .fetch_one(one.pool())
                .await
                .unwrap();
        assert_eq!(mine, 3, "claimed in the second node's name");
        assert!(
            two.claim_webhook_deliveries(now, 100, Vec::new(), lease)
                .await
                .unwrap()
                .is_empty(),
            "every endpoint is held by one node or the other"
        );
    }

    /// The log's pruning: old events go with their deliveries, delivered or given up, oldest
    /// first and no more than asked; an old event still owed somewhere stays whole, and so does
    /// everything younger.
    #[tokio::test]
    async fn old_events_go_with_their_deliveries_unless_one_is_still_owed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_for_test(dir.path()).await.unwrap();
        let day = 24 * 3600 * 1000;
        let now = 1_800_000_000_000_i64;
        let mut sql = String::from(
            "INSERT INTO webhook_endpoints (id, url, events, created_at, updated_at) VALUES \
             ('a', 'http://127.0.0.1:9/a', '[]', 0, 0), ('b', 'http://127.0.0.1:9/b', '[]', 0, 0);",
        );
        // (seq, age in days, status at a, status at b)
        let events = [
            (1, 40, "delivered", "delivered"),
            (2, 39, "failed", "delivered"),
            (3, 38, "delivered", "pending"),
            (4, 35, "delivered", "delivered"),
            (5, 10, "delivered", "delivered"),
        ];
        for (seq, age, a, b) in events {
            let at = now - age * day;
            sql.push_str(&format!(
                "INSERT INTO webhook_events (seq, id, type, created_at) \
                 VALUES ({seq}, 'ev{seq}', 'call.ended', {at}); \
                 INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, created_at) \
                 VALUES ('a', {seq}, '{a}', {at}), ('b', {seq}, '{b}', {at});"
            ));
        }
        store
            .write(move |conn| {
                Box::pin(async move {
                    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
                        db::query(statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        let left = async || -> Vec<(i64, i64)> {
            db::query_as(
                "SELECT e.seq, count(d.id) FROM webhook_events e \
                 LEFT JOIN webhook_deliveries d ON d.event_seq = e.seq GROUP BY e.seq ORDER BY e.seq",
            )
            .fetch_all(store.pool())
            .await
            .unwrap()
        };
        let cutoff = Timestamp::from_millis(now - 30 * day);
        assert_eq!(store.prune_webhook_log(cutoff, 1).await.unwrap(), 1);
        assert_eq!(
            left().await,
            [(2, 2), (3, 2), (4, 2), (5, 2)],
            "the oldest first"
        );
        assert_eq!(store.prune_webhook_log(cutoff, 100).await.unwrap(), 2);
        assert_eq!(
            left().await,
            [(3, 2), (5, 2)],
            "the owed one stays whole, the young one too"
        );
        assert_eq!(store.prune_webhook_log(cutoff, 100).await.unwrap(), 0);
    }
}
