//! Checks a projection's [`Fold`](crate::Fold) against its batch path: from
//! empty tables, folding any prefix of a log and writing it must leave the
//! rows that applying that prefix in batches leaves, written in primary-key
//! order; and a verdict for a submission the log never created must fail
//! both the same way.

use chrono::{TimeZone, Utc};
use domain::problem::{Checker, Difficulty, Limits, ProblemEvent, ProblemKind, ProblemSpec};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::{Event, ProblemId, RejudgeId, SubmissionId, UserId};
use sqlx::{AnyConnection, Column, Row};
use store::Cursor;
use uuid::Uuid;

use crate::{Envelope, Error, Projection, ReadDb};

/// A fixed pseudo-random sequence, so that a failing history can be had
/// again.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    /// One of `items`.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A deterministic log with every case the folds must get right:
/// rejudges (back and forth), rejudge requests, difficulty edits, a
/// problem that is solved but never created, an edit of one never
/// created, events delivered twice, submissions made at the same time,
/// and submissions over several UTC days.
pub(crate) fn history(n: usize) -> Vec<Envelope> {
    let mut rng = Rng::new(11);
    let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
    let problems: Vec<ProblemId> = (0..5).map(|_| ProblemId::new()).collect();
    let difficulties = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::Accepted,
        VerdictKind::InternalError,
        VerdictKind::TimeLimitExceeded,
    ];
    let spec = |difficulty| ProblemSpec {
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
        hints: vec![],
    };
    let start = Utc.with_ymd_and_hms(2024, 3, 10, 22, 0, 0).unwrap();
    let mut events: Vec<Event> = (0..3)
        .map(|i| {
            ProblemEvent::ProblemCreated {
                problem_id: problems[i],
                slug: format!("p{i}"),
                spec: spec(difficulties[i]),
                version: 1,
                by: users[0],
                at: start,
            }
            .into()
        })
        .collect();
    let mut subs: Vec<(SubmissionId, UserId, usize)> = vec![];
    while events.len() < n {
        let roll = rng.below(20);
        if subs.is_empty() || roll < 6 {
            let (user, p) = (rng.pick(&users), rng.below(4) as usize);
            let id = SubmissionId::new();
            subs.push((id, user, p));
            events.push(
                SubmissionEvent::SubmissionCreated {
                    submission_id: id,
                    user_id: user,
                    problem_id: problems[p],
                    problem_slug: format!("p{p}"),
                    problem_version: 1,
                    language: "python".into(),
                    code: String::new(),
                    at: start + chrono::Duration::minutes(90 * rng.below(40) as i64),
                }
                .into(),
            );
        } else if roll < 15 {
            let (id, user, p) = subs[rng.below(subs.len() as u64) as usize];
            let kind = rng.pick(&kinds);
            let verdict = Verdict {
                kind,
                passed: 1,
                total: 1,
                runtime_ms: 10 + rng.below(5) as u32,
                memory_kb: 1000 + rng.below(3),
                tests: vec![],
                failed_example: None,
                message: None,
            };
            events.push(if rng.below(4) == 0 {
                SubmissionEvent::SubmissionRejudgeRequested {
                    submission_id: id,
                    user_id: user,
                    problem_id: problems[p],
                    problem_slug: format!("p{p}"),
                    rejudge_id: RejudgeId::new(),
                    problem_version: 1,
                    previous_verdict: kind,
                    at: start,
                }
                .into()
            } else {
                SubmissionEvent::SubmissionJudged {
                    submission_id: id,
                    user_id: user,
                    problem_id: problems[p],
                    problem_slug: format!("p{p}"),
                    problem_version: 1,
                    verdict,
                    at: start,
                    rejudge_id: None,
                }
                .into()
            });
        } else if roll < 18 {
            let again = events[rng.below(events.len() as u64) as usize].clone();
            events.push(again);
        } else {
            let p = rng.pick(&[0, 1, 4]);
            events.push(
                ProblemEvent::ProblemEdited {
                    problem_id: problems[p],
                    spec: spec(rng.pick(&difficulties)),
                    version: 2,
                    by: users[0],
                    at: start,
                }
                .into(),
            );
        }
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            cursor: Cursor {
                tx: 1 + i as u64 / 3,
                seq: i as u64 % 3,
            },
            stream: String::new(),
            recorded_at: start,
            event,
        })
        .collect()
}

