//! Feeds projections from the log, checkpointed and at least once.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Connection};
use store::{Cursor, RecordedEvent, SharedStore, StoredEvent, Subscription};
use tokio::sync::watch;

use crate::{Error, ReadBackend, ReadDb, Result, Sink};

/// A decoded event with where it sits in the log.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub cursor: Cursor,
    pub stream: String,
    pub recorded_at: DateTime<Utc>,
    pub event: domain::Event,
}

/// A read model: a fold of events into SQL rows.
pub trait Projection: Send + Sync + std::fmt::Debug + 'static {
    /// Stable: it keys the checkpoint. Rename only with a migration.
    fn name(&self) -> &'static str;
    /// Every table this projection writes, and only those: a replay replaces
    /// exactly these when it swaps a rebuilt projection in.
    fn tables(&self) -> &'static [&'static str];
    /// Applies one event inside the batch's transaction. Must be idempotent.
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>>;

    /// Applies consecutive events of the log, in order, inside the batch's
    /// transaction. Must leave exactly the rows that applying them one by one
    /// leaves, and be idempotent like `apply`. The default does just that;
    /// projections that see many events fold the batch in memory instead
    /// (a few set-based reads, then multi-row writes), which is what makes
    /// replays fast.
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for event in events {
                self.apply(conn, event).await?;
            }
            Ok(())
        })
    }

    /// This projection built in memory from the start of the log, for a
    /// rebuild into its empty tables; `None` when it has no such fold (the
    /// rebuild then applies batches as the live runner does).
    fn fold(&self) -> Option<Box<dyn Fold>> {
        None
    }
}

/// A projection's whole state folded in memory from the start of the log:
/// a rebuild into empty tables reads nothing back and writes each row once,
/// at the end. After folding any prefix of the log, [`Fold::write`] must
/// leave exactly the rows that applying that prefix (by
/// [`Projection::apply_batch`], in any batches) to empty tables leaves.
pub trait Fold: Send + Sync {
    /// Folds the next events of the log, in order. No IO.
    fn fold(&mut self, events: &[Envelope]) -> Result<()>;

    /// About how many rows it holds; past a budget the rebuild writes them
    /// out and applies the rest of the log batch by batch.
    fn rows(&self) -> usize;

    /// Writes every row into the projection's tables, empty until now,
    /// through `out` (inside the caller's transaction), in primary-key
    /// order where it can (SQLite appends to its B-trees then). Leaves the
    /// fold empty.
    fn write<'a>(&'a mut self, out: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>>;
}

/// What one step of the runner did, so tests drain instead of sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Processed(usize),
    Idle,
}

/// How far every projection has got; lets a writer wait to read its write.
#[derive(Debug, Clone)]
pub struct Progress(watch::Receiver<Cursor>);

impl Progress {
    pub fn current(&self) -> Cursor {
        *self.0.borrow()
    }

    /// Waits until every projection has applied `cursor`; false on timeout.
    pub async fn wait_for(&self, cursor: Cursor, timeout: Duration) -> bool {
        let mut rx = self.0.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= cursor))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the projections have applied something after `cursor`
    /// and returns how far they got; `None` once the runner is gone. Live
    /// feeds follow this, so nobody hears of a change before the read models
    /// show it.
    pub async fn advanced_past(&mut self, cursor: Cursor) -> Option<Cursor> {
        self.0.wait_for(|c| *c > cursor).await.ok().map(|c| *c)
    }
}

#[derive(Debug)]
pub struct Runner {
    db: ReadDb,
    projections: Vec<Box<dyn Projection>>,
    checkpoints: HashMap<&'static str, Cursor>,
    subscription: Subscription,
    progress: watch::Sender<Cursor>,
}

