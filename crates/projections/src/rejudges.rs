//! `rejudges`: each rejudge and how far it has got: how many of its
//! submissions have their new verdict, how many verdicts changed, and how
//! many accepted submissions now fail (and the reverse).
//!
//! Owns `rejudges` and `rejudge_items`. An item's `verdict` is NULL until the
//! rejudge's verdict for that submission lands; the counters move only when
//! it goes from NULL to a verdict, so re-applying an event changes nothing.
//! What changed is told from the two events alone: the request carries the
//! verdict it may replace.

use chrono::{DateTime, Utc};
use domain::rejudge::RejudgeEvent;
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId, RejudgeId, SubmissionId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::queries::parse;
use crate::{Envelope, Projection, ReadDb, Result, from_micros, micros};

#[derive(Debug)]
pub struct Rejudges;

impl Projection for Rejudges {
    fn name(&self) -> &'static str {
        "rejudges"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rejudges", "rejudge_items"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match &envelope.event {
                Event::Rejudge(RejudgeEvent::RejudgeStarted {
                    rejudge_id,
                    problem_id,
                    problem_slug,
                    problem_version,
                    scope,
                    total,
                    by,
                    at,
                }) => {
                    sqlx::query(
                        "INSERT INTO rejudges (rejudge_id, problem_id, problem_slug, problem_version, scope, total, \
                         started_by, started_at, finished_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $6 = 0 THEN $8 ELSE NULL END) \
                         ON CONFLICT (rejudge_id) DO NOTHING",
                    )
                    .bind(rejudge_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(problem_slug)
                    .bind(i64::from(*problem_version))
                    .bind(scope.as_str())
                    .bind(i64::from(*total))
                    .bind(by.to_string())
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                Event::Submission(SubmissionEvent::SubmissionRejudgeRequested {
                    submission_id,
                    rejudge_id,
                    previous_verdict,
                    ..
                }) => {
                    sqlx::query(
                        "INSERT INTO rejudge_items (rejudge_id, submission_id, previous_verdict) \
                         VALUES ($1, $2, $3) ON CONFLICT (rejudge_id, submission_id) DO NOTHING",
                    )
                    .bind(rejudge_id.to_string())
                    .bind(submission_id.to_string())
                    .bind(previous_verdict.as_str())
                    .execute(conn)
                    .await?;
                }
                Event::Submission(SubmissionEvent::SubmissionJudged {
                    submission_id,
                    rejudge_id: Some(rejudge_id),
                    verdict,
                    at,
                    ..
                }) => {
                    let Some(previous) = sqlx::query_scalar::<_, String>(
                        "UPDATE rejudge_items SET verdict = $3 \
                         WHERE rejudge_id = $1 AND submission_id = $2 AND verdict IS NULL \
                         RETURNING previous_verdict",
                    )
                    .bind(rejudge_id.to_string())
                    .bind(submission_id.to_string())
                    .bind(verdict.kind.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    else {
                        // Counted already (the request comes first in the log).
                        return Ok(());
                    };
                    let accepted = VerdictKind::Accepted.as_str();
                    let was = previous == accepted;
                    let is = verdict.kind == VerdictKind::Accepted;
                    sqlx::query(
                        "UPDATE rejudges SET judged = judged + 1, changed = changed + $2, \
                         now_failing = now_failing + $3, now_passing = now_passing + $4, \
                         finished_at = CASE WHEN judged + 1 >= total THEN $5 ELSE finished_at END \
                         WHERE rejudge_id = $1",
                    )
                    .bind(rejudge_id.to_string())
                    .bind(i64::from(previous != verdict.kind.as_str()))
                    .bind(i64::from(was && !is))
                    .bind(i64::from(!was && is))
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// A rejudge and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RejudgeView {
    pub rejudge_id: RejudgeId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub problem_version: u32,
    /// `all` or `accepted`.
    pub scope: String,
    pub total: i64,
    /// Submissions with their new verdict so far.
    pub judged: i64,
    /// New verdicts of another kind than the one they replace.
    pub changed: i64,
    /// Accepted before, not now.
    pub now_failing: i64,
    /// Not accepted before, accepted now.
    pub now_passing: i64,
    pub started_at: DateTime<Utc>,
    /// When the last new verdict landed; `None` while some are to come.
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "rejudge_id, problem_id, problem_slug, problem_version, scope, total, judged, changed, \
     now_failing, now_passing, started_at, finished_at";

fn id<T: std::str::FromStr>(row: &sqlx::any::AnyRow, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    parse(column, &row.try_get::<String, _>(column)?)
}

fn view(row: &sqlx::any::AnyRow) -> Result<RejudgeView> {
    let finished_at: Option<i64> = row.try_get("finished_at")?;
    Ok(RejudgeView {
        rejudge_id: id(row, "rejudge_id")?,
        problem_id: id(row, "problem_id")?,
        problem_slug: row.try_get("problem_slug")?,
        problem_version: u32::try_from(row.try_get::<i64, _>("problem_version")?).unwrap_or(0),
        scope: row.try_get("scope")?,
        total: row.try_get("total")?,
        judged: row.try_get("judged")?,
        changed: row.try_get("changed")?,
        now_failing: row.try_get("now_failing")?,
        now_passing: row.try_get("now_passing")?,
        started_at: from_micros(row.try_get("started_at")?),
        finished_at: finished_at.map(from_micros),
    })
}

pub async fn rejudge(db: &ReadDb, id: RejudgeId) -> Result<Option<RejudgeView>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM rejudges WHERE rejudge_id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(view).transpose()
}

/// A problem's rejudges, newest first.
pub async fn rejudges_of(db: &ReadDb, problem: ProblemId, limit: i64) -> Result<Vec<RejudgeView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM rejudges WHERE problem_id = $1 \
         ORDER BY started_at DESC, rejudge_id DESC LIMIT $2"
    )))
    .bind(problem.to_string())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(view).collect()
}

/// Every submission of a problem the read model knows, oldest first: the
/// candidates a rejudge checks one by one against the log.
pub async fn submissions_of(db: &ReadDb, problem: ProblemId) -> Result<Vec<SubmissionId>> {
    let rows = sqlx::query(
        "SELECT submission_id FROM submissions WHERE problem_id = $1 \
         ORDER BY created_at, submission_id",
    )
    .bind(problem.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|row| id(row, "submission_id")).collect()
}
