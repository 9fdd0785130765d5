//! The embedded backend: one SQLite file in WAL mode.
//!
//! All appends go through one writer task that takes every request waiting in
//! its queue, applies each inside its own savepoint (so one conflict fails only
//! its own caller), and commits the group in one transaction: one fsync for
//! many commands. Because one writer assigns positions in commit order, the
//! cursor is simply the row's position.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::{
    AppendRequest, Appended, Cursor, Error, EventStore, RecordedEvent, Result, StoredEvent,
    validate,
};

macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT position, stream, version, event_id, event_type, schema_version, data, metadata, recorded_at FROM events ", $rest)
    };
}

/// Rows per INSERT statement (8 parameters each, well under SQLite's limit).
const INSERT_CHUNK: usize = 500;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite/events");

/// How hard SQLite works to keep a commit through a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit (group): survives power loss. The default.
    #[default]
    Full,
    /// fsync at checkpoints: survives a crash of the process (`kill -9`), may
    /// lose the last commits on power loss.
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// The most appends one group commit takes.
    pub max_group: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            max_group: 512,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<WriteJob>,
    reader: SqlitePool,
    changes: watch::Receiver<u64>,
}

#[derive(Debug)]
struct WriteJob {
    requests: Vec<AppendRequest>,
    reply: oneshot::Sender<Result<Appended>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the log at `path` and starts its writer.
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10));
        let mut writer_conn = SqliteConnection::connect_with(&connect).await?;
        MIGRATOR.run(&mut writer_conn).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(4096);
        let (changes_tx, changes) = watch::channel(0);
        tokio::spawn(writer_loop(
            writer_conn,
            rx,
            changes_tx,
            options.max_group.max(1),
        ));
        Ok(Self {
            writer: tx,
            reader,
            changes,
        })
    }
}

