//! The store on PostgreSQL: several `switchboard serve` nodes sharing one database. Only the
//! opening differs from SQLite (the queries are the same, `db` and `dialect`): the schema is
//! `migrations_postgres` (one baseline equal to SQLite's schema at the time, then migrations in
//! pairs with SQLite's), and the writer is the same group-commit task, holding a cluster-wide
//! lock per batch (`writer`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

use super::error::{Result, StoreError};
use super::schema;
use super::writer::Writer;

/// Readers per node. A node's reads are short (pages of the log, a call's row on a webhook).
const READERS: u32 = 8;

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// `postgres://user[:password]@host[:port]/database[?…]`.
    pub url: String,
    /// A schema of its own inside the database (made if missing); the user's default
    /// search path when `None`.
    pub schema: Option<String>,
}

impl std::fmt::Debug for PgSettings {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &redacted(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

/// The URL without its password, for logs and errors.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an unreadable database URL)".into(),
    }
}

/// A schema name: letters, digits and `_`, not starting with a digit (so it needs no
/// quoting, and nothing can be slipped into the statements it appears in).
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The pool, the writer, and the schema the connections work in.
pub(super) async fn open(settings: &PgSettings) -> Result<(PgPool, Writer, String)> {
    let mut options = PgConnectOptions::from_str(&settings.url).map_err(|e| {
        StoreError::Corrupt(format!(
            "the database URL {} is not one PostgreSQL takes: {e}",
            redacted(&settings.url)
        ))
    })?;
    if let Some(schema) = &settings.schema {
        if !valid_schema(schema) {
            return Err(StoreError::Corrupt(format!(
                "the database schema {schema:?} must be letters, digits and _"
            )));
        }
        let mut conn = options.connect().await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        options = options.options([("search_path", schema.as_str())]);
    }
    let schema: String = {
        let mut conn = options.connect().await?;
        // A schema a newer Switchboard migrated is refused in words, not sqlx's.
        let migrated: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&mut conn)
                .await?;
        if migrated {
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(&mut conn)
                    .await?;
            schema::not_newer(newest, &schema::POSTGRES)?;
        }
        schema::POSTGRES.run(&mut conn).await?;
        let schema = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        schema
    };
    let pool = |n: u32| {
        PgPoolOptions::new()
            .max_connections(n)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.clone())
    };
    Ok((pool(READERS), Writer::start_pg(pool(1)), schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        let s = PgSettings {
            url: "postgres://sb:hunter2@db.internal:5432/switchboard".into(),
            schema: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema("sb_test_1"));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("a; DROP TABLE calls"));
        assert!(!valid_schema(""));
    }
}
