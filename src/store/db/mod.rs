//! The connection every store query goes through, on SQLite or PostgreSQL: a thin layer with
//! the shape of the part of rusqlite the store uses (`execute`, `query_row`, `prepare_cached`
//! and its `query_map`, transactions, `params!`, `optional()`), so that the store's queries are
//! written once whatever engine holds the archive. Values cross it as five SQL kinds (null,
//! integer, real, text, blob) and are converted at the edge with the engine's own types,
//! leniently: a flag read back from a comparison (a boolean on PostgreSQL), a count or a small
//! integer column all read as `i64`, and a parameter takes the type PostgreSQL infers for its
//! place. Queries keep SQLite's `?1` placeholders; PostgreSQL is given `$1`.
//!
//! No crate offers this for synchronous rusqlite code (sqlx and diesel would mean rewriting
//! every query in their own terms), hence these few hundred lines.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use postgres::types::Type as PgType;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres_message(.0))]
    Postgres(postgres::Error),
    /// A statement PostgreSQL refused to compile, with its text (its error is the message, not
    /// a cause to repeat).
    #[error("{}, in: {sql}", postgres_message(.error))]
    Prepare { sql: String, error: postgres::Error },
    #[error("the query returned no row")]
    NoRows,
    #[error("column {column}: a {found} value cannot be read as {wanted}")]
    Type {
        column: String,
        found: &'static str,
        wanted: &'static str,
    },
    #[error("no column named {0:?} in the row")]
    NoColumn(String),
    #[error("a row does not fit its model: {0}")]
    Model(String),
}

impl Error {
    /// The engine gave up waiting for a lock another connection holds.
    pub fn is_busy(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DatabaseBusy
            }
            Error::Postgres(e) => [
                SqlState::LOCK_NOT_AVAILABLE,
                SqlState::T_R_SERIALIZATION_FAILURE,
            ]
            .iter()
            .any(|state| e.code() == Some(state)),
            _ => false,
        }
    }

    /// The query was stopped by its time budget (see [`Connection::with_budget`]).
    pub fn is_interrupted(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::OperationInterrupted
            }
            Error::Postgres(e) => e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED),
            _ => false,
        }
    }
}

/// PostgreSQL's own words for an error (the server's message and detail), else the client's.
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        Error::Postgres(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `None` for a query that found no row, as rusqlite's `optional()`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) | Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

mod postgres_types;
mod rows;
#[cfg(test)]
mod tests;
mod values;

pub use rows::Row;
pub(crate) use values::params;
pub use values::{FromValue, Params, ToValue, Value, ValueRef};

// ---------------------------------------------------------------------------------------------
// The connection

/// One connection to the archive's database.
pub struct Connection {
    engine: Engine,
}

enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(Pg),
}

/// A PostgreSQL session: the synchronous client (its calls need `&mut`, the store's reads
/// take `&self`, and a connection serves one thread at a time), its compiled statements by
/// their SQLite text, and whether a transaction is open.
pub struct Pg {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    in_transaction: Cell<bool>,
}

/// Statements a PostgreSQL session keeps compiled; past it the cache starts again (search
/// makes up its text per query).
const PG_STATEMENTS: usize = 256;

