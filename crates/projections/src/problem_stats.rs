//! `problem_stats`: per problem, submissions, verdicts, acceptance, how many
//! users tried and how many solved it, and the verdict mix. Runtime and memory
//! distributions of accepted submissions live in [`crate::ranking`].
//!
//! As in profiles, an `InternalError` verdict is counted in the verdict mix
//! but not as judged, so the judge's failures never lower acceptance.
//!
//! Owns `problem_stats_submissions` (whose `judged` flag makes counters
//! idempotent), `problem_stats`, `problem_stats_users` (who tried, who solved)
//! and `problem_stats_verdicts`.

use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::profiles::verdict_kind;
use crate::queries::{difficulty, parse};
use crate::{Envelope, Projection, ReadDb, Result, already_counted};

#[derive(Debug)]
pub struct ProblemStats;

impl Projection for ProblemStats {
    fn name(&self) -> &'static str {
        "problem_stats"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "problem_stats_submissions",
            "problem_stats",
            "problem_stats_users",
            "problem_stats_verdicts",
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
                    ..
                } => {
                    let inserted = sqlx::query(
                        "INSERT INTO problem_stats_submissions (submission_id, problem_id, user_id, judged) \
                         VALUES ($1, $2, $3, 0) ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(());
                    }
                    let new_attempter = sqlx::query(
                        "INSERT INTO problem_stats_users (problem_id, user_id, solved) VALUES ($1, $2, 0) \
                         ON CONFLICT (problem_id, user_id) DO NOTHING",
                    )
                    .bind(problem_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected() as i64;
                    sqlx::query(
                        "INSERT INTO problem_stats (problem_id, submissions, judged, accepted, attempters, solvers) \
                         VALUES ($1, 1, 0, 0, $2, 0) ON CONFLICT (problem_id) DO UPDATE SET \
                         submissions = problem_stats.submissions + 1, attempters = problem_stats.attempters + $2",
                    )
                    .bind(problem_id.to_string())
                    .bind(new_attempter)
                    .execute(conn)
                    .await?;
                }
                SubmissionEvent::SubmissionJudged {
                    submission_id,
                    user_id,
                    problem_id,
                    verdict,
                    ..
                } => {
                    let marked = sqlx::query(
                        "UPDATE problem_stats_submissions SET judged = 1 WHERE submission_id = $1 AND judged = 0",
                    )
                    .bind(submission_id.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if marked == 0 {
                        return already_counted(
                            conn,
                            "SELECT submission_id FROM problem_stats_submissions WHERE submission_id = $1",
                            *submission_id,
                        )
                        .await;
                    }
                    sqlx::query(
                        "INSERT INTO problem_stats_verdicts (problem_id, verdict, n) VALUES ($1, $2, 1) \
                         ON CONFLICT (problem_id, verdict) DO UPDATE SET n = problem_stats_verdicts.n + 1",
                    )
                    .bind(problem_id.to_string())
                    .bind(verdict.kind.as_str())
                    .execute(&mut *conn)
                    .await?;
                    if verdict.kind == VerdictKind::InternalError {
                        return Ok(());
                    }
                    let accepted = verdict.kind == VerdictKind::Accepted;
                    let new_solver = if accepted {
                        sqlx::query(
                            "UPDATE problem_stats_users SET solved = 1 WHERE problem_id = $1 AND user_id = $2 AND solved = 0",
                        )
                        .bind(problem_id.to_string())
                        .bind(user_id.to_string())
                        .execute(&mut *conn)
                        .await?
                        .rows_affected() as i64
                    } else {
                        0
                    };
                    sqlx::query(
                        "UPDATE problem_stats SET judged = judged + 1, accepted = accepted + $2, solvers = solvers + $3 \
                         WHERE problem_id = $1",
                    )
                    .bind(problem_id.to_string())
                    .bind(accepted as i64)
                    .bind(new_solver)
                    .execute(conn)
                    .await?;
                }
            }
            Ok(())
        })
    }
}

/// A problem's counters. Zero everywhere before its first submission.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProblemCounts {
    pub submissions: i64,
    /// Verdicts other than the judge's own failure.
    pub judged: i64,
    pub accepted: i64,
    /// Users with at least one submission.
    pub attempters: i64,
    /// Users with at least one accepted submission.
    pub solvers: i64,
    /// Every verdict kind seen, with how many; most frequent first.
    pub verdicts: Vec<(VerdictKind, i64)>,
}

impl ProblemCounts {
    /// Accepted over judged, in percent; `None` before the first verdict.
    pub fn acceptance_rate(&self) -> Option<f64> {
        (self.judged > 0).then(|| 100.0 * self.accepted as f64 / self.judged as f64)
    }
}

pub async fn counts(db: &ReadDb, problem: ProblemId) -> Result<ProblemCounts> {
    let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT submissions, judged, accepted, attempters, solvers FROM problem_stats WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .fetch_optional(&db.pool)
    .await?;
    let Some((submissions, judged, accepted, attempters, solvers)) = row else {
        return Ok(ProblemCounts::default());
    };
    let verdicts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT verdict, n FROM problem_stats_verdicts WHERE problem_id = $1 ORDER BY n DESC, verdict",
    )
    .bind(problem.to_string())
    .fetch_all(&db.pool)
    .await?;
    Ok(ProblemCounts {
        submissions,
        judged,
        accepted,
        attempters,
        solvers,
        verdicts: verdicts
            .into_iter()
            .map(|(v, n)| Ok((verdict_kind(&v)?, n)))
            .collect::<Result<_>>()?,
    })
}

/// Every problem's counters without the verdict mix (admin analytics).
pub async fn all_counts(db: &ReadDb) -> Result<Vec<(ProblemId, ProblemCounts)>> {
    let rows = sqlx::query(
        "SELECT problem_id, submissions, judged, accepted, attempters, solvers FROM problem_stats",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                parse("problem_id", &row.try_get::<String, _>("problem_id")?)?,
                ProblemCounts {
                    submissions: row.try_get("submissions")?,
                    judged: row.try_get("judged")?,
                    accepted: row.try_get("accepted")?,
                    attempters: row.try_get("attempters")?,
                    solvers: row.try_get("solvers")?,
                    verdicts: vec![],
                },
            ))
        })
        .collect()
}

/// Every problem in the catalogue, whatever its status: id, slug, title and
/// difficulty, oldest first (admin analytics).
pub async fn catalogue(
    db: &ReadDb,
) -> Result<Vec<(ProblemId, String, String, domain::problem::Difficulty)>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT problem_id, slug, title, difficulty FROM problems ORDER BY created_at, problem_id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|(id, slug, title, level)| {
            Ok((parse("problem_id", &id)?, slug, title, difficulty(&level)?))
        })
        .collect()
}
