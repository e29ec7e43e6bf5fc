//! The do-not-call list in the store: entries added (one, or an imported file's in chunks),
//! paged and searched, removed; and the look-up the dialer's claim and a single call's write
//! make inside their own transaction (`listed`), so an entry committed before a dial's write
//! is always seen by it.

use sqlx::FromRow;

use super::Store;
use super::campaigns::ensure_campaign;
use super::db::{self, Conn};
use super::error::{Conflict, Result, StoreError, not_found};
use crate::domain::{DncEntry, DncSource, E164, NewDncEntry, Timestamp};

#[derive(FromRow)]
struct DncRowDb {
    id: i64,
    number: String,
    campaign_id: Option<String>,
    source: String,
    note: String,
    call_id: Option<String>,
    added_at: i64,
}

impl TryFrom<DncRowDb> for DncEntry {
    type Error = StoreError;
    fn try_from(r: DncRowDb) -> Result<Self> {
        Ok(DncEntry {
            source: DncSource::parse(&r.source).ok_or_else(|| {
                StoreError::Corrupt(format!("do-not-call entry {}: source", r.id))
            })?,
            id: r.id,
            number: E164::from_stored(r.number),
            campaign_id: r.campaign_id,
            note: r.note,
            call_id: r.call_id,
            added_at: Timestamp::from_millis(r.added_at),
        })
    }
}

const DNC_SELECT: &str =
    "SELECT id, number, campaign_id, source, note, call_id, added_at FROM do_not_call";

/// Which list a question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DncList {
    Global,
    Campaign(String),
}

impl DncList {
    fn campaign_id(&self) -> Option<&str> {
        match self {
            Self::Global => None,
            Self::Campaign(id) => Some(id),
        }
    }
}

/// The entry that forbids dialing `number` for `campaign_id` (a campaign's call) or for a
/// single call (`None`): the global list's first, then the campaign's. Runs on the caller's
/// connection, so inside the write that commits to the dial.
pub(super) async fn listed(
    conn: &mut Conn<'_>,
    number: &str,
    campaign_id: Option<&str>,
) -> Result<Option<DncEntry>> {
    db::query_as::<DncRowDb>(&format!(
        "{DNC_SELECT} WHERE number = ? AND (campaign_id IS NULL OR campaign_id = ?) \
         ORDER BY campaign_id IS NOT NULL, id LIMIT 1"
    ))
    .bind(number)
    .bind(campaign_id)
    .fetch_optional(conn)
    .await?
    .map(DncEntry::try_from)
    .transpose()
}

