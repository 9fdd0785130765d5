//! `ranking`: per problem, each user's best accepted submission, ordered by
//! runtime, then memory, then submission time (then user id, so the order is
//! total); and the exact runtime and memory distributions of every accepted
//! submission, from which percentiles ("faster than 87% of accepted
//! submissions") and histograms are read.
//!
//! Owns `ranking_submissions`, `ranking_best`, `ranking_runtimes` and
//! `ranking_memory`. The submission time is the `SubmissionCreated` time, kept
//! in `ranking_submissions` until the verdict comes; that row's `judged` flag
//! (set when its accepted verdict is counted) makes the counters idempotent.

use chrono::{DateTime, Utc};
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::distribution::{Distribution, share_above};
use crate::queries::parse;
use crate::{Envelope, Projection, ReadDb, Result, already_counted, from_micros, micros};

#[derive(Debug)]
pub struct Ranking;

impl Projection for Ranking {
    fn name(&self) -> &'static str {
        "ranking"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "ranking_submissions",
            "ranking_best",
            "ranking_runtimes",
            "ranking_memory",
        ]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::Submission(event) = &envelope.event else {
                return Ok(());
            };
            match event {
                SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    problem_id,
                    at,
                    ..
                } => {
                    sqlx::query(
                        "INSERT INTO ranking_submissions (submission_id, problem_id, user_id, created_at, judged) \
                         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(user_id.to_string())
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    ..
                } => {
                    if verdict.kind != VerdictKind::Accepted {
                        return Ok(());
                    }
                    let Some(row) = sqlx::query(
                        "UPDATE ranking_submissions SET judged = 1 WHERE submission_id = $1 AND judged = 0 \
                         RETURNING problem_id, user_id, created_at",
                    )
                    .bind(submission_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
                    else {
                        return already_counted(
                            conn,
                            "SELECT submission_id FROM ranking_submissions WHERE submission_id = $1",
                            *submission_id,
                        )
                        .await;
                    };
                    let problem: String = row.try_get("problem_id")?;
                    let user: String = row.try_get("user_id")?;
                    let created_at: i64 = row.try_get("created_at")?;
                    let (runtime, memory) = (verdict.runtime_ms as i64, verdict.memory_kb as i64);
                    sqlx::query(
                        "INSERT INTO ranking_runtimes (problem_id, runtime_ms, accepted) VALUES ($1, $2, 1) \
                         ON CONFLICT (problem_id, runtime_ms) DO UPDATE SET accepted = ranking_runtimes.accepted + 1",
                    )
                    .bind(&problem)
                    .bind(runtime)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO ranking_memory (problem_id, memory_kb, accepted) VALUES ($1, $2, 1) \
                         ON CONFLICT (problem_id, memory_kb) DO UPDATE SET accepted = ranking_memory.accepted + 1",
                    )
                    .bind(&problem)
                    .bind(memory)
                    .execute(&mut *conn)
                    .await?;
                    // Replaced only by a strictly better submission, so the
                    // order verdicts arrive in does not matter.
                    sqlx::query(
                        "INSERT INTO ranking_best (problem_id, user_id, submission_id, runtime_ms, memory_kb, submitted_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (problem_id, user_id) DO UPDATE SET submission_id = excluded.submission_id, \
                         runtime_ms = excluded.runtime_ms, memory_kb = excluded.memory_kb, submitted_at = excluded.submitted_at \
                         WHERE excluded.runtime_ms < ranking_best.runtime_ms \
                            OR (excluded.runtime_ms = ranking_best.runtime_ms AND (excluded.memory_kb < ranking_best.memory_kb \
                            OR (excluded.memory_kb = ranking_best.memory_kb AND (excluded.submitted_at < ranking_best.submitted_at \
                            OR (excluded.submitted_at = ranking_best.submitted_at AND excluded.submission_id < ranking_best.submission_id)))))",
                    )
                    .bind(&problem)
                    .bind(&user)
                    .bind(submission_id.to_string())
                    .bind(runtime)
                    .bind(memory)
                    .bind(created_at)
                    .execute(conn)
                    .await?;
                }
            }
            Ok(())
        })
    }
}

/// One row of a problem's ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingEntry {
    /// 1-based position in the whole ranking, not just this page.
    pub rank: i64,
    pub user_id: UserId,
    pub username: String,
    pub submission_id: SubmissionId,
    pub runtime_ms: i64,
    pub memory_kb: i64,
    pub submitted_at: DateTime<Utc>,
    /// Pass as `after` to get the entries that follow this one.
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub has_next_page: bool,
}

/// Where a ranking page starts: the sort key of the last entry seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    runtime_ms: i64,
    memory_kb: i64,
    submitted_at: i64,
    user_id: String,
}