impl Connection {
    /// Opens (creating) the SQLite database at `path`; a locked database is waited for.
    pub fn open_sqlite(path: &std::path::Path) -> Result<Connection> {
        let sqlite = rusqlite::Connection::open(path)?;
        // Another process (the daemon, an import) may hold the lock for a moment.
        sqlite.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Connection {
            engine: Engine::Sqlite(sqlite),
        })
    }

    /// Opens the SQLite database at `path` for reading only.
    pub fn open_sqlite_read_only(path: &std::path::Path) -> Result<Connection> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Ok(Connection {
            engine: Engine::Sqlite(rusqlite::Connection::open_with_flags(path, flags)?),
        })
    }

    /// Connects to PostgreSQL (`postgres://user@host:port/dbname`, libpq's forms). Must not be
    /// called on an async runtime's thread: the client runs its own.
    pub fn open_postgres(url: &str) -> Result<Connection> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Connection {
            engine: Engine::Postgres(Pg {
                client: RefCell::new(client),
                statements: RefCell::default(),
                in_transaction: Cell::new(false),
            }),
        })
    }

    /// Whether this is a PostgreSQL session.
    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs statements separated by `;`, without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Engine::Postgres(pg) => Ok(pg.client.borrow_mut().batch_execute(sql)?),
        }
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement kept compiled for the next call with the same text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(Statement::Sqlite(SqliteStatement::Kept(
                c.prepare_cached(sql)?,
            ))),
            // Compiled when first run, when its parameters' values are known (see `compiled`).
            Engine::Postgres(pg) => Ok(Statement::Postgres(pg, sql.to_owned())),
        }
    }

    /// A statement compiled for this call only (text made up per call), so that it does not
    /// push the statements asked again and again out of SQLite's cache. (PostgreSQL's session
    /// keeps every statement until its cache is full, see `compiled`.)
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(Statement::Sqlite(SqliteStatement::Once(c.prepare(sql)?))),
            Engine::Postgres(_) => self.prepare_cached(sql),
        }
    }

    /// The row id the last insert on this connection made (PostgreSQL: the last value a
    /// sequence gave this session, which an identity column's insert is).
    pub fn last_insert_rowid(&self) -> i64 {
        match &self.engine {
            Engine::Sqlite(c) => c.last_insert_rowid(),
            Engine::Postgres(_) => self
                .query_row("SELECT lastval()", (), |r| r.get(0))
                .unwrap_or(0),
        }
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match &self.engine {
            Engine::Sqlite(c) => c.is_autocommit(),
            Engine::Postgres(pg) => !pg.in_transaction.get(),
        }
    }

    /// A transaction.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, "BEGIN DEFERRED")
    }

    /// A transaction that takes the write lock at once, waiting its turn (on PostgreSQL,
    /// which locks rows as they are written, an ordinary one).
    pub fn write_transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, "BEGIN IMMEDIATE")
    }

    /// Keeps up to `n` compiled statements (SQLite; PostgreSQL keeps [`PG_STATEMENTS`]).
    pub fn set_prepared_statement_cache_capacity(&self, n: usize) {
        if let Engine::Sqlite(c) = &self.engine {
            c.set_prepared_statement_cache_capacity(n);
        }
    }

    /// Stops a query that runs past `budget`, for `f` (it then fails as interrupted).
    pub fn with_budget<T>(&self, budget: std::time::Duration, f: impl FnOnce() -> T) -> T {
        match &self.engine {
            Engine::Sqlite(c) => {
                // SQLite calls the handler every thousand steps; past the budget it interrupts.
                let started = std::time::Instant::now();
                c.progress_handler(1000, Some(move || started.elapsed() > budget));
                let done = f();
                c.progress_handler(0, None::<fn() -> bool>);
                done
            }
            Engine::Postgres(_) => {
                let ms = budget.as_millis().max(1);
                let _ = self.execute_batch(&format!("SET statement_timeout = {ms}"));
                let done = f();
                let _ = self.execute_batch("SET statement_timeout = 0");
                done
            }
        }
    }
}

/// A query in SQLite's terms made PostgreSQL's: `?1` (and a bare `?`, numbered in order)
/// becomes `$1`, quoted text and names left alone; `INSERT OR IGNORE` becomes an insert that
/// does nothing on a conflict.
fn postgres_sql(sql: &str) -> String {
    let numbered = postgres_placeholders(sql);
    let trimmed = numbered.trim_start();
    match trimmed.get(..21) {
        Some(head) if head.eq_ignore_ascii_case("INSERT OR IGNORE INTO") => {
            let body = format!("INSERT INTO{}", &trimmed[21..]);
            let body = body.trim_end().trim_end_matches(';');
            match find_word(body, "RETURNING") {
                Some(at) => format!(
                    "{} ON CONFLICT DO NOTHING {}",
                    body[..at].trim_end(),
                    &body[at..]
                ),
                None => format!("{body} ON CONFLICT DO NOTHING"),
            }
        }
        _ => numbered,
    }
}

/// Where the keyword `word` starts in `sql` (as a whole word, any case), if it does.
fn find_word(sql: &str, word: &str) -> Option<usize> {
    let upper = sql.to_ascii_uppercase();
    upper.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = upper[..at].chars().next_back();
        let after = upper[at + word.len()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        edge(before) && edge(after)
    })
}

/// `?1` and bare `?` as PostgreSQL's `$1`, outside quotes. A bare `?` takes the number after
/// the highest used before it, as SQLite numbers it.
fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut highest = 0u32;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(|d| d.is_ascii_digit()) {
                    digits.push(d);
                }
                let number = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => highest + 1,
                };
                highest = highest.max(number);
                out.push('$');
                out.push_str(&number.to_string());
            }
            (None, c) => out.push(c),
        }
    }
    out
}

/// A compiled statement.
pub enum Statement<'c> {
    Sqlite(SqliteStatement<'c>),
    Postgres(&'c Pg, String),
}

/// A SQLite statement kept in the connection's cache, or compiled for one call.
pub enum SqliteStatement<'c> {
    Kept(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> std::ops::Deref for SqliteStatement<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &rusqlite::Statement<'c> {
        match self {
            SqliteStatement::Kept(st) => st,
            SqliteStatement::Once(st) => st,
        }
    }
}

impl std::ops::DerefMut for SqliteStatement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            SqliteStatement::Kept(st) => st,
            SqliteStatement::Once(st) => st,
        }
    }
}

