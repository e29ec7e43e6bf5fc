//! The outbox's delivery task: one per engine. Each round writes the bodies of new events
//! (the call as it then stands), then sends the deliveries that are due: endpoints in
//! parallel (a few at once), each endpoint's deliveries one after another, oldest first, each
//! with a 10-second timeout. A 2xx answer delivers; anything else (another status, no
//! answer, a redirect) waits `domain::webhook::retry_wait_ms` with jitter and tries again,
//! until the eighth attempt fails and the delivery is given up. Every row stays in the
//! database until it is delivered or given up, so a crash or restart loses none: at worst a
//! delivery sent just before a crash is sent again, with the same `Idempotency-Key`.
//!
//! With several nodes on one database each node's task claims what it sends (in a write, so
//! under the cluster's write lock): an endpoint's deliveries are claimed by one node at a
//! time, so none is sent twice at once and each endpoint hears of its events in order. A
//! claim lasts until the attempt is recorded, its lease runs out, or its node dies. Signing
//! secrets are each node's own: on a shared database a node leaves the deliveries of an
//! endpoint whose secret it lacks to the nodes that have it; alone (SQLite), it records them
//! failed, saying why, as ever.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use super::signature::sign;
use crate::domain::webhook::{envelope, jittered, retry_wait_ms};
use crate::domain::{DeliveryStatus, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::Kind;
use crate::store::webhooks::{Attempt, Due};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim on a delivery lasts, for each of its endpoint's deliveries claimed with
/// it (they are sent one after another): the attempt's `TIMEOUT` and room for a slow
/// database. A claim outlives it only if its node hangs; another node then takes over.
const LEASE_MS: i64 = 30_000;
/// Endpoints sent to at the same time.
const PARALLEL_ENDPOINTS: usize = 4;
/// Deliveries taken per round.
const BATCH: u32 = 32;
/// The longest the task sleeps with nothing due: a backstop for a write that woke no one.
const IDLE: Duration = Duration::from_secs(1);
/// Woken by a change, the worker waits this long for the changes behind it before a round:
/// under a burst of calls, a round per tenth of a second rather than rounds of reads per call
/// (which cost the busy store more than the deliveries they find).
const GATHER: Duration = Duration::from_millis(100);
/// The most of an endpoint's answer kept in the delivery log.
const ANSWER_MAX: usize = 200;

/// Starts the delivery task; it ends when the engine stops.
pub fn start(engine: &Engine) {
    let engine = engine.clone();
    tokio::spawn(async move { run(engine).await });
}

async fn run(engine: Engine) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        // A redirect is a failure: following it would send a signed body somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; none will be sent");
            return;
        }
    };
    let mut bus = engine.events().subscribe();
    let mut unsigned = HashSet::new();
    let mut skip = Vec::new();
    while !engine.is_stopping() {
        match round(&engine, &client, &mut unsigned).await {
            Ok(skipped) => skip = skipped,
            Err(e) => tracing::warn!(error = %e, "webhooks: a delivery round failed"),
        }
        let wait = match engine
            .store()
            .next_webhook_due(Timestamp::now(), &skip)
            .await
        {
            Ok(Some(at)) => {
                let ms = at.as_millis() - Timestamp::now().as_millis();
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(IDLE)
            }
            _ => IDLE,
        };
        if wait.is_zero() {
            continue;
        }
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        // Woken early by what may have enqueued or requeued something.
        let woken = loop {
            tokio::select! {
                () = engine.stopping() => return,
                () = &mut sleep => break false,
                event = bus.next() => match event.as_deref() {
                    None => return,
                    Some(Event::CallUpdated { .. } | Event::CallCreated { .. } | Event::Lagged { .. }) => break true,
                    Some(Event::WebhookDelivery { delivery })
                        if delivery.status == DeliveryStatus::Pending && delivery.attempts == 0 => break true,
                    Some(_) => {}
                },
            }
        };
        if woken {
            tokio::select! {
                () = engine.stopping() => return,
                () = tokio::time::sleep(GATHER) => {}
            }
            bus.skip_waiting();
        }
    }
}

/// Renders new events, claims what is due and sends it. Returns the endpoints left to other
/// nodes (this one lacks their secrets).
async fn round(
    engine: &Engine,
    client: &reqwest::Client,
    unsigned: &mut HashSet<String>,
) -> crate::store::Result<Vec<String>> {
    render(engine).await?;
    // Read first: a claim is a write (on PostgreSQL, under the cluster's lock), and most
    // rounds find nothing due.
    let due_to = engine
        .store()
        .claimable_webhook_endpoints(Timestamp::now())
        .await?;
    let skip = match engine.store().kind() {
        Kind::Postgres => without_secret(engine, &due_to, unsigned).await,
        Kind::Sqlite => Vec::new(),
    };
    if skip.len() == due_to.len() {
        return Ok(skip);
    }
    let due = engine
        .store()
        .claim_webhook_deliveries(Timestamp::now(), BATCH, skip.clone(), LEASE_MS)
        .await?;
    // Per endpoint, in order: a CRM hears of a call's start before its end when both wait.
    let mut groups: Vec<Vec<Due>> = Vec::new();
    for d in due {
        match groups
            .iter_mut()
            .find(|g| g[0].endpoint_id == d.endpoint_id)
        {
            Some(g) => g.push(d),
            None => groups.push(vec![d]),
        }
    }
    futures_util::stream::iter(groups)
        .for_each_concurrent(PARALLEL_ENDPOINTS, |group| async move {
            for due in group {
                deliver(engine, client, due).await;
            }
        })
        .await;
    Ok(skip)
}

