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

/// `pydojo bench judge`: the native sandbox and the judge.
#[derive(Debug, Clone)]
pub struct JudgeBench {
    pub sandbox: crate::config::SandboxArgs,
    /// Runs of each side of the start-up comparison.
    pub starts: usize,
    /// Judgements for the throughput and latency figures.
    pub judgements: usize,
    /// Concurrent judgements for throughput.
    pub concurrency: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A function problem with 10 tests: two-sum over growing inputs.
fn ten_test_problem() -> domain::problem::ProblemSpec {
    use domain::problem::*;
    let tests = (0..10)
        .map(|i| {
            let n = 10 + i * 100;
            let nums: Vec<i64> = (0..n as i64).collect();
            let target = nums[n - 1] + nums[n - 2];
            TestCase {
                input: serde_json::json!([nums, target]).to_string(),
                expected: format!("[{}, {}]", n - 2, n - 1),
                explanation: None,
            }
        })
        .collect::<Vec<_>>();
    ProblemSpec {
        title: "Two Sum".into(),
        statement: "bench".into(),
        difficulty: Difficulty::Easy,
        tags: vec![],
        kind: ProblemKind::Function {
            entry_point: "two_sum".into(),
            params: vec!["nums".into(), "target".into()],
        },
        template: "def two_sum(nums, target):\n    pass\n".into(),
        examples: tests[..2].to_vec(),
        hidden_tests: tests[2..].to_vec(),
        limits: Limits {
            time_limit_ms: 2000,
            memory_limit_mb: 128,
        },
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

const TWO_SUM: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

pub async fn judge(dir: &std::path::Path, cfg: JudgeBench) -> anyhow::Result<()> {
    use sandbox::Sandbox;
    let (sb, backend) = crate::sandbox_named(&cfg.sandbox).await?;
    println!(
        "pydojo bench judge: {backend} sandbox, {} start pairs, {} judgements",
        cfg.starts, cfg.judgements
    );

    // 1. Start-up overhead, interleaved so both sides see the same noise.
    let (mut bare, mut boxed) = (Vec::new(), Vec::new());
    for _ in 0..cfg.starts {
        let t = Instant::now();
        let out = tokio::process::Command::new("/usr/bin/python3")
            .args(["-I", "-S", "-c", "print('hi')"])
            .output()
            .await?;
        anyhow::ensure!(out.stdout == b"hi\n", "bare python3 failed");
        bare.push(ms(t.elapsed()));
        let t = Instant::now();
        let run = sb
            .run(sandbox::RunSpec::new([
                "python3",
                "-I",
                "-S",
                "-c",
                "print('hi')",
            ]))
            .await?;
        anyhow::ensure!(run.stdout == b"hi\n", "sandboxed python3 failed: {run:?}");
        boxed.push(ms(t.elapsed()));
    }
    bare.sort_by(f64::total_cmp);
    boxed.sort_by(f64::total_cmp);
    let (b, s) = (percentile(&bare, 0.5), percentile(&boxed, 0.5));
    println!(
        "print(\"hi\"): bare /usr/bin/python3 median {b:.1} ms, in the sandbox median {s:.1} ms: {:.2}x",
        s / b
    );

    // 2. Judgements per second of a 10-test function problem.
    let judge = Arc::new(executor::Judge::new(sb));
    let spec = Arc::new(ten_test_problem());
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_task = cfg.judgements.div_ceil(cfg.concurrency.max(1));
    for _ in 0..cfg.concurrency.max(1) {
        let (judge, spec) = (judge.clone(), spec.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..per_task {
                let t = Instant::now();
                let v = judge.judge(&spec, TWO_SUM).await;
                assert_eq!(v.kind, domain::submission::VerdictKind::Accepted, "{v:?}");
                latencies.push(ms(t.elapsed()));
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "10-test judgements, {} concurrent: {rate:.1} judgements/s; one judgement p50 {:.0} ms, p99 {:.0} ms",
        cfg.concurrency,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // 3. Submit-to-verdict through the real path: command, log, queue, judge, verdict event.
    let store = scratch_sqlite(dir, store::sqlite::Durability::Full).await?;
    let commands = commands::Commands::new(store.clone(), commands::Passwords::fast_for_tests());
    let role = domain::user::Role::Admin;
    let admin_id = commands
        .register("bench", "bench@example.org", "bench password", role)
        .await?
        .value;
    let admin = commands::Actor {
        user_id: admin_id,
        role,
    };
    commands
        .create_problem(&admin, "two-sum", (*spec).clone())
        .await?;
    commands.publish_problem(&admin, "two-sum").await?;
    let checkpoint = executor::FileCheckpoint::new(
        &dir.join(format!("bench-{}.checkpoint", Uuid::now_v7().simple())),
    );
    let queue = executor::EmbeddedQueue::new(store.clone(), commands.clone(), judge, checkpoint)?;
    let worker = tokio::spawn(queue.run());
    let mut changes = store.changes();
    let mut e2e = Vec::new();
    for _ in 0..cfg.judgements.min(50) {
        let t = Instant::now();
        let id = commands.submit(&admin, "two-sum", TWO_SUM).await?.value;
        let stream = format!("submission-{id}");
        while store.read_stream(&stream, 2).await?.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
        }
        e2e.push(ms(t.elapsed()));
    }
    worker.abort();
    e2e.sort_by(f64::total_cmp);
    println!(
        "submit-to-verdict (10 tests, one at a time): p50 {:.0} ms, p99 {:.0} ms over {} submissions",
        percentile(&e2e, 0.5),
        percentile(&e2e, 0.99),
        e2e.len()
    );
    Ok(())
}