impl Statement<'_> {
    fn bind(statement: &mut rusqlite::Statement<'_>, params: impl Params) -> Result<()> {
        let values = params.values();
        let wanted = statement.parameter_count();
        if values.len() != wanted {
            return Err(rusqlite::Error::InvalidParameterCount(values.len(), wanted).into());
        }
        for (i, value) in values.iter().enumerate() {
            statement.raw_bind_parameter(i + 1, value)?;
        }
        Ok(())
    }

    /// Runs a PostgreSQL statement, its rows all read.
    fn pg_rows(pg: &Pg, sql: &str, params: impl Params) -> Result<Vec<postgres::Row>> {
        let values = params.values();
        let statement = pg.compiled(sql, &values)?;
        Ok(pg
            .client
            .borrow_mut()
            .query(&statement, &as_pg_params(&values))?)
    }

    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        match self {
            Statement::Sqlite(st) => {
                Self::bind(st, params)?;
                Ok(st.raw_execute()?)
            }
            Statement::Postgres(pg, sql) => {
                let values = params.values();
                let statement = pg.compiled(sql, &values)?;
                Ok(pg
                    .client
                    .borrow_mut()
                    .execute(&statement, &as_pg_params(&values))? as usize)
            }
        }
    }

    /// The rows one at a time (`while let Some(row) = rows.next()?`).
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        match self {
            Statement::Sqlite(st) => {
                Self::bind(st, params)?;
                Ok(Rows::Sqlite(st.raw_query()))
            }
            Statement::Postgres(pg, st) => Ok(Rows::Postgres {
                rows: Self::pg_rows(pg, st, params)?.into_iter(),
                current: None,
            }),
        }
    }

    /// Every row, each made into a `T` by `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(params)?;
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            all.push(f(&row));
        }
        Ok(all.into_iter())
    }

    /// The first row made into a `T`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Whether the query finds a row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }

    /// Every row as `T`, each column matched to the field of its name.
    pub fn query_as<T: serde::de::DeserializeOwned>(
        &mut self,
        params: impl Params,
    ) -> Result<Vec<T>> {
        self.query_map(params, |row| row.to_model())?.collect()
    }
}

fn as_pg_params(values: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl Pg {
    /// The statement compiled for `sql`, kept for the next call. PostgreSQL infers each
    /// parameter's type from where it first stands (so a query says `x = ?1 OR ?1 IS NULL`,
    /// not the other way round); where it cannot, the statement is compiled again with the
    /// types of the values given.
    fn compiled(&self, sql: &str, values: &[Value]) -> Result<postgres::Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let translated = postgres_sql(sql);
        let mut client = self.client.borrow_mut();
        let statement = client.prepare(&translated).or_else(|error| {
            if error.code() != Some(&postgres::error::SqlState::INDETERMINATE_DATATYPE) {
                return Err(error);
            }
            let types: Vec<PgType> = values.iter().map(Value::pg_type).collect();
            client.prepare_typed(&translated, &types)
        });
        let statement = statement.map_err(|error| Error::Prepare {
            sql: translated,
            error,
        })?;
        let mut kept = self.statements.borrow_mut();
        if kept.len() >= PG_STATEMENTS {
            kept.clear();
        }
        kept.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Value {
    /// The PostgreSQL type a value of this kind is bound as where none can be inferred
    /// (a null: left for PostgreSQL to settle).
    fn pg_type(&self) -> PgType {
        match self {
            Value::Null => PgType::UNKNOWN,
            Value::Integer(_) => PgType::INT8,
            Value::Real(_) => PgType::FLOAT8,
            Value::Text(_) => PgType::TEXT,
            Value::Blob(_) => PgType::BYTEA,
        }
    }
}

/// A query's rows, read one at a time (PostgreSQL's all received already).
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: std::vec::IntoIter<postgres::Row>,
        current: Option<postgres::Row>,
    },
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)] // a row borrows the cursor: no Iterator can lend it
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            Rows::Postgres { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(Row::Postgres))
            }
        }
    }
}

/// A transaction: rolled back when dropped before [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    open: bool,
}

impl<'c> Transaction<'c> {
    fn begin(conn: &'c mut Connection, begin: &str) -> Result<Self> {
        match &conn.engine {
            Engine::Sqlite(_) => conn.execute_batch(begin)?,
            Engine::Postgres(pg) => {
                conn.execute_batch("BEGIN")?;
                pg.in_transaction.set(true);
            }
        }
        Ok(Transaction { conn, open: true })
    }

    /// Commits; a commit that fails is rolled back when the transaction is dropped.
    pub fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        self.conn.ended();
        Ok(())
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.conn.ended();
        }
    }
}

impl Connection {
    /// A transaction ended.
    fn ended(&self) {
        if let Engine::Postgres(pg) = &self.engine {
            pg.in_transaction.set(false);
        }
    }
}
