//! A result's rows on either engine: columns by position or name, converted with
//! [`FromValue`], and whole rows fed to serde as read models (a struct by column names, a
//! tuple by position, a unit variant by its name).

use super::postgres_types::PgCell;
use super::{Error, FromValue, Result, ValueRef};

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
