//! `pydojo bench lag` and `pydojo bench fanout`: the live read side under
//! load, measured on the real app (`App::build`) in a scratch data
//! directory, or a scratch database on the PostgreSQL server given.
//!
//! - `lag`: events appended through `commands` at a steady (open-loop) rate;
//!   for each append, the time until every projection has applied it
//!   (the runner's `Progress`).
//! - `fanout`: N WebSocket subscribers to `leaderboardChanged`, run by a
//!   child process of this binary (`bench fanout-clients`) so that the
//!   server's memory per connection is its own RSS growth, not the clients'.
//!   For each new solve, the time from just before its verdict is appended
//!   to each client's receipt of the update (wall clock, shared by both
//!   processes).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use commands::{Actor, Commands, Passwords};
use domain::SubmissionId;
use domain::submission::{Verdict, VerdictKind};
use domain::user::Role;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use store::Cursor;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::config::{JudgeMode, Secret, ServeArgs, StorageArgs, StoreBackend};

/// `pydojo bench lag`.
#[derive(Debug, Clone)]
pub struct LagBench {
    /// Events per second to append.
    pub rate: f64,
    /// How long to append for.
    pub seconds: u64,
}

/// `pydojo bench fanout`.
#[derive(Debug, Clone)]
pub struct FanoutBench {
    pub subscribers: usize,
    pub updates: usize,
    /// Connections the clients open at a time.
    pub connect_concurrency: usize,
    /// Also select `me` (one read-model query per subscriber per update).
    pub with_me: bool,
    /// Messages each live channel holds (`--live-capacity` of serve).
    pub live_capacity: usize,
}

/// The command line, for pasting next to the figures.
fn command_line() -> String {
    let mut args = std::env::args();
    let exe = args.next().unwrap_or_default();
    let name = Path::new(&exe)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(exe);
    std::iter::once(name)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {}",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN),
        v.len()
    )
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

/// This process's resident set, in KiB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Where a bench's app keeps its data; removed when the bench ends.
#[derive(Debug)]
struct Scratch {
    dir: PathBuf,
    /// The server's URL (to connect as the creating user) and the database.
    postgres: Option<(Secret, String)>,
}

impl Scratch {
    /// A fresh directory under `--data-dir` and, with `--store postgres`, a
    /// fresh database on the server at `--database-url`, so the bench never
    /// mixes with (or has to catch up on) an existing log.
    async fn create(storage: &StorageArgs) -> anyhow::Result<(Self, StorageArgs)> {
        let dir = storage
            .data_dir
            .join(format!("bench-live-{}", Uuid::now_v7().simple()));
        crate::ensure_data_dir(&dir)?;
        let mut scratch = storage.clone();
        scratch.data_dir = dir.clone();
        let mut postgres = None;
        if storage.store == StoreBackend::Postgres {
            let Some(url) = &storage.database_url else {
                bail!("--store postgres needs --database-url (or PYDOJO_DATABASE_URL)");
            };
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(url.expose())
                .await
                .context("cannot reach PostgreSQL at --database-url")?;
            let name = format!("pydojo_bench_{}", Uuid::new_v4().simple());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .context("cannot create a scratch database (the user needs CREATEDB)")?;
            let (base, _) = url
                .expose()
                .rsplit_once('/')
                .context("a database URL ends in /dbname")?;
            scratch.database_url = Some(
                format!("{base}/{name}")
                    .parse()
                    .map_err(anyhow::Error::msg)?,
            );
            scratch.read_database_url = None;
            postgres = Some((url.clone(), name));
        }
        Ok((Self { dir, postgres }, scratch))
    }

