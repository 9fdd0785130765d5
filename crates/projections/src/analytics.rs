//! `analytics`, for admins: per UTC day, submissions, verdicts and
//! acceptance, active users (anyone who submitted or used the playground
//! that day) and playground runs; the verdict mix per day; and every
//! playground run's measurements. Per-problem time and memory statistics
//! come from [`crate::ranking`] and [`crate::problem_stats`].
//!
//! A submission's day is the day it was made, and its verdict is counted on
//! that day too, so a day's acceptance compares like with like.
//!
//! Owns `analytics_submissions` (its `judged` flag makes verdict counters
//! idempotent), `analytics_days`, `analytics_day_users`,
//! `analytics_day_verdicts` and `analytics_playground_runs`, keyed by the
//! run's position in the log since a run has no id of its own.

use chrono::NaiveDate;
use domain::playground::PlaygroundEvent;
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::profiles::verdict_kind;
use crate::{
    Envelope, Projection, ReadDb, Result, already_counted, date_day, day_date, micros, utc_day,
};

#[derive(Debug)]
pub struct Analytics;

/// Marks `user` active on `day`; 1 if that is news, else 0.
async fn activate(conn: &mut AnyConnection, day: i64, user: UserId) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO analytics_day_users (day, user_id) VALUES ($1, $2) ON CONFLICT (day, user_id) DO NOTHING",
    )
    .bind(day)
    .bind(user.to_string())
    .execute(conn)
    .await?
    .rows_affected() as i64)
}

impl Projection for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "analytics_submissions",
            "analytics_days",
            "analytics_day_users",
            "analytics_day_verdicts",
            "analytics_playground_runs",
        ]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match &envelope.event {
                Event::Submission(SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    at,
                    ..
                }) => {
                    let day = utc_day(micros(*at));
                    let inserted = sqlx::query(
                        "INSERT INTO analytics_submissions (submission_id, user_id, day, judged) VALUES ($1, $2, $3, 0) \
                         ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(user_id.to_string())
                    .bind(day)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(());
                    }
                    let new_active = activate(&mut *conn, day, *user_id).await?;
                    sqlx::query(
                        "INSERT INTO analytics_days (day, submissions, judged, accepted, active_users, playground_runs) \
                         VALUES ($1, 1, 0, 0, $2, 0) ON CONFLICT (day) DO UPDATE SET \
                         submissions = analytics_days.submissions + 1, active_users = analytics_days.active_users + $2",
                    )
                    .bind(day)
                    .bind(new_active)
                    .execute(conn)
                    .await?;
                }
                Event::Submission(SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    ..
                }) => {
                    let Some(row) = sqlx::query(
                        "UPDATE analytics_submissions SET judged = 1 WHERE submission_id = $1 AND judged = 0 RETURNING day",
                    )
                    .bind(submission_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
                    else {
                        return already_counted(
                            conn,
                            "SELECT submission_id FROM analytics_submissions WHERE submission_id = $1",
                            *submission_id,
                        )
                        .await;
                    };
                    let day: i64 = row.try_get("day")?;
                    sqlx::query(
                        "INSERT INTO analytics_day_verdicts (day, verdict, n) VALUES ($1, $2, 1) \
                         ON CONFLICT (day, verdict) DO UPDATE SET n = analytics_day_verdicts.n + 1",
                    )
                    .bind(day)
                    .bind(verdict.kind.as_str())
                    .execute(&mut *conn)
                    .await?;
                    if verdict.kind != VerdictKind::InternalError {
                        sqlx::query(
                            "UPDATE analytics_days SET judged = judged + 1, accepted = accepted + $2 WHERE day = $1",
                        )
                        .bind(day)
                        .bind((verdict.kind == VerdictKind::Accepted) as i64)
                        .execute(conn)
                        .await?;
                    }
                }
                Event::Playground(PlaygroundEvent::PlaygroundRunCompleted {
                    user_id,
                    cpu_ms,
                    memory_kb,
                    limit_hit,
                    at,
                    ..
                }) => {
                    let day = utc_day(micros(*at));
                    let inserted = sqlx::query(
                        "INSERT INTO analytics_playground_runs (tx, seq, user_id, day, cpu_ms, memory_kb, limit_hit) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tx, seq) DO NOTHING",
                    )
                    .bind(envelope.cursor.tx as i64)
                    .bind(envelope.cursor.seq as i64)
                    .bind(user_id.to_string())
                    .bind(day)
                    .bind(*cpu_ms as i64)
                    .bind(*memory_kb as i64)
                    .bind(limit_hit.as_deref())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(());
                    }
                    let new_active = activate(&mut *conn, day, *user_id).await?;
                    sqlx::query(
                        "INSERT INTO analytics_days (day, submissions, judged, accepted, active_users, playground_runs) \
                         VALUES ($1, 0, 0, 0, $2, 1) ON CONFLICT (day) DO UPDATE SET \
                         playground_runs = analytics_days.playground_runs + 1, \
                         active_users = analytics_days.active_users + $2",
                    )
                    .bind(day)
                    .bind(new_active)
                    .execute(conn)
                    .await?;
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// One day of platform activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub submissions: i64,
    /// Verdicts other than the judge's own failure.
    pub judged: i64,
    pub accepted: i64,
    pub active_users: i64,
    pub playground_runs: i64,
}

