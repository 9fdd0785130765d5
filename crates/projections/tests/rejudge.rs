//! Rejudges: a later verdict for a submission replaces the earlier one in
//! every read model; re-applying the log changes nothing; a rebuild, big
//! batches and event-by-event application all give the same tables. Also:
//! deactivated users are not listed on the leaderboard and rankings. On
//! SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::codec;
use domain::playground::PlaygroundEvent;
use domain::problem::{Checker, Difficulty, Limits, ProblemEvent, ProblemKind, ProblemSpec};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::user::{Role, UserEvent};
use domain::{Event, ProblemId, RejudgeId, SubmissionId, UserId};
use projections::replay::{self, Until};
use projections::{
    ReadDb, Runner, analytics, leaderboard, problem_stats, profiles, queries, ranking,
};
use sqlx::{Column, Row};
use store::{ExpectedVersion, NewEvent, SharedStore};

fn new_event(e: Event) -> NewEvent {
    let enc = codec::encode(&e);
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: enc.event_type.into(),
        schema_version: enc.schema_version,
        data: enc.data,
        metadata: serde_json::json!({}),
    }
}

/// 2024-03-10 at `h:m` UTC, plus `d` days.
fn t(d: i64, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 10, h, m, 0).unwrap() + chrono::Duration::days(d)
}

fn date(d: i64) -> NaiveDate {
    t(d, 0, 0).date_naive()
}

