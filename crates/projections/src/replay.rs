//! Rebuilding read models from the log: into a shadow that is swapped in
//! atomically (`pydojo replay`), into a snapshot of the past (`--until`), or
//! into a scratch model in memory (the API's `asOf`).
//!
//! Every path applies events through the same function the live [`Runner`]
//! uses, so a rebuilt model is built exactly as the live one is.
//!
//! The swap happens in one transaction on the live database that holds the
//! lock the live runner takes for each batch (the write lock on SQLite, the
//! checkpoint rows on PostgreSQL). Inside it, the chosen projections' tables
//! get the shadow's rows, the events appended since the shadow's end are
//! applied, and the checkpoints move to the new end. The runner re-reads the
//! stored checkpoints for every batch, so it resumes after the swap without
//! applying anything twice or missing anything; readers see the old rows
//! until the commit and the new ones after it.
//!
//! [`Runner`]: crate::Runner

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection};
use store::{Cursor, RecordedEvent, SharedStore};
use uuid::Uuid;

use crate::runner::{
    apply_envelopes, begin_write, decode_owned, lock_checkpoints, save_checkpoint,
};
use crate::{Envelope, Error, Projection, ReadBackend, ReadDb, Result};

/// Events read from the log per page, and applied per transaction: each
/// projection folds a page in memory, so bigger pages mean fewer statements.
const PAGE: usize = 20_000;

/// How far into the log a rebuild goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Everything in the log when the rebuild starts.
    End,
    /// Up to and including this position.
    Position(Cursor),
    /// The log as it stood at this time: every event up to the first one
    /// recorded later.
    Time(DateTime<Utc>),
}

impl FromStr for Until {
    type Err = Error;

    /// `tx:seq` (a log position, as `pydojo` prints them) or an RFC 3339 time.
    fn from_str(input: &str) -> Result<Self> {
        let bad = || Error::BadUntil {
            input: input.to_string(),
        };
        if let Some((tx, seq)) = input.split_once(':')
            && let (Ok(tx), Ok(seq)) = (tx.parse::<u64>(), seq.parse::<u64>())
        {
            return Ok(Until::Position(Cursor { tx, seq }));
        }
        DateTime::parse_from_rfc3339(input)
            .map(|t| Until::Time(t.with_timezone(&Utc)))
            .map_err(|_| bad())
    }
}

impl Until {
    fn includes(&self, e: &RecordedEvent) -> bool {
        match self {
            Until::End => true,
            Until::Position(c) => e.cursor <= *c,
            Until::Time(t) => e.recorded_at <= *t,
        }
    }
}

