//! `profiles`: what a user's public profile shows besides the leaderboard
//! (solved counts by difficulty come from [`crate::leaderboard`]):
//! submissions, verdicts and acceptance, activity per UTC day (the heatmap,
//! and the days streaks are counted from), and recent submissions.
//!
//! Days are the UTC day a submission was *made*. A verdict of
//! `InternalError` is the judge's failure, not the user's, so it counts as a
//! submission but not as judged: it never lowers the acceptance rate.
//!
//! Owns `profile_submissions`, `profile_stats` and `profile_days`. The
//! submission row is inserted once and gets its verdict once; counters move
//! only when that happens, so re-applied events change nothing.

use chrono::{DateTime, NaiveDate, Utc};
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::queries::{corrupt, parse};
use crate::{
    Envelope, Projection, ReadDb, Result, already_counted, date_day, day_date, from_micros, micros,
    utc_day,
};

#[derive(Debug)]
pub struct Profiles;

impl Projection for Profiles {
    fn name(&self) -> &'static str {
        "profiles"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["profile_submissions", "profile_stats", "profile_days"]
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
                    problem_slug,
                    at,
                    ..
                } => {
                    let created_at = micros(*at);
                    let day = utc_day(created_at);
                    let inserted = sqlx::query(
                        "INSERT INTO profile_submissions (submission_id, user_id, problem_slug, created_at, day) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(user_id.to_string())
                    .bind(problem_slug)
                    .bind(created_at)
                    .bind(day)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(());
                    }
                    sqlx::query(
                        "INSERT INTO profile_stats (user_id, submissions, judged, accepted) VALUES ($1, 1, 0, 0) \
                         ON CONFLICT (user_id) DO UPDATE SET submissions = profile_stats.submissions + 1",
                    )
                    .bind(user_id.to_string())
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO profile_days (user_id, day, submissions, accepted) VALUES ($1, $2, 1, 0) \
                         ON CONFLICT (user_id, day) DO UPDATE SET submissions = profile_days.submissions + 1",
                    )
                    .bind(user_id.to_string())
                    .bind(day)
                    .execute(conn)
                    .await?;
                }
                SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    ..
                } => {
                    let Some(row) = sqlx::query(
                        "UPDATE profile_submissions SET verdict = $2, runtime_ms = $3, memory_kb = $4 \
                         WHERE submission_id = $1 AND verdict IS NULL RETURNING user_id, day",
                    )
                    .bind(submission_id.to_string())
                    .bind(verdict.kind.as_str())
                    .bind(verdict.runtime_ms as i64)
                    .bind(verdict.memory_kb as i64)
                    .fetch_optional(&mut *conn)
                    .await?
                    else {
                        return already_counted(
                            conn,
                            "SELECT submission_id FROM profile_submissions WHERE submission_id = $1",
                            *submission_id,
                        )
                        .await;
                    };
                    if verdict.kind == VerdictKind::InternalError {
                        return Ok(());
                    }
                    let user: String = row.try_get("user_id")?;
                    let day: i64 = row.try_get("day")?;
                    let accepted = (verdict.kind == VerdictKind::Accepted) as i64;
                    sqlx::query(
                        "UPDATE profile_stats SET judged = judged + 1, accepted = accepted + $2 WHERE user_id = $1",
                    )
                    .bind(&user)
                    .bind(accepted)
                    .execute(&mut *conn)
                    .await?;
                    if accepted == 1 {
                        sqlx::query(
                            "UPDATE profile_days SET accepted = accepted + 1 WHERE user_id = $1 AND day = $2",
                        )
                        .bind(&user)
                        .bind(day)
                        .execute(conn)
                        .await?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// A user's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProfileStats {
    /// Every submission made.
    pub submissions: i64,
    /// Submissions with a verdict other than the judge's own failure.
    pub judged: i64,
    pub accepted: i64,
}

impl ProfileStats {
    /// Accepted over judged, in percent; `None` before the first verdict.
    pub fn acceptance_rate(&self) -> Option<f64> {
        (self.judged > 0).then(|| 100.0 * self.accepted as f64 / self.judged as f64)
    }
}

pub async fn stats(db: &ReadDb, user: UserId) -> Result<ProfileStats> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT submissions, judged, accepted FROM profile_stats WHERE user_id = $1",
    )
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(
        row.map_or_else(ProfileStats::default, |(submissions, judged, accepted)| {
            ProfileStats {
                submissions,
                judged,
                accepted,
            }
        }),
    )
}

