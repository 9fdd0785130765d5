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
use store::{Cursor, SharedStore, StoredEvent};
use uuid::Uuid;

use crate::runner::{
    SAVE_CHECKPOINT, apply_envelopes, begin_write, decode_text, lock_checkpoints, save_checkpoint,
};
use crate::{Envelope, Error, Fold, Projection, ReadBackend, ReadDb, Result};

/// Events read from the log per page, and applied per transaction: each
/// projection folds a page in memory, so bigger pages mean fewer statements.
const PAGE: usize = 20_000;

/// Rows a rebuild's in-memory folds may hold (a few hundred bytes each)
/// before they are written out and the rest of the log is applied page by
/// page.
const FOLD_BUDGET: usize = 4_000_000;

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
    fn includes(&self, e: &StoredEvent) -> bool {
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
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// Events applied from the log into the shadow or snapshot.
    pub events: u64,
    /// Events appended meanwhile and applied during the swap.
    pub caught_up: u64,
    /// The position the rebuilt projections now stand at.
    pub end: Cursor,
    /// Time spent applying `events` (the shadow build alone).
    pub elapsed: Duration,
    /// Time the swap took (copying the shadow in and catching up); zero
    /// for a snapshot.
    pub swapped_in: Duration,
    /// The projections built by an in-memory fold.
    pub folded: Vec<&'static str>,
}

impl Rebuilt {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Told how many events have been applied and how many the log held at the
/// start (the total may grow while the rebuild runs).
pub type OnProgress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// How a rebuild pages through the log, and how much it may fold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events read, decoded and applied at a time.
    pub page: usize,
    /// Rows the in-memory folds may hold; past it they are written out and
    /// the rest of the log is applied to those projections page by page.
    pub fold_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            page: PAGE,
            fold_rows: FOLD_BUDGET,
        }
    }
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Events applied.
    pub events: u64,
    /// The last position applied.
    pub end: Cursor,
    /// The projections built by an in-memory fold (from the start, until
    /// the budget ran out), in application order.
    pub folded: Vec<&'static str>,
    /// Where each projection written at the end went: 0 for the target,
    /// `i` for the `i`th lane. The others are in the target.
    pub lane_of: Vec<(&'static str, usize)>,
}

impl Built {
    /// The database (0: the target, `i`: the `i`th lane) holding `projection`.
    pub fn lane(&self, projection: &str) -> usize {
        self.lane_of
            .iter()
            .find(|(name, _)| *name == projection)
            .map_or(0, |(_, lane)| *lane)
    }
}

/// Applies the log, up to `until`, to `projections` in `target` (fresh, or
/// left by an earlier rebuild of the same end), within the default
/// [`Limits`].
pub async fn rebuild(
    target: &ReadDb,
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    until: Until,
    on_progress: OnProgress<'_>,
) -> Result<Built> {
    rebuild_with(
        target,
        &[],
        store,
        projections,
        until,
        Limits::default(),
        on_progress,
    )
    .await
}