impl Runner {
    /// Loads every projection's checkpoint and positions the subscription at
    /// the oldest of them.
    pub async fn new(
        db: ReadDb,
        store: SharedStore,
        projections: Vec<Box<dyn Projection>>,
        batch: usize,
    ) -> Result<Self> {
        // Rows must exist so that batches can lock them.
        for p in &projections {
            sqlx::query(
                "INSERT INTO projection_checkpoints (name, tx, seq) VALUES ($1, 0, 0) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(p.name())
            .execute(&db.pool)
            .await?;
        }
        let saved = load_checkpoints(&db).await?;
        let checkpoints: HashMap<&'static str, Cursor> = projections
            .iter()
            .map(|p| {
                (
                    p.name(),
                    saved.get(p.name()).copied().unwrap_or(Cursor::START),
                )
            })
            .collect();
        // A checkpoint past the log's end means the log lost events or was
        // replaced (restored from an older backup, a power cut with relaxed
        // durability). New events would be skipped: refuse, loudly.
        let head = store.head().await?;
        if let Some((name, cp)) = checkpoints.iter().find(|(_, cp)| **cp > head) {
            return Err(Error::AheadOfLog {
                projection: name.to_string(),
                checkpoint: *cp,
                head,
            });
        }
        let start = checkpoints.values().min().copied().unwrap_or(Cursor::START);
        let (progress, _) = watch::channel(start);
        let subscription = store::subscribe(store, start, batch);
        Ok(Self {
            db,
            projections,
            checkpoints,
            subscription,
            progress,
        })
    }

    pub fn progress(&self) -> Progress {
        Progress(self.progress.subscribe())
    }

    /// Runs until the task is dropped. A failing batch is retried with
    /// backoff, never skipped: a projection stalls rather than goes wrong.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let batch = match self.subscription.next_batch().await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "projection runner cannot read the log; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            loop {
                match self.apply_batch(&batch).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "projection batch failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
    }

    /// Applies whatever is in the log now (one batch); `Idle` when caught up.
    pub async fn step(&mut self) -> Result<Step> {
        let before = self.subscription.cursor();
        let batch = self.subscription.try_next_batch().await?;
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        if let Err(e) = self.apply_batch(&batch).await {
            // Nothing was committed: the next step must see this batch again.
            self.subscription.seek(before);
            return Err(e);
        }
        Ok(Step::Processed(batch.len()))
    }

    /// Steps until caught up with the log as it is now: up to its head at
    /// the call, waiting for events that are committed but not yet readable
    /// (see `Subscription::head`).
    pub async fn drain(&mut self) -> Result<usize> {
        let head = self.subscription.head().await?;
        let mut total = 0;
        loop {
            match self.step().await? {
                Step::Processed(n) => total += n,
                Step::Idle if self.subscription.cursor() >= head => return Ok(total),
                Step::Idle => tokio::time::sleep(store::HELD_BACK_POLL).await,
            }
        }
    }

    #[tracing::instrument(skip_all, fields(events = batch.len(), first = %batch[0].cursor))]
    async fn apply_batch(&mut self, batch: &[RecordedEvent]) -> Result<()> {
        let envelopes = batch.iter().map(decode).collect::<Result<Vec<_>>>()?;
        let last = envelopes.last().expect("batches are never empty").cursor;
        let mut conn = self.db.pool.acquire().await?;
        let mut tx = begin_write(&mut conn, self.db.backend).await?;
        // The stored checkpoints are the truth: with several API nodes on one
        // read database, another node's runner may be ahead of ours. On
        // PostgreSQL the rows are locked, so runners take turns per batch and
        // a checkpoint only ever moves forward.
        let stored = lock_checkpoints(&mut tx, self.db.backend).await?;
        let memory = &self.checkpoints;
        apply_envelopes(&mut tx, &self.projections, &envelopes, |name| {
            stored
                .get(name)
                .copied()
                .unwrap_or(Cursor::START)
                .max(memory[name])
        })
        .await?;
        tx.commit().await?;
        for cp in self.checkpoints.values_mut() {
            *cp = (*cp).max(last);
        }
        self.progress.send_replace(last);
        Ok(())
    }
}

/// A transaction that holds the database's write lock from its start on
/// SQLite (a plain BEGIN would read the checkpoints, then fail to upgrade to a
/// writer if a replay's swap committed in between); on PostgreSQL the
/// checkpoint rows are locked instead.
pub(crate) async fn begin_write(
    conn: &mut AnyConnection,
    backend: ReadBackend,
) -> Result<sqlx::Transaction<'_, sqlx::Any>> {
    Ok(match backend {
        ReadBackend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        ReadBackend::Postgres => conn.begin().await?,
    })
}

