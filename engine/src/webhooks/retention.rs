//! The webhook log is kept for `KEEP_DAYS`: every hour, events older than that go with their
//! deliveries, except those still owed. A busy line makes three events a call per endpoint;
//! without this the outbox would grow with the call log forever.

use std::time::Duration;

use crate::domain::Timestamp;
use crate::engine::Engine;

/// How long delivered and given-up events stay in the delivery log.
pub const KEEP_DAYS: i64 = 30;
const EVERY: Duration = Duration::from_secs(3600);
/// Events deleted per write, so a first sweep over a long log does not hold the writer.
const BATCH: u32 = 1_000;

/// Starts the hourly sweep (the first one at once).
pub fn start(engine: &Engine) {
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        let stopping = engine.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                _ = every.tick() => sweep(&engine).await,
                () = &mut stopping => return,
            }
        }
    });
}

async fn sweep(engine: &Engine) {
    let before =
        Timestamp::from_millis(Timestamp::now().as_millis() - KEEP_DAYS * 24 * 3600 * 1000);
    let mut gone = 0;
    loop {
        match engine.store().prune_webhook_log(before, BATCH).await {
            Ok(n) => {
                gone += n;
                if n < u64::from(BATCH) || engine.is_stopping() {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: could not prune the delivery log");
                break;
            }
        }
    }
    if gone > 0 {
        tracing::info!(
            events = gone,
            days = KEEP_DAYS,
            "webhooks: pruned the delivery log"
        );
    }
}