fn spec(difficulty: Difficulty) -> ProblemSpec {
    ProblemSpec {
        title: "A problem".into(),
        statement: "Solve it.".into(),
        difficulty,
        tags: vec![],
        kind: ProblemKind::StdIo,
        template: String::new(),
        examples: vec![],
        hidden_tests: vec![],
        limits: Limits::default(),
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Sub {
    id: SubmissionId,
    user: UserId,
    problem: ProblemId,
}

/// Writes domain events into a real store, stream by stream.
struct Log {
    store: SharedStore,
    admin: UserId,
    /// Each submission's latest verdict, which a rejudge request names.
    verdicts: Mutex<HashMap<SubmissionId, VerdictKind>>,
}

impl Log {
    async fn append(&self, stream: &str, e: impl Into<Event>) {
        self.store
            .append(stream, ExpectedVersion::Any, vec![new_event(e.into())])
            .await
            .unwrap();
    }

    async fn user(&self, name: &str) -> UserId {
        let id = UserId::new();
        let e = UserEvent::UserRegistered {
            user_id: id,
            username: format!("{name}-{}", &id.0.simple().to_string()[..8]),
            email: format!("{name}-{}@example.org", id.0.simple()),
            password_hash: "x".into(),
            role: Role::User,
            at: t(-30, 0, 0),
        };
        self.append(&format!("user-{id}"), e).await;
        id
    }

    async fn problem(&self, difficulty: Difficulty) -> ProblemId {
        let id = ProblemId::new();
        let stream = format!("problem-{id}");
        let created = ProblemEvent::ProblemCreated {
            problem_id: id,
            slug: format!("p-{}", id.0.simple()),
            spec: spec(difficulty),
            version: 1,
            by: self.admin,
            at: t(-30, 0, 0),
        };
        self.append(&stream, created).await;
        let published = ProblemEvent::ProblemPublished {
            problem_id: id,
            version: 1,
            by: self.admin,
            at: t(-30, 0, 0),
        };
        self.append(&stream, published).await;
        id
    }

    async fn edit(&self, problem: ProblemId, difficulty: Difficulty, version: u32) {
        let e = ProblemEvent::ProblemEdited {
            problem_id: problem,
            spec: spec(difficulty),
            version,
            by: self.admin,
            at: t(0, 0, 0),
        };
        self.append(&format!("problem-{problem}"), e).await;
    }

    async fn submit(&self, user: UserId, problem: ProblemId, at: DateTime<Utc>) -> Sub {
        let id = SubmissionId::new();
        let e = SubmissionEvent::SubmissionCreated {
            submission_id: id,
            user_id: user,
            problem_id: problem,
            problem_slug: format!("p-{}", problem.0.simple()),
            problem_version: 1,
            language: "python3".into(),
            code: "print(1)".into(),
            at,
        };
        self.append(&format!("submission-{id}"), e).await;
        Sub { id, user, problem }
    }

    fn verdict(
        s: &Sub,
        kind: VerdictKind,
        ms: u32,
        kb: u64,
        rejudge: Option<(RejudgeId, u32)>,
    ) -> SubmissionEvent {
        SubmissionEvent::SubmissionJudged {
            submission_id: s.id,
            user_id: s.user,
            problem_id: s.problem,
            problem_slug: format!("p-{}", s.problem.0.simple()),
            problem_version: rejudge.map_or(1, |(_, v)| v),
            verdict: Verdict {
                kind,
                passed: u32::from(kind == VerdictKind::Accepted),
                total: 1,
                runtime_ms: ms,
                memory_kb: kb,
                tests: vec![],
                failed_example: None,
                message: None,
            },
            at: t(40, 0, 0),
            rejudge_id: rejudge.map(|(id, _)| id),
        }
    }

    async fn judge(&self, s: &Sub, kind: VerdictKind, ms: u32, kb: u64) {
        self.verdicts.lock().unwrap().insert(s.id, kind);
        self.append(
            &format!("submission-{}", s.id),
            Self::verdict(s, kind, ms, kb, None),
        )
        .await;
    }

    async fn solve(&self, user: UserId, problem: ProblemId, at: DateTime<Utc>, ms: u32) -> Sub {
        let s = self.submit(user, problem, at).await;
        self.judge(&s, VerdictKind::Accepted, ms, 1000).await;
        s
    }

    /// An admin's rejudge against problem version 2, and its verdict.
    async fn rejudge(&self, s: &Sub, kind: VerdictKind, ms: u32, kb: u64) {
        let rejudge_id = RejudgeId::new();
        let stream = format!("submission-{}", s.id);
        let requested = SubmissionEvent::SubmissionRejudgeRequested {
            submission_id: s.id,
            user_id: s.user,
            problem_id: s.problem,
            problem_slug: format!("p-{}", s.problem.0.simple()),
            rejudge_id,
            problem_version: 2,
            previous_verdict: self.verdicts.lock().unwrap()[&s.id],
            at: t(41, 0, 0),
        };
        self.verdicts.lock().unwrap().insert(s.id, kind);
        self.append(&stream, requested).await;
        self.append(
            &stream,
            Self::verdict(s, kind, ms, kb, Some((rejudge_id, 2))),
        )
        .await;
    }

    async fn playground(&self, user: UserId, at: DateTime<Utc>) {
        let e = PlaygroundEvent::PlaygroundRunCompleted {
            user_id: user,
            code_bytes: 10,
            stdin_bytes: 0,
            exit_code: Some(0),
            signal: None,
            cpu_ms: 30,
            wall_ms: 40,
            memory_kb: 9000,
            limit_hit: None,
            at,
        };
        self.append(&domain::playground::stream(user), e).await;
    }
}

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    async fn store(&self) -> SharedStore {
        match self {
            Db::Sqlite(dir) => Arc::new(
                store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
                    .await
                    .unwrap(),
            ),
            Db::Postgres(url) => Arc::new(
                store::PostgresStore::connect(url, Default::default())
                    .await
                    .unwrap(),
            ),
        }
    }

    /// A read database: "live" shares the log's database on PostgreSQL;
    /// any other name is a fresh file or database.
    async fn read(&self, name: &str) -> ReadDb {
        match self {
            Db::Sqlite(dir) => ReadDb::open_sqlite(&dir.path().join(format!("{name}.db")))
                .await
                .unwrap(),
            Db::Postgres(url) if name == "live" => ReadDb::connect_postgres(url, 4).await.unwrap(),
            Db::Postgres(_) => {
                let other = store::testing::postgres_test_database().await.unwrap();
                ReadDb::connect_postgres(&other, 4).await.unwrap()
            }
        }
    }
}

async fn sqlite() -> Db {
    Db::Sqlite(tempfile::tempdir().unwrap())
}

async fn postgres() -> Option<Db> {
    store::testing::postgres_test_database()
        .await
        .map(Db::Postgres)
}

/// A log and its live read models, applied event by event (batches of one).
async fn setup(db: &Db) -> (Log, ReadDb, Runner) {
    let store = db.store().await;
    let read = db.read("live").await;
    let runner = Runner::new(read.clone(), store.clone(), projections::all(), 1)
        .await
        .unwrap();
    let log = Log {
        store,
        admin: UserId::new(),
        verdicts: Mutex::default(),
    };
    (log, read, runner)
}

async fn ranked(read: &ReadDb, p: ProblemId) -> Vec<(UserId, SubmissionId, i64)> {
    ranking::problem_ranking(read, p, 50, None)
        .await
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .map(|e| (e.user_id, e.submission_id, e.runtime_ms))
        .collect()
}

async fn score(read: &ReadDb, user: UserId) -> Option<(i64, i64, DateTime<Utc>)> {
    leaderboard::standing(read, user)
        .await
        .unwrap()
        .map(|s| (s.score, s.solved, s.reached_at))
}

async fn an_accepted_submission_rejudged_wrong_leaves_the_ranking_and_the_score(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let p = log.problem(Difficulty::Medium).await;
    let q = log.problem(Difficulty::Easy).await;
    let (ada, bob) = (log.user("ada").await, log.user("bob").await);
    let ada_p = log.solve(ada, p, t(0, 9, 0), 10).await;
    let ada_q = log.solve(ada, q, t(1, 9, 0), 10).await;
    // bob's best is his first run; his second, slower one is accepted too.
    let bob_best = log.solve(bob, p, t(0, 8, 0), 20).await;
    let bob_next = log.solve(bob, p, t(2, 8, 0), 30).await;
    runner.drain().await.unwrap();

    assert_eq!(
        ranked(&read, p).await,
        vec![(ada, ada_p.id, 10), (bob, bob_best.id, 20)]
    );
    assert_eq!(score(&read, ada).await, Some((3, 2, t(1, 9, 0))));
    assert_eq!(score(&read, bob).await, Some((2, 1, t(0, 8, 0))));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!((c.judged, c.accepted, c.solvers), (3, 3, 2));
    let day0 = profiles::activity(&read, ada, date(0), date(0))
        .await
        .unwrap();
    assert_eq!((day0[0].submissions, day0[0].accepted), (1, 1));

    log.rejudge(&ada_p, VerdictKind::WrongAnswer, 10, 1000)
        .await;
    log.rejudge(&bob_best, VerdictKind::TimeLimitExceeded, 2000, 1000)
        .await;
    runner.drain().await.unwrap();

    // ada leaves p's ranking; bob's next accepted run ranks instead.
    assert_eq!(ranked(&read, p).await, vec![(bob, bob_next.id, 30)]);
    let (runtimes, memory) = ranking::distributions(&read, p).await.unwrap();
    assert_eq!((runtimes.count(), runtimes.min()), (1, Some(30)));
    assert_eq!(memory.count(), 1);
    assert!(!ranking::is_best(&read, p, bob_best.id).await.unwrap());
    // ada keeps only the easy problem; bob keeps p, reached with his next run.
    assert_eq!(score(&read, ada).await, Some((1, 1, t(1, 9, 0))));
    assert_eq!(score(&read, bob).await, Some((2, 1, t(2, 8, 0))));
    assert!(
        leaderboard::is_solve(&read, bob, p, bob_next.id)
            .await
            .unwrap()
    );
    let board: Vec<UserId> = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(board, vec![bob, ada], "bob (2) is now ahead of ada (1)");
    // Attempts stay; acceptance follows the current verdicts.
    let stats = profiles::stats(&read, ada).await.unwrap();
    assert_eq!((stats.submissions, stats.judged, stats.accepted), (2, 2, 1));
    let day0 = profiles::activity(&read, ada, date(0), date(0))
        .await
        .unwrap();
    assert_eq!((day0[0].submissions, day0[0].accepted), (1, 0));
    let streaks = profiles::streaks(&read, ada, date(1)).await.unwrap();
    assert_eq!((streaks.current, streaks.longest), (1, 1));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!(
        (c.submissions, c.judged, c.accepted, c.attempters, c.solvers),
        (3, 3, 1, 2, 1)
    );
    assert_eq!(
        c.verdicts,
        vec![
            (VerdictKind::Accepted, 1),
            (VerdictKind::TimeLimitExceeded, 1),
            (VerdictKind::WrongAnswer, 1),
        ]
    );
    let days = analytics::days(&read, date(0), date(0)).await.unwrap();
    assert_eq!(
        (days[0].submissions, days[0].judged, days[0].accepted),
        (2, 2, 0)
    );
    assert_eq!(
        analytics::verdict_mix(&read, date(0), date(0))
            .await
            .unwrap(),
        vec![
            (VerdictKind::TimeLimitExceeded, 1),
            (VerdictKind::WrongAnswer, 1)
        ]
    );
    let view = queries::submission_by_id(&read, ada_p.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.verdict.unwrap().kind, VerdictKind::WrongAnswer);
    assert_eq!((view.problem_version, view.judged_version), (1, Some(2)));

    // ada's last solve taken back: she leaves the board.
    log.rejudge(&ada_q, VerdictKind::RuntimeError, 10, 1000)
        .await;
    runner.drain().await.unwrap();
    assert_eq!(score(&read, ada).await, None);
    assert!(ranked(&read, q).await.is_empty());
    assert_eq!(problem_stats::counts(&read, q).await.unwrap().solvers, 0);
}

async fn a_wrong_submission_rejudged_accepted_enters_the_ranking_and_the_score(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let p = log.problem(Difficulty::Hard).await;
    let (ada, cy) = (log.user("ada").await, log.user("cy").await);
    log.solve(ada, p, t(0, 9, 0), 20).await;
    let wrong = log.submit(cy, p, t(0, 8, 0)).await;
    log.judge(&wrong, VerdictKind::WrongAnswer, 5, 500).await;
    runner.drain().await.unwrap();
    assert_eq!(score(&read, cy).await, None);
    assert_eq!(
        ranking::percentiles(&read, p, 20, 1000)
            .await
            .unwrap()
            .unwrap()
            .runtime,
        0.0
    );

    log.rejudge(&wrong, VerdictKind::Accepted, 5, 500).await;
    runner.drain().await.unwrap();
    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![cy, ada]);
    assert_eq!(score(&read, cy).await, Some((3, 1, t(0, 8, 0))));
    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(board.entries[0].user_id, cy, "same score, reached first");
    let stats = profiles::stats(&read, cy).await.unwrap();
    assert_eq!((stats.judged, stats.accepted), (1, 1));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!((c.judged, c.accepted, c.solvers), (2, 2, 2));
    assert_eq!(c.verdicts, vec![(VerdictKind::Accepted, 2)]);
    // The 20 ms run is now slower than nothing, the 5 ms one faster than half.
    let at_5 = ranking::percentiles(&read, p, 5, 500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_5.runtime, 50.0);
    let s = profiles::streaks(&read, cy, date(0)).await.unwrap();
    assert_eq!(s.current, 1);
}

