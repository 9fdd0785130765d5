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
use domain::submission::{Verdict, VerdictKind};
use domain::{SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::fold::{
    Change, Creation, IdHash, Judge, SubTable, Subs, id_keys, submission_ids, uuid_text,
};
use crate::queries::{corrupt, parse};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{NO_POS, Pos, V, add_others, insert, insert_all, int, text};
use crate::{
    Envelope, Fold, Projection, ReadDb, Result, Sink, date_day, day_date, from_micros, utc_day,
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

/// A submission as the profiles know it: its current verdict and where in
/// the log that verdict was.
#[derive(Debug, Clone, Copy)]
struct Sub {
    user: UserId,
    /// Its problem's slug, in [`Slugs`].
    slug: u32,
    created_at: i64,
    verdict: Option<VerdictKind>,
    runtime: Option<i64>,
    memory: Option<i64>,
    at: Pos,
}

const SUBS: SubTable = SubTable {
    name: "profile_submissions",
    columns: &[
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
    ],
};

impl Sub {
    fn created(c: &Creation, slugs: &mut Slugs) -> Self {
        Sub {
            user: c.user,
            slug: slugs.intern(c.slug),
            created_at: c.created_at,
            verdict: None,
            runtime: None,
            memory: None,
            at: NO_POS,
        }
    }

    /// The UTC day it was made.
    fn day(&self) -> i64 {
        utc_day(self.created_at)
    }

    fn row(&self, id: SubmissionId, slugs: &Slugs) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.user.0),
            slugs.get(self.slug).into(),
            self.created_at.into(),
            self.day().into(),
            V::OT(self.verdict.map(|k| k.as_str().to_string())),
            V::OI(self.runtime),
            V::OI(self.memory),
            self.at.0.into(),
            self.at.1.into(),
        ]
    }
}

impl Judge for Sub {
    fn verdict_at(&mut self) -> &mut Pos {
        &mut self.at
    }

    fn judge(&mut self, verdict: &Verdict) {
        self.verdict = Some(verdict.kind);
        self.runtime = Some(verdict.runtime_ms as i64);
        self.memory = Some(verdict.memory_kb as i64);
    }
}

fn sub_from(row: &AnyRow, slugs: &mut Slugs) -> Result<Sub> {
    let verdict: Option<String> = row.try_get(5)?;
    Ok(Sub {
        user: parse("user_id", &text(row, 1)?)?,
        slug: slugs.intern(&text(row, 2)?),
        created_at: int(row, 3)?,
        verdict: verdict.as_deref().map(verdict_kind).transpose()?,
        runtime: row.try_get(6)?,
        memory: row.try_get(7)?,
        at: (int(row, 8)?, int(row, 9)?),
    })
}

/// Problem slugs, each held once: a fold holds a slug per submission, and
/// most submissions share theirs with many others.
#[derive(Debug, Default)]
struct Slugs {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Slugs {
    fn intern(&mut self, slug: &str) -> u32 {
        if let Some(&i) = self.index.get(slug) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(slug.to_string());
        self.index.insert(slug.to_string(), i);
        i
    }

