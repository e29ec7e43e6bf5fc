//! Which schema versions this binary knows, and the refusal of a database a newer Switchboard
//! has migrated: sqlx alone would fail with "migration N was previously applied but is
//! missing", which does not tell a user to upgrade or restore.

use sqlx::migrate::Migrator;

use super::error::{Result, StoreError};

/// SQLite's migrations (the embedded database).
pub(super) static SQLITE: Migrator = sqlx::migrate!("./migrations");
/// PostgreSQL's migrations.
pub(super) static POSTGRES: Migrator = sqlx::migrate!("./migrations_postgres");

/// The newest schema version `migrator` brings a database to.
pub(super) fn newest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest SQLite schema version this binary knows (a backup it makes has it).
pub fn known_version() -> i64 {
    newest(&SQLITE)
}

/// Refuses a database whose newest applied migration (`applied`, `None` for a database never
/// migrated) is newer than any `migrator` knows.
pub(super) fn not_newer(applied: Option<i64>, migrator: &Migrator) -> Result<()> {
    let known = newest(migrator);
    match applied {
        Some(found) if found > known => Err(StoreError::Newer { found, known }),
        _ => Ok(()),
    }
}