/// Every day in `from..=to`, oldest first, quiet days as zeros.
pub async fn days(db: &ReadDb, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayTotals>> {
    let (lo, hi) = (date_day(from), date_day(to));
    let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, submissions, judged, accepted, active_users, playground_runs FROM analytics_days \
         WHERE day >= $1 AND day <= $2 ORDER BY day",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&db.pool)
    .await?;
    let mut rows = rows.into_iter().peekable();
    Ok((lo..=hi)
        .map(|day| match rows.next_if(|r| r.0 == day) {
            Some((_, submissions, judged, accepted, active_users, playground_runs)) => DayTotals {
                date: day_date(day),
                submissions,
                judged,
                accepted,
                active_users,
                playground_runs,
            },
            None => DayTotals {
                date: day_date(day),
                submissions: 0,
                judged: 0,
                accepted: 0,
                active_users: 0,
                playground_runs: 0,
            },
        })
        .collect())
}

/// Distinct users active on any day in `from..=to`.
pub async fn active_users(db: &ReadDb, from: NaiveDate, to: NaiveDate) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(DISTINCT user_id) FROM analytics_day_users WHERE day >= $1 AND day <= $2",
    )
    .bind(date_day(from))
    .bind(date_day(to))
    .fetch_one(&db.pool)
    .await?)
}

/// Verdicts of submissions made in `from..=to`, most frequent first.
pub async fn verdict_mix(
    db: &ReadDb,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(VerdictKind, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT verdict, CAST(SUM(n) AS BIGINT) AS total FROM analytics_day_verdicts \
         WHERE day >= $1 AND day <= $2 GROUP BY verdict ORDER BY total DESC, verdict",
    )
    .bind(date_day(from))
    .bind(date_day(to))
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|(v, n)| Ok((verdict_kind(&v)?, n)))
        .collect()
}

/// Playground use in a date range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaygroundTotals {
    pub runs: i64,
    pub users: i64,
    /// Mean CPU time and peak memory of a run; `None` without runs.
    pub mean_cpu_ms: Option<f64>,
    pub mean_memory_kb: Option<f64>,
    /// Runs stopped by each limit ("cpu", "wall", "memory", …), most first.
    pub limits_hit: Vec<(String, i64)>,
}

pub async fn playground(db: &ReadDb, from: NaiveDate, to: NaiveDate) -> Result<PlaygroundTotals> {
    let (lo, hi) = (date_day(from), date_day(to));
    let (runs, users, cpu, memory): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT user_id), CAST(COALESCE(SUM(cpu_ms), 0) AS BIGINT), \
         CAST(COALESCE(SUM(memory_kb), 0) AS BIGINT) FROM analytics_playground_runs WHERE day >= $1 AND day <= $2",
    )
    .bind(lo)
    .bind(hi)
    .fetch_one(&db.pool)
    .await?;
    let limits_hit: Vec<(String, i64)> = sqlx::query_as(
        "SELECT limit_hit, COUNT(*) AS n FROM analytics_playground_runs \
         WHERE day >= $1 AND day <= $2 AND limit_hit IS NOT NULL GROUP BY limit_hit ORDER BY n DESC, limit_hit",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&db.pool)
    .await?;
    let mean = |sum: i64| (runs > 0).then(|| sum as f64 / runs as f64);
    Ok(PlaygroundTotals {
        runs,
        users,
        mean_cpu_ms: mean(cpu),
        mean_memory_kb: mean(memory),
        limits_hit,
    })
}
