//! One copy of the store's SQL for both engines: a query is written once, in the dialect both
//! SQLite and PostgreSQL speak (`ON CONFLICT ... DO UPDATE/NOTHING`, `RETURNING`, `CASE`,
//! `CAST(sum(..) AS BIGINT)`), with `?N` placeholders that [`pg_placeholders`] turns into
//! PostgreSQL's `$N`. Arguments are [`Arg`]s and rows come back as [`Row`]s of four kinds of
//! value (null, integer, text, bytes), so a `store/*.rs` method does not know which engine
//! answers it.

use std::borrow::Cow;

use postgres::types::{private::BytesMut, IsNull, ToSql, Type};

use super::{Result, StoreError};

/// A value going into a query.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// What may be passed as a query argument.
pub trait Arg {
    fn value(&self) -> ValueRef<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn value(&self) -> ValueRef<'_> {
                ValueRef::Int(*self as i64)
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u16, u8);

impl Arg for u64 {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Arg for usize {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Arg for bool {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}
impl Arg for str {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}
impl Arg for String {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}
impl Arg for [u8] {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}
impl Arg for Vec<u8> {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}
impl<const N: usize> Arg for [u8; N] {
    fn value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> ValueRef<'_> {
        (**self).value()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.value(),
            None => ValueRef::Null,
        }
    }
}

/// `args![a, b, c]`: a slice of query arguments.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$(&$a as &dyn $crate::store::db::Arg),*] as &[&dyn $crate::store::db::Arg]
    };
}
pub(crate) use args;

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => V::Null,
            ValueRef::Int(i) => V::Integer(i),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

/// PostgreSQL types each argument by where it stands in the query; the value is written in
/// that type (an integer for a BIGINT or INTEGER column, text for TEXT), so one Rust value
/// serves whatever the server inferred.
impl ToSql for ValueRef<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            ValueRef::Text(s) => s.to_sql(ty, out),
            ValueRef::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub(crate) Vec<Value>);

/// What a column may be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i32, u32, u64, usize, u16, u8);

impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            // SQLite returns a zero-length blob written as X'' as a blob, PostgreSQL as bytea;
            // text in a blob column is a damaged row.
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as `T`; a missing column or a value of another kind is a store error.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| StoreError::Sql(format!("the query returned no column {i}")))?;
        T::from_value(v).map_err(|e| StoreError::Sql(format!("column {i}: {e}")))
    }

    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
        use rusqlite::types::ValueRef as V;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match r.get_ref(i)? {
                V::Null => Value::Null,
                V::Integer(i) => Value::Int(i),
                V::Real(f) => Value::Int(f as i64),
                V::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                V::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        Ok(Row(out))
    }

    pub(crate) fn from_pg(r: &postgres::Row) -> Result<Row> {
        let mut out = Vec::with_capacity(r.len());
        for (i, c) in r.columns().iter().enumerate() {
            let bad = |e: postgres::Error| StoreError::Sql(format!("column {}: {e}", c.name()));
            out.push(match *c.type_() {
                Type::INT8 => opt(r.try_get::<_, Option<i64>>(i).map_err(bad)?, Value::Int),
                Type::INT4 => opt(r.try_get::<_, Option<i32>>(i).map_err(bad)?, |v| {
                    Value::Int(v.into())
                }),
                Type::INT2 => opt(r.try_get::<_, Option<i16>>(i).map_err(bad)?, |v| {
                    Value::Int(v.into())
                }),
                Type::BOOL => opt(r.try_get::<_, Option<bool>>(i).map_err(bad)?, |v| {
                    Value::Int(v.into())
                }),
                Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                    opt(r.try_get::<_, Option<String>>(i).map_err(bad)?, Value::Text)
                }
                Type::BYTEA => opt(
                    r.try_get::<_, Option<Vec<u8>>>(i).map_err(bad)?,
                    Value::Blob,
                ),
                ref t => {
                    return Err(StoreError::Sql(format!(
                        "column {} has the type {t}, which the store does not read (CAST it)",
                        c.name()
                    )))
                }
            });
        }
        Ok(Row(out))
    }
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map(f).unwrap_or(Value::Null)
}

