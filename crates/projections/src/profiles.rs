//! `profiles`: what a user's public profile shows besides the leaderboard
//! (solved counts by difficulty come from [`crate::leaderboard`]):
//! submissions, verdicts and acceptance, activity per UTC day (the heatmap,
//! and the days streaks are counted from), and recent submissions.
//!
//! Days are the UTC day a submission was *made*. A verdict of
//! `InternalError` is the judge's failure, not the user's, so it counts as a
//! submission but not as judged: it never lowers the acceptance rate.
//!
//! After a rejudge: attempts (submissions, and each day's submissions in the
//! heatmap) count what the user did and never change; judged, accepted, each
//! day's accepted count and therefore streaks follow current verdicts, so an
//! accepted submission rejudged wrong no longer keeps a streak alive.
//!
//! Owns `profile_submissions` (each submission's current verdict and that
//! verdict's log position: a verdict applies only if newer), `profile_stats`
//! and `profile_days`. Counters move only when a submission row is inserted
//! or takes a newer verdict, so re-applied events change nothing.

use chrono::{DateTime, NaiveDate, Utc};
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::queries::{corrupt, parse};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{
    NO_POS, Pos, V, add_others, insert, insert_all, int, keys, pos, replace_others, select_in, text,
};
use crate::leaderboard::uuid_text;
use crate::{
    Envelope, Fold, Projection, ReadDb, Result, Sink, date_day, day_date, from_micros, micros,
    never_created, utc_day,
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
        self.apply_batch(conn, std::slice::from_ref(envelope))
    }

    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(fold(conn, events))
    }

    fn fold(&self) -> Option<Box<dyn Fold>> {
        Some(Box::<ProfilesFold>::default())
    }
}

#[derive(Debug, Clone)]
struct Sub {
    user: String,
    slug: String,
    created_at: i64,
    day: i64,
    verdict: Option<VerdictKind>,
    runtime: Option<i64>,
    memory: Option<i64>,
    at: Pos,
    dirty: bool,
}

const SUB_COLUMNS: [&str; 10] = [
    "submission_id",
    "user_id",
    "problem_slug",
    "created_at",
    "day",
    "verdict",
    "runtime_ms",
    "memory_kb",
    "verdict_tx",
    "verdict_seq",
];

/// What a verdict adds to the user's (judged, accepted) counts.
fn share(verdict: Option<VerdictKind>) -> (i64, i64) {
    match verdict {
        None | Some(VerdictKind::InternalError) => (0, 0),
        Some(VerdictKind::Accepted) => (1, 1),
        Some(_) => (1, 0),
    }
}

