//! `pydojo replay`: rebuild read models from the log and swap them in, or
//! build a snapshot of the past; and `pydojo bench replay`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use domain::Event;
use domain::playground::PlaygroundEvent;
use domain::problem::{Checker, Difficulty, Limits, ProblemEvent, ProblemKind, ProblemSpec};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::user::{Role, UserEvent};
use domain::{ProblemId, SubmissionId, UserId};
use projections::replay::{self, ReadLocation, Rebuilt, Until};
use store::{AppendRequest, ExpectedVersion, NewEvent, SharedStore};

use crate::config::{StorageArgs, StoreBackend};

/// `pydojo replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Rebuild only this projection (repeat for several). Default: all.
    #[arg(long = "projection", value_name = "NAME")]
    pub projections: Vec<String>,

    /// Build the read models as they stood at this log position (`tx:seq`)
    /// or time (RFC 3339) into --output, for inspection. Nothing live is
    /// touched: a live model never goes back in time.
    #[arg(long, value_name = "POSITION|TIMESTAMP", requires = "output")]
    pub until: Option<String>,

    /// The new SQLite file an --until snapshot is written to.
    #[arg(long, value_name = "PATH", requires = "until")]
    pub output: Option<PathBuf>,
}

/// Where `pydojo serve` keeps its read models, as [`crate::open_read_db`]
/// picks them.
pub fn read_location(storage: &StorageArgs) -> anyhow::Result<ReadLocation> {
    let url = storage.read_database_url.as_ref().or(match storage.store {
        StoreBackend::Postgres => storage.database_url.as_ref(),
        StoreBackend::Sqlite => None,
    });
    Ok(match url {
        Some(url) => ReadLocation::Postgres(url.expose().to_string()),
        None => {
            crate::ensure_data_dir(&storage.data_dir)?;
            ReadLocation::Sqlite(storage.data_dir.join("read.db"))
        }
    })
}

/// Replays, printing progress on stderr and the result on stdout. Errors
/// carry their code (`UNKNOWN_PROJECTION`, `BAD_UNTIL`, `LOG_UNREADABLE`...).
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let coded = |e: projections::Error| anyhow::anyhow!("{}: {e}", e.code());
    let projections = replay::select(&args.projections).map_err(coded)?;
    let names: Vec<_> = projections.iter().map(|p| p.name()).collect();
    let until = args
        .until
        .as_deref()
        .map(str::parse::<Until>)
        .transpose()
        .map_err(coded)?;
    let store = crate::open_store(&args.storage).await?;
    let mut bar = ProgressBar::new();
    let rebuilt = match (until, &args.output) {
        (Some(until), Some(output)) => {
            let r = replay::snapshot(output, &store, &projections, until, &mut |d, t| {
                bar.update(d, t)
            })
            .await
            .map_err(coded)?;
            bar.finish();
            println!(
                "built {} as of {} into {}: {} events, {:.0} events/s{}",
                names.join(", "),
                r.end,
                output.display(),
                r.events,
                r.events_per_second(),
                folded_note(&r)
            );
            r
        }
        _ => {
            let live = read_location(&args.storage)?;
            let r = replay::replay(&live, &store, &projections, &mut |d, t| bar.update(d, t))
                .await
                .map_err(coded)?;
            bar.finish();
            println!(
                "replayed {}: {} events, {:.0} events/s{}; swapped in at {} in {:.1} s ({} events appended meanwhile applied in the swap)",
                names.join(", "),
                r.events,
                r.events_per_second(),
                folded_note(&r),
                r.end,
                r.swapped_in.as_secs_f64(),
                r.caught_up
            );
            r
        }
    };
    tracing::info!(events = rebuilt.events, end = %rebuilt.end, "replay done");
    Ok(())
}

/// Which projections were folded in memory, when any were.
fn folded_note(r: &Rebuilt) -> String {
    if r.folded.is_empty() {
        String::new()
    } else {
        format!(" ({} folded in memory)", r.folded.join(", "))
    }
}

/// Events done / total and events/s on stderr: redrawn in place on a
/// terminal, a plain line a second otherwise.
#[derive(Debug)]
pub struct ProgressBar {
    started: Instant,
    last_draw: Option<Instant>,
    tty: bool,
    done: u64,
}

impl ProgressBar {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            last_draw: None,
            tty: std::io::stderr().is_terminal(),
            done: 0,
        }
    }

    pub fn update(&mut self, done: u64, total: u64) {
        self.done = done;
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        if self.last_draw.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let mut err = std::io::stderr().lock();
        if self.tty {
            const WIDTH: usize = 30;
            let filled = (done as f64 / total.max(1) as f64 * WIDTH as f64) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {done}/{total} events  {rate:.0} events/s ",
                "#".repeat(filled.min(WIDTH)),
                "-".repeat(WIDTH - filled.min(WIDTH))
            );
        } else {
            let _ = writeln!(err, "{done}/{total} events, {rate:.0} events/s");
        }
    }

    /// Ends the bar with the whole job's time: after a replay, the writes
    /// and the swap too, which the rebuild's own rate leaves out.
    pub fn finish(&mut self) {
        let took = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = writeln!(err);
        }
        let _ = writeln!(
            err,
            "{} events in {took:.1} s in all ({:.0} events/s overall)",
            self.done,
            self.done as f64 / took.max(1e-9)
        );
    }
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

