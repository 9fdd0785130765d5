//! The production backend: PostgreSQL.
//!
//! Appends are ordinary transactions with no global lock: two writers to the
//! same stream race on the unique `(stream, version)` and the loser gets a
//! [`Error::Conflict`]. Sequence values are handed out before commit, so
//! "position > checkpoint" would skip an event whose transaction commits after
//! a later one. Instead every row records its transaction id, readers order by
//! `(txid, seq)`, and a read only returns rows whose transaction is older than
//! the oldest transaction still running (`pg_snapshot_xmin`). Every
//! transaction below that line has finished, so nothing can appear behind a
//! reader's cursor.

use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::watch;

use crate::{
    AppendRequest, Appended, Cursor, Error, EventStore, ExpectedVersion, RecordedEvent, Result,
    StoredEvent, validate,
};

macro_rules! select {
    ($rest:expr) => {
        concat!("SELECT txid, seq, stream, version, event_id, event_type, schema_version, data, metadata, recorded_at FROM events ", $rest)
    };
}

/// Up to `$3` events after the cursor (`$1`, `$2`) in log order, none
/// from a transaction that an older one still running could come before
/// (see the module docs): how every read of the whole log pages.
macro_rules! visible_after {
    () => {
        "WHERE (txid, seq) > ($1, $2) \
         AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
         ORDER BY txid, seq LIMIT $3"
    };
}

const CHANNEL: &str = "pydojo_events";

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Tests only: keep each append's transaction open for a random time up
    /// to this long after its rows are written, to make commits interleave.
    pub hold_open_for_tests: Option<Duration>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            hold_open_for_tests: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    changes: watch::Receiver<u64>,
    changes_tx: watch::Sender<u64>,
    hold_open: Option<Duration>,
}