/// Applies a batch to each projection past its checkpoint (as `checkpoint`
/// gives it) and moves those checkpoints to the batch's end, on `conn`, inside
/// the caller's transaction. The live runner, replays and as-of models all
/// apply events through here, so a rebuilt model is built exactly as the live
/// one is.
pub(crate) async fn apply_envelopes<P: std::ops::Deref<Target = dyn Projection>>(
    conn: &mut AnyConnection,
    projections: &[P],
    envelopes: &[Envelope],
    checkpoint: impl Fn(&'static str) -> Cursor,
) -> Result<()> {
    let Some(last) = envelopes.last().map(|e| e.cursor) else {
        return Ok(());
    };
    for projection in projections {
        let checkpoint = checkpoint(projection.name());
        if checkpoint >= last {
            continue;
        }
        // Envelopes are in log order: what this projection has not seen is a suffix.
        let unseen = envelopes.partition_point(|e| e.cursor <= checkpoint);
        projection.apply_batch(conn, &envelopes[unseen..]).await?;
        save_checkpoint(conn, projection.name(), last).await?;
    }
    Ok(())
}

pub(crate) const SAVE_CHECKPOINT: &str = "INSERT INTO projection_checkpoints (name, tx, seq) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, seq = excluded.seq";

pub(crate) async fn save_checkpoint(
    conn: &mut AnyConnection,
    name: &str,
    cursor: Cursor,
) -> Result<()> {
    sqlx::query(SAVE_CHECKPOINT)
        .bind(name)
        .bind(cursor.tx as i64)
        .bind(cursor.seq as i64)
        .execute(conn)
        .await?;
    Ok(())
}

const SELECT_CHECKPOINTS: &str = "SELECT name, tx, seq FROM projection_checkpoints";

async fn load_checkpoints(db: &ReadDb) -> Result<HashMap<String, Cursor>> {
    Ok(checkpoint_map(
        sqlx::query_as(SELECT_CHECKPOINTS)
            .fetch_all(&db.pool)
            .await?,
    ))
}

pub(crate) async fn lock_checkpoints(
    conn: &mut AnyConnection,
    backend: ReadBackend,
) -> Result<HashMap<String, Cursor>> {
    let query = match backend {
        ReadBackend::Postgres => {
            "SELECT name, tx, seq FROM projection_checkpoints ORDER BY name FOR UPDATE"
        }
        // One runner per SQLite file; SQLite has no row locks.
        ReadBackend::Sqlite => SELECT_CHECKPOINTS,
    };
    Ok(checkpoint_map(sqlx::query_as(query).fetch_all(conn).await?))
}

fn checkpoint_map(rows: Vec<(String, i64, i64)>) -> HashMap<String, Cursor> {
    rows.into_iter()
        .map(|(name, tx, seq)| {
            (
                name,
                Cursor {
                    tx: tx as u64,
                    seq: seq as u64,
                },
            )
        })
        .collect()
}

pub(crate) fn decode(e: &RecordedEvent) -> Result<Envelope> {
    let event = domain::codec::decode(&e.event_type, e.schema_version, e.data.clone()).map_err(
        |source| Error::Decode {
            cursor: e.cursor,
            source,
        },
    )?;
    Ok(Envelope {
        cursor: e.cursor,
        stream: e.stream.clone(),
        recorded_at: e.recorded_at,
        event,
    })
}

/// [`decode`] from the payload's text, for a replay reading the whole log.
pub(crate) fn decode_text(e: StoredEvent) -> Result<Envelope> {
    let event =
        domain::codec::decode_text(&e.event_type, e.schema_version, &e.data).map_err(|source| {
            Error::Decode {
                cursor: e.cursor,
                source,
            }
        })?;
    Ok(Envelope {
        cursor: e.cursor,
        stream: e.stream,
        recorded_at: e.recorded_at,
        event,
    })
}