/// Folds a batch: submissions with their current verdicts, and the per-user
/// and per-day counters moved by deltas (a new verdict takes the old one's
/// share out and puts its own in).
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let ids: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Submission(
                SubmissionEvent::SubmissionCreated { submission_id, .. }
                | SubmissionEvent::SubmissionJudged { submission_id, .. },
            ) => Some(submission_id.to_string()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut subs: HashMap<String, Sub> = HashMap::new();
    for row in select_in(
        conn,
        &format!(
            "SELECT {} FROM profile_submissions WHERE",
            SUB_COLUMNS.join(", ")
        ),
        &["submission_id"],
        &keys(&ids),
    )
    .await?
    {
        let verdict: Option<String> = row.try_get(5)?;
        subs.insert(
            text(&row, 0)?,
            Sub {
                user: text(&row, 1)?,
                slug: text(&row, 2)?,
                created_at: int(&row, 3)?,
                day: int(&row, 4)?,
                verdict: verdict.as_deref().map(verdict_kind).transpose()?,
                runtime: row.try_get(6)?,
                memory: row.try_get(7)?,
                at: (int(&row, 8)?, int(&row, 9)?),
                dirty: false,
            },
        );
    }
    // user -> (submissions, judged, accepted); (user, day) -> (submissions, accepted).
    let mut stats: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut days: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for envelope in events {
        let Event::Submission(event) = &envelope.event else {
            continue;
        };
        match event {
            // Counted when its verdict comes.
            SubmissionEvent::SubmissionRejudgeRequested { .. } => {}
            SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_slug,
                at,
                ..
            } => {
                let id = submission_id.to_string();
                if subs.contains_key(&id) {
                    continue;
                }
                let created_at = micros(*at);
                let sub = Sub {
                    user: user_id.to_string(),
                    slug: problem_slug.clone(),
                    created_at,
                    day: utc_day(created_at),
                    verdict: None,
                    runtime: None,
                    memory: None,
                    at: NO_POS,
                    dirty: true,
                };
                stats.entry(sub.user.clone()).or_default().0 += 1;
                days.entry((sub.user.clone(), sub.day)).or_default().0 += 1;
                subs.insert(id, sub);
            }
            SubmissionEvent::SubmissionJudged {
                submission_id,
                verdict,
                ..
            } => {
                let at = pos(envelope.cursor);
                let sub = subs
                    .get_mut(&submission_id.to_string())
                    .ok_or_else(|| never_created(*submission_id))?;
                if at <= sub.at {
                    continue;
                }
                let (old_judged, old_accepted) = share(sub.verdict);
                let (judged, accepted) = share(Some(verdict.kind));
                let s = stats.entry(sub.user.clone()).or_default();
                s.1 += judged - old_judged;
                s.2 += accepted - old_accepted;
                days.entry((sub.user.clone(), sub.day)).or_default().1 += accepted - old_accepted;
                sub.verdict = Some(verdict.kind);
                sub.runtime = Some(verdict.runtime_ms as i64);
                sub.memory = Some(verdict.memory_kb as i64);
                sub.at = at;
                sub.dirty = true;
            }
        }
    }
    let dirty: Vec<Vec<V>> = subs
        .iter()
        .filter(|(_, s)| s.dirty)
        .map(|(id, s)| {
            vec![
                id.into(),
                (&s.user).into(),
                (&s.slug).into(),
                s.created_at.into(),
                s.day.into(),
                V::OT(s.verdict.map(|k| k.as_str().to_string())),
                V::OI(s.runtime),
                V::OI(s.memory),
                s.at.0.into(),
                s.at.1.into(),
            ]
        })
        .collect();
    if !dirty.is_empty() {
        insert(
            conn,
            &format!(
                "INSERT INTO profile_submissions ({})",
                SUB_COLUMNS.join(", ")
            ),
            &replace_others(&SUB_COLUMNS, &["submission_id"]),
            &dirty,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = stats
        .iter()
        .filter(|(_, d)| **d != (0, 0, 0))
        .map(|(u, d)| vec![u.into(), d.0.into(), d.1.into(), d.2.into()])
        .collect();
    if !rows.is_empty() {
        let columns = ["user_id", "submissions", "judged", "accepted"];
        insert(
            conn,
            "INSERT INTO profile_stats (user_id, submissions, judged, accepted)",
            &add_others("profile_stats", &columns, &["user_id"]),
            &rows,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = days
        .iter()
        .filter(|(_, d)| **d != (0, 0))
        .map(|((u, day), d)| vec![u.into(), (*day).into(), d.0.into(), d.1.into()])
        .collect();
    if !rows.is_empty() {
        let columns = ["user_id", "day", "submissions", "accepted"];
        insert(
            conn,
            "INSERT INTO profile_days (user_id, day, submissions, accepted)",
            &add_others("profile_days", &columns, &["user_id", "day"]),
            &rows,
        )
        .await?;
    }
    Ok(())
}

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict. The counters are derived from those when
/// written: summing each submission's share of its current verdict gives
/// what the batch path's deltas add up to, and a user's (or day's) row
/// exists from their first submission on, as it does there.
#[derive(Debug, Default)]
struct ProfilesFold {
    subs: HashMap<SubmissionId, FoldedSub>,
    /// Problem slugs, each stored once: submissions hold an index.
    slugs: Vec<String>,
    slug_index: HashMap<String, u32>,
}

#[derive(Debug, Clone, Copy)]
struct FoldedSub {
    user: UserId,
    slug: u32,
    created_at: i64,
    verdict: Option<VerdictKind>,
    runtime: Option<i64>,
    memory: Option<i64>,
    at: Pos,
}

impl ProfilesFold {
    fn slug(&mut self, slug: &str) -> u32 {
        if let Some(&i) = self.slug_index.get(slug) {
            return i;
        }
        let i = self.slugs.len() as u32;
        self.slugs.push(slug.to_string());
        self.slug_index.insert(slug.to_string(), i);
        i
    }
}

impl Fold for ProfilesFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            let Event::Submission(event) = &envelope.event else {
                continue;
            };
            match event {
                // Counted when its verdict comes.
                SubmissionEvent::SubmissionRejudgeRequested { .. } => {}
                SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    problem_slug,
                    at,
                    ..
                } => {
                    if self.subs.contains_key(submission_id) {
                        continue;
                    }
                    let slug = self.slug(problem_slug);
                    self.subs.insert(
                        *submission_id,
                        FoldedSub {
                            user: *user_id,
                            slug,
                            created_at: micros(*at),
                            verdict: None,
                            runtime: None,
                            memory: None,
                            at: NO_POS,
                        },
                    );
                }
                SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    ..
                } => {
                    let sub = self
                        .subs
                        .get_mut(submission_id)
                        .ok_or_else(|| never_created(*submission_id))?;
                    let at = pos(envelope.cursor);
                    if at > sub.at {
                        sub.verdict = Some(verdict.kind);
                        sub.runtime = Some(verdict.runtime_ms as i64);
                        sub.memory = Some(verdict.memory_kb as i64);
                        sub.at = at;
                    }
                }
            }
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        // The per-user and per-day rows, derived on writing, are at most
        // one per submission and usually far fewer.
        self.subs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        // Everything is derived before the first write, so that each table's
        // rows can then be moved out of owned vectors (closures over borrowed
        // rows would make the future not `Send`).
        let mut subs: Vec<(SubmissionId, FoldedSub)> =
            std::mem::take(&mut self.subs).into_iter().collect();
        subs.sort_unstable_by_key(|(id, _)| *id);
        // Each day's counts, judged too, so that a user's are their days' sums.
        let mut days: HashMap<(UserId, i64), ProfileStats> = HashMap::new();
        for (_, s) in &subs {
            let (judged, accepted) = share(s.verdict);
            let d = days.entry((s.user, utc_day(s.created_at))).or_default();
            d.submissions += 1;
            d.judged += judged;
            d.accepted += accepted;
        }
        let mut days: Vec<((UserId, i64), ProfileStats)> = days.into_iter().collect();
        days.sort_unstable_by_key(|(key, _)| *key);
        let stats: Vec<Vec<V>> = days
            .chunk_by(|a, b| a.0.0 == b.0.0)
            .map(|mine| {
                let (submissions, judged, accepted) = mine.iter().fold((0, 0, 0), |t, (_, d)| {
                    (t.0 + d.submissions, t.1 + d.judged, t.2 + d.accepted)
                });
                vec![
                    uuid_text(&mine[0].0.0.0),
                    submissions.into(),
                    judged.into(),
                    accepted.into(),
                ]
            })
            .collect();
        let slugs = std::mem::take(&mut self.slugs);
        self.slug_index = HashMap::new();
        Box::pin(async move {
            insert_all(
                conn,
                &format!(
                    "INSERT INTO profile_submissions ({})",
                    SUB_COLUMNS.join(", ")
                ),
                &mut subs.into_iter().map(|(id, s)| {
                    vec![
                        uuid_text(&id.0),
                        uuid_text(&s.user.0),
                        (&slugs[s.slug as usize]).into(),
                        s.created_at.into(),
                        utc_day(s.created_at).into(),
                        V::OT(s.verdict.map(|k| k.as_str().to_string())),
                        V::OI(s.runtime),
                        V::OI(s.memory),
                        s.at.0.into(),
                        s.at.1.into(),
                    ]
                }),
            )
            .await?;
            insert_all(
                conn,
                "INSERT INTO profile_stats (user_id, submissions, judged, accepted)",
                &mut stats.into_iter(),
            )
            .await?;
            insert_all(
                conn,
                "INSERT INTO profile_days (user_id, day, submissions, accepted)",
                &mut days.into_iter().map(|((user, day), d)| {
                    vec![
                        uuid_text(&user.0),
                        day.into(),
                        d.submissions.into(),
                        d.accepted.into(),
                    ]
                }),
            )
            .await
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
    use crate::leaderboard::fold_check::*;

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        fold_equals_batches(
            &Profiles,
            &history(1_500),
            &[
                ("profile_submissions", "submission_id"),
                ("profile_stats", "user_id"),
                ("profile_days", "user_id, day"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn the_fold_rejects_a_verdict_for_no_submission() {
        fold_fails_like_batches(&Profiles).await;
    }

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
