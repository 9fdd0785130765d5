//! Set-based reads and multi-row writes for the projections' batch paths.
//!
//! Through sqlx's `Any` driver every statement costs tens of microseconds
//! whatever it does, so a batch path loads the rows a batch touches with a
//! few `IN` lists, folds the batch in memory and writes the result back with
//! multi-row upserts. Statements are chunked: on SQLite to 2,000 values,
//! and on PostgreSQL a message over the
//! socket's initial send buffer stalls about 40 ms while sqlx 0.9.0 leaves
//! Nagle on (see `store::postgres`), so each statement stays under 7 KiB.

use std::ops::Range;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use store::Cursor;

use crate::Result;
pub(crate) use crate::sink::insert_all;

/// A value bound into a statement: an integer or text, maybe null.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum V {
    I(i64),
    T(String),
    OI(Option<i64>),
    OT(Option<String>),
}

impl V {
    /// About what it weighs in a PostgreSQL Bind message.
    fn size(&self) -> usize {
        4 + match self {
            V::I(_) | V::OI(_) => 8,
            V::T(s) => s.len(),
            V::OT(s) => s.as_ref().map_or(0, String::len),
        }
    }
}

impl From<i64> for V {
    fn from(v: i64) -> Self {
        V::I(v)
    }
}

impl From<&str> for V {
    fn from(v: &str) -> Self {
        V::T(v.to_string())
    }
}

impl From<String> for V {
    fn from(v: String) -> Self {
        V::T(v)
    }
}

impl From<&String> for V {
    fn from(v: &String) -> Self {
        V::T(v.clone())
    }
}

/// Where a verdict (or any event) sits in the log, as stored in rows.
pub(crate) type Pos = (i64, i64);

/// Before every event: what a row that has seen no verdict stores.
pub(crate) const NO_POS: Pos = (0, 0);

pub(crate) fn pos(c: Cursor) -> Pos {
    (c.tx as i64, c.seq as i64)
}

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// Splits `rows` into runs that fit one statement each.
fn chunks(conn: &AnyConnection, rows: &[Vec<V>]) -> Vec<Range<usize>> {
    let mut budget = Budget::new(conn);
    let mut out = vec![];
    let mut start = 0;
    for (i, row) in rows.iter().enumerate() {
        if budget.starts_a_statement(row) {
            out.push(start..i);
            start = i;
        }
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

/// What one statement may hold, and how much of it the rows so far use.
struct Budget {
    max_params: usize,
    max_bytes: usize,
    params: usize,
    bytes: usize,
}

impl Budget {
    fn new(conn: &AnyConnection) -> Self {
        // On SQLite a few thousand values per statement already make the
        // per-statement cost negligible; much bigger statements only make big
        // allocations (and glibc's malloc consolidates its heap for each).
        let (max_params, max_bytes) = if is_postgres(conn) {
            (8_000, 7 * 1024)
        } else {
            (2_000, usize::MAX)
        };
        Self {
            max_params,
            max_bytes,
            params: 0,
            bytes: 0,
        }
    }

    /// Counts `row` in. True when the statement so far is full without it,
    /// so that `row` starts the next one.
    fn starts_a_statement(&mut self, row: &[V]) -> bool {
        let size: usize = row.iter().map(V::size).sum();
        let full = self.params > 0
            && (self.params + row.len() > self.max_params || self.bytes + size > self.max_bytes);
        if full {
            (self.params, self.bytes) = (0, 0);
        }
        self.params += row.len();
        self.bytes += size;
        full
    }
}

/// `($1, $2), ($3, $4)` for `rows` rows of `width` values; `(?, ?), (?, ?)`
/// on SQLite, where numbered parameters cost time quadratic in their number
/// (SQLite looks each name up in a list when it parses them, and sqlx asks
/// for each one's name when it binds them).
fn tuples(conn: &AnyConnection, rows: usize, width: usize) -> String {
    let numbered = is_postgres(conn);
    let mut s = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            if numbered {
                s.push('$');
                s.push_str(&(r * width + c + 1).to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    rows: &'q [Vec<V>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for v in rows.iter().flatten() {
        q = match v {
            V::I(x) => q.bind(*x),
            V::T(x) => q.bind(x.as_str()),
            V::OI(x) => q.bind(*x),
            V::OT(x) => q.bind(x.as_deref()),
        };
    }
    q
}

/// `{head} VALUES (…), (…) {tail}` for every row, in as few statements as
/// fit. `head` is `INSERT INTO t (a, b)`, `tail` an `ON CONFLICT` clause.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    rows: &[Vec<V>],
) -> Result<()> {
    for range in chunks(conn, rows) {
        let part = &rows[range];
        let sql = format!(
            "{head} VALUES {} {tail}",
            tuples(conn, part.len(), part[0].len())
        );
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), part)
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `{head} VALUES (…), (…)` for every row `rows` yields, built and sent a
/// statement's worth at a time: how a [`crate::Fold`] writes a table through
/// sqlx (`head` is `INSERT INTO t (a, b)`). On SQLite every full statement
/// has the same text, so it is prepared once. `rows` is a trait object so
/// that callers can pass iterator adapters with closures into a boxed future.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    head: &str,
    rows: &mut (dyn Iterator<Item = Vec<V>> + Send),
) -> Result<()> {
    let mut budget = Budget::new(conn);
    let mut part: Vec<Vec<V>> = Vec::new();
    for row in rows {
        if budget.starts_a_statement(&row) {
            insert_part(conn, head, &part, true).await?;
            part.clear();
        }
        part.push(row);
    }
    if part.is_empty() {
        return Ok(());
    }
    insert_part(conn, head, &part, false).await
}

/// One statement of [`insert_rows`]. Full ones all have the same text on
/// SQLite (its budget counts values only), so they are prepared once.
async fn insert_part(
    conn: &mut AnyConnection,
    head: &str,
    part: &[Vec<V>],
    full: bool,
) -> Result<()> {
    let sql = format!("{head} VALUES {}", tuples(conn, part.len(), part[0].len()));
    let prepared = full && !is_postgres(conn);
    bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), part)
        .persistent(prepared)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `ON CONFLICT (keys) DO UPDATE SET c = excluded.c` for every other column.
