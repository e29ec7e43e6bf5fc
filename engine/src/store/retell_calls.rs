//! Calls handed over to Retell: which Retell call each of our call records became, and what
//! Retell's webhooks report about it, applied to that record once per delivery.

use super::Store;
use super::call_rows::fetch_call;
use super::calls::apply;
use super::db;
use super::error::{Result, not_found, unique_or};
use crate::domain::{Call, CallEvent, Speaker, Timestamp, TranscriptLine};

/// The key space of Retell's deliveries in `carrier_events` (which dedupes every report).
const EVENTS_SOURCE: &str = "retell";

/// What one Retell delivery changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// The call, when the delivery changed it.
    pub call: Option<Call>,
    /// The transcript lines it added.
    pub lines: Vec<TranscriptLine>,
}

impl Store {
    /// Records that call `call_id` was registered with Retell as `retell_call_id`.
    pub async fn record_retell_call(&self, call_id: &str, retell_call_id: &str) -> Result<()> {
        let (call_id, retell_call_id) = (call_id.to_owned(), retell_call_id.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "INSERT INTO retell_calls (call_id, retell_call_id, registered_at) \
                     VALUES (?, ?, ?)",
                )
                .bind(&call_id)
                .bind(&retell_call_id)
                .bind(Timestamp::now().as_millis())
                .execute(conn)
                .await;
                unique_or(done, || {
                    super::StoreError::Corrupt(format!("call {call_id} registered twice"))
                })?;
                Ok(())
            })
        })
        .await
    }

    /// The Retell call id a call was handed over as, if it was.
    pub async fn retell_call_id(&self, call_id: &str) -> Result<Option<String>> {
        db::query_scalar("SELECT retell_call_id FROM retell_calls WHERE call_id = ?")
            .bind(call_id)
            .fetch_optional(self.pool())
            .await
    }

    /// Applies one Retell delivery (`event_key`) to the call handed over as `retell_call_id`:
    /// its events, and its transcript when the call has none yet (`call_ended` and
    /// `call_analyzed` both carry the whole transcript). A repeat changes nothing; a Retell
    /// call that is not ours is `NotFound`, and nothing is written for it.
    pub async fn apply_retell_report(
        &self,
        retell_call_id: &str,
        event_key: &str,
        events: Vec<CallEvent>,
        transcript: Vec<(Speaker, String, Timestamp)>,
    ) -> Result<Applied> {
        let (retell_call_id, event_key) = (retell_call_id.to_owned(), event_key.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let call_id: String =
                    db::query_scalar("SELECT call_id FROM retell_calls WHERE retell_call_id = ?")
                        .bind(&retell_call_id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or_else(|| not_found("Retell call", &retell_call_id))?;
                let fresh = db::query(
                    "INSERT INTO carrier_events (carrier, event_key, received_at) \
                     VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                )
                .bind(EVENTS_SOURCE)
                .bind(&event_key)
                .bind(Timestamp::now().as_millis())
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    == 1;
                if !fresh {
                    return Ok(Applied::default());
                }
                let before = fetch_call(conn, &call_id).await?;
                for event in &events {
                    apply(conn, &call_id, event).await?;
                }
                let mut lines = Vec::new();
                let has_lines: i64 =
                    db::query_scalar("SELECT COUNT(*) FROM transcript_lines WHERE call_id = ?")
                        .bind(&call_id)
                        .fetch_one(&mut *conn)
                        .await?;
                if has_lines == 0 {
                    for (speaker, text, at) in transcript {
                        let id: i64 = db::query_scalar(
                            "INSERT INTO transcript_lines (call_id, speaker, text, at) \
                             VALUES (?, ?, ?, ?) RETURNING id",
                        )
                        .bind(&call_id)
                        .bind(speaker.as_str())
                        .bind(&text)
                        .bind(at.as_millis())
                        .fetch_one(&mut *conn)
                        .await?;
                        lines.push(TranscriptLine {
                            id,
                            call_id: call_id.clone(),
                            speaker,
                            text,
                            at,
                        });
                    }
                }
                let after = fetch_call(conn, &call_id).await?;
                Ok(Applied {
                    call: (after != before).then_some(after),
                    lines,
                })
            })
        })
        .await
    }
}