async fn deactivated_users_leave_the_leaderboard_and_rankings_until_reactivated(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let p = log.problem(Difficulty::Easy).await;
    let (ada, bob) = (log.user("ada").await, log.user("bob").await);
    log.solve(ada, p, t(0, 9, 0), 10).await;
    log.solve(bob, p, t(0, 10, 0), 20).await;
    let deactivated = UserEvent::UserDeactivated {
        user_id: ada,
        by: log.admin,
        reason: "spam".into(),
        session_epoch: 1,
        at: t(1, 0, 0),
    };
    log.append(&format!("user-{ada}"), deactivated).await;
    runner.drain().await.unwrap();

    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![bob]);
    let page = ranking::problem_ranking(&read, p, 10, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.entries[0].rank, 1, "ranks skip the deactivated");
    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    let ranks: Vec<_> = board.entries.iter().map(|e| (e.user_id, e.rank)).collect();
    assert_eq!(ranks, vec![(bob, 1)]);
    assert_eq!(score(&read, ada).await, None);
    assert_eq!(
        leaderboard::standing(&read, bob)
            .await
            .unwrap()
            .unwrap()
            .rank,
        1
    );

    let reactivated = UserEvent::UserReactivated {
        user_id: ada,
        by: log.admin,
        at: t(2, 0, 0),
    };
    log.append(&format!("user-{ada}"), reactivated).await;
    runner.drain().await.unwrap();
    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![ada, bob]);
    assert_eq!(
        leaderboard::standing(&read, bob)
            .await
            .unwrap()
            .unwrap()
            .rank,
        2
    );
}