impl PostgresStore {
    /// Rows of `sql`, a query ending in `visible_after!()`, after `after`.
    async fn fetch_after(
        &self,
        sql: &'static str,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<PgRow>> {
        Ok(sqlx::query(sql)
            .bind(after.tx as i64)
            .bind(after.seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Connects, migrates the event tables and starts listening for appends.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Self::with_pool(pool, options).await
    }

    pub async fn with_pool(pool: PgPool, options: PostgresOptions) -> Result<Self> {
        let mut migrator = sqlx::migrate!("../../migrations/postgres/events");
        // The read models may share this database with their own migrations.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        check_transaction_ids(&pool).await?;
        let (changes_tx, changes) = watch::channel(0);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(listen(listener, changes_tx.clone()));
        Ok(Self {
            pool,
            changes,
            changes_tx,
            hold_open: options.hold_open_for_tests,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn try_append(&self, requests: &[AppendRequest]) -> Result<Appended> {
        let mut tx = self.pool.begin().await?;
        let mut last = Appended {
            stream_version: 0,
            last: Cursor::START,
        };
        for req in requests {
            let actual: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $1",
            )
            .bind(&req.stream)
            .fetch_one(&mut *tx)
            .await?;
            let actual = actual as u64;
            if let Some(required) = req.expected.required()
                && actual != required
            {
                tx.rollback().await?;
                return match self.already_appended(requests).await? {
                    Some(previous) => Ok(previous),
                    None => Err(Error::Conflict {
                        stream: req.stream.clone(),
                        expected: req.expected,
                        actual,
                    }),
                };
            }
            match insert(&mut tx, req, actual).await {
                Ok(appended) => last = appended,
                Err(sqlx::Error::Database(db)) if db.constraint() == Some("events_event_id") => {
                    tx.rollback().await?;
                    return match self.already_appended(requests).await? {
                        Some(previous) => Ok(previous),
                        None => Err(Error::DuplicateEventId(req.events[0].event_id)),
                    };
                }
                Err(sqlx::Error::Database(db))
                    if db.constraint() == Some("events_stream_version") =>
                {
                    tx.rollback().await?;
                    if let Some(previous) = self.already_appended(requests).await? {
                        return Ok(previous);
                    }
                    let actual = self.stream_version(&req.stream).await?;
                    return Err(Error::Conflict {
                        stream: req.stream.clone(),
                        expected: req.expected,
                        actual,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(max) = self.hold_open {
            let wait = rand::rng().random_range(Duration::ZERO..=max);
            tokio::time::sleep(wait).await;
        }
        tx.commit().await?;
        self.changes_tx.send_modify(|n| *n += 1);
        // After the commit, not inside it: a NOTIFY in the transaction takes a
        // database-wide lock at commit and would serialise every append. If
        // this one is lost (a crash right here), readers still poll.
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not notify other nodes of an append");
        }
        Ok(last)
    }

    async fn stream_version(&self, stream: &str) -> Result<u64> {
        let v: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $1")
                .bind(stream)
                .fetch_one(&self.pool)
                .await?;
        Ok(v as u64)
    }

    /// If this exact append was already made (a retry), where it landed.
    async fn already_appended(&self, requests: &[AppendRequest]) -> Result<Option<Appended>> {
        let mut found = None;
        for req in requests {
            for event in &req.events {
                let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT stream, version, txid, seq FROM events WHERE event_id = $1",
                )
                .bind(event.event_id)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some((stream, version, txid, seq)) if stream == req.stream => {
                        found = Some(Appended {
                            stream_version: version as u64,
                            last: Cursor {
                                tx: txid as u64,
                                seq: seq as u64,
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
}

/// The most event payload one INSERT carries. sqlx 0.9.0 does not set
/// TCP_NODELAY (sqlx issue #4335, fixed upstream but not yet released): a
/// message larger than the socket's initial send buffer (16 KiB) is written in
/// two parts, and Nagle holds the second until the server's delayed ACK, about
/// 40 ms later. Statements under this size never pay that. Measured: 100-event
/// batches at 2,200 events/s over TCP in one INSERT each, against 45,000 over a
/// Unix socket (docs/BENCHMARKS.md). Drop this once sqlx sets TCP_NODELAY again.
const INSERT_PAYLOAD_BYTES: usize = 8 * 1024;

/// Inserts a request's events, in chunks of at most `INSERT_PAYLOAD_BYTES`.
async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    req: &AppendRequest,
    actual: u64,
) -> sqlx::Result<Appended> {
    let mut last = None;
    let mut version = actual as i64;
    let mut start = 0;
    while start < req.events.len() {
        let mut end = start;
        let mut bytes = 0;
        let mut data = Vec::new();
        let mut metadata = Vec::new();
        while end < req.events.len() {
            let (d, m) = (
                req.events[end].data.to_string(),
                req.events[end].metadata.to_string(),
            );
            let size = d.len() + m.len() + req.stream.len() + req.events[end].event_type.len() + 64;
            if end > start && bytes + size > INSERT_PAYLOAD_BYTES {
                break;
            }
            bytes += size;
            data.push(d);
            metadata.push(m);
            end += 1;
        }
        let chunk = &req.events[start..end];
        let versions: Vec<i64> = (1..=chunk.len() as i64).map(|i| version + i).collect();
        let streams = vec![req.stream.as_str(); chunk.len()];
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = chunk.iter().map(|e| e.event_type.as_str()).collect();
        let schema_versions: Vec<i32> = chunk.iter().map(|e| e.schema_version as i32).collect();
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "INSERT INTO events (stream, version, event_id, event_type, schema_version, data, metadata) \
             SELECT s, v, i, t, sv, d::jsonb, m::jsonb \
             FROM UNNEST($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[]) \
             AS u(s, v, i, t, sv, d, m) \
             RETURNING txid, seq, version",
        )
        .bind(streams)
        .bind(versions)
        .bind(ids)
        .bind(types)
        .bind(schema_versions)
        .bind(data)
        .bind(metadata)
        .fetch_all(&mut **tx)
        .await?;
        let (txid, seq, v) = rows
            .into_iter()
            .max_by_key(|r| r.2)
            .expect("one row per event");
        version = v;
        last = Some(Appended {
            stream_version: v as u64,
            last: Cursor {
                tx: txid as u64,
                seq: seq as u64,
            },
        });
        start = end;
    }
    Ok(last.expect("requests are never empty"))
}

/// Readers' cursors rely on transaction ids only growing. A log restored
/// into another cluster (a dump, a migration) can carry ids ahead of the new
/// cluster's; new events would then sort before old ones and readers would
/// skip them. Refuse to run rather than lose events quietly.
async fn check_transaction_ids(pool: &PgPool) -> Result<()> {
    let (next, max): (i64, Option<i64>) = sqlx::query_as(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, (SELECT MAX(txid) FROM events)",
    )
    .fetch_one(pool)
    .await?;
    match max {
        Some(max) if max >= next => Err(Error::Unavailable(format!(
            "the event log holds transaction id {max} but this PostgreSQL cluster is only at {next}: \
             was it restored from another cluster? Readers would skip new events; refusing to start"
        ))),
        _ => Ok(()),
    }
}

/// Turns NOTIFYs from every writer (in any process) into local wake-ups.
async fn listen(mut listener: PgListener, changes: watch::Sender<u64>) {
    loop {
        match listener.recv().await {
            Ok(_) => {
                changes.send_modify(|n| *n += 1);
            }
            Err(e) => {
                // PgListener reconnects on the next recv; readers still poll meanwhile.
                tracing::warn!(error = %e, "event notification listener lost its connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if changes.is_closed() {
            return;
        }
    }
}

impl EventStore for PostgresStore {
    fn append_many(&self, requests: Vec<AppendRequest>) -> BoxFuture<'_, Result<Appended>> {
        Box::pin(async move {
            validate(&requests)?;
            let unchecked = requests.iter().all(|r| r.expected == ExpectedVersion::Any);
            // With no expectation a lost race is not the caller's conflict: retry.
            let mut attempts = 0;
            loop {
                match self.try_append(&requests).await {
                    Err(Error::Conflict { .. }) if unchecked && attempts < 10 => attempts += 1,
                    other => return other,
                }
            }
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>>> {
        Box::pin(async move {
            let rows = sqlx::query(select!(
                "WHERE stream = $1 AND version >= $2 ORDER BY version"
            ))
            .bind(stream)
            .bind(from_version as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(decode_row).collect()
        })
    }

    fn read_all(&self, after: Cursor, limit: usize) -> BoxFuture<'_, Result<Vec<RecordedEvent>>> {
        Box::pin(async move {
            let rows = self
                .fetch_after(select!(visible_after!()), after, limit)
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
            let sql = concat!(
                "SELECT txid, seq, stream, event_type, schema_version, data::text, recorded_at \
                 FROM events ",
                visible_after!()
            );
            let rows = self.fetch_after(sql, after, limit).await?;
            rows.iter()
                .map(|row| {
                    Ok(StoredEvent {
                        cursor: Cursor {
                            tx: row.try_get::<i64, _>(0)? as u64,
                            seq: row.try_get::<i64, _>(1)? as u64,
                        },
                        stream: row.try_get(2)?,
                        event_type: row.try_get(3)?,
                        schema_version: row.try_get::<i32, _>(4)? as u32,
                        data: row.try_get(5)?,
                        recorded_at: row.try_get(6)?,
                    })
                })
                .collect()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Cursor>> {
        Box::pin(async move {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT txid, seq FROM events ORDER BY txid DESC, seq DESC LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map_or(Cursor::START, |(tx, seq)| Cursor {
                tx: tx as u64,
                seq: seq as u64,
            }))
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                .fetch_one(&self.pool)
                .await?;
            Ok(n as u64)
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

fn decode_row(row: &PgRow) -> Result<RecordedEvent> {
    Ok(RecordedEvent {
        cursor: Cursor {
            tx: row.try_get::<i64, _>(0)? as u64,
            seq: row.try_get::<i64, _>(1)? as u64,
        },
        stream: row.try_get(2)?,
        version: row.try_get::<i64, _>(3)? as u64,
        event_id: row.try_get(4)?,
        event_type: row.try_get(5)?,
        schema_version: row.try_get::<i32, _>(6)? as u32,
        data: row.try_get(7)?,
        metadata: row.try_get(8)?,
        recorded_at: row.try_get(9)?,
    })
}