/// One day of a user's heatmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayActivity {
    pub date: NaiveDate,
    pub submissions: i64,
    pub accepted: i64,
}

/// Days in `from..=to` with at least one submission, oldest first.
pub async fn activity(
    db: &ReadDb,
    user: UserId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayActivity>> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT day, submissions, accepted FROM profile_days WHERE user_id = $1 AND day >= $2 AND day <= $3 \
         ORDER BY day",
    )
    .bind(user.to_string())
    .bind(date_day(from))
    .bind(date_day(to))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, submissions, accepted)| DayActivity {
            date: day_date(day),
            submissions,
            accepted,
        })
        .collect())
}

/// Runs of consecutive UTC days with an accepted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streaks {
    /// The run that ends today, or yesterday (today is not over yet).
    pub current: i64,
    pub longest: i64,
}

/// Streaks from day numbers with an accepted submission, ascending.
pub fn streaks_from(days: &[i64], today: i64) -> Streaks {
    let mut longest = 0;
    let mut run = 0;
    let mut prev: Option<i64> = None;
    for &day in days {
        run = match prev {
            Some(p) if day == p + 1 => run + 1,
            Some(p) if day == p => run,
            _ => 1,
        };
        longest = longest.max(run);
        prev = Some(day);
    }
    let current = match prev {
        Some(last) if last == today || last + 1 == today => run,
        _ => 0,
    };
    Streaks { current, longest }
}

/// The user's streaks as of `today` (the caller's clock, so the read model
/// holds no notion of "now").
pub async fn streaks(db: &ReadDb, user: UserId, today: NaiveDate) -> Result<Streaks> {
    let days: Vec<i64> = sqlx::query_scalar(
        "SELECT day FROM profile_days WHERE user_id = $1 AND accepted > 0 AND day <= $2 ORDER BY day",
    )
    .bind(user.to_string())
    .bind(date_day(today))
    .fetch_all(&db.pool)
    .await?;
    Ok(streaks_from(&days, date_day(today)))
}

/// One of a user's recent submissions (never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentSubmission {
    pub submission_id: SubmissionId,
    pub problem_slug: String,
    /// `None` while queued.
    pub verdict: Option<VerdictKind>,
    pub created_at: DateTime<Utc>,
}

pub fn verdict_kind(s: &str) -> Result<VerdictKind> {
    use VerdictKind::*;
    [
        Accepted,
        WrongAnswer,
        TimeLimitExceeded,
        MemoryLimitExceeded,
        OutputLimitExceeded,
        RuntimeError,
        CompileError,
        InternalError,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
    .ok_or_else(|| corrupt("verdict", s))
}

/// The user's latest submissions, newest first.
pub async fn recent(db: &ReadDb, user: UserId, limit: i64) -> Result<Vec<RecentSubmission>> {
    let rows = sqlx::query(
        "SELECT submission_id, problem_slug, verdict, created_at FROM profile_submissions \
         WHERE user_id = $1 ORDER BY created_at DESC, submission_id DESC LIMIT $2",
    )
    .bind(user.to_string())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RecentSubmission {
                submission_id: parse("submission_id", &row.try_get::<String, _>("submission_id")?)?,
                problem_slug: row.try_get("problem_slug")?,
                verdict: row
                    .try_get::<Option<String>, _>("verdict")?
                    .as_deref()
                    .map(verdict_kind)
                    .transpose()?,
                created_at: from_micros(row.try_get("created_at")?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_is_current_through_today_or_yesterday() {
        let days = [1, 2, 3, 7, 8];
        assert_eq!(
            streaks_from(&days, 8),
            Streaks {
                current: 2,
                longest: 3
            }
        );
        assert_eq!(
            streaks_from(&days, 9),
            Streaks {
                current: 2,
                longest: 3
            }
        );
        assert_eq!(
            streaks_from(&days, 10),
            Streaks {
                current: 0,
                longest: 3
            }
        );
        assert_eq!(streaks_from(&[], 10), Streaks::default());
        assert_eq!(
            streaks_from(&[4, 5, 6, 7], 7),
            Streaks {
                current: 4,
                longest: 4
            }
        );
    }
}