/// Every row of every table the given read models own, sorted.
async fn dump(db: &ReadDb) -> Vec<(String, Vec<Vec<String>>)> {
    let mine = [
        "users",
        "problems",
        "submissions",
        "ranking",
        "leaderboard",
        "profiles",
        "problem_stats",
        "analytics",
    ];
    let mut out = vec![];
    for p in projections::all()
        .into_iter()
        .filter(|p| mine.contains(&p.name()))
    {
        for table in p.tables() {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(&db.pool)
                .await
                .unwrap();
            let mut rows: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    (0..row.columns().len())
                        .map(|i| {
                            let name = row.columns()[i].name().to_string();
                            let value = match row.try_get::<Option<i64>, _>(i) {
                                Ok(v) => format!("{v:?}"),
                                Err(_) => {
                                    format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap())
                                }
                            };
                            format!("{name}={value}")
                        })
                        .collect()
                })
                .collect();
            rows.sort();
            out.push((table.to_string(), rows));
        }
    }
    out
}

/// A pseudo-random but fixed history: submissions judged, rejudged (some
/// twice, some back and forth), difficulty edits, playground runs.
async fn a_history_with_rejudges(log: &Log, runner: &mut Runner) {
    let problems = [
        log.problem(Difficulty::Easy).await,
        log.problem(Difficulty::Medium).await,
        log.problem(Difficulty::Hard).await,
    ];
    let mut users = vec![];
    for name in ["ada", "bob", "cy", "dee", "eve"] {
        users.push(log.user(name).await);
    }
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::Accepted,
        VerdictKind::InternalError,
        VerdictKind::TimeLimitExceeded,
        VerdictKind::Accepted,
    ];
    let mut subs = vec![];
    let mut x: u64 = 7;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    for i in 0..60u32 {
        let user = users[next(users.len() as u64) as usize];
        let problem = problems[next(3) as usize];
        let s = log
            .submit(
                user,
                problem,
                t(next(4) as i64, 8 + next(10) as u32, i % 60),
            )
            .await;
        if next(6) > 0 {
            let kind = kinds[next(kinds.len() as u64) as usize];
            log.judge(&s, kind, 10 + next(5) as u32, 1000 + next(3))
                .await;
            subs.push(s);
        }
        if i % 9 == 0 {
            log.playground(user, t(next(4) as i64, 7, 0)).await;
        }
        if i == 25 {
            log.edit(problems[0], Difficulty::Hard, 2).await;
        }
        if i % 20 == 10 {
            runner.drain().await.unwrap();
        }
    }
    for round in 0..3 {
        for (j, s) in subs.iter().enumerate() {
            if next(3) == 0 {
                let kind = kinds[(j + round) % kinds.len()];
                log.rejudge(s, kind, 10 + next(5) as u32, 1000 + next(3))
                    .await;
            }
        }
        runner.drain().await.unwrap();
    }
    log.edit(problems[0], Difficulty::Medium, 3).await;
}

