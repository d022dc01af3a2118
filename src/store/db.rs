//! The connection every store query goes through: a thin layer with the shape of the part of
//! rusqlite the store uses (`execute`, `query_row`, `prepare_cached` and its `query_map`,
//! transactions, `params!`, `optional()`), so that the store's queries are written once
//! whatever engine holds the archive. Values cross it as five SQL kinds (null, integer, real,
//! text, blob) and are converted at the edge with the engine's own types, leniently: a flag
//! read back from a comparison, a count or a small integer column all read as `i64`.
//!
//! No crate offers this for synchronous rusqlite code (sqlx and diesel would mean rewriting
//! every query in their own terms), hence these few hundred lines.

use std::borrow::Cow;

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
        matches!(self, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy)
    }

    /// The query was stopped by its time budget (see [`Connection::with_budget`]).
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::OperationInterrupted)
    }

    /// The constraint that refused a write (a duplicate key, a missing row it refers to).
    pub fn is_constraint(&self) -> bool {
        matches!(self, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation)
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
pub struct Row<'r> {
    inner: &'r rusqlite::Row<'r>,
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
        Ok(self.inner.get_ref(i)?.into())
    }

    pub fn column_count(&self) -> usize {
        self.inner.as_ref().column_count()
    }

    pub fn column_name(&self, i: usize) -> Option<&str> {
        self.inner.as_ref().column_name(i).ok()
    }

    /// The row as `T`: a struct's fields matched to the columns of their names, a tuple's
    /// members to the columns in order.
    pub fn to_model<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let mut cells = Vec::with_capacity(self.column_count());
        for i in 0..self.column_count() {
            let name = self.column_name(i).unwrap_or_default();
            cells.push((name, Cell(self.get_ref(i)?)));
        }
        T::deserialize(RowCells(cells)).map_err(|e| Error::Model(e.to_string()))
    }
}

/// A row's named values fed to serde: a map for a struct, a sequence for a tuple.
struct RowCells<'a>(Vec<(&'a str, Cell<'a>)>);

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
struct Cell<'a>(ValueRef<'a>);

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for Cell<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for Cell<'_> {
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
    sqlite: rusqlite::Connection,
}

impl Connection {
    /// Opens (creating) the SQLite database at `path`.
    pub fn open_sqlite(path: &std::path::Path) -> Result<Connection> {
        Ok(Connection {
            sqlite: rusqlite::Connection::open(path)?,
        })
    }

    /// Opens the SQLite database at `path` for reading only.
    pub fn open_sqlite_read_only(path: &std::path::Path) -> Result<Connection> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Ok(Connection {
            sqlite: rusqlite::Connection::open_with_flags(path, flags)?,
        })
    }

    /// Stops a query that runs past `budget` (checked every thousand steps), for `f`.
    pub fn with_budget<T>(&self, budget: std::time::Duration, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        self.sqlite
            .progress_handler(1000, Some(move || started.elapsed() > budget));
        let done = f();
        self.sqlite.progress_handler(0, None::<fn() -> bool>);
        done
    }

    /// The SQLite connection underneath, for what only SQLite has (pragmas, budgets).
    pub fn sqlite(&self) -> &rusqlite::Connection {
        &self.sqlite
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(self.sqlite.execute_batch(sql)?)
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
        Ok(Statement {
            sqlite: self.sqlite.prepare_cached(sql)?,
        })
    }

    /// A statement compiled for this call only (text made up per call).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// The row id the last insert on this connection made.
    pub fn last_insert_rowid(&self) -> i64 {
        self.sqlite.last_insert_rowid()
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        self.sqlite.is_autocommit()
    }

    /// A transaction; `immediate` takes the write lock at once.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, "BEGIN DEFERRED")
    }

    /// A transaction that takes the write lock at once, waiting its turn.
    pub fn write_transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, "BEGIN IMMEDIATE")
    }

    /// Keeps up to `n` compiled statements.
    pub fn set_prepared_statement_cache_capacity(&self, n: usize) {
        self.sqlite.set_prepared_statement_cache_capacity(n);
    }
}

/// A compiled statement.
pub struct Statement<'c> {
    sqlite: rusqlite::CachedStatement<'c>,
}

impl Statement<'_> {
    fn bind(&mut self, params: impl Params) -> Result<()> {
        let values = params.values();
        let wanted = self.sqlite.parameter_count();
        if values.len() != wanted {
            return Err(rusqlite::Error::InvalidParameterCount(values.len(), wanted).into());
        }
        for (i, value) in values.iter().enumerate() {
            self.sqlite.raw_bind_parameter(i + 1, value)?;
        }
        Ok(())
    }

    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.bind(params)?;
        Ok(self.sqlite.raw_execute()?)
    }

    /// The rows one at a time (`while let Some(row) = rows.next()?`).
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        self.bind(params)?;
        Ok(Rows {
            sqlite: self.sqlite.raw_query(),
        })
    }

    /// Every row, each made into a `T` by `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        self.bind(params)?;
        let mut rows = self.sqlite.raw_query();
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            all.push(f(&Row { inner: row }));
        }
        Ok(all.into_iter())
    }

    /// The first row made into a `T`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.bind(params)?;
        let mut rows = self.sqlite.raw_query();
        match rows.next()? {
            Some(row) => f(&Row { inner: row }),
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

/// A query's rows, read one at a time.
pub struct Rows<'s> {
    sqlite: rusqlite::Rows<'s>,
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)] // a row borrows the cursor: no Iterator can lend it
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        Ok(self.sqlite.next()?.map(|inner| Row { inner }))
    }
}

/// A transaction: rolled back when dropped before [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    open: bool,
}

impl<'c> Transaction<'c> {
    fn begin(conn: &'c mut Connection, begin: &str) -> Result<Self> {
        conn.execute_batch(begin)?;
        Ok(Transaction { conn, open: true })
    }

    /// Commits; a commit that fails is rolled back when the transaction is dropped.
    pub fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
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
        }
    }
}
