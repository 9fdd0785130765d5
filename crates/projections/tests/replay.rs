//! `replay`: a rebuilt projection equals the live one, row for row, on
//! SQLite and PostgreSQL; a swap while events keep coming and the live runner
//! keeps running loses nothing; a snapshot `--until` a position equals the
//! live models as they were then.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use domain::codec;
use domain::playground::PlaygroundEvent;
use domain::problem::{Checker, Difficulty, Limits, ProblemEvent, ProblemKind, ProblemSpec};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::user::{Role, UserEvent};
use domain::{Event, ProblemId, SubmissionId, UserId};
use projections::replay::{self, ReadLocation, Until};
use projections::{ReadDb, Runner};
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

fn t(d: i64, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 10, h, 0, 0).unwrap() + chrono::Duration::days(d)
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

/// Writes domain events into a real store.
#[derive(Clone)]
struct Log {
    store: SharedStore,
    admin: UserId,
}

impl Log {
    async fn append(&self, stream: &str, expected: ExpectedVersion, e: impl Into<Event>) {
        self.store
            .append(stream, expected, vec![new_event(e.into())])
            .await
            .unwrap();
    }

    async fn user(&self, name: &str) -> UserId {
        let id = UserId::new();
        let e = UserEvent::UserRegistered {
            user_id: id,
            username: format!("{name}-{}", &id.0.simple().to_string()[..8]),
            email: format!("{name}@example.org"),
            password_hash: "x".into(),
            role: Role::User,
            at: t(-30, 0),
        };
        self.append(&format!("user-{id}"), ExpectedVersion::NoStream, e)
            .await;
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
            at: t(-30, 0),
        };
        self.append(&stream, ExpectedVersion::NoStream, created)
            .await;
        let published = ProblemEvent::ProblemPublished {
            problem_id: id,
            version: 1,
            by: self.admin,
            at: t(-30, 0),
        };
        self.append(&stream, ExpectedVersion::Exact(1), published)
            .await;
        id
    }

    async fn submit(&self, user: UserId, problem: ProblemId, at: DateTime<Utc>) -> SubmissionId {
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
        self.append(&format!("submission-{id}"), ExpectedVersion::NoStream, e)
            .await;
        id
    }

    async fn judge(
        &self,
        id: SubmissionId,
        user: UserId,
        problem: ProblemId,
        kind: VerdictKind,
        n: u32,
    ) {
        let e = SubmissionEvent::SubmissionJudged {
            submission_id: id,
            user_id: user,
            problem_id: problem,
            problem_slug: format!("p-{}", problem.0.simple()),
            problem_version: 1,
            verdict: Verdict {
                kind,
                passed: 1,
                total: 1,
                runtime_ms: 10 + n % 7,
                memory_kb: 1000 + u64::from(n % 5),
                tests: vec![],
                failed_example: None,
                message: None,
            },
            at: Utc::now(),
            rejudge_id: None,
        };
        self.append(&format!("submission-{id}"), ExpectedVersion::Exact(1), e)
            .await;
    }

    async fn playground(&self, user: UserId, at: DateTime<Utc>, limit_hit: Option<&str>) {
        let e = PlaygroundEvent::PlaygroundRunCompleted {
            user_id: user,
            code_bytes: 10,
            stdin_bytes: 0,
            exit_code: Some(0),
            signal: None,
            cpu_ms: 30,
            wall_ms: 40,
            memory_kb: 9000,
            limit_hit: limit_hit.map(Into::into),
            at,
        };
        self.append(&domain::playground::stream(user), ExpectedVersion::Any, e)
            .await;
    }

    /// `n` rounds of varied activity by `users` on `problems`.
    async fn activity(&self, users: &[UserId], problems: &[ProblemId], n: u32) {
        let kinds = [
            VerdictKind::Accepted,
            VerdictKind::WrongAnswer,
            VerdictKind::TimeLimitExceeded,
            VerdictKind::Accepted,
            VerdictKind::InternalError,
        ];
        for i in 0..n {
            let (user, problem) = (
                users[i as usize % users.len()],
                problems[(i as usize / 2) % problems.len()],
            );
            let s = self.submit(user, problem, t(i as i64 % 5, i % 24)).await;
            if i % 6 != 5 {
                self.judge(s, user, problem, kinds[i as usize % kinds.len()], i)
                    .await;
            }
            if i % 4 == 0 {
                let limit = (i % 8 == 0).then_some("cpu");
                self.playground(user, t(i as i64 % 3, 1), limit).await;
            }
        }
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

    fn live(&self) -> ReadLocation {
        match self {
            Db::Sqlite(dir) => ReadLocation::Sqlite(dir.path().join("read.db")),
            Db::Postgres(url) => ReadLocation::Postgres(url.clone()),
        }
    }

    /// An empty read database of its own.
    async fn fresh(&self, name: &str) -> ReadDb {
        match self {
            Db::Sqlite(dir) => ReadDb::open_sqlite(&dir.path().join(format!("{name}.db")))
                .await
                .unwrap(),
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

type Dump = Vec<(String, Vec<Vec<String>>)>;

/// The projections this file's logs feed.
const FED: [&str; 8] = [
    "users",
    "problems",
    "submissions",
    "ranking",
    "leaderboard",
    "profiles",
    "problem_stats",
    "analytics",
];

/// Every row of every table the named projections own, sorted.
async fn dump(db: &ReadDb, names: &[&str]) -> Dump {
    let mut out = vec![];
    for p in projections::all()
        .iter()
        .filter(|p| names.is_empty() || names.contains(&p.name()))
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

async fn checkpoints(db: &ReadDb) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT name, tx, seq FROM projection_checkpoints ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// The whole log, through every projection, into an empty database.
async fn full_rebuild(db: &Db, store: &SharedStore) -> Dump {
    let fresh = db.fresh("rebuilt").await;
    let mut runner = Runner::new(fresh.clone(), store.clone(), projections::all(), 500)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    dump(&fresh, &[]).await
}

async fn a_log(db: &Db) -> (Log, Vec<UserId>, Vec<ProblemId>) {
    let log = Log {
        store: db.store().await,
        admin: UserId::new(),
    };
    let users = vec![
        log.user("ada").await,
        log.user("bob").await,
        log.user("cy").await,
    ];
    let problems = vec![
        log.problem(Difficulty::Easy).await,
        log.problem(Difficulty::Medium).await,
        log.problem(Difficulty::Hard).await,
    ];
    log.activity(&users, &problems, 40).await;
    (log, users, problems)
}

async fn replay_rebuilds_projections_equal_to_the_live_ones(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live_at = db.live();
    let live = live_at.open().await.unwrap();
    let mut runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 7)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    let expected = dump(&live, &[]).await;
    // This log feeds the eight projections below; others (forum, tutor,
    // rejudge runs) stay empty here.
    let fed: Vec<String> = dump(&live, &FED)
        .await
        .into_iter()
        .map(|(table, _)| table)
        .collect();
    let empty: Vec<&String> = expected
        .iter()
        .filter(|(table, rows)| fed.contains(table) && rows.is_empty())
        .map(|(table, _)| table)
        .collect();
    assert!(empty.is_empty(), "tables without rows: {empty:?}");

    // Damage the live rows, so only a real swap can bring them back.
    for table in ["leaderboard", "users", "analytics_days", "profile_stats"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&live.pool)
            .await
            .unwrap();
    }
    let all = replay::select(&[]).unwrap();
    let mut seen = 0;
    let done = replay::replay(&live_at, &log.store, &all, &mut |d, _| seen = d)
        .await
        .unwrap();
    let head = log.store.head().await.unwrap();
    assert_eq!((done.end, done.events, seen), (head, seen, seen));
    assert!(done.events > 50, "{done:?}");
    assert_eq!(dump(&live, &[]).await, expected, "a full replay differs");
    for (name, tx, seq) in checkpoints(&live).await {
        assert_eq!(
            store::Cursor {
                tx: tx as u64,
                seq: seq as u64
            },
            head,
            "{name}"
        );
    }

    // One projection alone: only its tables are replaced.
    sqlx::query("DELETE FROM leaderboard_solves")
        .execute(&live.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM profile_days")
        .execute(&live.pool)
        .await
        .unwrap();
    let one = replay::select(&["leaderboard".into()]).unwrap();
    replay::replay(&live_at, &log.store, &one, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        dump(&live, &["leaderboard"]).await,
        expected
            .iter()
            .filter(|(t, _)| t.starts_with("leaderboard"))
            .cloned()
            .collect::<Dump>(),
        "the replayed leaderboard differs"
    );
    let profile_days = dump(&live, &["profiles"]).await;
    assert!(
        profile_days
            .iter()
            .any(|(t, rows)| t == "profile_days" && rows.is_empty()),
        "a replay of the leaderboard touched profiles"
    );

    // The live runner carries on from the swapped checkpoints: nothing
    // applied twice, nothing missed.
    log.activity(&users, &problems, 12).await;
    runner.drain().await.unwrap();
    sqlx::query("DELETE FROM profile_days")
        .execute(&live.pool)
        .await
        .unwrap();
    replay::replay(
        &live_at,
        &log.store,
        &replay::select(&["profiles".into()]).unwrap(),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(dump(&live, &[]).await, full_rebuild(&db, &log.store).await);
}

async fn a_replay_while_events_keep_coming_loses_nothing(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live_at = db.live();
    let live = live_at.open().await.unwrap();
    let runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 5)
        .await
        .unwrap();
    let progress = runner.progress();
    let running = tokio::spawn(runner.run());
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn({
        let log = log.clone();
        let (users, problems) = (users.clone(), problems.clone());
        async move {
            let mut rounds = 0;
            while stop.try_recv().is_err() {
                log.activity(&users, &problems, 3).await;
                rounds += 1;
            }
            rounds
        }
    });
    // Replays of everything and of one projection, while both run.
    let all = replay::select(&[]).unwrap();
    let first = replay::replay(&live_at, &log.store, &all, &mut |_, _| {})
        .await
        .unwrap();
    let ranking = replay::select(&["ranking".into()]).unwrap();
    replay::replay(&live_at, &log.store, &ranking, &mut |_, _| {})
        .await
        .unwrap();
    stop_tx.send(()).unwrap();
    let rounds = writer.await.unwrap();
    assert!(rounds > 0, "the writer appended during the replays");
    let head = log.store.head().await.unwrap();
    assert!(
        head > first.end,
        "events were appended after the first swap"
    );
    assert!(progress.wait_for(head, Duration::from_secs(30)).await);
    running.abort();
    assert_eq!(
        dump(&live, &[]).await,
        full_rebuild(&db, &log.store).await,
        "live after swaps differs from a full rebuild"
    );
}

async fn a_snapshot_until_a_position_equals_the_live_models_then(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live = db.live().open().await.unwrap();
    let mut runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 9)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    let then = dump(&live, &[]).await;
    let position = log.store.head().await.unwrap();
    log.activity(&users, &problems, 10).await;

    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("then.db");
    let all = replay::select(&[]).unwrap();
    let built = replay::snapshot(
        &output,
        &log.store,
        &all,
        Until::Position(position),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(built.end, position);
    let snapshot = ReadDb::open_sqlite(&output).await.unwrap();
    assert_eq!(dump(&snapshot, &[]).await, then);
    snapshot.pool.close().await;

    // Never over an existing file.
    let again = replay::snapshot(
        &output,
        &log.store,
        &all,
        Until::Position(position),
        &mut |_, _| {},
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), "OUTPUT_EXISTS");
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
    replay_rebuilds_projections_equal_to_the_live_ones,
    a_replay_while_events_keep_coming_loses_nothing,
    a_snapshot_until_a_position_equals_the_live_models_then,
);