    fn get(&self, i: u32) -> &str {
        &self.list[i as usize]
    }
}

/// What a submission's verdict adds to the (judged, accepted) counts it is
/// counted in, here and in problem stats and analytics: the judge's own
/// failure (`InternalError`) is neither, so it never lowers acceptance.
pub(crate) fn share(verdict: Option<VerdictKind>) -> (i64, i64) {
    match verdict {
        None | Some(VerdictKind::InternalError) => (0, 0),
        Some(VerdictKind::Accepted) => (1, 1),
        Some(_) => (1, 0),
    }
}

/// How a submission's new verdict moves the (judged, accepted) counts: the
/// old one's share out, its own in.
pub(crate) fn share_moved(old: Option<VerdictKind>, new: Option<VerdictKind>) -> (i64, i64) {
    let ((old_judged, old_accepted), (judged, accepted)) = (share(old), share(new));
    (judged - old_judged, accepted - old_accepted)
}

/// Folds a batch: submissions with their current verdicts, and the per-user
/// and per-day counters moved by deltas (a new verdict takes the old one's
/// share out and puts its own in).
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let ids = submission_ids(events);
    if ids.is_empty() {
        return Ok(());
    }
    let mut slugs = Slugs::default();
    let mut subs: Subs<Sub> = Subs::default();
    subs.read(conn, &SUBS, &["submission_id"], &id_keys(&ids), |row| {
        sub_from(row, &mut slugs)
    })
    .await?;
    let mut dirty: BTreeSet<SubmissionId> = BTreeSet::new();
    // user -> (submissions, judged, accepted); (user, day) -> (submissions, accepted).
    let mut stats: BTreeMap<UserId, (i64, i64, i64)> = BTreeMap::new();
    let mut days: BTreeMap<(UserId, i64), (i64, i64)> = BTreeMap::new();
    for envelope in events {
        subs.apply(
            envelope,
            |c| Sub::created(c, &mut slugs),
            |change| {
                match change {
                    Change::Created(id, sub) => {
                        dirty.insert(id);
                        stats.entry(sub.user).or_default().0 += 1;
                        days.entry((sub.user, sub.day())).or_default().0 += 1;
                    }
                    Change::Judged(id, before, after) => {
                        dirty.insert(id);
                        let (judged, accepted) = share_moved(before.verdict, after.verdict);
                        let s = stats.entry(after.user).or_default();
                        s.1 += judged;
                        s.2 += accepted;
                        days.entry((after.user, after.day())).or_default().1 += accepted;
                    }
                }
                Ok(())
            },
        )?;
    }
    let rows: Vec<Vec<V>> = dirty
        .iter()
        .filter_map(|id| subs.get(id).map(|s| s.row(*id, &slugs)))
        .collect();
    SUBS.upsert(conn, &rows).await?;
    let rows: Vec<Vec<V>> = stats
        .iter()
        .filter(|(_, d)| **d != (0, 0, 0))
        .map(|(u, d)| vec![uuid_text(&u.0), d.0.into(), d.1.into(), d.2.into()])
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
        .map(|((u, day), d)| day_row(u, *day, d.0, d.1))
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

fn day_row(user: &UserId, day: i64, submissions: i64, accepted: i64) -> Vec<V> {
    vec![
        uuid_text(&user.0),
        day.into(),
        submissions.into(),
        accepted.into(),
    ]
}

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict. The counters are derived from those when
/// written: summing each submission's share of its current verdict gives
/// what the batch path's deltas add up to, and a user's (or day's) row
/// exists from their first submission on, as it does there.
#[derive(Debug, Default)]
struct ProfilesFold {
    subs: Subs<Sub>,
    slugs: Slugs,
}

impl Fold for ProfilesFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        let slugs = &mut self.slugs;
        self.subs.fold(events, |c| Sub::created(c, slugs))
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
        let subs = std::mem::take(&mut self.subs).into_sorted();
        // Each day's counts, judged too, so that a user's are their days' sums.
        let mut days: HashMap<(UserId, i64), ProfileStats, IdHash> = HashMap::default();
        for (_, s) in &subs {
            let (judged, accepted) = share(s.verdict);
            let d = days.entry((s.user, s.day())).or_default();
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
        Box::pin(async move {
            SUBS.insert_all(conn, &mut subs.into_iter().map(|(id, s)| s.row(id, &slugs)))
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
                &mut days
                    .into_iter()
                    .map(|((user, day), d)| day_row(&user, day, d.submissions, d.accepted)),
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
    use crate::fold_check::*;

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        fold_equals_batches(&Profiles, &history(1_500)).await;
    }

    #[tokio::test]
    async fn the_fold_rejects_a_verdict_for_no_submission() {
        fold_fails_like_batches(&Profiles, &history(40)).await;
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
