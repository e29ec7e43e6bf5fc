//! Call cost estimates in the store: the rates (a JSON value in `settings`, the defaults when
//! absent) and each ended call's estimate, written by an UPDATE of its `calls` row in the same
//! write that ends it (`settle_cost`, called from `calls::apply` and the other end paths), so
//! triggers on `calls` see the cost and no end path can skip it.
//!
//! Invariant: an ended call's estimate is made once, with the rates then in force, and kept;
//! it is made again only when its answered seconds change (a late answer to a call already
//! ended), so a rate edit never rewrites the past.

use super::db::{self, Conn};

use super::Store;
use super::error::{Result, StoreError};
use crate::domain::{CallCost, CallDirection, Carrier, CostFacts, CostRates, VoiceBackend, phone};

/// The `settings` key the rates are kept under.
const RATES_KEY: &str = "cost_rates";

/// The rates in force, and whether they are the user's own.
#[derive(Debug, Clone)]
pub struct StoredRates {
    pub rates: CostRates,
    pub customized: bool,
}

impl Store {
    pub async fn cost_rates(&self) -> Result<StoredRates> {
        let mut conn = self.pool().acquire().await?;
        rates_in_force(&mut conn).await
    }

    /// Saves `rates` (already checked), or goes back to the defaults with `None`. Calls that
    /// have ended keep their estimates.
    pub async fn set_cost_rates(&self, rates: Option<CostRates>) -> Result<StoredRates> {
        let text = rates
            .as_ref()
            .map(|r| serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?;
        self.write(move |conn| {
            Box::pin(async move {
                match &text {
                    Some(t) => {
                        db::query(
                            "INSERT INTO settings (key, value) VALUES (?, ?) \
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        )
                        .bind(RATES_KEY)
                        .bind(t)
                        .execute(&mut *conn)
                        .await?;
                    }
                    None => {
                        db::query("DELETE FROM settings WHERE key = ?")
                            .bind(RATES_KEY)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                rates_in_force(conn).await
            })
        })
        .await
    }

    /// How a call's estimate was reached; `None` until it has ended (or for calls ended before
    /// estimates were kept).
    pub async fn call_cost(&self, call_id: &str) -> Result<Option<CallCost>> {
        let text: Option<Option<String>> =
            db::query_scalar("SELECT cost_breakdown FROM calls WHERE id = ?")
                .bind(call_id)
                .fetch_optional(self.pool())
                .await?;
        text.flatten()
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("call {call_id} cost: {e}")))
            })
            .transpose()
    }

    /// The estimated cost of a campaign's calls so far.
    pub async fn campaign_cost(&self, campaign_id: &str) -> Result<f64> {
        let usd: f64 = db::query_scalar(
            "SELECT COALESCE(SUM(cost_estimate_usd), 0.0) FROM calls WHERE campaign_id = ?",
        )
        .bind(campaign_id)
        .fetch_one(self.pool())
        .await?;
        Ok((usd * 1e6).round() / 1e6)
    }
}

async fn rates_in_force(conn: &mut Conn<'_>) -> Result<StoredRates> {
    let text: Option<String> = db::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(RATES_KEY)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(text) = text else {
        return Ok(StoredRates {
            rates: CostRates::defaults(),
            customized: false,
        });
    };
    match serde_json::from_str::<CostRates>(&text) {
        Ok(rates) => Ok(StoredRates {
            rates,
            customized: true,
        }),
        // Checked when saved; a table this version cannot read must not stop calls ending.
        Err(e) => {
            tracing::warn!(error = %e, "saved cost rates unreadable; estimating at the defaults");
            Ok(StoredRates {
                rates: CostRates::defaults(),
                customized: false,
            })
        }
    }
}

type CostRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// Estimates the call's cost if it has ended and has none for its present answered seconds,
/// and writes it to the row. Part of the caller's write: the end and its cost commit together.
pub(super) async fn settle_cost(conn: &mut Conn<'_>, id: &str) -> Result<()> {
    let row: Option<CostRow> = db::query_as(
        "SELECT c.direction, c.carrier, c.from_number, c.to_number, c.answered_at, c.ended_at, \
                c.duration_secs, c.cost_breakdown, a.backend \
         FROM calls c LEFT JOIN agents a ON a.id = c.agent_id WHERE c.id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((direction, carrier, from, to, answered_at, ended_at, duration, kept, backend)) = row
    else {
        return Ok(());
    };
    if ended_at.is_none() {
        return Ok(());
    }
    let answered_secs = answered_at.map(|_| duration.unwrap_or(0));
    if let Some(kept) = kept.and_then(|k| serde_json::from_str::<CallCost>(&k).ok())
        && kept.answered_secs == answered_secs.unwrap_or(0)
    {
        return Ok(());
    }
    let direction = CallDirection::parse(&direction)
        .ok_or_else(|| StoreError::Corrupt(format!("call {id}: direction")))?;
    let carrier = Carrier::parse(&carrier).filter(|c| *c != Carrier::Local);
    let far_end = match direction {
        CallDirection::Outbound => &to,
        _ => &from,
    };
    let facts = CostFacts {
        carrier: carrier.map(Carrier::as_str),
        direction,
        region: phone::region_of(far_end),
        // A deleted agent's calls keep going by the default backend.
        backend: backend
            .as_deref()
            .and_then(VoiceBackend::parse)
            .unwrap_or_default(),
        answered_secs,
    };
    let rates = rates_in_force(conn).await?.rates;
    let cost = rates.estimate(&facts);
    let text = serde_json::to_string(&cost).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    db::query("UPDATE calls SET cost_estimate_usd = ?, cost_breakdown = ? WHERE id = ?")
        .bind(cost.total_usd)
        .bind(text)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
