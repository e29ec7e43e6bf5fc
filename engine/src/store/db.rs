//! One way to run a query on either database. Queries are written once, with SQLite's `?`
//! placeholders; on PostgreSQL they are renumbered (`dialect::pg`) when run. Arguments are
//! collected as plain values (`Arg`) and bound to whichever driver the connection is, so the
//! store's functions take one connection type, `Conn`, and do not care which database it is.
//!
//! Rows decode through sqlx's own `FromRow`, which every row type here derives for any
//! database; the bound on the result types (`Decodes`) asks for both.

use std::marker::PhantomData;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{
    Arguments as _, FromRow, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool,
};

use super::dialect::{self, Kind};
use super::error::Result;

/// A connection of either kind: the writer's transaction (borrowed) or a reader (pooled).
pub enum Conn<'c> {
    Lite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
    LitePooled(PoolConnection<Sqlite>),
    PgPooled(PoolConnection<Postgres>),
}

impl Conn<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Conn::Lite(_) | Conn::LitePooled(_) => Kind::Sqlite,
            Conn::Pg(_) | Conn::PgPooled(_) => Kind::Postgres,
        }
    }
}

/// The readers' pool.
#[derive(Debug, Clone)]
pub enum Readers {
    Lite(SqlitePool),
    Pg(PgPool),
}

impl Readers {
    pub fn kind(&self) -> Kind {
        match self {
            Readers::Lite(_) => Kind::Sqlite,
            Readers::Pg(_) => Kind::Postgres,
        }
    }

    /// A reader connection, for several queries in a row.
    pub async fn acquire(&self) -> Result<Pooled> {
        Ok(Pooled(match self {
            Readers::Lite(p) => Conn::LitePooled(p.acquire().await?),
            Readers::Pg(p) => Conn::PgPooled(p.acquire().await?),
        }))
    }

    /// A read-only transaction whose reads all see one moment of the database.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        Ok(match self {
            // SQLite: a deferred transaction reads one snapshot from its first read on.
            Readers::Lite(p) => Snapshot::Lite(p.begin().await?),
            Readers::Pg(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Snapshot::Pg(tx)
            }
        })
    }

    pub async fn close(&self) {
        match self {
            Readers::Lite(p) => p.close().await,
            Readers::Pg(p) => p.close().await,
        }
    }
}

