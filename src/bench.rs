//! `pydojo bench store`: event store throughput, printed as medians.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{AppendRequest, Cursor, ExpectedVersion, NewEvent, SharedStore};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct StoreBench {
    /// Concurrent callers for single-event appends.
    pub callers: usize,
    /// Single-event appends per run.
    pub commands: usize,
    /// Events per batch append.
    pub batch: usize,
    /// Events written in batches per run.
    pub batch_events: usize,
    /// Runs of each measurement; the median is reported.
    pub runs: usize,
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "BenchEvent".into(),
        schema_version: 1,
        // About the size of a typical domain event.
        data: serde_json::json!({
            "user_id": Uuid::now_v7(), "n": n, "at": "2026-11-22T12:00:00.000000Z",
            "problem_slug": "two-sum", "language": "python3"
        }),
        metadata: serde_json::json!({ "actor": Uuid::nil() }),
    }
}

/// Each caller appends to its own stream with an exact expected version, as
/// command handlers do.
async fn single_appends(store: &SharedStore, callers: usize, total: usize) -> f64 {
    let per_caller = total.div_ceil(callers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("bench-{}", Uuid::now_v7().simple());
            for v in 0..per_caller {
                let expected = if v == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(v as u64)
                };
                store
                    .append(&stream, expected, vec![event(v)])
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    (per_caller * callers) as f64 / started.elapsed().as_secs_f64()
}

async fn batch_appends(store: &SharedStore, batch: usize, total: usize) -> f64 {
    let batches = total.div_ceil(batch);
    let started = Instant::now();
    for _ in 0..batches {
        let stream = format!("bench-batch-{}", Uuid::now_v7().simple());
        let events = (0..batch).map(event).collect();
        store
            .append_many(vec![AppendRequest {
                stream,
                expected: ExpectedVersion::NoStream,
                events,
            }])
            .await
            .expect("append");
    }
    (batches * batch) as f64 / started.elapsed().as_secs_f64()
}

/// Reads (and parses) the whole log from the start, in pages of 1000.
async fn replay(store: &SharedStore) -> (usize, f64) {
    let started = Instant::now();
    let (mut cursor, mut n) = (Cursor::START, 0);
    loop {
        let page = store.read_all(cursor, 1000).await.expect("read");
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        n += page.len();
    }
    (n, n as f64 / started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn fmt_runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(store: SharedStore, cfg: StoreBench) -> anyhow::Result<()> {
    let backend = store.backend();
    println!(
        "pydojo bench store: backend={backend} callers={} runs={}",
        cfg.callers, cfg.runs
    );
    let (mut singles, mut batches, mut replays) = (Vec::new(), Vec::new(), Vec::new());
    let mut replayed = 0;
    for run in 1..=cfg.runs.max(1) {
        singles.push(single_appends(&store, cfg.callers, cfg.commands).await);
        batches.push(batch_appends(&store, cfg.batch, cfg.batch_events).await);
        let (n, rate) = replay(&store).await;
        replayed = n;
        replays.push(rate);
        eprintln!(
            "  run {run}: {:.0} commands/s, {:.0} events/s in batches, replay {:.0} events/s",
            singles[run - 1],
            batches[run - 1],
            rate
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "single-event appends, {} concurrent callers: median {:.0} commands/s  [{}]",
        cfg.callers,
        median(singles.clone()),
        fmt_runs(&singles)
    );
    println!(
        "batch appends, {} events per batch:         median {:.0} events/s    [{}]",
        cfg.batch,
        median(batches.clone()),
        fmt_runs(&batches)
    );
    println!(
        "full replay of {replayed} events:               median {:.0} events/s    [{}]",
        median(replays.clone()),
        fmt_runs(&replays)
    );
    Ok(())
}

/// The store used when none is configured: a fresh SQLite file.
pub async fn scratch_sqlite(
    dir: &std::path::Path,
    durability: store::sqlite::Durability,
) -> anyhow::Result<SharedStore> {
    let path = dir.join(format!("bench-{}.db", Uuid::now_v7().simple()));
    let store = store::SqliteStore::open(
        &path,
        store::sqlite::SqliteOptions {
            durability,
            ..Default::default()
        },
    )
    .await?;
    Ok(Arc::new(store))
}
