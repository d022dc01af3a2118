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

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use postgres::types::Type as PgType;

/// One value as SQL sees it, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One value as read from a row, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Integer(_) => "integer",
            ValueRef::Real(_) => "real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "blob",
        }
    }

    pub fn to_owned_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef as R;
        match v {
            R::Null => ValueRef::Null,
            R::Integer(i) => ValueRef::Integer(i),
            R::Real(f) => ValueRef::Real(f),
            R::Text(t) => ValueRef::Text(t),
            R::Blob(b) => ValueRef::Blob(b),
        }
    }
}

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

    /// The constraint that refused a write (a duplicate key, a missing row it refers to).
    pub fn is_constraint(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            // Class 23: integrity constraint violations.
            Error::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
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

// ---------------------------------------------------------------------------------------------
// Values in and out

/// What may be bound to a query's parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

/// What a column may be read as.
pub trait FromValue: Sized {
    /// What a message says it wanted, for errors.
    const WANTED: &'static str;
    fn from_value(value: ValueRef<'_>) -> Option<Self>;
}

macro_rules! integer_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(*self as i64)
            }
        }
        impl FromValue for $t {
            const WANTED: &'static str = stringify!($t);
            fn from_value(value: ValueRef<'_>) -> Option<Self> {
                match value {
                    ValueRef::Integer(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
integer_value!(i64, i32, u32, u16, u8, usize, u64);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(*self as i64)
    }
}

impl FromValue for bool {
    const WANTED: &'static str = "a flag";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Integer(i) => Some(i != 0),
            _ => None,
        }
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl FromValue for f64 {
    const WANTED: &'static str = "a number";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Real(f) => Some(f),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl FromValue for String {
    const WANTED: &'static str = "text";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).ok(),
            _ => None,
        }
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl FromValue for Vec<u8> {
    const WANTED: &'static str = "bytes";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
            _ => None,
        }
    }
}

impl<const N: usize> FromValue for [u8; N] {
    const WANTED: &'static str = "bytes of a fixed length";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Blob(b) => b.try_into().ok(),
            _ => None,
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const WANTED: &'static str = T::WANTED;
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        match value {
            ValueRef::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl FromValue for Value {
    const WANTED: &'static str = "a value";
    fn from_value(value: ValueRef<'_>) -> Option<Self> {
        Some(value.to_owned_value())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<String> for Value {
    fn from(t: String) -> Value {
        Value::Text(t)
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Value {
        Value::Text(t.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Blob(b)
    }
}

impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as R};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => R::Null,
            Value::Integer(i) => R::Integer(*i),
            Value::Real(f) => R::Real(*f),
            Value::Text(t) => R::Text(t.as_bytes()),
            Value::Blob(b) => R::Blob(b),
        }))
    }
}

/// A query's parameters: `()`, an array of values (`[name]`), or [`params!`].
pub trait Params {
    fn values(self) -> Vec<Value>;
}

impl Params for () {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl<T: ToValue, const N: usize> Params for [T; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

impl Params for &[&dyn ToValue] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

impl<const N: usize> Params for &[&dyn ToValue; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}

impl Params for &Vec<Value> {
    fn values(self) -> Vec<Value> {
        self.clone()
    }
}

impl Params for &[Value] {
    fn values(self) -> Vec<Value> {
        self.to_vec()
    }
}

/// Parameters of different types, in order: `params![id, name, raw]`.
macro_rules! params {
    () => { () };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue]
    };
}
pub(crate) use params;

// ---------------------------------------------------------------------------------------------
// Rows

