//! Importing a lead list into a campaign: the CSV read off the async workers, every row
//! imported, rejected with its reason, or reported as a duplicate, and the leads written in
//! chunks so a big list never holds the store's one writer for long.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::NewLead;
use crate::domain::lead_import::{DuplicateRow, LeadCsvError, RejectedRow, parse_leads_csv};
use crate::engine::Engine;
use crate::store::StoreError;

/// Rows written per transaction: a big list must not hold the one writer for long.
const IMPORT_CHUNK: usize = 5_000;

/// What an import did (or, on a dry run, would do). Every data row of the file is counted
/// once: imported, rejected (with its line and why) or a duplicate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub imported: u64,
    pub rejected: Vec<RejectedRow>,
    pub duplicates: Vec<DuplicateRow>,
    pub total_rows: u64,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file as a whole cannot be read.
    #[error(transparent)]
    File(#[from] LeadCsvError),
    #[error("the file could not be read: {0}")]
    Aborted(#[from] tokio::task::JoinError),
}

/// Imports `csv` into campaign `id` (numbers in national form read in the campaign's default
/// region, else the engine's); with `dry_run`, only reports. The campaign's task, if it runs,
/// looks again at once.
pub async fn import_leads(
    engine: &Engine,
    id: &str,
    csv: bytes::Bytes,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let campaign = engine.store().get_campaign(id).await?;
    let region = campaign
        .settings
        .default_region
        .clone()
        .or_else(|| engine.default_region());
    let existing = engine.store().existing_lead_phones(id).await?;
    // Parsing 100,000 rows takes a while: off the async workers.
    let parsed = tokio::task::spawn_blocking(move || {
        parse_leads_csv(&csv, region.as_deref(), |phone| {
            existing.contains(phone.as_str())
        })
    })
    .await??;
    let mut duplicates = parsed.duplicates;
    let mut imported = 0u64;
    if dry_run {
        imported = parsed.leads.len() as u64;
    } else {
        let mut rows = parsed.leads.into_iter().map(|l| NewLead {
            line: i64::try_from(l.line).ok(),
            name: l.name,
            phone: l.phone,
            email: l.email,
            time_zone: l.time_zone,
            fields: l.fields,
        });
        loop {
            let chunk: Vec<_> = rows.by_ref().take(IMPORT_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len() as u64;
            // A number added meanwhile (another import) is a duplicate, not an error.
            let skipped = engine.store().add_leads(id, chunk).await?;
            imported += n - skipped.len() as u64;
            duplicates.extend(skipped.into_iter().map(|l| DuplicateRow {
                line: l.line.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                phone: l.phone,
                first_line: None,
            }));
        }
        // Changed, not only woken: new leads may bring zone keys the dialer has not seen.
        engine.running_campaigns().changed(id);
    }
    Ok(ImportReport {
        imported,
        rejected: parsed.rejected,
        duplicates,
        total_rows: parsed.total_rows,
        dry_run,
    })
}