/// Submissions of a few users on a few problems, with ids in no
/// particular order and times, runtimes and memory peaks that often tie;
/// verdicts, rejudge requests and rejudges (back and forth between
/// accepted and not), and creations delivered again.
pub(crate) fn tied_history(seed: u64, len: usize) -> Vec<Envelope> {
    let mut rng = Rng::new(seed);
    let users: Vec<UserId> = (1..=4).map(|i| UserId(Uuid::from_u128(i << 64))).collect();
    let problems: Vec<ProblemId> = (1..=3)
        .map(|i| ProblemId(Uuid::from_u128(i << 100)))
        .collect();
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::InternalError,
        VerdictKind::TimeLimitExceeded,
        VerdictKind::CompileError,
    ];
    let second = |s: u64| Utc.timestamp_opt(1_700_000_000 + s as i64, 0).unwrap();
    let mut created: Vec<SubmissionEvent> = vec![];
    let mut log: Vec<Envelope> = vec![];
    while log.len() < len {
        let roll = rng.below(10);
        let event = if created.is_empty() || roll < 3 {
            let event = SubmissionEvent::SubmissionCreated {
                submission_id: SubmissionId(Uuid::from_u128(
                    ((rng.below(1 << 30) as u128) << 90) | created.len() as u128,
                )),
                user_id: rng.pick(&users),
                problem_id: rng.pick(&problems),
                problem_slug: "p".into(),
                problem_version: 1,
                language: "python3".into(),
                code: String::new(),
                at: second(rng.below(4)),
            };
            created.push(event.clone());
            event
        } else {
            let SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_id,
                at,
                ..
            } = created[rng.below(created.len() as u64) as usize].clone()
            else {
                unreachable!("only creations are kept")
            };
            match roll {
                3 => created[rng.below(created.len() as u64) as usize].clone(),
                4 => SubmissionEvent::SubmissionRejudgeRequested {
                    submission_id,
                    user_id,
                    problem_id,
                    problem_slug: "p".into(),
                    rejudge_id: RejudgeId(Uuid::from_u128(7)),
                    problem_version: 1,
                    previous_verdict: VerdictKind::Accepted,
                    at,
                },
                _ => SubmissionEvent::SubmissionJudged {
                    submission_id,
                    user_id,
                    problem_id,
                    problem_slug: "p".into(),
                    problem_version: 1,
                    verdict: Verdict {
                        kind: rng.pick(&kinds),
                        passed: 0,
                        total: 0,
                        runtime_ms: 10 + rng.below(3) as u32,
                        memory_kb: 100 + rng.below(3),
                        tests: vec![],
                        failed_example: None,
                        message: None,
                    },
                    at,
                    rejudge_id: None,
                },
            }
        };
        log.push(Envelope {
            // Strictly increasing, as the log's are, with seq varying.
            cursor: Cursor {
                tx: log.len() as u64 + 1,
                seq: rng.below(3),
            },
            stream: "s".into(),
            recorded_at: second(0),
            event: Event::Submission(event),
        });
    }
    log
}

/// Every row of each of `tables`, sorted, as `column=value` text.
async fn dump(conn: &mut AnyConnection, tables: &[&str]) -> Vec<(String, Vec<Vec<String>>)> {
    let mut out = vec![];
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let mut rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| {
                        let value = match row.try_get::<Option<i64>, _>(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(_) => format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap()),
                        };
                        format!("{}={value}", column.name())
                    })
                    .collect()
            })
            .collect();
        rows.sort();
        out.push((table.to_string(), rows));
    }
    out
}

async fn empty(conn: &mut AnyConnection, tables: &[&str]) {
    for table in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// Rows of `table` out of primary-key order by rowid, i.e. not inserted in
/// it.
async fn out_of_order(conn: &mut AnyConnection, table: &str) -> i64 {
    let key: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
    )))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(!key.is_empty(), "{table} has a primary key");
    let (a, b): (Vec<String>, Vec<String>) = key
        .iter()
        .map(|c| (format!("a.{c}"), format!("b.{c}")))
        .unzip();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} a JOIN {table} b ON b.rowid = a.rowid + 1 \
         WHERE ({}) < ({})",
        b.join(", "),
        a.join(", ")
    )))
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Applies `log` in uneven batches, some delivered again from somewhere
/// before (delivery is at least once).
async fn apply_in_batches(
    conn: &mut AnyConnection,
    projection: &dyn Projection,
    log: &[Envelope],
    rng: &mut Rng,
) -> Result<(), Error> {
    let mut done = 0;
    while done < log.len() {
        let end = log.len().min(done + 1 + rng.below(60) as usize);
        projection.apply_batch(conn, &log[done..end]).await?;
        if rng.below(4) == 0 {
            let from = rng.below(end as u64 + 1) as usize;
            projection.apply_batch(conn, &log[from..end]).await?;
        }
        done = end;
    }
    Ok(())
}