/// A column by its position or its name.
pub trait ColumnIndex {
    fn index(&self, row: &Row<'_>) -> Result<usize>;
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, _: &Row<'_>) -> Result<usize> {
        Ok(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl ColumnIndex for &str {
    fn index(&self, row: &Row<'_>) -> Result<usize> {
        (0..row.column_count())
            .find(|&i| {
                row.column_name(i)
                    .is_some_and(|n| n.eq_ignore_ascii_case(self))
            })
            .ok_or_else(|| Error::NoColumn((*self).to_owned()))
    }
    fn describe(&self) -> String {
        (*self).to_owned()
    }
}

/// One row of a result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl<'r> Row<'r> {
    /// The value of a column, converted to `T`.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T> {
        let i = column.index(self)?;
        let value = self.get_ref(i)?;
        T::from_value(value).ok_or_else(|| Error::Type {
            column: column.describe(),
            found: value.kind(),
            wanted: T::WANTED,
        })
    }

    /// The value of a column as it is.
    pub fn get_ref(&self, i: usize) -> Result<ValueRef<'_>> {
        match self {
            Row::Sqlite(row) => Ok(row.get_ref(i)?.into()),
            Row::Postgres(row) => Ok(row.try_get::<_, PgCell<'_>>(i)?.0),
        }
    }

    pub fn column_count(&self) -> usize {
        match self {
            Row::Sqlite(row) => row.as_ref().column_count(),
            Row::Postgres(row) => row.len(),
        }
    }

    pub fn column_name(&self, i: usize) -> Option<&str> {
        match self {
            Row::Sqlite(row) => row.as_ref().column_name(i).ok(),
            Row::Postgres(row) => row.columns().get(i).map(|c| c.name()),
        }
    }

    /// The row as `T`: a struct's fields matched to the columns of their names, a tuple's
    /// members to the columns in order.
    pub fn to_model<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let mut cells = Vec::with_capacity(self.column_count());
        for i in 0..self.column_count() {
            let name = self.column_name(i).unwrap_or_default();
            cells.push((name, Field(self.get_ref(i)?)));
        }
        T::deserialize(RowCells(cells)).map_err(|e| Error::Model(e.to_string()))
    }
}

/// A row's named values fed to serde: a map for a struct, a sequence for a tuple.
struct RowCells<'a>(Vec<(&'a str, Field<'a>)>);

impl<'de> serde::Deserializer<'de> for RowCells<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_map(serde::de::value::MapDeserializer::new(self.0.into_iter()))
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_seq(serde::de::value::SeqDeserializer::new(
            self.0.into_iter().map(|(_, cell)| cell),
        ))
    }

    fn deserialize_tuple<V: serde::de::Visitor<'de>>(
        self,
        _len: usize,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct map struct enum identifier ignored_any
    }
}

/// One column's value fed to serde.
struct Field<'a>(ValueRef<'a>);

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for Field<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for Field<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            ValueRef::Null => v.visit_unit(),
            ValueRef::Integer(i) => v.visit_i64(i),
            ValueRef::Real(f) => v.visit_f64(f),
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => v.visit_str(s),
                Err(_) => v.visit_bytes(t),
            },
            ValueRef::Blob(b) => v.visit_bytes(b),
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            ValueRef::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_bool<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            ValueRef::Integer(i) => v.visit_bool(i != 0),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_byte_buf<V: serde::de::Visitor<'de>>(
        self,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            ValueRef::Blob(b) | ValueRef::Text(b) => v.visit_byte_buf(b.to_vec()),
            _ => self.deserialize_any(v),
        }
    }

    /// A unit variant stored as its name.
    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer;
        match self.0 {
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => v.visit_enum(s.into_deserializer()),
                Err(_) => self.deserialize_any(v),
            },
            _ => self.deserialize_any(v),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

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
            Engine::Sqlite(c) => Ok(Statement::Sqlite(c.prepare_cached(sql)?)),
            // Compiled when first run, when its parameters' values are known (see `compiled`).
            Engine::Postgres(pg) => Ok(Statement::Postgres(pg, sql.to_owned())),
        }
    }

    /// A statement compiled for this call only (text made up per call).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
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
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres(&'c Pg, String),
}

impl Statement<'_> {
    fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: impl Params) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// PostgreSQL's types