async fn insert(conn: &mut Conn<'_>, e: &NewDncEntry, now: i64) -> Result<bool> {
    // Either unique index (global, or per campaign) makes a second entry a no-op.
    let done = db::query(
        "INSERT INTO do_not_call (number, campaign_id, source, note, call_id, added_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(e.number.as_str())
    .bind(&e.campaign_id)
    .bind(e.source.as_str())
    .bind(&e.note)
    .bind(&e.call_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn fetch_on(conn: &mut Conn<'_>, number: &str, list: &DncList) -> Result<DncEntry> {
    let sql = match list {
        DncList::Global => {
            format!("{DNC_SELECT} WHERE number = ? AND campaign_id IS NULL AND ? IS NULL")
        }
        DncList::Campaign(_) => format!("{DNC_SELECT} WHERE number = ? AND campaign_id = ?"),
    };
    db::query_as::<DncRowDb>(&sql)
        .bind(number)
        .bind(list.campaign_id())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("do-not-call entry", number))?
        .try_into()
}

impl Store {
    /// Adds one number to its list; a number already on that list is a conflict saying since
    /// when.
    pub async fn add_dnc_entry(&self, entry: NewDncEntry) -> Result<DncEntry> {
        self.write(move |conn| {
            Box::pin(async move {
                if let Some(id) = &entry.campaign_id {
                    ensure_campaign(conn, id).await?;
                }
                let list = match &entry.campaign_id {
                    None => DncList::Global,
                    Some(id) => DncList::Campaign(id.clone()),
                };
                if !insert(conn, &entry, Timestamp::now().as_millis()).await? {
                    let old = fetch_on(conn, entry.number.as_str(), &list).await?;
                    return Err(Conflict::AlreadyListed(old.reason()).into());
                }
                fetch_on(conn, entry.number.as_str(), &list).await
            })
        })
        .await
    }

    /// Adds an opt-out to the global list: the entry, new or the one already there (an
    /// opt-out said twice is one entry, kept as first written).
    pub async fn add_opt_out(&self, entry: NewDncEntry) -> Result<(DncEntry, bool)> {
        self.write(move |conn| {
            Box::pin(async move {
                let added = insert(conn, &entry, Timestamp::now().as_millis()).await?;
                let list = match &entry.campaign_id {
                    None => DncList::Global,
                    Some(id) => DncList::Campaign(id.clone()),
                };
                Ok((fetch_on(conn, entry.number.as_str(), &list).await?, added))
            })
        })
        .await
    }

    /// Adds many entries in one write; returns those that were already on their list.
    pub async fn add_dnc_entries(&self, entries: Vec<NewDncEntry>) -> Result<Vec<NewDncEntry>> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut checked = std::collections::HashSet::new();
                let now = Timestamp::now().as_millis();
                let mut already = Vec::new();
                for e in entries {
                    if let Some(id) = &e.campaign_id
                        && checked.insert(id.clone())
                    {
                        ensure_campaign(conn, id).await?;
                    }
                    if !insert(conn, &e, now).await? {
                        already.push(e);
                    }
                }
                Ok(already)
            })
        })
        .await
    }

    /// The numbers already on `list`.
    pub async fn dnc_numbers(&self, list: &DncList) -> Result<std::collections::HashSet<String>> {
        let numbers: Vec<String> = db::query_scalar(
            "SELECT number FROM do_not_call WHERE (campaign_id IS NULL AND ? IS NULL) \
             OR campaign_id = ?",
        )
        .bind(list.campaign_id())
        .bind(list.campaign_id())
        .fetch_all(self.pool())
        .await?;
        Ok(numbers.into_iter().collect())
    }

    /// A page of `list`, newest first; `search`: digits the number contains.
    pub async fn list_dnc(
        &self,
        list: &DncList,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<DncEntry>, i64)> {
        let mut conn = self.pool().acquire().await?;
        if let Some(id) = list.campaign_id() {
            ensure_campaign(&mut conn, id).await?;
        }
        let pattern = search
            .map(|s| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>())
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{s}%"));
        let filter = "((campaign_id IS NULL AND ?1 IS NULL) OR campaign_id = ?1) \
                      AND (?2 IS NULL OR number LIKE ?2)";
        let rows = db::query_as::<DncRowDb>(&format!(
            "{DNC_SELECT} WHERE {filter} ORDER BY added_at DESC, id DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(list.campaign_id())
        .bind(&pattern)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 =
            db::query_scalar(&format!("SELECT COUNT(*) FROM do_not_call WHERE {filter}"))
                .bind(list.campaign_id())
                .bind(&pattern)
                .fetch_one(&mut *conn)
                .await?;
        Ok((
            rows.into_iter()
                .map(DncEntry::try_from)
                .collect::<Result<_>>()?,
            total,
        ))
    }

    /// Removes an entry: its number may be dialed again (by its leads still pending).
    pub async fn remove_dnc_entry(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("DELETE FROM do_not_call WHERE id = ?")
                    .bind(id)
                    .execute(conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("do-not-call entry", &id.to_string()));
                }
                Ok(())
            })
        })
        .await
    }

    /// The entry forbidding a single call to `number`, if any (a read, for the API's answer
    /// before anything is written; the write re-checks).
    pub async fn dnc_for_single_call(&self, number: &E164) -> Result<Option<DncEntry>> {
        let mut conn = self.pool().acquire().await?;
        listed(&mut conn, number.as_str(), None).await
    }
}
