//! Where a [`Fold`](crate::Fold) writes its rows at the end of a rebuild.
//!
//! Through sqlx's `Any` driver every value is copied twice and every
//! statement crosses to SQLite's worker thread; for the millions of rows a
//! rebuild writes at once that is most of its time. A rebuild into a SQLite
//! file therefore writes through a plain SQLite connection of its own
//! (rusqlite) on a blocking thread: one prepared single-row statement per
//! table, bound straight from the rows. Anything else (PostgreSQL, a
//! database in memory) gets the multi-row statements of [`crate::batch`].

use futures::future::BoxFuture;
use sqlx::AnyConnection;

use crate::batch::{V, insert_rows};
use crate::{Error, Result};

/// The secondary indexes on the table `$1` of a SQLite database, with the
/// statements that make them: the indexes SQLite makes for constraints
/// have no SQL.
pub(crate) const SQLITE_INDEXES: &str = "SELECT name, sql FROM sqlite_master \
     WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL";

/// Takes a fold's rows, a table at a time.
pub trait Sink: Send {
    /// Inserts every row `rows` yields with `{head} VALUES (…)`, where
    /// `head` is `INSERT INTO t (a, b)`, into a table that was empty.
    fn insert<'a>(
        &'a mut self,
        head: &'a str,
        rows: &'a mut (dyn Iterator<Item = Vec<V>> + Send),
    ) -> BoxFuture<'a, Result<()>>;
}

impl Sink for AnyConnection {
    fn insert<'a>(
        &'a mut self,
        head: &'a str,
        rows: &'a mut (dyn Iterator<Item = Vec<V>> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(insert_rows(self, head, rows))
    }
}

/// `{head} VALUES (…), (…)` for every row: how a fold writes a table.
pub(crate) async fn insert_all(
    sink: &mut dyn Sink,
    head: &str,
    rows: &mut (dyn Iterator<Item = Vec<V>> + Send),
) -> Result<()> {
    sink.insert(head, rows).await
}

/// A SQLite file written through a connection of its own, inside one
/// transaction that [`SqliteSink::commit`] ends. Its calls block: use it on
/// a blocking thread.
pub(crate) struct SqliteSink {
    conn: rusqlite::Connection,
}

impl SqliteSink {
    /// Opens `path` and begins a write transaction (waiting up to a minute
    /// for another writer).
    pub(crate) fn begin(path: &std::path::Path) -> Result<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        // Like the scratch files' own connections (journal and syncs are
        // settings of a connection, not of the file): a failed build is
        // thrown away whole. A database in WAL mode keeps its journal.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.execute_batch("PRAGMA journal_mode = OFF")?;
        }
        conn.execute_batch(
            "PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; \
             PRAGMA temp_store = MEMORY; BEGIN IMMEDIATE",
        )?;
        Ok(Self { conn })
    }

    /// Runs `sql` (one statement, no rows).
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<()> {
        self.conn.execute(sql, params)?;
        Ok(())
    }

    /// The secondary indexes on `table` (those SQLite did not make for a
    /// constraint): each one's name and the statement that makes it.
    pub(crate) fn indexes(&self, table: &str) -> Result<Vec<(String, String)>> {
        let mut statement = self.conn.prepare(SQLITE_INDEXES)?;
        let rows = statement.query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub(crate) fn commit(self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn insert_now(
        &mut self,
        head: &str,
        rows: &mut (dyn Iterator<Item = Vec<V>> + Send),
    ) -> Result<()> {
        let mut rows = rows.peekable();
        let Some(width) = rows.peek().map(Vec::len) else {
            return Ok(());
        };
        let marks = vec!["?"; width].join(", ");
        let mut statement = self.conn.prepare(&format!("{head} VALUES ({marks})"))?;
        for row in rows {
            if row.len() != width {
                return Err(Error::Corrupt(format!(
                    "{head}: a row of {} values among rows of {width}",
                    row.len()
                )));
            }
            statement.execute(rusqlite::params_from_iter(row.iter()))?;
        }
        Ok(())
    }
}

impl Sink for SqliteSink {
    fn insert<'a>(
        &'a mut self,
        head: &'a str,
        rows: &'a mut (dyn Iterator<Item = Vec<V>> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(self.insert_now(head, rows)))
    }
}

impl rusqlite::ToSql for V {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            V::I(x) => x.to_sql(),
            V::T(x) => x.to_sql(),
            V::OI(x) => x.to_sql(),
            V::OT(x) => x.to_sql(),
        }
    }
}