/// Folds `log` in uneven pieces, then writes the fold.
async fn fold_and_write(
    conn: &mut AnyConnection,
    projection: &dyn Projection,
    log: &[Envelope],
    rng: &mut Rng,
) -> Result<(), Error> {
    let mut fold = projection.fold().expect("a fold");
    let mut done = 0;
    while done < log.len() {
        let end = log.len().min(done + 1 + rng.below(60) as usize);
        fold.fold(&log[done..end])?;
        done = end;
    }
    // A rebuild budgets by this: these histories make at most a row an event.
    assert!(fold.rows() <= log.len(), "{} rows held", fold.rows());
    fold.write(conn).await
}

/// For prefixes of `log`: applied in batches and folded then written, from
/// empty tables, they leave the same rows, the whole log some in every
/// table; and the fold writes each table in its primary key's order.
pub(crate) async fn fold_equals_batches(projection: &dyn Projection, log: &[Envelope]) {
    let tables = projection.tables();
    let mut rng = Rng::new(log.len() as u64);
    let mut ends: Vec<usize> = [0, 1, 2, 7, 40]
        .into_iter()
        .chain((0..log.len()).step_by(97))
        .chain([rng.below(log.len() as u64 + 1) as usize, log.len()])
        .filter(|end| *end <= log.len())
        .collect();
    ends.sort();
    ends.dedup();
    let (batched, folded) = (
        ReadDb::open_memory().await.unwrap(),
        ReadDb::open_memory().await.unwrap(),
    );
    let (mut batched, mut folded) = (
        batched.pool.acquire().await.unwrap(),
        folded.pool.acquire().await.unwrap(),
    );
    for end in ends {
        let prefix = &log[..end];
        empty(&mut batched, tables).await;
        apply_in_batches(&mut batched, projection, prefix, &mut rng)
            .await
            .unwrap();
        empty(&mut folded, tables).await;
        fold_and_write(&mut folded, projection, prefix, &mut rng)
            .await
            .unwrap();

        let want = dump(&mut batched, tables).await;
        if end == log.len() {
            for (table, rows) in &want {
                assert!(!rows.is_empty(), "{table} has rows");
            }
        }
        assert_eq!(dump(&mut folded, tables).await, want, "after {end} events");
        for table in tables {
            assert_eq!(
                out_of_order(&mut folded, table).await,
                0,
                "{table} in key order after {end} events"
            );
        }
    }
}

/// Without the creation of the submission `log`'s first verdict is for,
/// its batches and its fold fail alike.
pub(crate) async fn fold_fails_like_batches(projection: &dyn Projection, log: &[Envelope]) {
    let stray = log
        .iter()
        .find_map(|e| match &e.event {
            Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) => {
                Some(*submission_id)
            }
            _ => None,
        })
        .expect("a verdict");
    let orphaned: Vec<Envelope> = log
        .iter()
        .filter(|e| {
            !matches!(
                &e.event,
                Event::Submission(SubmissionEvent::SubmissionCreated { submission_id, .. })
                    if *submission_id == stray
            )
        })
        .cloned()
        .collect();
    let db = ReadDb::open_memory().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let mut rng = Rng::new(orphaned.len() as u64);
    let batched = apply_in_batches(&mut conn, projection, &orphaned, &mut rng).await;
    empty(&mut conn, projection.tables()).await;
    let folded = fold_and_write(&mut conn, projection, &orphaned, &mut rng).await;
    assert!(
        matches!(
            (&batched, &folded),
            (Err(Error::Corrupt(a)), Err(Error::Corrupt(b))) if a == b
        ),
        "{batched:?} {folded:?}"
    );
}