/// A parameter takes the type PostgreSQL inferred for its place: an integer becomes a flag
/// where a boolean is wanted, text where text is.
impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &PgType,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Integer(i) => match *ty {
                PgType::INT8 => i.to_sql(ty, out),
                PgType::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                PgType::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                PgType::BOOL => (*i != 0).to_sql(ty, out),
                PgType::FLOAT8 => (*i as f64).to_sql(ty, out),
                PgType::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                PgType::FLOAT4 => (*f as f32).to_sql(ty, out),
                PgType::FLOAT8 => f.to_sql(ty, out),
                _ => f.to_string().to_sql(ty, out),
            },
            Value::Text(t) => match *ty {
                PgType::BYTEA => t.as_bytes().to_sql(ty, out),
                PgType::INT8 => t.parse::<i64>()?.to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
            Value::Blob(b) => match *ty {
                PgType::BYTEA => b.as_slice().to_sql(ty, out),
                _ => std::str::from_utf8(b)?.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &PgType) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column's value from PostgreSQL as one of the five kinds.
struct PgCell<'a>(ValueRef<'a>);

impl<'a> postgres::types::FromSql<'a> for PgCell<'a> {
    fn from_sql(
        ty: &PgType,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgCell(match *ty {
            PgType::INT8 => ValueRef::Integer(i64::from_sql(ty, raw)?),
            PgType::INT4 => ValueRef::Integer(i32::from_sql(ty, raw)?.into()),
            PgType::INT2 => ValueRef::Integer(i16::from_sql(ty, raw)?.into()),
            PgType::OID => ValueRef::Integer(u32::from_sql(ty, raw)?.into()),
            PgType::BOOL => ValueRef::Integer(bool::from_sql(ty, raw)?.into()),
            PgType::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            PgType::FLOAT4 => ValueRef::Real(f32::from_sql(ty, raw)?.into()),
            PgType::BYTEA => ValueRef::Blob(raw),
            PgType::TEXT | PgType::VARCHAR | PgType::BPCHAR | PgType::NAME | PgType::UNKNOWN => {
                ValueRef::Text(raw)
            }
            ref other => {
                return Err(format!(
                    "a {other} column: cast it in the query (to bigint, double precision or text)"
                )
                .into());
            }
        }))
    }

    fn from_sql_null(
        _: &PgType,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgCell(ValueRef::Null))
    }

    fn accepts(_: &PgType) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    //! The same checks on both engines: SQLite always, PostgreSQL on the test rig's cluster.
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    enum Shade {
        #[serde(rename = "dark")]
        Dark,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Model {
        id: i64,
        name: Option<String>,
        flag: bool,
        shade: Shade,
    }

    /// A table `t` on `conn`, in the engine's own words.
    fn table(conn: &Connection) {
        let ddl = if conn.is_postgres() {
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                             name TEXT UNIQUE, flag BIGINT NOT NULL DEFAULT 0, data BYTEA,
                             score DOUBLE PRECISION, shade TEXT NOT NULL DEFAULT 'dark')"
        } else {
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE,
                             flag INTEGER NOT NULL DEFAULT 0, data BLOB, score REAL,
                             shade TEXT NOT NULL DEFAULT 'dark')"
        };
        conn.execute_batch(ddl).unwrap();
    }

    fn exercise(conn: &mut Connection) {
        table(conn);
        // Values of every kind go in and come back, `?1` used twice, a bare `?` numbered.
        conn.execute(
            "INSERT INTO t (name, flag, data, score) VALUES (?1, ?2, ?3, ?4)",
            params!["ann", true, vec![0u8, 159, 255], 2.5],
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        assert!(id > 0);
        conn.execute("INSERT INTO t (name) VALUES (?)", [Option::<&str>::None])
            .unwrap();
        let (name, flag, data, score): (String, bool, Vec<u8>, f64) = conn
            .query_row(
                "SELECT name, flag, data, score FROM t WHERE id = ?1 AND id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (name.as_str(), flag, data, score),
            ("ann", true, vec![0, 159, 255], 2.5)
        );
        // A comparison and a count read as integers, whichever type the engine gives them.
        let (same, n): (i64, i64) = conn
            .query_row("SELECT ?1 = 'ann', count(*) FROM t", ["ann"], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((same, n), (1, 2));
        let nulls: Vec<Option<String>> = conn
            .prepare_cached("SELECT name FROM t ORDER BY id")
            .unwrap()
            .query_map((), |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(nulls, vec![Some("ann".to_owned()), None]);
        // Read models by column name, tuples by position, a unit variant by its name.
        let models: Vec<Model> = conn
            .prepare_cached("SELECT id, name, flag, shade FROM t ORDER BY id")
            .unwrap()
            .query_as(())
            .unwrap();
        assert_eq!(
            models[0],
            Model {
                id,
                name: Some("ann".into()),
                flag: true,
                shade: Shade::Dark
            }
        );
        assert_eq!(models[1].name, None);
        let pairs: Vec<(i64, Option<String>)> = conn
            .prepare_cached("SELECT id, name FROM t ORDER BY id")
            .unwrap()
            .query_as(())
            .unwrap();
        assert_eq!(pairs[0], (id, Some("ann".to_owned())));
        // No row: `optional()` says so; a wrong type is named.
        let none: Option<i64> = conn
            .query_row("SELECT id FROM t WHERE name = ?1", ["zed"], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(none, None);
        let wrong = conn.query_row("SELECT name FROM t WHERE id = ?1", [id], |r| {
            r.get::<i64>(0)
        });
        assert!(matches!(wrong, Err(Error::Type { .. })), "{wrong:?}");
        // A duplicate is a constraint error.
        let dup = conn.execute("INSERT INTO t (name) VALUES (?1)", ["ann"]);
        assert!(dup.as_ref().is_err_and(Error::is_constraint), "{dup:?}");
        // A transaction dropped is rolled back; one committed stays.
        {
            let tx = conn.write_transaction().unwrap();
            tx.execute("INSERT INTO t (name) VALUES (?1)", ["bob"])
                .unwrap();
            assert!(!tx.is_autocommit());
        }
        assert!(conn.is_autocommit());
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t (name) VALUES (?1)", ["cy"])
            .unwrap();
        tx.commit().unwrap();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM t WHERE name IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map((), |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(names, vec!["ann".to_owned(), "cy".to_owned()]);
        // Rows one at a time.
        let mut stmt = conn.prepare_cached("SELECT id FROM t ORDER BY id").unwrap();
        let mut rows = stmt.query(()).unwrap();
        let mut seen = 0;
        while let Some(row) = rows.next().unwrap() {
            assert!(row.get::<i64>("id").unwrap() > 0);
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn sqlite_carries_values_rows_and_transactions() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&mut Connection::open_sqlite(&dir.path().join("t.db")).unwrap());
    }

    #[test]
    fn insert_or_ignore_becomes_on_conflict_do_nothing() {
        assert_eq!(
            postgres_sql("INSERT OR IGNORE INTO t(a) VALUES (?1)"),
            "INSERT INTO t(a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            postgres_sql("\n  insert or ignore into t(a) SELECT b FROM u RETURNING a;"),
            "INSERT INTO t(a) SELECT b FROM u ON CONFLICT DO NOTHING RETURNING a"
        );
        assert_eq!(
            postgres_sql("INSERT INTO t VALUES (1)"),
            "INSERT INTO t VALUES (1)"
        );
    }

    #[test]
    fn placeholders_become_postgres_numbered_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT ?, ?1, '?', \"a?\" FROM t WHERE a = ?3 AND b = ? AND c = ?"),
            "SELECT $1, $1, '?', \"a?\" FROM t WHERE a = $3 AND b = $4 AND c = $5"
        );
    }

    #[cfg(feature = "rig")]
    #[test]
    fn postgres_carries_values_rows_and_transactions() {
        let url = std::env::var("LISTBRIDGE_PG").unwrap_or_else(|_| {
            panic!(
                "LISTBRIDGE_PG is not set: start a private PostgreSQL with `scripts/pgrig start DIR` \
                 and export the LISTBRIDGE_PG line of DIR/pg.env (scripts/test does both)"
            )
        });
        let mut conn = Connection::open_postgres(&url)
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {url}: {e}"));
        // A schema of its own, dropped with the session's temporary objects.
        let schema = format!("db_test_{}", std::process::id());
        conn.execute_batch(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path = {schema}"
        ))
        .unwrap();
        exercise(&mut conn);
        // A query past its budget is interrupted.
        let slow = conn.with_budget(std::time::Duration::from_millis(50), || {
            conn.execute_batch("SELECT pg_sleep(2)")
        });
        assert!(slow.as_ref().is_err_and(Error::is_interrupted), "{slow:?}");
        conn.execute_batch(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