    async fn remove(self) {
        if let Some((url, name)) = self.postgres {
            use sqlx::Connection;
            match sqlx::PgConnection::connect(url.expose()).await {
                Ok(mut admin) => {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await
                    {
                        eprintln!("note: cannot drop the scratch database {name}: {e}");
                    }
                }
                Err(e) => eprintln!("note: cannot drop the scratch database {name}: {e}"),
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("note: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// `pydojo serve`'s settings for a bench: no judge (verdicts come from the
/// bench), port 0, limits out of the way.
fn serve_args(storage: StorageArgs, jwt_secret: Secret, live_capacity: usize) -> ServeArgs {
    ServeArgs {
        storage,
        sandbox: crate::config::SandboxArgs {
            backend: sandbox::BackendChoice::Native,
            docker_image: sandbox::DEFAULT_IMAGE.into(),
            docker_pool_size: 0,
            docker_socket: "/var/run/docker.sock".into(),
        },
        bind: "127.0.0.1:0".parse().expect("an address"),
        jwt_secret: Some(jwt_secret),
        token_ttl_hours: 24,
        body_limit_bytes: 2 * 1024 * 1024,
        auth_rate_per_minute: 1_000_000,
        submit_rate_per_minute: 1_000_000,
        judge: JudgeMode::Off,
        demo: false,
        demo_problems: "problems".into(),
        nats: crate::config::NatsArgs {
            nats_url: "nats://127.0.0.1:4222".parse().expect("a URL"),
            nats_jobs_stream: "PYDOJO_JOBS".into(),
            nats_results_stream: "PYDOJO_RESULTS".into(),
            nats_subject_prefix: "pydojo".into(),
            nats_executor_consumer: "pydojo-executors".into(),
            nats_results_consumer: "pydojo-results".into(),
            nats_duplicate_window: Duration::from_secs(24 * 3600),
            nats_connect_timeout: Duration::from_secs(5),
        },
        playground_rate_per_minute: 1_000_000,
        comment_rate_per_minute: 1_000_000,
        playground_wall_ms: 10_000,
        playground_memory_mb: 128,
        playground_output_bytes: 1024 * 1024,
        consistency_timeout_ms: 10_000,
        live_capacity,
        tutor: Box::new(crate::config::TutorArgs {
            tutor_base_url: None,
            openai_api_key: None,
            tutor_model: "gpt-4o-mini".into(),
            tutor_daily_quota: 0,
            tutor_timeout: Duration::from_secs(30),
        }),
    }
}

fn random_secret() -> Secret {
    crate::generate_password()
        .repeat(3)
        .parse()
        .expect("not empty")
}

fn problem(title: &str, difficulty: domain::problem::Difficulty) -> domain::problem::ProblemSpec {
    use domain::problem::*;
    let test = |nums: &str, target: i64, expected: &str| TestCase {
        input: format!("[{nums}, {target}]"),
        expected: expected.into(),
        explanation: None,
    };
    ProblemSpec {
        title: title.into(),
        statement: "Return the indices of the two numbers that add up to the target.".into(),
        difficulty,
        tags: vec!["arrays".into(), "hash-map".into()],
        kind: ProblemKind::Function {
            entry_point: "two_sum".into(),
            params: vec!["nums".into(), "target".into()],
        },
        template: "def two_sum(nums, target):\n    pass\n".into(),
        examples: vec![test("[2, 7, 11, 15]", 9, "[0, 1]")],
        hidden_tests: vec![
            test("[3, 3]", 6, "[0, 1]"),
            test("[1, 5, 9, 4]", 13, "[2, 3]"),
        ],
        limits: Limits {
            time_limit_ms: 1000,
            memory_limit_mb: 128,
        },
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

const SOLUTION: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

/// A verdict as the judge records it, with plausible measurements.
fn verdict(kind: VerdictKind, rng: &mut impl Rng) -> Verdict {
    let total = 3;
    let passed = if kind == VerdictKind::Accepted {
        total
    } else {
        rng.random_range(0..total)
    };
    let runtime_ms = rng.random_range(20..400);
    let memory_kb = rng.random_range(9_000..40_000);
    let tests = (0..total)
        .map(|index| domain::submission::TestOutcome {
            index,
            hidden: index > 0,
            verdict: if index < passed {
                VerdictKind::Accepted
            } else {
                kind
            },
            runtime_ms,
            memory_kb,
        })
        .collect();
    Verdict {
        kind,
        passed,
        total,
        runtime_ms,
        memory_kb,
        tests,
        failed_example: None,
        message: None,
    }
}

fn random_kind(rng: &mut impl Rng) -> VerdictKind {
    match rng.random_range(0..100) {
        0..45 => VerdictKind::Accepted,
        45..75 => VerdictKind::WrongAnswer,
        75..85 => VerdictKind::RuntimeError,
        85..92 => VerdictKind::TimeLimitExceeded,
        92..96 => VerdictKind::CompileError,
        _ => VerdictKind::MemoryLimitExceeded,
    }
}

/// The admin, the problems and a first few users every bench starts from.
struct World {
    commands: Commands,
    slugs: Vec<String>,
}

impl World {
    async fn set_up(commands: Commands, problems: usize) -> anyhow::Result<Self> {
        use domain::problem::Difficulty;
        let admin_id = commands
            .register(
                "bench-admin",
                "bench-admin@example.org",
                "bench admin password",
                Role::Admin,
            )
            .await?
            .value;
        let admin = Actor {
            user_id: admin_id,
            role: Role::Admin,
        };
        let mut slugs = Vec::new();
        for i in 0..problems {
            let slug = format!("two-sum-{i}");
            let difficulty = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard][i % 3];
            commands
                .create_problem(&admin, &slug, problem(&format!("Two Sum {i}"), difficulty))
                .await?;
            commands.publish_problem(&admin, &slug).await?;
            slugs.push(slug);
        }
        Ok(Self { commands, slugs })
    }

    async fn register(&self, name: &str) -> anyhow::Result<(Actor, Cursor)> {
        let done = self
            .commands
            .register(
                name,
                &format!("{name}@example.org"),
                "bench user password",
                Role::User,
            )
            .await?;
        Ok((
            Actor {
                user_id: done.value,
                role: Role::User,
            },
            done.cursor,
        ))
    }

    /// Registers `n` users, `concurrency` at a time (so SQLite can group
    /// commits); returns them and the cursor of the last.
    async fn register_many(
        self: &Arc<Self>,
        prefix: &str,
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<(Vec<Actor>, Cursor)> {
        let results: Vec<anyhow::Result<(Actor, Cursor)>> = futures::stream::iter(0..n)
            .map(|i| {
                let world = self.clone();
                let name = format!("{prefix}{i}");
                async move { world.register(&name).await }
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let mut users = Vec::with_capacity(n);
        let mut last = Cursor::START;
        for r in results {
            let (user, cursor) = r?;
            users.push(user);
            last = last.max(cursor);
        }
        Ok((users, last))
    }

    /// A submission and its verdict; the cursor of the verdict.
    async fn solve(
        &self,
        user: &Actor,
        slug: &str,
        kind: VerdictKind,
    ) -> anyhow::Result<(Cursor, u64)> {
        let id = self.commands.submit(user, slug, SOLUTION).await?.value;
        let v = verdict(kind, &mut rand::rng());
        let appended_at = unix_nanos();
        let done = self.commands.record_verdict(id, v, None).await?;
        Ok((done.cursor, appended_at))
    }
}

/// What the lag bench appends, and how many events each command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Two reservations and the user's first event, in one append.
    Register,
    Submit,
    Verdict,
    Playground,
}

impl Op {
    fn events(self) -> f64 {
        match self {
            Op::Register => 3.0,
            Op::Submit | Op::Verdict | Op::Playground => 1.0,
        }
    }

    /// About what a busy hour looks like: mostly submissions and their
    /// verdicts, some sign-ups and playground runs.
    fn pick(rng: &mut impl Rng) -> Self {
        match rng.random_range(0..100) {
            0..4 => Op::Register,
            4..50 => Op::Submit,
            50..92 => Op::Verdict,
            _ => Op::Playground,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct LagSample {
    /// Issued to committed (the command's own latency).
    command: Duration,
    /// Committed to applied by every projection.
    lag: Duration,
    events: f64,
}

#[derive(Debug, Default)]
struct Pool {
    users: Vec<Actor>,
    submitted: VecDeque<SubmissionId>,
}

pub async fn lag(storage: StorageArgs, cfg: LagBench) -> anyhow::Result<()> {
    if cfg.rate <= 0.0 {
        bail!("--rate must be more than zero");
    }
    let (scratch, storage) = Scratch::create(&storage).await?;
    let backend = match storage.store {
        StoreBackend::Sqlite => format!("sqlite (durability {:?})", storage.sqlite_durability),
        StoreBackend::Postgres => "postgres (scratch database)".to_string(),
    };
    let result = run_lag(storage, &cfg, &backend).await;
    scratch.remove().await;
    result
}

async fn run_lag(storage: StorageArgs, cfg: &LagBench, backend: &str) -> anyhow::Result<()> {
    let app = crate::App::build(serve_args(storage, random_secret(), 256)).await?;
    let progress = app.progress();
    let commands = Commands::new(app.store(), Passwords::fast_for_tests());
    let world = Arc::new(World::set_up(commands, 6).await?);
    let (users, _) = world.register_many("warm", 50, 16).await?;
    let pool = Arc::new(Mutex::new(Pool {
        users,
        submitted: VecDeque::new(),
    }));
    let head = world.commands.store().head().await?;
    anyhow::ensure!(
        progress.wait_for(head, Duration::from_secs(60)).await,
        "the projections did not catch up with the set-up"
    );

    println!("pydojo bench lag: {}", command_line());
    println!(
        "store {backend}, target {} events/s for {} s; mix: 4% registrations (3 events), 46% submissions, 42% verdicts, 8% playground runs",
        cfg.rate, cfg.seconds
    );
    let samples = Arc::new(Mutex::new(Vec::<LagSample>::new()));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(cfg.seconds);
    let mut next = started;
    let mut scheduled = 0.0;
    let mut n = 0usize;
    let mut max_in_flight = 0usize;
    while next < end {
        tokio::time::sleep_until(next).await;
        while tasks.try_join_next().is_some() {}
        max_in_flight = max_in_flight.max(tasks.len());
        let (op, job) = {
            let mut rng = rand::rng();
            let mut pool = pool.lock().expect("never poisoned");
            let mut op = Op::pick(&mut rng);
            if op == Op::Verdict && pool.submitted.is_empty() {
                op = Op::Submit;
            }
            let user = pool.users[rng.random_range(0..pool.users.len())];
            let slug = world.slugs[rng.random_range(0..world.slugs.len())].clone();
            let submission =
                (op == Op::Verdict).then(|| pool.submitted.pop_front().expect("not empty"));
            let kind = random_kind(&mut rng);
            let v = verdict(kind, &mut rng);
            let playground = domain::playground::PlaygroundEvent::PlaygroundRunCompleted {
                user_id: user.user_id,
                code_bytes: rng.random_range(20..2000),
                stdin_bytes: 0,
                exit_code: Some(0),
                signal: None,
                cpu_ms: rng.random_range(10..200),
                wall_ms: rng.random_range(20..300),
                memory_kb: rng.random_range(9_000..30_000),
                limit_hit: None,
                at: chrono::Utc::now(),
            };
            (op, (user, slug, submission, v, playground))
        };
        n += 1;
        let (world, pool, progress, samples, failures) = (
            world.clone(),
            pool.clone(),
            progress.clone(),
            samples.clone(),
            failures.clone(),
        );
        tasks.spawn(async move {
            let (user, slug, submission, v, playground) = job;
            let issued = Instant::now();
            let appended: anyhow::Result<Cursor> = async {
                Ok(match op {
                    Op::Register => {
                        let (actor, cursor) = world.register(&format!("user{n}")).await?;
                        pool.lock().expect("never poisoned").users.push(actor);
                        cursor
                    }
                    Op::Submit => {
                        let done = world.commands.submit(&user, &slug, SOLUTION).await?;
                        pool.lock()
                            .expect("never poisoned")
                            .submitted
                            .push_back(done.value);
                        done.cursor
                    }
                    Op::Verdict => {
                        let id = submission.expect("a verdict has its submission");
                        world.commands.record_verdict(id, v, None).await?.cursor
                    }
                    Op::Playground => {
                        world
                            .commands
                            .record_playground_run(&user, playground)
                            .await?
                            .cursor
                    }
                })
            }
            .await;
            let cursor = match appended {
                Ok(cursor) => cursor,
                Err(e) => {
                    tracing::warn!(error = %e, ?op, "a bench command failed");
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
            };
            let committed = Instant::now();
            if !progress.wait_for(cursor, Duration::from_secs(60)).await {
                tracing::warn!(%cursor, "not applied within 60 s");
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            samples.lock().expect("never poisoned").push(LagSample {
                command: committed - issued,
                lag: committed.elapsed(),
                events: op.events(),
            });
        });
        scheduled += op.events();
        next += Duration::from_secs_f64(op.events() / cfg.rate);
    }
    let issuing = started.elapsed();
    while tasks.join_next().await.is_some() {}
    let total = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().expect("never poisoned"));
    let events: f64 = samples.iter().map(|s| s.events).sum();
    println!(
        "issued {n} commands ({scheduled:.0} events) in {:.1} s; all applied after {:.1} s: {:.0} events/s achieved; at most {max_in_flight} commands in flight; {} failed",
        issuing.as_secs_f64(),
        total.as_secs_f64(),
        events / total.as_secs_f64(),
        failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "projection lag (append committed -> applied by every projection): {}",
        summary(samples.iter().map(|s| ms(s.lag)).collect())
    );
    println!(
        "command latency (issued -> committed):                           {}",
        summary(samples.iter().map(|s| ms(s.command)).collect())
    );
    println!(
        "issued -> applied:                                               {}",
        summary(samples.iter().map(|s| ms(s.command + s.lag)).collect())
    );
    Ok(())
}

/// The subscription each fan-out client holds.
fn leaderboard_query(with_me: bool) -> String {
    let me = if with_me { " me { rank score }" } else { "" };
    format!(
        "subscription {{ leaderboardChanged(first: 10) {{ reason position leaderboard {{ rank username score }}{me} }} }}"
    )
}

pub async fn fanout(storage: StorageArgs, cfg: FanoutBench) -> anyhow::Result<()> {
    let (scratch, storage) = Scratch::create(&storage).await?;
    let result = run_fanout(storage, &cfg, &scratch.dir).await;
    scratch.remove().await;
    result
}

async fn run_fanout(storage: StorageArgs, cfg: &FanoutBench, dir: &Path) -> anyhow::Result<()> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("cannot raise RLIMIT_NOFILE")?;
    let secret = random_secret();
    let keys = graphql::auth::Keys::new(
        &graphql::auth::Secret::new(secret.expose().as_bytes().to_vec())
            .map_err(anyhow::Error::msg)?,
        Duration::from_secs(24 * 3600),
    );
    let app = crate::App::build(serve_args(storage, secret, cfg.live_capacity)).await?;
    let addr = app.addr();
    let progress = app.progress();
    let commands = Commands::new(app.store(), Passwords::fast_for_tests());
    let world = Arc::new(World::set_up(commands, 3).await?);
    println!("pydojo bench fanout: {}", command_line());
    println!(
        "{} subscribers (graphql-transport-ws, one user each), {} updates, live capacity {}, open-file limit {limit}",
        cfg.subscribers, cfg.updates, cfg.live_capacity
    );

    // A full top 10 already, so each update carries a realistic board.
    let (solvers, _) = world.register_many("solver", 15, 8).await?;
    for (i, solver) in solvers.iter().enumerate() {
        for slug in world.slugs.iter().take(1 + i % 3) {
            world.solve(solver, slug, VerdictKind::Accepted).await?;
        }
    }
    let started = Instant::now();
    let (subscribers, last) = world
        .register_many("sub", cfg.subscribers, 32)
        .await
        .context("cannot register the subscribers")?;
    anyhow::ensure!(
        progress.wait_for(last, Duration::from_secs(300)).await,
        "the projections did not catch up with the registrations"
    );
    eprintln!(
        "  registered {} subscribers in {:.1} s",
        subscribers.len(),
        started.elapsed().as_secs_f64()
    );
    let tokens_path = dir.join("tokens");
    let tokens: Vec<String> = subscribers
        .iter()
        .map(|u| keys.issue(u.user_id, 0).0)
        .collect();
    std::fs::write(&tokens_path, tokens.join("\n")).context("cannot write the tokens")?;
    drop(tokens);

    // Let the set-up's garbage settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kb();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "fanout-clients", "--url"])
        .arg(format!("ws://{addr}/ws"))
        .arg("--tokens")
        .arg(&tokens_path)
        .arg("--connect-concurrency")
        .arg(cfg.connect_concurrency.to_string())
        .args(cfg.with_me.then_some("--with-me"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the client process")?;
    let mut to_child = child.stdin.take().expect("piped");
    let mut from_child = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let connecting = Instant::now();
    let ready = loop {
        let line = from_child
            .next_line()
            .await?
            .context("the client process ended before it was ready")?;
        if let Some(rest) = line.strip_prefix("ready ") {
            break rest.to_string();
        }
    };
    let connected: usize = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("connected="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!(
        "clients: {ready} (connecting and subscribing took {:.1} s)",
        connecting.elapsed().as_secs_f64()
    );
    if connected == 0 {
        bail!("no client connected");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = rss_kb();
    let per_connection = (idle.saturating_sub(before)) as f64 * 1024.0 / connected as f64;
    println!(
        "server RSS: {:.1} MiB before the clients, {:.1} MiB with {connected} idle subscribers: {:.1} KiB per idle connection",
        before as f64 / 1024.0,
        idle as f64 / 1024.0,
        per_connection / 1024.0
    );

    let mut sent = Vec::new();
    for k in 1..=cfg.updates {
        let (user, _) = world.register(&format!("mover{k}")).await?;
        let slug = &world.slugs[k % world.slugs.len()];
        let (_, appended_at) = world.solve(&user, slug, VerdictKind::Accepted).await?;
        sent.push(appended_at);
        let deadline = Duration::from_secs(60);
        let heard = tokio::time::timeout(deadline, async {
            while let Some(line) = from_child.next_line().await? {
                if line == format!("got {k}") {
                    return Ok(true);
                }
            }
            anyhow::Ok(false)
        })
        .await;
        match heard {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => bail!("the client process ended during update {k}"),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                println!("update {k} did not reach every subscriber within 60 s; stopping");
                break;
            }
        }
        // A quiet moment between updates, as between real solves.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = rss_kb();
    to_child.write_all(b"report\n").await?;
    to_child.flush().await?;
    let mut latencies = Vec::new();
    let mut per_update = Vec::new();
    let mut client_note = String::new();
    while let Some(line) = from_child.next_line().await? {
        if line == "end" {
            break;
        }
        if let Some(rest) = line.strip_prefix("times ") {
            let mut words = rest.split_whitespace();
            let k: usize = words.next().and_then(|k| k.parse().ok()).unwrap_or(0);
            let Some(&t0) = k.checked_sub(1).and_then(|i| sent.get(i)) else {
                continue;
            };
            let mut these: Vec<f64> = words
                .filter_map(|w| w.parse::<u64>().ok())
                .map(|t| t.saturating_sub(t0) as f64 / 1e6)
                .collect();
            these.sort_by(f64::total_cmp);
            per_update.push((
                k,
                these.len(),
                percentile(&these, 0.5),
                percentile(&these, 0.99),
            ));
            latencies.extend(these);
        } else if let Some(rest) = line.strip_prefix("clients ") {
            client_note = rest.to_string();
        }
    }
    drop(to_child);
    let _ = child.wait().await;
    for (k, n, p50, p99) in &per_update {
        eprintln!("  update {k}: {n} deliveries, p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
    println!("clients: {client_note}");
    println!(
        "delivery latency (verdict appended -> client has the update), {} updates x {connected} subscribers: {}",
        per_update.len(),
        summary(latencies)
    );
    println!(
        "server RSS after the updates: {:.1} MiB ({:.1} KiB per connection over the baseline)",
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / connected as f64
    );
    Ok(())
}

/// `pydojo bench fanout-clients`: the subscribers, in their own process.
#[derive(Debug, Clone)]
pub struct FanoutClients {
    pub url: String,
    pub tokens: PathBuf,
    pub connect_concurrency: usize,
    pub with_me: bool,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Receipt times (unix ns) of each update, by its order of arrival.
#[derive(Debug, Default)]
struct Receipts {
    by_update: Vec<Vec<u64>>,
    resyncs: usize,
}

/// Opens a connection, authenticates and subscribes; returns once the
/// INITIAL board is in.
async fn subscribe(url: &str, token: &str, query: &str) -> anyhow::Result<Socket> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    // Small read buffers, as the server's: the clients share the machine.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    expect(&mut socket, "connection_ack").await?;
    let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket.send(Message::Text(start.to_string().into())).await?;
    let first = expect(&mut socket, "next").await?;
    anyhow::ensure!(
        first["payload"]["data"]["leaderboardChanged"]["reason"] == "INITIAL",
        "unexpected first update: {first}"
    );
    Ok(socket)
}

use tokio_tungstenite::tungstenite::Message;

async fn expect(socket: &mut Socket, kind: &str) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
            .await
            .context("no answer within 120 s")?
            .context("the server closed the connection")??;
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text)?;
            if value["type"] == kind {
                return Ok(value);
            }
            if value["type"] != "ping" && value["type"] != "pong" {
                bail!("expected {kind}, got {value}");
            }
        }
    }
}

/// Reads updates until the server goes, noting when each arrived.
async fn listen(
    mut socket: Socket,
    receipts: Arc<Mutex<Receipts>>,
    delivered: Arc<tokio::sync::watch::Sender<u64>>,
) {
    let mut heard = 0;
    while let Some(Ok(message)) = socket.next().await {
        let at = unix_nanos();
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match value["type"].as_str() {
            Some("ping") => {
                let _ = socket
                    .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                    .await;
            }
            Some("next") => {
                let reason = &value["payload"]["data"]["leaderboardChanged"]["reason"];
                {
                    let mut r = receipts.lock().expect("never poisoned");
                    if r.by_update.len() <= heard {
                        r.by_update.resize_with(heard + 1, Vec::new);
                    }
                    r.by_update[heard].push(at);
                    if reason == "RESYNC" {
                        r.resyncs += 1;
                    }
                }
                heard += 1;
                delivered.send_modify(|n| *n += 1);
            }
            _ => {}
        }
    }
}

pub async fn fanout_clients(cfg: FanoutClients) -> anyhow::Result<()> {
    rlimit::increase_nofile_limit(u64::MAX).context("cannot raise RLIMIT_NOFILE")?;
    let tokens = std::fs::read_to_string(&cfg.tokens)
        .with_context(|| format!("cannot read {}", cfg.tokens.display()))?;
    let tokens: Vec<String> = tokens.lines().map(str::to_string).collect();
    let query = leaderboard_query(cfg.with_me);
    let baseline = rss_kb();
    let opened: Vec<anyhow::Result<Socket>> = futures::stream::iter(tokens)
        .map(|token| {
            let (url, query) = (cfg.url.clone(), query.clone());
            async move { subscribe(&url, &token, &query).await }
        })
        .buffer_unordered(cfg.connect_concurrency.max(1))
        .collect()
        .await;
    let receipts = Arc::new(Mutex::new(Receipts::default()));
    let delivered = Arc::new(tokio::sync::watch::channel(0u64).0);
    let (mut connected, mut failed) = (0, 0);
    let mut first_error = None;
    for socket in opened {
        match socket {
            Ok(socket) => {
                connected += 1;
                tokio::spawn(listen(socket, receipts.clone(), delivered.clone()));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = &first_error {
        eprintln!("  {failed} clients failed to subscribe; the first: {e:#}");
    }
    let client_kb = rss_kb().saturating_sub(baseline);
    let mut out = tokio::io::stdout();
    out.write_all(format!("ready connected={connected} failed={failed}\n").as_bytes())
        .await?;
    out.flush().await?;

    // Say when each update has reached every client.
    let announcer = {
        let receipts = receipts.clone();
        let mut changes = delivered.subscribe();
        tokio::spawn(async move {
            let mut next = 0;
            let mut out = tokio::io::stdout();
            while changes.changed().await.is_ok() {
                loop {
                    let complete = receipts
                        .lock()
                        .expect("never poisoned")
                        .by_update
                        .get(next)
                        .is_some_and(|r| r.len() >= connected);
                    if !complete {
                        break;
                    }
                    next += 1;
                    let _ = out.write_all(format!("got {next}\n").as_bytes()).await;
                    let _ = out.flush().await;
                }
            }
        })
    };

    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = commands.next_line().await? {
        if line == "report" {
            break;
        }
    }
    announcer.abort();
    let receipts = std::mem::take(&mut *receipts.lock().expect("never poisoned"));
    let mut report = String::new();
    for (i, times) in receipts.by_update.iter().enumerate() {
        report.push_str(&format!("times {}", i + 1));
        for t in times {
            report.push_str(&format!(" {t}"));
        }
        report.push('\n');
    }
    report.push_str(&format!(
        "clients {connected} connected, {failed} failed, {} resyncs, client process RSS grew {:.1} MiB ({:.1} KiB per connection)\n",
        receipts.resyncs,
        client_kb as f64 / 1024.0,
        client_kb as f64 / connected.max(1) as f64
    ));
    report.push_str("end\n");
    out.write_all(report.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}