impl Key {
    fn encode(&self) -> String {
        format!(
            "r:{}:{}:{}:{}",
            self.runtime_ms, self.memory_kb, self.submitted_at, self.user_id
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("r:")?.splitn(4, ':');
        Some(Self {
            runtime_ms: it.next()?.parse().ok()?,
            memory_kb: it.next()?.parse().ok()?,
            submitted_at: it.next()?.parse().ok()?,
            user_id: it.next()?.parse::<UserId>().ok()?.to_string(),
        })
    }
}

/// A cursor this module did not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`after` is not a cursor from this list")]
pub struct BadCursor;

/// The problem's ranking from just after `after` (a cursor from an earlier
/// page), `first` entries at most.
pub async fn problem_ranking(
    db: &ReadDb,
    problem: ProblemId,
    first: i64,
    after: Option<&str>,
) -> Result<std::result::Result<Page<RankingEntry>, BadCursor>> {
    let key = match after.map(Key::decode) {
        Some(None) => return Ok(Err(BadCursor)),
        Some(Some(k)) => Some(k),
        None => None,
    };
    let (has, k) = match &key {
        Some(k) => (1i64, k.clone()),
        None => (
            0,
            Key {
                runtime_ms: 0,
                memory_kb: 0,
                submitted_at: 0,
                user_id: String::new(),
            },
        ),
    };
    // Rows strictly after the key in ranking order.
    const AFTER: &str = "($2 = 0 OR b.runtime_ms > $3 OR (b.runtime_ms = $3 AND (b.memory_kb > $4 \
         OR (b.memory_kb = $4 AND (b.submitted_at > $5 OR (b.submitted_at = $5 AND b.user_id > $6))))))";
    let ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM ranking_best b WHERE b.problem_id = $1 AND $2 = 1 AND NOT {AFTER}"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT b.user_id, COALESCE(u.username, '') AS username, b.submission_id, b.runtime_ms, b.memory_kb, b.submitted_at \
         FROM ranking_best b LEFT JOIN users u ON u.user_id = b.user_id \
         WHERE b.problem_id = $1 AND {AFTER} \
         ORDER BY b.runtime_ms, b.memory_kb, b.submitted_at, b.user_id LIMIT $7"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .bind(first + 1)
    .fetch_all(&db.pool)
    .await?;
    let has_next_page = rows.len() as i64 > first;
    let entries = rows
        .iter()
        .take(first as usize)
        .enumerate()
        .map(|(i, row)| {
            let user_id: String = row.try_get("user_id")?;
            let key = Key {
                runtime_ms: row.try_get("runtime_ms")?,
                memory_kb: row.try_get("memory_kb")?,
                submitted_at: row.try_get("submitted_at")?,
                user_id: user_id.clone(),
            };
            Ok(RankingEntry {
                rank: ahead + i as i64 + 1,
                user_id: parse("user_id", &user_id)?,
                username: row.try_get("username")?,
                submission_id: parse("submission_id", &row.try_get::<String, _>("submission_id")?)?,
                runtime_ms: key.runtime_ms,
                memory_kb: key.memory_kb,
                submitted_at: from_micros(key.submitted_at),
                cursor: key.encode(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Ok(Page {
        entries,
        has_next_page,
    }))
}

/// Where an accepted submission stands among all accepted submissions of
/// its problem (its own included), in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Share of accepted submissions strictly slower than this one.
    pub runtime: f64,
    /// Share of accepted submissions with a strictly larger memory peak.
    pub memory: f64,
}

/// `None` when the problem has no accepted submission yet in the read model.
pub async fn percentiles(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
    memory_kb: i64,
) -> Result<Option<Percentiles>> {
    Ok(runtime_percentile(db, problem, runtime_ms)
        .await?
        .zip(memory_percentile(db, problem, memory_kb).await?)
        .map(|(runtime, memory)| Percentiles { runtime, memory }))
}

/// Share of the problem's accepted submissions strictly slower than `runtime_ms`.
pub async fn runtime_percentile(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
) -> Result<Option<f64>> {
    let (slower, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN runtime_ms > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_runtimes WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(runtime_ms)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(slower, total))
}

/// Share of the problem's accepted submissions with a strictly larger memory peak.
pub async fn memory_percentile(
    db: &ReadDb,
    problem: ProblemId,
    memory_kb: i64,
) -> Result<Option<f64>> {
    let (bigger, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN memory_kb > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_memory WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(memory_kb)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(bigger, total))
}

/// Runtime (ms) and memory (KiB) distributions of a problem's accepted
/// submissions.
pub async fn distributions(
    db: &ReadDb,
    problem: ProblemId,
) -> Result<(Distribution, Distribution)> {
    let runtimes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT runtime_ms, accepted FROM ranking_runtimes WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    let memory: Vec<(i64, i64)> =
        sqlx::query_as("SELECT memory_kb, accepted FROM ranking_memory WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    Ok((
        Distribution::from_counts(runtimes),
        Distribution::from_counts(memory),
    ))
}

/// Every problem's runtime and memory distributions (admin analytics).
pub async fn all_distributions(
    db: &ReadDb,
) -> Result<std::collections::HashMap<ProblemId, (Distribution, Distribution)>> {
    type Counts = Vec<(i64, i64)>;
    let mut acc: std::collections::HashMap<ProblemId, (Counts, Counts)> = Default::default();
    let runtimes: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, runtime_ms, accepted FROM ranking_runtimes")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in runtimes {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .0
            .push((v, n));
    }
    let memory: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, memory_kb, accepted FROM ranking_memory")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in memory {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .1
            .push((v, n));
    }
    Ok(acc
        .into_iter()
        .map(|(p, (r, m))| {
            (
                p,
                (Distribution::from_counts(r), Distribution::from_counts(m)),
            )
        })
        .collect())
}

/// Whether `submission` is now its author's best on `problem`, i.e. its
/// verdict moved the problem's ranking.
pub async fn is_best(db: &ReadDb, problem: ProblemId, submission: SubmissionId) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM ranking_best WHERE problem_id = $1 AND submission_id = $2",
    )
    .bind(problem.to_string())
    .bind(submission.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(found.is_some())
}