/// `pydojo bench replay`.
#[derive(Debug, Clone)]
pub struct ReplayBench {
    /// Events in the generated log.
    pub events: usize,
    /// Replays measured; the median is reported.
    pub runs: usize,
}

/// Writes a log of about `events` events (users, problems, submissions with
/// verdicts, playground runs over a year), then replays it through every
/// projection `runs` times into a shadow swapped into a fresh read model.
pub async fn bench(store: SharedStore, live: ReadLocation, cfg: ReplayBench) -> anyhow::Result<()> {
    println!(
        "pydojo bench replay: backend={} events={} runs={}",
        store.backend(),
        cfg.events,
        cfg.runs
    );
    let started = Instant::now();
    let written = generate(&store, cfg.events).await?;
    println!(
        "wrote {written} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let all = projections::all();
    let mut rates = Vec::new();
    for run in 1..=cfg.runs.max(1) {
        let mut bar = ProgressBar::new();
        let r: Rebuilt = replay::replay(&live, &store, &all, &mut |d, t| bar.update(d, t))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
        bar.finish();
        eprintln!(
            "  run {run}: {} events through {} projections in {:.1} s: {:.0} events/s{}; swapped in in {:.1} s",
            r.events,
            all.len(),
            r.elapsed.as_secs_f64(),
            r.events_per_second(),
            folded_note(&r),
            r.swapped_in.as_secs_f64()
        );
        rates.push(r.events_per_second());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "replay of {written} events through all {} projections: median {:.0} events/s  [{}]",
        all.len(),
        rates[rates.len() / 2],
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn new_event(e: Event) -> NewEvent {
    let enc = domain::codec::encode(&e);
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: enc.event_type.into(),
        schema_version: enc.schema_version,
        data: enc.data,
        metadata: serde_json::json!({}),
    }
}

fn spec(difficulty: Difficulty) -> ProblemSpec {
    ProblemSpec {
        title: "A bench problem".into(),
        statement: "Solve it.".into(),
        difficulty,
        tags: vec!["bench".into()],
        kind: ProblemKind::StdIo,
        template: String::new(),
        examples: vec![],
        hidden_tests: vec![],
        limits: Limits::default(),
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

/// A deterministic mix: 2,000 users, 60 problems, then submissions (created
/// and judged: about half accepted), every tenth step a playground run, and
/// rejudges of 1% of the submissions (accepted and wrong swapped), spread
/// over a year.
async fn generate(store: &SharedStore, events: usize) -> anyhow::Result<usize> {
    const USERS: usize = 2000;
    const PROBLEMS: usize = 60;
    let start: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().expect("a time");
    let admin = UserId::new();
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::new()).collect();
    let problems: Vec<(ProblemId, Difficulty)> = (0..PROBLEMS)
        .map(|i| {
            let d = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard][i % 3];
            (ProblemId::new(), d)
        })
        .collect();
    let mut written = 0;
    let append = async |requests: Vec<AppendRequest>| -> anyhow::Result<usize> {
        let n = requests.iter().map(|r| r.events.len()).sum::<usize>();
        store
            .append_many(requests)
            .await
            .context("cannot write the bench log")?;
        Ok(n)
    };
    for chunk in users.chunks(500) {
        let requests = chunk
            .iter()
            .map(|&user_id| AppendRequest {
                stream: format!("user-{user_id}"),
                expected: ExpectedVersion::NoStream,
                events: vec![new_event(
                    UserEvent::UserRegistered {
                        user_id,
                        username: format!("u{}", user_id.0.simple()),
                        email: format!("{}@example.org", user_id.0.simple()),
                        password_hash: "x".into(),
                        role: Role::User,
                        at: start,
                    }
                    .into(),
                )],
            })
            .collect();
        written += append(requests).await?;
    }
    let requests = problems
        .iter()
        .map(|&(problem_id, difficulty)| AppendRequest {
            stream: format!("problem-{problem_id}"),
            expected: ExpectedVersion::NoStream,
            events: vec![
                new_event(
                    ProblemEvent::ProblemCreated {
                        problem_id,
                        slug: format!("p-{}", problem_id.0.simple()),
                        spec: spec(difficulty),
                        version: 1,
                        by: admin,
                        at: start,
                    }
                    .into(),
                ),
                new_event(
                    ProblemEvent::ProblemPublished {
                        problem_id,
                        version: 1,
                        by: admin,
                        at: start,
                    }
                    .into(),
                ),
            ],
        })
        .collect();
    written += append(requests).await?;
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::Accepted,
        VerdictKind::TimeLimitExceeded,
        VerdictKind::Accepted,
        VerdictKind::RuntimeError,
    ];
    let mut step = 0usize;
    // Submissions of the previous append, some of which the next rejudges.
    let mut judged: Vec<(SubmissionId, UserId, ProblemId, VerdictKind)> = Vec::new();
    while written < events {
        // One append: up to 400 submissions (two events each), up to 50
        // playground runs of distinct users, and rejudges (a request and a
        // verdict, accepted and wrong swapped) of 1% of the previous
        // append's submissions.
        let mut requests = Vec::new();
        let mut playground_users = std::collections::HashSet::new();
        for (i, &(submission_id, user_id, problem_id, previous)) in
            judged.iter().step_by(100).enumerate()
        {
            if written + requests.len() * 2 + 2 > events {
                break;
            }
            let slug = format!("p-{}", problem_id.0.simple());
            let rejudge_id = domain::RejudgeId::new();
            let kind = if previous == VerdictKind::Accepted {
                VerdictKind::WrongAnswer
            } else {
                VerdictKind::Accepted
            };
            let at = start + TimeDelta::seconds((step as i64 * 31) % (365 * 86_400));
            requests.push(AppendRequest {
                stream: format!("submission-{submission_id}"),
                expected: ExpectedVersion::Exact(2),
                events: vec![
                    new_event(
                        SubmissionEvent::SubmissionRejudgeRequested {
                            submission_id,
                            user_id,
                            problem_id,
                            problem_slug: slug.clone(),
                            rejudge_id,
                            problem_version: 1,
                            previous_verdict: previous,
                            at,
                        }
                        .into(),
                    ),
                    new_event(
                        SubmissionEvent::SubmissionJudged {
                            submission_id,
                            user_id,
                            problem_id,
                            problem_slug: slug,
                            problem_version: 1,
                            verdict: bench_verdict(
                                kind,
                                25 + (i % 300) as u32,
                                8100 + (i % 4000) as u64,
                            ),
                            at: at + TimeDelta::seconds(2),
                            rejudge_id: Some(rejudge_id),
                        }
                        .into(),
                    ),
                ],
            });
        }
        judged.clear();
        while requests.len() < 450 && written + requests.len() * 2 < events {
            step += 1;
            let user_id = users[step.wrapping_mul(7919) % USERS];
            let at = start + TimeDelta::seconds((step as i64 * 31) % (365 * 86_400));
            if step.is_multiple_of(10) {
                if playground_users.insert(user_id) {
                    requests.push(AppendRequest {
                        stream: domain::playground::stream(user_id),
                        expected: ExpectedVersion::Any,
                        events: vec![new_event(
                            PlaygroundEvent::PlaygroundRunCompleted {
                                user_id,
                                code_bytes: 120,
                                stdin_bytes: 0,
                                exit_code: Some(0),
                                signal: None,
                                cpu_ms: (step % 200) as u32,
                                wall_ms: (step % 250) as u32,
                                memory_kb: 9000 + (step % 500) as u64,
                                limit_hit: step.is_multiple_of(70).then(|| "cpu".into()),
                                at,
                            }
                            .into(),
                        )],
                    });
                }
                continue;
            }
            let (problem_id, _) = problems[(step * 31) % PROBLEMS];
            let submission_id = SubmissionId::new();
            let slug = format!("p-{}", problem_id.0.simple());
            let kind = kinds[step % kinds.len()];
            judged.push((submission_id, user_id, problem_id, kind));
            requests.push(AppendRequest {
                stream: format!("submission-{submission_id}"),
                expected: ExpectedVersion::NoStream,
                events: vec![
                    new_event(
                        SubmissionEvent::SubmissionCreated {
                            submission_id,
                            user_id,
                            problem_id,
                            problem_slug: slug.clone(),
                            problem_version: 1,
                            language: "python3".into(),
                            code: "print(sum(map(int, input().split())))".into(),
                            at,
                        }
                        .into(),
                    ),
                    new_event(
                        SubmissionEvent::SubmissionJudged {
                            submission_id,
                            user_id,
                            problem_id,
                            problem_slug: slug,
                            problem_version: 1,
                            verdict: bench_verdict(
                                kind,
                                20 + (step % 300) as u32,
                                8000 + (step % 4000) as u64,
                            ),
                            at: at + TimeDelta::seconds(2),
                            rejudge_id: None,
                        }
                        .into(),
                    ),
                ],
            });
        }
        if requests.is_empty() {
            break;
        }
        written += append(requests).await?;
    }
    Ok(written)
}

/// A verdict of the bench's five-test problems.
fn bench_verdict(kind: VerdictKind, runtime_ms: u32, memory_kb: u64) -> Verdict {
    Verdict {
        kind,
        passed: u32::from(kind == VerdictKind::Accepted) * 5,
        total: 5,
        runtime_ms,
        memory_kb,
        tests: vec![],
        failed_example: None,
        message: None,
    }
}
