#![allow(dead_code)]
//! Fixtures shared by the projection tests: a SQLite or PostgreSQL backend
//! (`Db`), a `Log` that writes domain events into its event store, live read
//! models kept up by a runner, and sorted dumps of read tables, so a replay,
//! a rebuild or a re-application can be compared with the live rows. Each
//! test file uses only some of them, hence the `allow` above.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::codec;
use domain::playground::PlaygroundEvent;
use domain::problem::{Checker, Difficulty, Limits, ProblemEvent, ProblemKind, ProblemSpec};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::user::{Role, UserEvent};
use domain::{Event, ProblemId, RejudgeId, SubmissionId, UserId};
use projections::replay::ReadLocation;
use projections::{Projection, ReadDb, Runner};
use sqlx::{Column, Row};
use store::{ExpectedVersion, NewEvent, SharedStore};

pub fn new_event(e: impl Into<Event>) -> NewEvent {
    let enc = codec::encode(&e.into());
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: enc.event_type.into(),
        schema_version: enc.schema_version,
        data: enc.data,
        metadata: serde_json::json!({}),
    }
}

/// 2024-03-10 at `h:m` UTC, plus `d` days.
pub fn t(d: i64, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 10, h, m, 0).unwrap() + chrono::Duration::days(d)
}

pub fn date(d: i64) -> NaiveDate {
    t(d, 0, 0).date_naive()
}

pub fn spec(difficulty: Difficulty) -> ProblemSpec {
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

/// Where a test keeps its event log and read databases.
pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    pub async fn store(&self) -> SharedStore {
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
    pub async fn read(&self, name: &str) -> ReadDb {
        match self {
            Db::Sqlite(dir) => ReadDb::open_sqlite(&Self::sqlite_read(dir, name))
                .await
                .unwrap(),
            Db::Postgres(url) if name == "live" => ReadDb::connect_postgres(url, 4).await.unwrap(),
            Db::Postgres(_) => {
                let other = store::testing::postgres_test_database().await.unwrap();
                ReadDb::connect_postgres(&other, 4).await.unwrap()
            }
        }
    }

    /// Where `read("live")` is, for a replay to swap into.
    pub fn live(&self) -> ReadLocation {
        match self {
            Db::Sqlite(dir) => ReadLocation::Sqlite(Self::sqlite_read(dir, "live")),
            Db::Postgres(url) => ReadLocation::Postgres(url.clone()),
        }
    }

    fn sqlite_read(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
        dir.path().join(format!("{name}.db"))
    }
}

pub async fn sqlite() -> Db {
    Db::Sqlite(tempfile::tempdir().unwrap())
}

/// `None` (with the reason printed) without PYDOJO_TEST_DATABASE_URL;
/// under CI=true that is a failure, never a skip.
pub async fn postgres() -> Option<Db> {
    store::testing::postgres_test_database()
        .await
        .map(Db::Postgres)
}

/// Runs each named `async fn(Db)` as a test on both backends:
/// `sqlite_backend::<name>` and `postgres_backend::<name>`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::sqlite().await).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::postgres().await else { return };
                    super::$name(db).await;
                }
            )*
        }
    };
}
pub(crate) use on_both;

#[derive(Debug, Clone, Copy)]
pub struct Sub {
    pub id: SubmissionId,
    pub user: UserId,
    pub problem: ProblemId,
}

/// Writes domain events into a real store, stream by stream, each at the
/// stream version it expects.
#[derive(Clone)]
pub struct Log {
    pub store: SharedStore,
    pub admin: UserId,
    /// Each submission's latest verdict, which a rejudge request names.
    verdicts: Arc<Mutex<HashMap<SubmissionId, VerdictKind>>>,
}

impl Log {
    pub fn new(store: SharedStore) -> Self {
        Log {
            store,
            admin: UserId::new(),
            verdicts: Arc::default(),
        }
    }

    pub async fn append(&self, stream: &str, expected: ExpectedVersion, e: impl Into<Event>) {
        self.store
            .append(stream, expected, vec![new_event(e)])
            .await
            .unwrap();
    }

    pub async fn user(&self, name: &str) -> UserId {
        let id = UserId::new();
        let e = UserEvent::UserRegistered {
            user_id: id,
            username: name.into(),
            email: format!("{name}@example.org"),
            password_hash: "x".into(),
            role: Role::User,
            at: t(-30, 0, 0),
        };
        self.append(&format!("user-{id}"), ExpectedVersion::NoStream, e)
            .await;
        id
    }

    /// Registers each name, in order.
    pub async fn users<const N: usize>(&self, names: [&str; N]) -> [UserId; N] {
        let mut ids = Vec::with_capacity(N);
        for name in names {
            ids.push(self.user(name).await);
        }
        ids.try_into().unwrap()
    }

    /// A problem created and published, at version 1.
    pub async fn problem(&self, difficulty: Difficulty) -> ProblemId {
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
        self.append(&stream, ExpectedVersion::NoStream, created)
            .await;
        let published = ProblemEvent::ProblemPublished {
            problem_id: id,
            version: 1,
            by: self.admin,
            at: t(-30, 0, 0),
        };
        self.append(&stream, ExpectedVersion::Exact(1), published)
            .await;
        id
    }

