//! Importing numbers onto a do-not-call list: the CSV read like a lead list (a `phone`
//! column, national numbers in the campaign's default region else the engine's; a `note`
//! column kept), every row added, rejected with its reason, or counted as a duplicate. Bad
//! rows change nothing; the good ones are added in chunks, each its own write.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::do_not_call::note_of;
use crate::domain::lead_import::{DuplicateRow, RejectedRow, parse_leads_csv};
use crate::domain::{DncSource, NewDncEntry};
use crate::engine::Engine;
use crate::store::do_not_call::DncList;

use super::import::ImportError;

/// Rows written per transaction.
const CHUNK: usize = 5_000;

/// What a do-not-call import did (or would do, on a dry run). Every data row is counted
/// once: added, rejected (with its line and why) or a duplicate (already on the list, or
/// earlier in the file).
#[derive(Debug, Serialize, ToSchema)]
pub struct DncImportReport {
    pub added: u64,
    pub rejected: Vec<RejectedRow>,
    pub duplicates: Vec<DuplicateRow>,
    pub total_rows: u64,
    pub dry_run: bool,
}

/// Imports `csv` onto `campaign_id`'s list, or the global list when `None`.
pub async fn import(
    engine: &Engine,
    campaign_id: Option<String>,
    csv: bytes::Bytes,
    dry_run: bool,
) -> Result<DncImportReport, ImportError> {
    let (list, region) = match &campaign_id {
        None => (DncList::Global, engine.default_region()),
        Some(id) => {
            let campaign = engine.store().get_campaign(id).await?;
            let region = campaign
                .settings
                .default_region
                .clone()
                .or_else(|| engine.default_region());
            (DncList::Campaign(id.clone()), region)
        }
    };
    let existing = engine.store().dnc_numbers(&list).await?;
    let parsed = tokio::task::spawn_blocking(move || {
        parse_leads_csv(&csv, region.as_deref(), |phone| {
            existing.contains(phone.as_str())
        })
    })
    .await??;
    let mut duplicates = parsed.duplicates;
    let mut added = parsed.leads.len() as u64;
    if !dry_run {
        added = 0;
        let mut rows = parsed.leads.into_iter().map(|row| {
            let note = row
                .fields
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("note"))
                .and_then(|(_, v)| v.as_str())
                .map(note_of)
                .unwrap_or_default();
            (
                row.line,
                NewDncEntry {
                    number: row.phone,
                    campaign_id: campaign_id.clone(),
                    source: DncSource::Import,
                    note,
                    call_id: None,
                },
            )
        });
        loop {
            let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let lines: std::collections::HashMap<String, u64> = chunk
                .iter()
                .map(|(line, e)| (e.number.to_string(), *line))
                .collect();
            let n = chunk.len() as u64;
            // A number added meanwhile (by hand, an opt-out) is a duplicate, not an error.
            let already = engine
                .store()
                .add_dnc_entries(chunk.into_iter().map(|(_, e)| e).collect())
                .await?;
            added += n - already.len() as u64;
            duplicates.extend(already.into_iter().map(|e| DuplicateRow {
                line: lines.get(e.number.as_str()).copied().unwrap_or(0),
                phone: e.number,
                first_line: None,
            }));
        }
    }
    Ok(DncImportReport {
        added,
        rejected: parsed.rejected,
        duplicates,
        total_rows: parsed.total_rows,
        dry_run,
    })
}