impl EventStore for SqliteStore {
    fn append_many(&self, requests: Vec<AppendRequest>) -> BoxFuture<'_, Result<Appended>> {
        Box::pin(async move {
            validate(&requests)?;
            let (reply, rx) = oneshot::channel();
            self.writer
                .send(WriteJob { requests, reply })
                .await
                .map_err(|_| Error::Unavailable("the SQLite writer has stopped".into()))?;
            rx.await
                .map_err(|_| Error::Unavailable("the SQLite writer dropped an append".into()))?
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>>> {
        Box::pin(async move {
            let rows = sqlx::query(select!(
                "WHERE stream = ? AND version >= ? ORDER BY version"
            ))
            .bind(stream)
            .bind(from_version as i64)
            .fetch_all(&self.reader)
            .await?;
            rows.iter().map(decode_row).collect()
        })
    }

    fn read_all(&self, after: Cursor, limit: usize) -> BoxFuture<'_, Result<Vec<RecordedEvent>>> {
        Box::pin(async move {
            let rows = sqlx::query(select!("WHERE position > ? ORDER BY position LIMIT ?"))
                .bind(after.seq as i64)
                .bind(limit as i64)
                .fetch_all(&self.reader)
                .await?;
            rows.iter().map(decode_row).collect()
        })
    }

    fn read_all_text(
        &self,
        after: Cursor,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT position, stream, event_type, schema_version, data, recorded_at \
                 FROM events WHERE position > ? ORDER BY position LIMIT ?",
            )
            .bind(after.seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?;
            rows.iter()
                .map(|row| {
                    let recorded_at: &str = row.try_get(5)?;
                    Ok(StoredEvent {
                        cursor: Cursor {
                            tx: 0,
                            seq: row.try_get::<i64, _>(0)? as u64,
                        },
                        stream: row.try_get(1)?,
                        event_type: row.try_get(2)?,
                        schema_version: row.try_get::<i64, _>(3)? as u32,
                        data: row.try_get(4)?,
                        recorded_at: parse_time(recorded_at)?,
                    })
                })
                .collect()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Cursor>> {
        Box::pin(async move {
            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
                .fetch_one(&self.reader)
                .await?;
            Ok(Cursor {
                tx: 0,
                seq: max.unwrap_or(0) as u64,
            })
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                .fetch_one(&self.reader)
                .await?;
            Ok(n as u64)
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

fn decode_row(row: &SqliteRow) -> Result<RecordedEvent> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| Error::Corrupt(format!("{what}: {e}"));
    let position: i64 = row.try_get(0)?;
    let event_id: String = row.try_get(3)?;
    let data: String = row.try_get(6)?;
    let metadata: String = row.try_get(7)?;
    let recorded_at: String = row.try_get(8)?;
    Ok(RecordedEvent {
        cursor: Cursor {
            tx: 0,
            seq: position as u64,
        },
        stream: row.try_get(1)?,
        version: row.try_get::<i64, _>(2)? as u64,
        event_id: Uuid::parse_str(&event_id).map_err(|e| corrupt("event_id", &e))?,
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i64, _>(5)? as u32,
        data: serde_json::from_str(&data).map_err(|e| corrupt("data", &e))?,
        metadata: serde_json::from_str(&metadata).map_err(|e| corrupt("metadata", &e))?,
        recorded_at: parse_time(&recorded_at)?,
    })
}

fn parse_time(recorded_at: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(recorded_at)
        .map_err(|e| Error::Corrupt(format!("recorded_at: {e}")))?
        .with_timezone(&Utc))
}

#[tracing::instrument(name = "sqlite_writer", skip_all)]
async fn writer_loop(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<WriteJob>,
    changes: watch::Sender<u64>,
    max_group: usize,
) {
    let mut jobs = Vec::with_capacity(max_group);
    while rx.recv_many(&mut jobs, max_group).await > 0 {
        match commit_group(&mut conn, &jobs).await {
            Ok(results) => {
                changes.send_modify(|n| *n += 1);
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = jobs.len(), "group commit failed; nothing in it was written");
                for job in jobs.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(Error::Unavailable(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

/// Applies every job in its own savepoint and commits them together.
async fn commit_group(
    conn: &mut SqliteConnection,
    jobs: &[WriteJob],
) -> std::result::Result<Vec<Result<Appended>>, sqlx::Error> {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    // IMMEDIATE: take the write lock up front, so a writer in another process
    // makes us wait (busy_timeout) instead of failing the group mid-way.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut savepoint = tx.begin().await?;
        match append_in(&mut savepoint, &job.requests, &now).await {
            Ok(appended) => {
                savepoint.commit().await?;
                results.push(Ok(appended));
            }
            Err(e) => {
                // Roll back first: a retry check inside the savepoint would see
                // this append's own half-written rows.
                savepoint.rollback().await?;
                let e = match e {
                    Error::Conflict { .. } | Error::DuplicateEventId(_) => {
                        match already_appended(&mut tx, &job.requests).await {
                            Ok(Some(previous)) => {
                                results.push(Ok(previous));
                                continue;
                            }
                            Ok(None) => e,
                            Err(other) => other,
                        }
                    }
                    e => e,
                };
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn append_in(
    conn: &mut SqliteConnection,
    requests: &[AppendRequest],
    now: &str,
) -> Result<Appended> {
    let mut last = Appended {
        stream_version: 0,
        last: Cursor::START,
    };
    for req in requests {
        let actual: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?")
                .bind(&req.stream)
                .fetch_one(&mut *conn)
                .await?;
        let actual = actual as u64;
        if let Some(required) = req.expected.required()
            && actual != required
        {
            return Err(Error::Conflict {
                stream: req.stream.clone(),
                expected: req.expected,
                actual,
            });
        }
        let mut version = actual;
        // Multi-row inserts: one statement per chunk instead of one per event
        // (each statement is a round trip to sqlx's SQLite worker thread).
        for chunk in req.events.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO events (stream, version, event_id, event_type, schema_version, data, metadata, recorded_at) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 {
                    "(?, ?, ?, ?, ?, ?, ?, ?)"
                } else {
                    ", (?, ?, ?, ?, ?, ?, ?, ?)"
                });
            }
            // Only placeholders are generated; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                version += 1;
                query = query
                    .bind(&req.stream)
                    .bind(version as i64)
                    .bind(event.event_id.to_string())
                    .bind(&event.event_type)
                    .bind(event.schema_version as i64)
                    .bind(event.data.to_string())
                    .bind(event.metadata.to_string())
                    .bind(now);
            }
            match query.execute(&mut *conn).await {
                // The last row of a multi-row insert gets the last rowid.
                Ok(done) => {
                    last = Appended {
                        stream_version: version,
                        last: Cursor {
                            tx: 0,
                            seq: done.last_insert_rowid() as u64,
                        },
                    }
                }
                Err(sqlx::Error::Database(db))
                    if db.is_unique_violation() && db.message().contains("event_id") =>
                {
                    return Err(Error::DuplicateEventId(chunk[0].event_id));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(last)
}

/// If this exact append was already made (a retry), where it landed.
async fn already_appended(
    conn: &mut SqliteConnection,
    requests: &[AppendRequest],
) -> Result<Option<Appended>> {
    let mut found = None;
    for req in requests {
        for event in &req.events {
            let row: Option<(String, i64, i64)> =
                sqlx::query_as("SELECT stream, version, position FROM events WHERE event_id = ?")
                    .bind(event.event_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?;
            match row {
                Some((stream, version, position)) if stream == req.stream => {
                    found = Some(Appended {
                        stream_version: version as u64,
                        last: Cursor {
                            tx: 0,
                            seq: position as u64,
                        },
                    });
                }
                Some(_) => return Err(Error::DuplicateEventId(event.event_id)),
                None if found.is_none() => return Ok(None),
                None => return Err(Error::DuplicateEventId(event.event_id)),
            }
        }
    }
    Ok(found)
}