/// Event by event (the live runner here applies batches of one), in big
/// batches, through a replay, and with the whole log applied again over the
/// same rows: the same tables every time.
async fn replay_and_batches_equal_event_by_event_after_rejudges(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    a_history_with_rejudges(&log, &mut runner).await;
    runner.drain().await.unwrap();
    let live = dump(&read).await;
    for (table, rows) in &live {
        assert!(!rows.is_empty(), "{table} has rows");
    }

    let batched = db.read("batched").await;
    let mut big = Runner::new(
        batched.clone(),
        log.store.clone(),
        projections::all(),
        10_000,
    )
    .await
    .unwrap();
    big.drain().await.unwrap();
    assert_eq!(
        dump(&batched).await,
        live,
        "one big batch differs from event by event"
    );

    let rebuilt = db.read("rebuilt").await;
    replay::rebuild(
        &rebuilt,
        &log.store,
        &projections::all(),
        Until::End,
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        dump(&rebuilt).await,
        live,
        "a replay differs from the live models"
    );

    // The whole log again, over the same rows, in batches of 4.
    sqlx::query("UPDATE projection_checkpoints SET tx = 0, seq = 0")
        .execute(&read.pool)
        .await
        .unwrap();
    let mut again = Runner::new(read.clone(), log.store.clone(), projections::all(), 4)
        .await
        .unwrap();
    assert!(again.drain().await.unwrap() > 0);
    assert_eq!(
        dump(&read).await,
        live,
        "re-applying the log changed the read models"
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::postgres().await else { return };
                    super::$name(db).await;
                }
            )*
        }
    };
}

on_both!(
    an_accepted_submission_rejudged_wrong_leaves_the_ranking_and_the_score,
    a_wrong_submission_rejudged_accepted_enters_the_ranking_and_the_score,
    replay_and_batches_equal_event_by_event_after_rejudges,
    deactivated_users_leave_the_leaderboard_and_rankings_until_reactivated,
);