/// [`rebuild`] within `limits`, writing the folds at the end spread over
/// `target` and `lanes` in parallel (see [`Built::lane_of`]); with no lanes,
/// everything goes to `target`.
pub async fn rebuild_with(
    target: &ReadDb,
    lanes: &[ReadDb],
    store: &SharedStore,
    projections: &[Box<dyn Projection>],
    until: Until,
    limits: Limits,
    on_progress: OnProgress<'_>,
) -> Result<Built> {
    let total = store.count().await.map_err(Error::LogUnreadable)?;
    // A bound, so a busy log cannot keep a rebuild chasing its end; what is
    // appended later is the swap's to apply.
    let until = match until {
        Until::End => Until::Position(store.head().await.map_err(Error::LogUnreadable)?),
        other => other,
    };
    // Reading and decoding overlap with applying: the log and the read
    // model are separate databases, each with its own connection.
    // Each page is decoded on a blocking thread of its own while the next
    // is read, so decoding runs on every core; pages arrive in order.
    let (pages_tx, mut pages) = tokio::sync::mpsc::channel::<Decoding>(4);
    let reader = tokio::spawn({
        let store = store.clone();
        async move {
            let mut after = Cursor::START;
            loop {
                let page = match store.read_all_text(after, limits.page.max(1)).await {
                    Ok(page) => page,
                    Err(e) => {
                        let failed = tokio::task::spawn_blocking(|| Err(Error::LogUnreadable(e)));
                        let _ = pages_tx.send(failed).await;
                        return;
                    }
                };
                let Some(last) = page.last() else { return };
                after = last.cursor;
                let read = page.len();
                let kept: Vec<StoredEvent> =
                    page.into_iter().take_while(|e| until.includes(e)).collect();
                let past_the_end = kept.len() < read;
                let decoding = tokio::task::spawn_blocking(move || {
                    kept.into_iter()
                        .map(decode_text)
                        .collect::<Result<Vec<_>>>()
                });
                if pages_tx.send(decoding).await.is_err() || past_the_end {
                    return;
                }
            }
        }
    });
    let result = async {
        let mut conn = target.pool.acquire().await?;
        // Projections with an in-memory fold and empty tables fold the whole
        // log and write their rows once; the others apply page by page.
        let mut folds: Folds = Vec::new();
        let mut applied: Vec<&(dyn Projection + 'static)> = Vec::new();
        for p in projections {
            match p.fold() {
                Some(fold) if tables_empty(&mut conn, p.tables()).await? => {
                    folds.push((p.name(), fold))
                }
                _ => applied.push(p.as_ref()),
            }
        }
        let folded: Vec<&'static str> = folds.iter().map(|(name, _)| *name).collect();
        let (mut done, mut end) = (0u64, Cursor::START);
        // Where the time goes, for the log: waiting for the reader, folding
        // (beside applying), and applying the other projections.
        let (mut waiting, mut folding, mut applying) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        loop {
            let waited = Instant::now();
            let Some(page) = pages.recv().await else {
                break;
            };
            let page = page
                .await
                .map_err(|e| Error::Corrupt(format!("decoding a page panicked: {e}")))??;
            waiting += waited.elapsed();
            let page = std::sync::Arc::new(page);
            let Some(last) = page.last().map(|e| e.cursor) else {
                continue;
            };
            // Folding is CPU work: off the async workers, beside the reader
            // decoding the next page and the others' SQL for this one.
            // Each fold on a thread of its own.
            let folders: Vec<_> = std::mem::take(&mut folds)
                .into_iter()
                .map(|(name, mut fold)| {
                    let page = page.clone();
                    tokio::task::spawn_blocking(move || {
                        let started = Instant::now();
                        fold.fold(&page)?;
                        Ok::<_, Error>(((name, fold), started.elapsed()))
                    })
                })
                .collect();
            let from = end;
            if !applied.is_empty() {
                let started = Instant::now();
                let mut tx = begin_write(&mut conn, target.backend).await?;
                apply_envelopes(&mut tx, &applied, &page, |_| from).await?;
                tx.commit().await?;
                applying += started.elapsed();
            }
            let mut failed = None;
            for folder in folders {
                match folder.await {
                    Ok(Ok((fold, took))) => {
                        folds.push(fold);
                        folding += took;
                    }
                    Ok(Err(e)) => failed = failed.or(Some(e)),
                    Err(e) => {
                        failed = failed.or(Some(Error::Corrupt(format!("a fold panicked: {e}"))))
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            end = last;
            done += page.len() as u64;
            if folds.iter().map(|(_, f)| f.rows()).sum::<usize>() > limits.fold_rows {
                // Memory stays bounded: write what is folded, and apply the
                // rest of the log to those projections page by page.
                // Back in application order, which the others keep.
                applied = projections
                    .iter()
                    .filter(|p| {
                        applied.iter().any(|a| a.name() == p.name())
                            || folds.iter().any(|(name, _)| *name == p.name())
                    })
                    .map(|p| p.as_ref())
                    .collect();
                write_folds(&mut conn, target, &mut folds, end).await?;
            }
            on_progress(done, total.max(done));
        }
        let writing = Instant::now();
        // Every lane writes on a connection of its own, the target's too.
        drop(conn);
        if !folds.is_empty() {
            // The log is through; this part can take seconds with no
            // progress to show.
            tracing::info!(
                events = done,
                rows = folds.iter().map(|(_, f)| f.rows()).sum::<usize>(),
                projections = ?folds.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
                lanes = (1 + lanes.len()).min(folds.len()),
                "writing the folded projections"
            );
        }
        let lane_of = write_lanes(target, lanes, folds, end).await?;
        tracing::info!(
            events = done,
            folded = folded.len(),
            lanes = 1 + lanes.len(),
            waiting_ms = waiting.as_millis() as u64,
            folding_ms = folding.as_millis() as u64,
            applying_ms = applying.as_millis() as u64,
            writing_ms = writing.elapsed().as_millis() as u64,
            "rebuilt"
        );
        Ok(Built {
            events: done,
            end,
            folded,
            lane_of,
        })
    }
    .await;
    reader.abort();
    result
}

/// Folds under way, each with its projection's name.
type Folds = Vec<(&'static str, Box<dyn Fold>)>;

/// A page of the log being decoded.
type Decoding = tokio::task::JoinHandle<Result<Vec<Envelope>>>;

/// Whether none of `tables` has a row.
async fn tables_empty(conn: &mut AnyConnection, tables: &[&str]) -> Result<bool> {
    for table in tables {
        // Table names come from the projections' fixed lists.
        let any: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM {table} LIMIT 1"
        )))
        .fetch_optional(&mut *conn)
        .await?;
        if any.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The tables of the projections `folds` build.
fn tables_of(folds: &[(&'static str, Box<dyn Fold>)]) -> Vec<&'static str> {
    crate::all()
        .iter()
        .filter(|p| folds.iter().any(|(name, _)| *name == p.name()))
        .flat_map(|p| p.tables().iter().copied())
        .collect()
}

/// Writes every fold's rows into `db` and moves its checkpoint to `end`, in
/// one transaction, and empties `folds`. The tables' secondary indexes are
/// dropped first and made again after: one sort per index instead of a
/// B-tree insert per row. A SQLite file is written through a connection of
/// its own on a blocking thread (see [`crate::sink`]); `conn`, a connection
/// to `db`, must then hold no transaction.
async fn write_folds(
    conn: &mut AnyConnection,
    db: &ReadDb,
    folds: &mut Folds,
    end: Cursor,
) -> Result<()> {
    if folds.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let names: Vec<&'static str> = folds.iter().map(|(name, _)| *name).collect();
    let mut folds = std::mem::take(folds);
    match &db.file {
        Some(file) => {
            let file = file.clone();
            tokio::task::spawn_blocking(move || write_file(&file, &mut folds, end))
                .await
                .map_err(|e| Error::Corrupt(format!("a fold's writer panicked: {e}")))??;
        }
        None => write_any(conn, db.backend, &mut folds, end).await?,
    }
    tracing::debug!(folds = ?names, ms = started.elapsed().as_millis() as u64, "folds written");
    Ok(())
}

/// [`write_folds`] through a plain SQLite connection to `file`.
fn write_file(file: &Path, folds: &mut [(&'static str, Box<dyn Fold>)], end: Cursor) -> Result<()> {
    let mut sink = crate::sink::SqliteSink::begin(file)?;
    let mut indexes = Vec::new();
    for table in tables_of(folds) {
        indexes.extend(sink.indexes(table)?);
    }
    for (name, _) in &indexes {
        // Index names come from the database's own catalogue.
        sink.execute(&format!("DROP INDEX {name}"), &[])?;
    }
    for (name, fold) in folds.iter_mut() {
        let started = Instant::now();
        // The sink does its work synchronously: its futures are ready at once.
        futures::executor::block_on(fold.write(&mut sink))?;
        tracing::debug!(
            projection = name,
            ms = started.elapsed().as_millis() as u64,
            "fold written"
        );
        sink.execute(
            SAVE_CHECKPOINT,
            &[name, &(end.tx as i64), &(end.seq as i64)],
        )?;
    }
    let started = Instant::now();
    for (_, create) in &indexes {
        sink.execute(create, &[])?;
    }
    sink.commit()?;
    tracing::debug!(
        indexes = indexes.len(),
        ms = started.elapsed().as_millis() as u64,
        "indexes made, committed"
    );
    Ok(())
}

/// [`write_folds`] through sqlx.
async fn write_any(
    conn: &mut AnyConnection,
    backend: ReadBackend,
    folds: &mut [(&'static str, Box<dyn Fold>)],
    end: Cursor,
) -> Result<()> {
    let tables = tables_of(folds);
    let mut tx = begin_write(conn, backend).await?;
    let indexes = secondary_indexes(&mut tx, backend, &tables).await?;
    for (name, _) in &indexes {
        // Index names come from the database's own catalogue.
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
            .execute(&mut *tx)
            .await?;
    }
    for (name, fold) in folds.iter_mut() {
        fold.write(&mut *tx).await?;
        save_checkpoint(&mut tx, name, end).await?;
    }
    for (_, create) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(create.clone()))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes the folds spread over `target` and `lanes` (the biggest first,
/// each onto the lane with the fewest rows so far), all lanes at once, each
/// on a connection of its own. Returns the lane each projection went to: 0
/// is `target`, `i` is `lanes[i - 1]`.
async fn write_lanes(
    target: &ReadDb,
    lanes: &[ReadDb],
    mut folds: Folds,
    end: Cursor,
) -> Result<Vec<(&'static str, usize)>> {
    folds.sort_by_key(|(_, fold)| std::cmp::Reverse(fold.rows()));
    let mut shares: Vec<(usize, Folds)> = (0..=lanes.len()).map(|_| (0, Vec::new())).collect();
    let mut lane_of = Vec::new();
    for (name, fold) in folds {
        let (lane, (rows, share)) = shares
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, (rows, _))| *rows)
            .expect("at least the target");
        *rows += fold.rows();
        share.push((name, fold));
        lane_of.push((name, lane));
    }
    let writers: Vec<_> = shares
        .into_iter()
        .map(|(_, share)| share)
        .zip(std::iter::once(target).chain(lanes).cloned())
        .filter(|(share, _)| !share.is_empty())
        .map(|(mut share, db)| {
            // A task per lane, so that building rows runs in parallel too,
            // not only the databases' work.
            tokio::spawn(async move {
                let mut conn = db.pool.acquire().await?;
                write_folds(&mut conn, &db, &mut share, end).await
            })
        })
        .collect();
    let mut outcome = Ok(());
    for writer in writers {
        let written = writer
            .await
            .map_err(|e| Error::Corrupt(format!("a lane's writer panicked: {e}")))
            .and_then(|r| r);
        if outcome.is_ok() {
            outcome = written;
        }
    }
    outcome.map(|()| lane_of)
}

/// The indexes on `tables` other than those backing a primary key or a
/// unique constraint: each one's name and the statement that makes it.
async fn secondary_indexes(
    conn: &mut AnyConnection,
    backend: ReadBackend,
    tables: &[&str],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for table in tables {
        let rows: Vec<(String, String)> = match backend {
            ReadBackend::Sqlite => sqlx::query_as(crate::sink::SQLITE_INDEXES),
            ReadBackend::Postgres => sqlx::query_as(
                "SELECT i.indexname::text, i.indexdef::text FROM pg_indexes i \
                 WHERE i.schemaname = current_schema() AND i.tablename = $1 \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                                 WHERE c.conname = i.indexname \
                                 AND c.connamespace = current_schema()::regnamespace)",
            ),
        }
        .bind(*table)
        .fetch_all(&mut *conn)
        .await?;
        out.extend(rows);
    }
    Ok(out)
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
    let shadow = Shadow::create(live, &live_db, lane_count(projections)).await?;
    let result = async {
        let started = Instant::now();
        let built = rebuild_with(
            &shadow.db,
            &shadow.lanes,
            store,
            projections,
            Until::End,
            Limits::default(),
            on_progress,
        )
        .await?;
        let elapsed = started.elapsed();
        shadow.close().await;
        let started = Instant::now();
        let (end, caught_up) = swap(&live_db, &shadow, store, projections, &built).await?;
        Ok(Rebuilt {
            events: built.events,
            caught_up,
            end,
            elapsed,
            swapped_in: started.elapsed(),
            folded: built.folded,
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
        Ok(built) => Ok(Rebuilt {
            events: built.events,
            caught_up: 0,
            end: built.end,
            elapsed: started.elapsed(),
            swapped_in: Duration::ZERO,
            folded: built.folded,
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

/// A fresh read database beside the live one, migrated like it, and lanes
/// to write in parallel: more files beside it on SQLite (a file has one
/// writer at a time), more connections to the same schema on PostgreSQL.
struct Shadow {
    db: ReadDb,
    lanes: Vec<ReadDb>,
    place: ShadowPlace,
}

enum ShadowPlace {
    /// The shadow's file, then each lane's.
    Files(Vec<PathBuf>),
    Schema(String),
}

/// Lanes beside the shadow: one per projection that folds, beyond the
/// first (each writes its rows and builds its indexes on a thread of its
/// own, so the longest write bounds the time, not their sum), at most
/// seven (SQLite attaches at most ten databases).
fn lane_count(projections: &[Box<dyn Projection>]) -> usize {
    let folding = projections.iter().filter(|p| p.fold().is_some()).count();
    folding.clamp(1, 8) - 1
}

impl Shadow {
    async fn create(live: &ReadLocation, live_db: &ReadDb, lanes: usize) -> Result<Self> {
        let id = Uuid::now_v7().simple();
        match live {
            ReadLocation::Sqlite(path) => {
                let name = path
                    .file_name()
                    .map_or("read.db".into(), |n| n.to_string_lossy().into_owned());
                let file = |lane: usize| match lane {
                    0 => path.with_file_name(format!("{name}.replay-{id}")),
                    lane => path.with_file_name(format!("{name}.replay-{id}-{lane}")),
                };
                let mut dbs = Vec::new();
                let mut files = Vec::new();
                for lane in 0..=lanes {
                    let path = file(lane);
                    match ReadDb::open_sqlite_scratch(&path).await {
                        Ok(db) => {
                            dbs.push(db);
                            files.push(path);
                        }
                        Err(e) => {
                            for db in &dbs {
                                db.pool.close().await;
                            }
                            Self::drop_place(&ShadowPlace::Files(files), live_db).await;
                            let _ = std::fs::remove_file(&path);
                            return Err(e);
                        }
                    }
                }
                let db = dbs.remove(0);
                Ok(Self {
                    db,
                    lanes: dbs,
                    place: ShadowPlace::Files(files),
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
                match ReadDb::connect_postgres(&shadow_url, 1 + lanes as u32).await {
                    Ok(db) => Ok(Self {
                        lanes: vec![db.clone(); lanes],
                        db,
                        place,
                    }),
                    Err(e) => {
                        Self::drop_place(&place, live_db).await;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn close(&self) {
        self.db.pool.close().await;
        for lane in &self.lanes {
            lane.pool.close().await;
        }
    }

    async fn remove(self, live_db: &ReadDb) {
        self.close().await;
        Self::drop_place(&self.place, live_db).await;
    }

    async fn drop_place(place: &ShadowPlace, live_db: &ReadDb) {
        let result = match place {
            // Every file is tried, whichever fails.
            ShadowPlace::Files(files) => {
                let failed: Vec<String> = files
                    .iter()
                    .filter_map(|file| std::fs::remove_file(file).err())
                    .map(|e| e.to_string())
                    .collect();
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err(failed.join("; "))
                }
            }
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

    /// How the live database's connection names the tables of `lane`.
    fn prefix(&self, lane: usize) -> String {
        match &self.place {
            ShadowPlace::Files(_) => format!("replay_shadow_{lane}"),
            ShadowPlace::Schema(schema) => schema.clone(),
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
    built: &Built,
) -> Result<(Cursor, u64)> {
    // A connection of its own: an attached database must not go back into
    // the pool.
    let mut conn: AnyConnection = PoolConnection::<Any>::detach(live_db.pool.acquire().await?);
    if let ShadowPlace::Files(files) = &shadow.place {
        for (lane, file) in files.iter().enumerate() {
            // The name is made here from a number, never from input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ATTACH DATABASE $1 AS {}",
                shadow.prefix(lane)
            )))
            .bind(file.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await?;
        }
    }
    let result = swap_on(
        &mut conn,
        live_db.backend,
        shadow,
        store,
        projections,
        built,
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
    built: &Built,
) -> Result<(Cursor, u64)> {
    let live_prefix = match backend {
        ReadBackend::Sqlite => "main.",
        ReadBackend::Postgres => "",
    };
    let mut tx = begin_write(conn, backend).await?;
    lock_checkpoints(&mut tx, backend).await?;
    for (p, table) in projections
        .iter()
        .flat_map(|p| p.tables().iter().map(move |t| (p, t)))
    {
        // Table names come from the projections' fixed lists, the prefix
        // from `Shadow`.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {live_prefix}{table}"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {live_prefix}{table} SELECT * FROM {}.{table}",
            shadow.prefix(built.lane(p.name()))
        )))
        .execute(&mut *tx)
        .await?;
    }
    let (mut end, mut caught_up) = (built.end, 0u64);
    loop {
        let page = store
            .read_all_text(end, PAGE)
            .await
            .map_err(Error::LogUnreadable)?;
        let Some(last) = page.last().map(|e| e.cursor) else {
            break;
        };
        caught_up += page.len() as u64;
        let page = page
            .into_iter()
            .map(decode_text)
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
