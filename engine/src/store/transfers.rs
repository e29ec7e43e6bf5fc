//! Transfers made during calls (`call_transfers`): written by the bridge as a transfer goes,
//! read with the call, and by the carriers' webhooks to find the call a transfer's other leg
//! belongs to.

use super::Store;
use super::db;
use super::error::{Result, StoreError, not_found};
use crate::domain::{CallTransfer, Timestamp, TransferState};

type Row = (
    String,
    String,
    String,
    String,
    bool,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    Option<i64>,
);

const COLUMNS: &str = "id, call_id, target, to_uri, warm, summary, leg_id, state, detail, \
                       started_at, ended_at";

fn transfer(r: Row) -> Result<CallTransfer> {
    let (id, call_id, target, to, warm, summary, leg_id, state, detail, started, ended) = r;
    Ok(CallTransfer {
        state: TransferState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("transfer state {state}")))?,
        id,
        call_id,
        target,
        to,
        warm,
        summary,
        leg_id,
        detail,
        started_at: Timestamp::from_millis(started),
        ended_at: ended.map(Timestamp::from_millis),
    })
}

impl Store {
    pub async fn insert_transfer(&self, t: &CallTransfer) -> Result<()> {
        let t = t.clone();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(&format!(
                    "INSERT INTO call_transfers ({COLUMNS}) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ))
                .bind(&t.id)
                .bind(&t.call_id)
                .bind(&t.target)
                .bind(&t.to)
                .bind(t.warm)
                .bind(&t.summary)
                .bind(&t.leg_id)
                .bind(t.state.as_str())
                .bind(&t.detail)
                .bind(t.started_at.as_millis())
                .bind(t.ended_at.map(|e| e.as_millis()))
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records where transfer `t.id` now stands (its leg, state, detail and end).
    pub async fn update_transfer(&self, t: &CallTransfer) -> Result<()> {
        let t = t.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE call_transfers SET leg_id = ?, state = ?, detail = ?, ended_at = ? \
                     WHERE id = ?",
                )
                .bind(&t.leg_id)
                .bind(t.state.as_str())
                .bind(&t.detail)
                .bind(t.ended_at.map(|e| e.as_millis()))
                .bind(&t.id)
                .execute(conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("transfer", &t.id));
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn get_transfer(&self, id: &str) -> Result<CallTransfer> {
        let row: Option<Row> = db::query_as(&format!(
            "SELECT {COLUMNS} FROM call_transfers WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        transfer(row.ok_or_else(|| not_found("transfer", id))?)
    }

    /// A call's transfers, oldest first.
    pub async fn transfers_of_call(&self, call_id: &str) -> Result<Vec<CallTransfer>> {
        let rows: Vec<Row> = db::query_as(&format!(
            "SELECT {COLUMNS} FROM call_transfers WHERE call_id = ? ORDER BY started_at, id"
        ))
        .bind(call_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(transfer).collect()
    }
}
