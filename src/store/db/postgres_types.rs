//! PostgreSQL's types at the edge of the connection layer: a parameter takes the type
//! PostgreSQL inferred for its place, and a column's value is read as one of the five kinds.

use postgres::types::Type as PgType;

use super::{Value, ValueRef};

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
pub(super) struct PgCell<'a>(pub(super) ValueRef<'a>);

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