/// The row counts a multi-row statement is written for ([`batches`]): a run of rows is cut into
/// statements of exactly these sizes, so a command prepares at most one statement of each size
/// (six in all), whatever the number of rows, and no row is sent twice.
pub(crate) const BATCH_ROWS: [usize; 6] = [512, 128, 32, 8, 2, 1];

/// `items` cut into runs whose lengths are [`BATCH_ROWS`] sizes, largest first: 10,000 rows are
/// 19 runs of 512, 2 of 128 and 2 of 8; at most 13 runs go below 512.
pub(crate) fn batches<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    for size in BATCH_ROWS {
        while rest.len() >= size {
            let (run, more) = rest.split_at(size);
            out.push(run);
            rest = more;
        }
    }
    out
}

/// `rows` copies of `row` (a parenthesized list whose `?`s are placeholders), joined by commas,
/// the `?`s numbered in order from `?1`: `rows_sql(2, "(?, ?)")` is `(?1, ?2), (?3, ?4)`.
pub(crate) fn rows_sql(rows: usize, row: &str) -> String {
    let mut out = String::with_capacity(rows * (row.len() + 8));
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        for c in row.chars() {
            if c == '?' {
                n += 1;
                out.push('?');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// The query in PostgreSQL's dialect: `?N` placeholders as `$N`, and `CAST(.. AS BLOB)` (which
/// types the bytes of a `VALUES` list on SQLite) as `CAST(.. AS BYTEA)`; quoted text is left
/// alone.
pub fn pg_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    if sql.contains(" AS BLOB)") {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut quoted = false;
        let mut rest = sql;
        while let Some(c) = rest.chars().next() {
            if !quoted && rest.starts_with(" AS BLOB)") {
                out.push_str(" AS BYTEA)");
                rest = &rest[" AS BLOB)".len()..];
                continue;
            }
            match c {
                '\'' => {
                    quoted = !quoted;
                    out.push(c);
                }
                '?' if !quoted => out.push('$'),
                _ => out.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        return Cow::Owned(out);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            pg_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d IN (?2, ?10)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d IN ($2, $10)"
        );
        assert!(matches!(
            pg_placeholders("SELECT 1"),
            Cow::Borrowed("SELECT 1")
        ));
        assert_eq!(
            pg_placeholders("SELECT CAST(?1 AS BLOB), ' AS BLOB)', CAST(?2 AS BIGINT)"),
            "SELECT CAST($1 AS BYTEA), ' AS BLOB)', CAST($2 AS BIGINT)"
        );
    }

    #[test]
    fn batches_are_cut_and_sized_to_a_few_statements() {
        let v: Vec<u32> = (0..10_000).collect();
        let runs = batches(&v);
        let sizes: Vec<usize> = runs.iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [vec![512; 19], vec![128; 2], vec![8; 2]].concat());
        // Every row once, in order.
        assert_eq!(runs.concat(), v);
        let sizes: Vec<usize> = batches(&v[..9]).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![8, 1]);
        let sizes: Vec<usize> = batches(&v[..7]).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![2, 2, 2, 1]);
        assert!(batches(&v[..0]).is_empty());
        assert_eq!(
            rows_sql(2, "(?, CAST(? AS TEXT))"),
            "(?1, CAST(?2 AS TEXT)), (?3, CAST(?4 AS TEXT))"
        );
    }

    #[test]
    fn rows_read_what_they_hold_and_refuse_other_kinds() {
        let r = Row(vec![
            Value::Int(7),
            Value::Text("x".into()),
            Value::Blob(vec![1]),
            Value::Null,
        ]);
        assert_eq!(r.get::<i64>(0).unwrap(), 7);
        assert!(r.get::<bool>(0).unwrap());
        assert_eq!(r.get::<u32>(0).unwrap(), 7);
        assert_eq!(r.get::<String>(1).unwrap(), "x");
        assert_eq!(r.get::<Vec<u8>>(2).unwrap(), vec![1]);
        assert_eq!(r.get::<Option<String>>(3).unwrap(), None);
        assert!(r.get::<String>(0).is_err());
        assert!(r.get::<i64>(3).is_err());
        assert!(r.get::<i64>(9).is_err());
        let neg = Row(vec![Value::Int(-1)]);
        assert!(neg.get::<u32>(0).is_err());
    }
}