pub(crate) fn replace_others(columns: &[&str], keys: &[&str]) -> String {
    let sets: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT ({}) DO UPDATE SET {}",
        keys.join(", "),
        sets.join(", ")
    )
}

/// `ON CONFLICT (keys) DO UPDATE SET c = table.c + excluded.c` for every
/// other column: rows of counters moved by deltas.
pub(crate) fn add_others(table: &str, columns: &[&str], keys: &[&str]) -> String {
    let sets: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT ({}) DO UPDATE SET {}",
        keys.join(", "),
        sets.join(", ")
    )
}

/// The condition "`columns` is one of `keys`" (parameters as in [`tuples`]).
fn one_of(conn: &AnyConnection, columns: &[&str], keys: usize) -> String {
    if let [column] = columns {
        let list = tuples(conn, keys, 1).replace(['(', ')'], "");
        format!("{column} IN ({list})")
    } else {
        format!(
            "({}) IN (VALUES {})",
            columns.join(", "),
            tuples(conn, keys, columns.len())
        )
    }
}

/// Rows of `{select} {columns} IN (keys)`: `select` ends in `WHERE` or `AND`.
pub(crate) async fn select_in(
    conn: &mut AnyConnection,
    select: &str,
    columns: &[&str],
    keys: &[Vec<V>],
) -> Result<Vec<AnyRow>> {
    let mut out = vec![];
    for range in chunks(conn, keys) {
        let part = &keys[range];
        let sql = format!("{select} {}", one_of(conn, columns, part.len()));
        out.extend(
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), part)
                .persistent(false)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// `{delete} {columns} IN (keys)`: `delete` ends in `WHERE` or `AND`.
pub(crate) async fn delete_in(
    conn: &mut AnyConnection,
    delete: &str,
    columns: &[&str],
    keys: &[Vec<V>],
) -> Result<()> {
    execute_in(conn, delete, columns, keys, "").await
}

/// `{head} {columns} IN (keys) {tail}`, in as many statements as it takes.
pub(crate) async fn execute_in(
    conn: &mut AnyConnection,
    head: &str,
    columns: &[&str],
    keys: &[Vec<V>],
    tail: &str,
) -> Result<()> {
    for range in chunks(conn, keys) {
        let part = &keys[range];
        let sql = format!("{head} {} {tail}", one_of(conn, columns, part.len()));
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), part)
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Column `i` of a row as text.
pub(crate) fn text(row: &AnyRow, i: usize) -> Result<String> {
    Ok(row.try_get(i)?)
}

/// Column `i` of a row as an integer.
pub(crate) fn int(row: &AnyRow, i: usize) -> Result<i64> {
    Ok(row.try_get(i)?)
}

/// Single-column keys.
pub(crate) fn keys<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<Vec<V>> {
    ids.into_iter().map(|id| vec![V::T(id.clone())]).collect()
}

/// Two-column text keys.
pub(crate) fn pairs<'a>(ids: impl IntoIterator<Item = &'a (String, String)>) -> Vec<Vec<V>> {
    ids.into_iter()
        .map(|(a, b)| vec![V::T(a.clone()), V::T(b.clone())])
        .collect()
}
