//! What a store call can fail with, and the one place a database's rule violations (a unique
//! index, a foreign key) are read and turned into those errors.

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "this database was last opened by a newer Switchboard (schema {found}; this one knows \
         up to {known}): install that version or newer, or restore a backup made by this one"
    )]
    Newer { found: i64, known: i64 },
    /// A backup or restore refused, saying why; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Asked of a database that does it another way (a backup of PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The commit that carried this write failed; the write did not happen.
    #[error("database commit failed: {0}")]
    Commit(std::sync::Arc<sqlx::Error>),
    #[error("the database is closed")]
    Closed,
    /// The write failed inside Switchboard (a bug, logged) and was rolled back.
    #[error("the write was abandoned and rolled back; see the log")]
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the number {0} is already managed")]
    DuplicateNumber(String),
    #[error("an agent named \"{0}\" already exists")]
    DuplicateAgentName(String),
    #[error("the carrier call {0} is already recorded")]
    DuplicateCall(String),
    #[error("the call has already ended")]
    CallEnded(String),
    #[error("the call is still under way; end it first")]
    CallLive(String),
    #[error("a campaign named \"{0}\" already exists")]
    DuplicateCampaignName(String),
    #[error(
        "the campaign \"{0}\" is running or has calls under way; stop it and let them end first"
    )]
    CampaignActive(String),
    #[error("{0}")]
    CampaignStatus(String),
    /// A dial refused: the reason names the list, since when and why (`DncEntry::reason`).
    #[error("{0}")]
    DoNotCall(String),
    /// The number is already on that do-not-call list.
    #[error("{0}")]
    AlreadyListed(String),
    #[error(
        "\"{agent}\" still handles calls for {}. Assign those numbers another agent first, or delete anyway to leave them without this agent.",
        numbers.join(", ")
    )]
    AgentInUse { agent: String, numbers: Vec<String> },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_owned(),
    }
}

/// Which of the schema's rules a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A unique index: the row clashes with one already there.
    Unique,
    /// A foreign key: the row names one that does not exist.
    ForeignKey,
}

/// A write's result, with the rule it broke said as `refusal` gives it (`None`: not a rule
/// this write expects to break, so it stays a database error). The only place violations are
/// read from the database's errors.
pub(crate) fn refused<T>(
    done: Result<T>,
    refusal: impl FnOnce(Broken) -> Option<StoreError>,
) -> Result<T> {
    let e = match done {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let broken = match &e {
        StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => Some(Broken::Unique),
        StoreError::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
            Some(Broken::ForeignKey)
        }
        _ => None,
    };
    match broken.and_then(refusal) {
        Some(refusal) => Err(refusal),
        None => Err(e),
    }
}

/// A write whose only expected refusal is a clash on a unique index.
pub(crate) fn unique_or<T>(done: Result<T>, clash: impl FnOnce() -> StoreError) -> Result<T> {
    refused(done, |b| (b == Broken::Unique).then(clash))
}

/// A write whose only expected refusal is a reference to a row that does not exist.
pub(crate) fn existing_or<T>(done: Result<T>, missing: impl FnOnce() -> StoreError) -> Result<T> {
    refused(done, |b| (b == Broken::ForeignKey).then(missing))
}