/// The projections named, in the order [`crate::all`] applies them; all of
/// them when `names` is empty.
pub fn select(names: &[String]) -> Result<Vec<Box<dyn Projection>>> {
    let all = crate::all();
    if let Some(name) = names
        .iter()
        .find(|n| !all.iter().any(|p| p.name() == n.as_str()))
    {
        return Err(Error::UnknownProjection {
            name: name.clone(),
            known: all.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(all
        .into_iter()
        .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name()))
        .collect())
}

/// Where the live read models are.
#[derive(Debug, Clone)]
pub enum ReadLocation {
    /// A SQLite file; the shadow is a new file beside it.
    Sqlite(PathBuf),
    /// A PostgreSQL URL; the shadow is a fresh schema in that database.
    Postgres(String),
}

impl ReadLocation {
    pub async fn open(&self) -> Result<ReadDb> {
        match self {
            ReadLocation::Sqlite(path) => ReadDb::open_sqlite(path).await,
            ReadLocation::Postgres(url) => ReadDb::connect_postgres(url, 2).await,
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rebuilt {
    /// Events applied from the log into the shadow or snapshot.
    pub events: u64,
    /// Events appended meanwhile and applied during the swap.
    pub caught_up: u64,
    /// The position the rebuilt projections now stand at.
    pub end: Cursor,
    /// Time spent applying `events` (the shadow build alone).
    pub elapsed: Duration,
}

impl Rebuilt {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Told how many events have been applied and how many the log held at the
/// start (the total may grow while the rebuild runs).
pub type OnProgress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// Applies the log, up to `until`, to `projections` in `target` (fresh, or
/// left by an earlier rebuild of the same end). Returns the events applied
/// and the last position applied.
pub async fn rebuild(
    target: &ReadDb,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    until: Until,
    on_progress: OnProgress<'_>,
) -> Result<(u64, Cursor)> {
    let total = store.count().await.map_err(Error::LogUnreadable)?;
    // A bound, so a busy log cannot keep a rebuild chasing its end; what is
    // appended later is the swap's to apply.
    let until = match until {
        Until::End => Until::Position(store.head().await.map_err(Error::LogUnreadable)?),
        other => other,
    };
    // Reading and decoding overlap with applying: the log and the read
    // model are separate databases, each with its own connection.
    let (pages_tx, mut pages) = tokio::sync::mpsc::channel::<Result<Vec<Envelope>>>(4);
    let reader = tokio::spawn({
        let store = store.clone();
        async move {
            let mut after = Cursor::START;
            loop {
                let page = match store.read_all(after, PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = pages_tx.send(Err(Error::LogUnreadable(e))).await;
                        return;
                    }
                };
                let Some(last) = page.last() else { return };
                after = last.cursor;
                let read = page.len();
                let kept: Result<Vec<Envelope>> = page
                    .into_iter()
                    .take_while(|e| until.includes(e))
                    .map(decode_owned)
                    .collect();
                let past_the_end = kept.as_ref().map_or(true, |k| k.len() < read);
                if pages_tx.send(kept).await.is_err() || past_the_end {
                    return;
                }
            }
        }
    });
    let result = async {
        let mut conn = target.pool.acquire().await?;
        let (mut done, mut end) = (0u64, Cursor::START);
        while let Some(page) = pages.recv().await {
            let page = page?;
            let Some(last) = page.last().map(|e| e.cursor) else {
                continue;
            };
            let mut tx = begin_write(&mut conn, target.backend).await?;
            let from = end;
            apply_envelopes(&mut tx, projections, &page, |_| from).await?;
            tx.commit().await?;
            end = last;
            done += page.len() as u64;
            on_progress(done, total.max(done));
        }
        Ok((done, end))
    }
    .await;
    reader.abort();
    result
}

/// Rebuilds `projections` from the whole log into a shadow beside the live
/// read models at `live`, then swaps them in (see the module docs). The shadow
/// is removed afterwards, whether or not the replay succeeded.
#[tracing::instrument(skip_all, fields(projections = ?projections.iter().map(|p| p.name()).collect::<Vec<_>>()))]
pub async fn replay(
    live: &ReadLocation,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    on_progress: OnProgress<'_>,
) -> Result<Rebuilt> {
    let live_db = live.open().await?;
    let shadow = Shadow::create(live, &live_db).await?;
    let result = async {
        let started = Instant::now();
        let (events, shadow_end) =
            rebuild(&shadow.db, store, projections, Until::End, on_progress).await?;
        let elapsed = started.elapsed();
        shadow.db.pool.close().await;
        let (end, caught_up) = swap(&live_db, &shadow, store, projections, shadow_end).await?;
        Ok(Rebuilt {
            events,
            caught_up,
            end,
            elapsed,
        })
    }
    .await;
    shadow.remove(&live_db).await;
    live_db.pool.close().await;
    result
}

/// Builds `projections` as they stood at `until` into a new SQLite file at
/// `output`, for inspection. Nothing live is touched.
pub async fn snapshot(
    output: &Path,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    until: Until,
    on_progress: OnProgress<'_>,
) -> Result<Rebuilt> {
    if output.exists() {
        return Err(Error::OutputExists(output.to_path_buf()));
    }
    let db = ReadDb::open_sqlite_scratch(output).await?;
    let started = Instant::now();
    let result = rebuild(&db, store, projections, until, on_progress).await;
    db.pool.close().await;
    match result {
        Ok((events, end)) => Ok(Rebuilt {
            events,
            caught_up: 0,
            end,
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            let _ = std::fs::remove_file(output);
            Err(e)
        }
    }
}

/// Every projection as it stood at `until`, in a scratch SQLite database in
/// memory. Costs a replay of the log up to `until`.
pub async fn in_memory(store: &SharedStore, until: Until) -> Result<ReadDb> {
    let db = ReadDb::open_memory().await?;
    rebuild(&db, store, &crate::all(), until, &mut |_, _| {}).await?;
    Ok(db)
}

/// A fresh read database beside the live one, migrated like it.
struct Shadow {
    db: ReadDb,
    place: ShadowPlace,
}

enum ShadowPlace {
    File(PathBuf),
    Schema(String),
}

impl Shadow {
    async fn create(live: &ReadLocation, live_db: &ReadDb) -> Result<Self> {
        let id = Uuid::now_v7().simple();
        match live {
            ReadLocation::Sqlite(path) => {
                let name = path
                    .file_name()
                    .map_or("read.db".into(), |n| n.to_string_lossy().into_owned());
                let file = path.with_file_name(format!("{name}.replay-{id}"));
                let db = ReadDb::open_sqlite_scratch(&file).await?;
                Ok(Self {
                    db,
                    place: ShadowPlace::File(file),
                })
            }
            ReadLocation::Postgres(url) => {
                let schema = format!("pydojo_replay_{id}");
                // The name is made here from a UUID, never from input.
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&live_db.pool)
                    .await?;
                let separator = if url.contains('?') { '&' } else { '?' };
                let shadow_url = format!("{url}{separator}options[search_path]={schema}");
                let place = ShadowPlace::Schema(schema);
                match ReadDb::connect_postgres(&shadow_url, 2).await {
                    Ok(db) => Ok(Self { db, place }),
                    Err(e) => {
                        Self::drop_place(&place, live_db).await;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn remove(self, live_db: &ReadDb) {
        self.db.pool.close().await;
        Self::drop_place(&self.place, live_db).await;
    }

    async fn drop_place(place: &ShadowPlace, live_db: &ReadDb) {
        let result = match place {
            ShadowPlace::File(file) => std::fs::remove_file(file).map_err(|e| e.to_string()),
            ShadowPlace::Schema(schema) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&live_db.pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot remove a replay's shadow; remove it by hand");
        }
    }

    /// How the live database's connection names the shadow's tables.
    fn prefix(&self) -> &str {
        match &self.place {
            ShadowPlace::File(_) => "replay_shadow",
            ShadowPlace::Schema(schema) => schema,
        }
    }
}

/// Puts the shadow's rows in place of the live ones and catches up with the
/// log, in one transaction that blocks the live runner. Returns the new end
/// and how many events were applied to catch up.
async fn swap(
    live_db: &ReadDb,
    shadow: &Shadow,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    shadow_end: Cursor,
) -> Result<(Cursor, u64)> {
    // A connection of its own: an attached database must not go back into
    // the pool.
    let mut conn: AnyConnection = PoolConnection::<Any>::detach(live_db.pool.acquire().await?);
    if let ShadowPlace::File(file) = &shadow.place {
        sqlx::query("ATTACH DATABASE $1 AS replay_shadow")
            .bind(file.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await?;
    }
    let result = swap_on(
        &mut conn,
        live_db.backend,
        shadow,
        store,
        projections,
        shadow_end,
    )
    .await;
    let _ = conn.close().await;
    result
}

async fn swap_on(
    conn: &mut AnyConnection,
    backend: ReadBackend,
    shadow: &Shadow,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    shadow_end: Cursor,
) -> Result<(Cursor, u64)> {
    let live_prefix = match backend {
        ReadBackend::Sqlite => "main.",
        ReadBackend::Postgres => "",
    };
    let mut tx = begin_write(conn, backend).await?;
    lock_checkpoints(&mut tx, backend).await?;
    for table in projections.iter().flat_map(|p| p.tables()) {
        // Table names come from the projections' fixed lists, the prefix
        // from `Shadow`.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {live_prefix}{table}"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {live_prefix}{table} SELECT * FROM {}.{table}",
            shadow.prefix()
        )))
        .execute(&mut *tx)
        .await?;
    }
    let (mut end, mut caught_up) = (shadow_end, 0u64);
    loop {
        let page = store
            .read_all(end, PAGE)
            .await
            .map_err(Error::LogUnreadable)?;
        let Some(last) = page.last().map(|e| e.cursor) else {
            break;
        };
        caught_up += page.len() as u64;
        let page = page
            .into_iter()
            .map(decode_owned)
            .collect::<Result<Vec<_>>>()?;
        let from = end;
        apply_envelopes(&mut tx, projections, &page, |_| from).await?;
        end = last;
    }
    for p in projections {
        save_checkpoint(&mut tx, p.name(), end).await?;
    }
    tx.commit().await?;
    tracing::info!(%end, caught_up, "replayed projections swapped in");
    Ok((end, caught_up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_positions_and_times() {
        assert_eq!(
            "3:1500".parse::<Until>().unwrap(),
            Until::Position(Cursor { tx: 3, seq: 1500 })
        );
        assert_eq!(
            "2024-03-10T12:00:00+01:00".parse::<Until>().unwrap(),
            Until::Time("2024-03-10T11:00:00Z".parse().unwrap())
        );
        for bad in ["", "yesterday", "1:", ":2", "2024-03-10"] {
            let e = bad.parse::<Until>().unwrap_err();
            assert_eq!(e.code(), "BAD_UNTIL", "{bad}");
        }
    }

    #[test]
    fn selects_projections_by_name_and_lists_the_known_ones() {
        assert_eq!(select(&[]).unwrap().len(), crate::all().len());
        let one = select(&["leaderboard".into(), "users".into()]).unwrap();
        let names: Vec<_> = one.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["users", "leaderboard"], "in application order");
        let e = select(&["leaderbord".into()]).unwrap_err();
        assert_eq!(e.code(), "UNKNOWN_PROJECTION");
        assert!(
            e.to_string().contains("users, problems, submissions"),
            "{e}"
        );
    }

    #[test]
    fn every_table_belongs_to_exactly_one_projection() {
        let mut seen = std::collections::HashSet::new();
        for p in crate::all() {
            assert!(!p.tables().is_empty(), "{}", p.name());
            for t in p.tables() {
                assert!(seen.insert(*t), "{t} is claimed twice");
            }
        }
    }
}