/// See `Readers::snapshot`. Dropped, it rolls back (nothing to undo: it only read).
pub enum Snapshot {
    Lite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Snapshot {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Snapshot::Lite(tx) => Conn::Lite(tx),
            Snapshot::Pg(tx) => Conn::Pg(tx),
        }
    }

    pub async fn finish(self) -> Result<()> {
        match self {
            Snapshot::Lite(tx) => tx.commit().await?,
            Snapshot::Pg(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// A row read by position, for results too wide for a tuple.
pub enum Row {
    Lite(SqliteRow),
    Pg(PgRow),
}

impl Row {
    pub fn get<T: Scalar>(&self, at: usize) -> Result<T> {
        use sqlx::Row as _;
        Ok(match self {
            Row::Lite(r) => r.try_get(at)?,
            Row::Pg(r) => r.try_get(at)?,
        })
    }
}

/// A reader connection taken from the pool (back to it when dropped).
pub struct Pooled(Conn<'static>);

impl std::ops::Deref for Pooled {
    type Target = Conn<'static>;
    fn deref(&self) -> &Conn<'static> {
        &self.0
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Conn<'static> {
        &mut self.0
    }
}

/// Where a query runs.
pub enum On<'e> {
    Lite(&'e mut SqliteConnection),
    Pg(&'e mut PgConnection),
    LitePool(&'e SqlitePool),
    PgPool(&'e PgPool),
}

impl<'e, 'c: 'e> From<&'e mut Conn<'c>> for On<'e> {
    fn from(conn: &'e mut Conn<'c>) -> Self {
        match conn {
            Conn::Lite(c) => On::Lite(c),
            Conn::Pg(c) => On::Pg(c),
            Conn::LitePooled(c) => On::Lite(c),
            Conn::PgPooled(c) => On::Pg(c),
        }
    }
}

impl<'e> From<&'e Readers> for On<'e> {
    fn from(readers: &'e Readers) -> Self {
        match readers {
            Readers::Lite(p) => On::LitePool(p),
            Readers::Pg(p) => On::PgPool(p),
        }
    }
}

/// A value bound to a placeholder. Typed even when null: PostgreSQL checks a parameter's type
/// against the column's.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

/// What can be bound to a placeholder.
pub trait IntoArg {
    fn into_arg(self) -> Arg;
}

macro_rules! into_arg {
    ($variant:ident: $($t:ty => $conv:expr),* $(,)?) => {$(
        impl IntoArg for $t {
            fn into_arg(self) -> Arg {
                let f: fn($t) -> _ = $conv;
                Arg::$variant(Some(f(self)))
            }
        }
        impl IntoArg for Option<$t> {
            fn into_arg(self) -> Arg {
                let f: fn($t) -> _ = $conv;
                Arg::$variant(self.map(f))
            }
        }
    )*};
}

into_arg!(Int: i64 => |v| v, i32 => i64::from, u32 => i64::from);
into_arg!(Float: f64 => |v| v);
into_arg!(Bool: bool => |v| v);
into_arg!(Text: String => |v| v, &str => str::to_owned);
into_arg!(Bytes: Vec<u8> => |v| v);

impl IntoArg for &String {
    fn into_arg(self) -> Arg {
        Arg::Text(Some(self.clone()))
    }
}

impl IntoArg for &Option<String> {
    fn into_arg(self) -> Arg {
        Arg::Text(self.clone())
    }
}

impl IntoArg for Option<&String> {
    fn into_arg(self) -> Arg {
        Arg::Text(self.cloned())
    }
}

impl IntoArg for &&str {
    fn into_arg(self) -> Arg {
        Arg::Text(Some((*self).to_owned()))
    }
}

impl IntoArg for Arg {
    fn into_arg(self) -> Arg {
        self
    }
}

fn lite_args(args: Vec<Arg>) -> std::result::Result<SqliteArguments<'static>, sqlx::Error> {
    let mut out = SqliteArguments::default();
    for a in args {
        match a {
            Arg::Int(v) => out.add(v),
            Arg::Float(v) => out.add(v),
            Arg::Text(v) => out.add(v),
            Arg::Bool(v) => out.add(v),
            Arg::Bytes(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

fn pg_args(args: Vec<Arg>) -> std::result::Result<PgArguments, sqlx::Error> {
    let mut out = PgArguments::default();
    for a in args {
        match a {
            Arg::Int(v) => out.add(v),
            Arg::Float(v) => out.add(v),
            Arg::Text(v) => out.add(v),
            Arg::Bool(v) => out.add(v),
            Arg::Bytes(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// A row type both drivers can decode.
pub trait Decodes:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<R> Decodes for R where
    R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A single value both drivers can decode.
pub trait Scalar:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
{
}

/// What a statement did.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A statement and its arguments.
#[must_use]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

pub fn query_as<R: Decodes>(sql: &str) -> QueryAs<'_, R> {
    QueryAs {
        q: query(sql),
        row: PhantomData,
    }
}

pub fn query_scalar<T: Scalar>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        q: query(sql),
        value: PhantomData,
    }
}

impl<'q> Query<'q> {
    pub fn bind(mut self, value: impl IntoArg) -> Self {
        self.args.push(value.into_arg());
        self
    }

    /// The rows, read by position (`Row::get`).
    pub async fn fetch_rows<'e>(self, on: impl Into<On<'e>>) -> Result<Vec<Row>> {
        let Query { sql, args } = self;
        Ok(match on.into() {
            On::Lite(c) => rows(
                sqlx::query_with(sql, lite_args(args)?).fetch_all(c).await?,
                Row::Lite,
            ),
            On::LitePool(p) => rows(
                sqlx::query_with(sql, lite_args(args)?).fetch_all(p).await?,
                Row::Lite,
            ),
            On::Pg(c) => rows(
                sqlx::query_with(&dialect::pg(sql), pg_args(args)?)
                    .fetch_all(c)
                    .await?,
                Row::Pg,
            ),
            On::PgPool(p) => rows(
                sqlx::query_with(&dialect::pg(sql), pg_args(args)?)
                    .fetch_all(p)
                    .await?,
                Row::Pg,
            ),
        })
    }

    pub async fn fetch_row<'e>(self, on: impl Into<On<'e>>) -> Result<Row> {
        self.fetch_rows(on)
            .await?
            .into_iter()
            .next()
            .ok_or(super::error::StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn execute<'e>(self, on: impl Into<On<'e>>) -> Result<Done> {
        let rows = match on.into() {
            On::Lite(c) => run_lite(self.sql, self.args, c).await?,
            On::LitePool(p) => run_lite(self.sql, self.args, p).await?,
            On::Pg(c) => run_pg(&dialect::pg(self.sql), self.args, c).await?,
            On::PgPool(p) => run_pg(&dialect::pg(self.sql), self.args, p).await?,
        };
        Ok(Done { rows })
    }
}

fn rows<T>(found: Vec<T>, wrap: fn(T) -> Row) -> Vec<Row> {
    found.into_iter().map(wrap).collect()
}

async fn run_lite<'e>(
    sql: &str,
    args: Vec<Arg>,
    on: impl sqlx::Executor<'e, Database = Sqlite>,
) -> Result<u64> {
    Ok(sqlx::query_with(sql, lite_args(args)?)
        .execute(on)
        .await?
        .rows_affected())
}

async fn run_pg<'e>(
    sql: &str,
    args: Vec<Arg>,
    on: impl sqlx::Executor<'e, Database = Postgres>,
) -> Result<u64> {
    Ok(sqlx::query_with(sql, pg_args(args)?)
        .execute(on)
        .await?
        .rows_affected())
}

/// A query whose rows decode as `R`.
#[must_use]
pub struct QueryAs<'q, R> {
    q: Query<'q>,
    row: PhantomData<fn() -> R>,
}

/// Runs `$fetch` (fetch_one, fetch_optional, fetch_all) of `$make` (query_as_with or
/// query_scalar_with) on whichever connection `$on` is.
macro_rules! fetch {
    ($self:ident, $on:ident, $make:ident, $fetch:ident) => {{
        let Query { sql, args } = $self.q;
        Ok(match $on.into() {
            On::Lite(c) => sqlx::$make(sql, lite_args(args)?).$fetch(c).await?,
            On::LitePool(p) => sqlx::$make(sql, lite_args(args)?).$fetch(p).await?,
            On::Pg(c) => {
                sqlx::$make(&dialect::pg(sql), pg_args(args)?)
                    .$fetch(c)
                    .await?
            }
            On::PgPool(p) => {
                sqlx::$make(&dialect::pg(sql), pg_args(args)?)
                    .$fetch(p)
                    .await?
            }
        })
    }};
}

impl<'q, R: Decodes> QueryAs<'q, R> {
    pub fn bind(mut self, value: impl IntoArg) -> Self {
        self.q = self.q.bind(value);
        self
    }

    pub async fn fetch_one<'e>(self, on: impl Into<On<'e>>) -> Result<R> {
        fetch!(self, on, query_as_with, fetch_one)
    }

    pub async fn fetch_optional<'e>(self, on: impl Into<On<'e>>) -> Result<Option<R>> {
        fetch!(self, on, query_as_with, fetch_optional)
    }

    pub async fn fetch_all<'e>(self, on: impl Into<On<'e>>) -> Result<Vec<R>> {
        fetch!(self, on, query_as_with, fetch_all)
    }
}

/// A query whose one column decodes as `T`.
#[must_use]
pub struct QueryScalar<'q, T> {
    q: Query<'q>,
    value: PhantomData<fn() -> T>,
}

impl<'q, T: Scalar> QueryScalar<'q, T> {
    pub fn bind(mut self, value: impl IntoArg) -> Self {
        self.q = self.q.bind(value);
        self
    }

    pub async fn fetch_one<'e>(self, on: impl Into<On<'e>>) -> Result<T> {
        fetch!(self, on, query_scalar_with, fetch_one)
    }

    pub async fn fetch_optional<'e>(self, on: impl Into<On<'e>>) -> Result<Option<T>> {
        fetch!(self, on, query_scalar_with, fetch_optional)
    }

    pub async fn fetch_all<'e>(self, on: impl Into<On<'e>>) -> Result<Vec<T>> {
        fetch!(self, on, query_scalar_with, fetch_all)
    }
}