/// Those of `endpoints` whose signing secret this node does not have (or cannot read now).
/// Each is logged once, until its secret is found.
async fn without_secret(
    engine: &Engine,
    endpoints: &[String],
    unsigned: &mut HashSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for endpoint in endpoints {
        let why = match engine.secrets().webhook_secret(endpoint).await {
            Ok(Some(_)) => {
                unsigned.remove(endpoint);
                continue;
            }
            Ok(None) => "its signing secret is not in this node's keyring or secrets file".into(),
            Err(e) => format!("the keyring: {e}"),
        };
        if unsigned.insert(endpoint.clone()) {
            tracing::warn!(%endpoint, %why, "webhooks: this node leaves the endpoint's deliveries \
                to nodes that have its secret (give every node the same secrets)");
        }
        out.push(endpoint.clone());
    }
    out
}

/// Writes the bodies of call.started and call.ended events (enqueued by trigger): the call as
/// it stands now, a moment after the event.
async fn render(engine: &Engine) -> crate::store::Result<()> {
    let store = engine.store();
    for ev in store.unrendered_webhook_events(100).await? {
        let call = match &ev.call_id {
            Some(id) => match store.get_call(id).await {
                Ok(call) => serde_json::to_value(call).unwrap_or_default(),
                Err(crate::store::StoreError::NotFound { .. }) => serde_json::Value::Null,
                Err(e) => return Err(e),
            },
            None => serde_json::Value::Null,
        };
        let data = serde_json::json!({ "call": call });
        store
            .render_webhook_event(
                ev.seq,
                envelope(&ev.id, ev.event_type, ev.created_at, &data),
            )
            .await?;
    }
    Ok(())
}

async fn deliver(engine: &Engine, client: &reqwest::Client, due: Due) {
    let attempt = match send(engine, client, &due).await {
        Ok(status) => Attempt::Delivered { status },
        Err((status, error)) => {
            let wait = retry_wait_ms(engine.config().webhook_retry_base_ms, due.attempts + 1);
            let retry_at = wait.map(|ms| {
                let ms = jittered(ms, rand::random_range(-1.0..=1.0));
                Timestamp::from_millis(
                    Timestamp::now()
                        .as_millis()
                        .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)),
                )
            });
            if retry_at.is_none() {
                tracing::warn!(delivery = due.id, endpoint = %due.endpoint_id, %error,
                    "webhook delivery given up after its last attempt");
            }
            Attempt::Failed {
                status,
                error,
                retry_at,
            }
        }
    };
    match engine
        .store()
        .record_webhook_attempt(due.id, Timestamp::now(), attempt)
        .await
    {
        Ok(delivery) => engine.events().publish(Event::WebhookDelivery { delivery }),
        // The endpoint was deleted while its delivery was under way.
        Err(crate::store::StoreError::NotFound { .. }) => {}
        Err(e) => tracing::warn!(error = %e, delivery = due.id, "webhooks: attempt not recorded"),
    }
}

/// Sends one delivery: the endpoint's 2xx status, or its status (if it answered) and why it
/// failed.
async fn send(
    engine: &Engine,
    client: &reqwest::Client,
    due: &Due,
) -> Result<u16, (Option<u16>, String)> {
    let secret = match engine.secrets().webhook_secret(&due.endpoint_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err((
                None,
                "the endpoint's signing secret is not in the keyring: rotate it in Settings".into(),
            ));
        }
        Err(e) => return Err((None, format!("the keyring: {e}"))),
    };
    let now = jiff::Timestamp::now().as_second();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION"))),
    );
    let text = |v: &str| HeaderValue::from_str(v).map_err(|e| (None, format!("a header: {e}")));
    headers.insert("idempotency-key", text(&due.event_id)?);
    headers.insert("switchboard-event-id", text(&due.event_id)?);
    headers.insert("switchboard-event-type", text(due.event_type.as_str())?);
    headers.insert("switchboard-timestamp", text(&now.to_string())?);
    headers.insert(
        "switchboard-signature",
        text(&sign(&secret, now, due.payload.as_bytes()))?,
    );
    let response = client
        .post(&due.url)
        .headers(headers)
        .body(due.payload.clone())
        .send()
        .await
        .map_err(|e| (None, reason(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let answer = answer_start(response).await;
    Err((
        Some(status.as_u16()),
        if answer.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {answer}", status.as_u16())
        },
    ))
}

/// Why a request got no answer, without its URL (a query string may hold a token).
fn reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "no answer within 10 s"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut out = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The start of an endpoint's answer, on one line, for the log.
async fn answer_start(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_MAX * 4 {
        match tokio::time::timeout(TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ANSWER_MAX)
        .collect::<String>()
        .trim()
        .to_owned()
}