    /// The problem's `version` (2 for its first edit) with a new difficulty.
    /// Created, published and edited `version - 2` times before, its
    /// stream is at `version`.
    pub async fn edit(&self, problem: ProblemId, difficulty: Difficulty, version: u32) {
        let e = ProblemEvent::ProblemEdited {
            problem_id: problem,
            spec: spec(difficulty),
            version,
            by: self.admin,
            at: t(0, 0, 0),
        };
        let expected = ExpectedVersion::Exact(u64::from(version));
        self.append(&format!("problem-{problem}"), expected, e)
            .await;
    }

    pub async fn submit(&self, user: UserId, problem: ProblemId, at: DateTime<Utc>) -> Sub {
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

    /// The first verdict for a submission.
    pub async fn judge(&self, s: &Sub, kind: VerdictKind, ms: u32, kb: u64) {
        self.verdicts.lock().unwrap().insert(s.id, kind);
        self.append(
            &format!("submission-{}", s.id),
            ExpectedVersion::Exact(1),
            Self::verdict(s, kind, ms, kb, None),
        )
        .await;
    }

    /// Submitted at `at` and accepted.
    pub async fn solve(
        &self,
        user: UserId,
        problem: ProblemId,
        at: DateTime<Utc>,
        ms: u32,
        kb: u64,
    ) -> Sub {
        let s = self.submit(user, problem, at).await;
        self.judge(&s, VerdictKind::Accepted, ms, kb).await;
        s
    }

    /// An admin's rejudge against problem version 2, and its verdict.
    pub async fn rejudge(&self, s: &Sub, kind: VerdictKind, ms: u32, kb: u64) {
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
        self.append(&stream, ExpectedVersion::Any, requested).await;
        let judged = Self::verdict(s, kind, ms, kb, Some((rejudge_id, 2)));
        self.append(&stream, ExpectedVersion::Any, judged).await;
    }

    pub async fn playground(&self, user: UserId, at: DateTime<Utc>, limit_hit: Option<&str>) {
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
}

/// Live read models of `db`, kept up with its log by a runner of
/// `projections` that applies `batch` events at a time.
pub async fn live(
    db: &Db,
    projections: Vec<Box<dyn Projection>>,
    batch: usize,
) -> (SharedStore, ReadDb, Runner) {
    let store = db.store().await;
    let read = db.read("live").await;
    let runner = Runner::new(read.clone(), store.clone(), projections, batch)
        .await
        .unwrap();
    (store, read, runner)
}

/// A log and every projection's live read models, `batch` events at a time.
pub async fn setup(db: &Db, batch: usize) -> (Log, ReadDb, Runner) {
    let (store, read, runner) = live(db, projections::all(), batch).await;
    (Log::new(store), read, runner)
}

/// Sets every checkpoint back to the start and applies the whole log again
/// over the same rows, `batch` events at a time; returns how many events
/// were applied.
pub async fn reapply(
    read: &ReadDb,
    store: &SharedStore,
    projections: Vec<Box<dyn Projection>>,
    batch: usize,
) -> usize {
    sqlx::query("UPDATE projection_checkpoints SET tx = 0, seq = 0")
        .execute(&read.pool)
        .await
        .unwrap();
    let mut again = Runner::new(read.clone(), store.clone(), projections, batch)
        .await
        .unwrap();
    again.drain().await.unwrap()
}

/// The whole log applied into the fresh read database `name`, `batch`
/// events at a time.
pub async fn rebuild(
    db: &Db,
    name: &str,
    store: &SharedStore,
    projections: Vec<Box<dyn Projection>>,
    batch: usize,
) -> ReadDb {
    let fresh = db.read(name).await;
    let mut runner = Runner::new(fresh.clone(), store.clone(), projections, batch)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    fresh
}

pub async fn checkpoints(db: &ReadDb) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT name, tx, seq FROM projection_checkpoints ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

pub async fn assert_checkpoints_at(db: &ReadDb, head: store::Cursor) {
    for (name, tx, seq) in checkpoints(db).await {
        assert_eq!(
            store::Cursor {
                tx: tx as u64,
                seq: seq as u64
            },
            head,
            "the checkpoint of {name} is not at the head of the log"
        );
    }
}

pub type Dump = Vec<(String, Vec<Vec<String>>)>;

/// The projections a `Log` feeds; the others (forum, tutor, rejudge runs)
/// stay empty.
pub const FED: [&str; 8] = [
    "users",
    "problems",
    "submissions",
    "ranking",
    "leaderboard",
    "profiles",
    "problem_stats",
    "analytics",
];

/// Every row of every table the named projections own (all of them when
/// none is named), sorted.
pub async fn dump(db: &ReadDb, names: &[&str]) -> Dump {
    let tables: Vec<&str> = projections::all()
        .iter()
        .filter(|p| names.is_empty() || names.contains(&p.name()))
        .flat_map(|p| p.tables().iter().copied())
        .collect();
    dump_tables(db, &tables).await
}

/// Every row of the given tables as `column=value` strings, sorted.
pub async fn dump_tables(db: &ReadDb, tables: &[&str]) -> Dump {
    let mut out = vec![];
    for table in tables {
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
                            Err(_) => format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap()),
                        };
                        format!("{name}={value}")
                    })
                    .collect()
            })
            .collect();
        rows.sort();
        out.push((table.to_string(), rows));
    }
    out
}