/// A statement put together piece by piece (filters, `IN` lists), in the shape of sqlx's
/// `QueryBuilder`.
#[derive(Debug, Default)]
pub struct Builder {
    sql: String,
    args: Vec<Arg>,
}

impl Builder {
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        let _ = write!(self.sql, "{sql}");
        self
    }

    pub fn push_bind(&mut self, value: impl IntoArg) -> &mut Self {
        self.sql.push('?');
        self.args.push(value.into_arg());
        self
    }

    pub fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn build(&self) -> Query<'_> {
        Query {
            sql: &self.sql,
            args: self.args.clone(),
        }
    }

    pub fn build_query_as<R: Decodes>(&self) -> QueryAs<'_, R> {
        QueryAs {
            q: self.build(),
            row: PhantomData,
        }
    }

    pub fn build_query_scalar<T: Scalar>(&self) -> QueryScalar<'_, T> {
        QueryScalar {
            q: self.build(),
            value: PhantomData,
        }
    }
}

/// Items of a list, with a separator between them.
pub struct Separated<'b> {
    builder: &'b mut Builder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    pub fn push_bind(&mut self, value: impl IntoArg) -> &mut Self {
        if !self.first {
            self.builder.sql.push_str(self.separator);
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }

    pub fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        if !self.first {
            self.builder.sql.push_str(self.separator);
        }
        self.first = false;
        self.builder.push(sql);
        self
    }
}
