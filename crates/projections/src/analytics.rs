//! `analytics`, for admins: per UTC day, submissions, verdicts and
//! acceptance, active users (anyone who submitted or used the playground
//! that day) and playground runs; the verdict mix per day; and every
//! playground run's measurements. Per-problem time and memory statistics
//! come from [`crate::ranking`] and [`crate::problem_stats`].
//!
//! A submission's day is the day it was made, and its verdict is counted on
//! that day too, so a day's acceptance compares like with like. Verdicts
//! follow current verdicts (a rejudge moves its submission from the old
//! verdict to the new one); submissions per day never change.
//!
//! Owns `analytics_submissions` (each submission's current verdict and its
//! log position: a verdict applies only if newer, so counters are
//! idempotent), `analytics_days`, `analytics_day_users`,
//! `analytics_day_verdicts` and `analytics_playground_runs`, keyed by the
//! run's position in the log since a run has no id of its own.

use chrono::NaiveDate;
use domain::playground::PlaygroundEvent;
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::profiles::verdict_kind;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, insert_all, int, keys, pos, replace_others,
    select_in, text,
};
use crate::{
    Envelope, Fold, Projection, ReadDb, Result, Sink, date_day, day_date, micros, never_created,
    utc_day,
};

#[derive(Debug)]
pub struct Analytics;

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
        Some(Box::<AnalyticsFold>::default())
    }
}

/// A submission's row: `U` is how its user is held (as read back, or as
/// the events say).
#[derive(Debug, Clone)]
struct Sub<U> {
    user: U,
    day: i64,
    verdict: Option<VerdictKind>,
    at: Pos,
    dirty: bool,
}

impl<U: ToString> Sub<U> {
    /// The values of [`SUB_COLUMNS`].
    fn values(&self, id: impl ToString) -> Vec<V> {
        vec![
            V::T(id.to_string()),
            V::T(self.user.to_string()),
            self.day.into(),
            V::OT(self.verdict.map(|k| k.as_str().to_string())),
            self.at.0.into(),
            self.at.1.into(),
        ]
    }
}

const SUB_COLUMNS: [&str; 6] = [
    "submission_id",
    "user_id",
    "day",
    "verdict",
    "verdict_tx",
    "verdict_seq",
];

/// What a verdict adds to its day's (judged, accepted) counts.
fn share(verdict: Option<VerdictKind>) -> (i64, i64) {
    match verdict {
        None | Some(VerdictKind::InternalError) => (0, 0),
        Some(VerdictKind::Accepted) => (1, 1),
        Some(_) => (1, 0),
    }
}

/// Moves a submission from its `old` verdict to `new`: its day's judged and
/// accepted counts, and by `mix(kind, delta)` the day's verdict mix.
fn rejudge(
    day: &mut Day,
    old: Option<VerdictKind>,
    new: VerdictKind,
    mut mix: impl FnMut(VerdictKind, i64),
) {
    let (old_judged, old_accepted) = share(old);
    let (judged, accepted) = share(Some(new));
    day.judged += judged - old_judged;
    day.accepted += accepted - old_accepted;
    if let Some(old) = old {
        mix(old, -1);
    }
    mix(new, 1);
}

/// Counter deltas for one day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Day {
    submissions: i64,
    judged: i64,
    accepted: i64,
    active_users: i64,
    playground_runs: i64,
}

const DAY_COLUMNS: [&str; 6] = [
    "day",
    "submissions",
    "judged",
    "accepted",
    "active_users",
    "playground_runs",
];

impl Day {
    /// The values of [`DAY_COLUMNS`].
    fn values(&self, day: i64) -> Vec<V> {
        vec![
            day.into(),
            self.submissions.into(),
            self.judged.into(),
            self.accepted.into(),
            self.active_users.into(),
            self.playground_runs.into(),
        ]
    }
}

/// A playground run's row, keyed by its position in the log.
#[derive(Debug)]
struct Run {
    at: Pos,
    user: UserId,
    day: i64,
    cpu_ms: u32,
    memory_kb: u64,
    limit_hit: Option<String>,
}

const RUN_COLUMNS: [&str; 7] = [
    "tx",
    "seq",
    "user_id",
    "day",
    "cpu_ms",
    "memory_kb",
    "limit_hit",
];

impl Run {
    fn of(envelope: &Envelope) -> Self {
        let Event::Playground(PlaygroundEvent::PlaygroundRunCompleted {
            user_id,
            cpu_ms,
            memory_kb,
            limit_hit,
            at,
            ..
        }) = &envelope.event
        else {
            unreachable!("only completed runs are runs")
        };
        Run {
            at: pos(envelope.cursor),
            user: *user_id,
            day: utc_day(micros(*at)),
            cpu_ms: *cpu_ms,
            memory_kb: *memory_kb,
            limit_hit: limit_hit.clone(),
        }
    }

    /// The values of [`RUN_COLUMNS`].
    fn values(self) -> Vec<V> {
        vec![
            self.at.0.into(),
            self.at.1.into(),
            V::T(self.user.to_string()),
            self.day.into(),
            (self.cpu_ms as i64).into(),
            (self.memory_kb as i64).into(),
            V::OT(self.limit_hit),
        ]
    }
}

/// Folds a batch: submissions with their current verdicts, playground runs
/// (new ones only, by log position), who was active each day, and the day
/// counters and verdict mix moved by deltas.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut actives: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut runs: Vec<&Envelope> = vec![];
    for e in events {
        match &e.event {
            Event::Submission(SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                at,
                ..
            }) => {
                ids.insert(submission_id.to_string());
                actives.insert((utc_day(micros(*at)), user_id.to_string()));
            }
            Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) => {
                ids.insert(submission_id.to_string());
            }
            Event::Playground(PlaygroundEvent::PlaygroundRunCompleted { user_id, at, .. }) => {
                actives.insert((utc_day(micros(*at)), user_id.to_string()));
                runs.push(e);
            }
            _ => {}
        }
    }
    if ids.is_empty() && runs.is_empty() {
        return Ok(());
    }
    let mut subs: HashMap<String, Sub<String>> = HashMap::new();
    if !ids.is_empty() {
        for row in select_in(
            conn,
            &format!(
                "SELECT {} FROM analytics_submissions WHERE",
                SUB_COLUMNS.join(", ")
            ),
            &["submission_id"],
            &keys(&ids),
        )
        .await?
        {
            let verdict: Option<String> = row.try_get(3)?;
            subs.insert(
                text(&row, 0)?,
                Sub {
                    user: text(&row, 1)?,
                    day: int(&row, 2)?,
                    verdict: verdict.as_deref().map(verdict_kind).transpose()?,
                    at: (int(&row, 4)?, int(&row, 5)?),
                    dirty: false,
                },
            );
        }
    }
    let mut active: HashSet<(i64, String)> = HashSet::new();
    let active_keys: Vec<Vec<V>> = actives
        .iter()
        .map(|(d, u)| vec![(*d).into(), u.into()])
        .collect();
    for row in select_in(
        conn,
        "SELECT day, user_id FROM analytics_day_users WHERE",
        &["day", "user_id"],
        &active_keys,
    )
    .await?
    {
        active.insert((int(&row, 0)?, text(&row, 1)?));
    }
    let mut seen_runs: HashSet<Pos> = HashSet::new();
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let (lo, hi) = (pos(first.cursor), pos(last.cursor));
        let found: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT tx, seq FROM analytics_playground_runs \
             WHERE (tx > $1 OR (tx = $1 AND seq >= $2)) AND (tx < $3 OR (tx = $3 AND seq <= $4))",
        )
        .bind(lo.0)
        .bind(lo.1)
        .bind(hi.0)
        .bind(hi.1)
        .fetch_all(&mut *conn)
        .await?;
        seen_runs.extend(found);
    }

    let mut days: BTreeMap<i64, Day> = BTreeMap::new();
    let mut new_active: Vec<Vec<V>> = vec![];
    let mut verdicts: BTreeMap<(i64, &'static str), i64> = BTreeMap::new();
    let mut new_runs: Vec<Vec<V>> = vec![];
    let mut activate = |day: i64, user: String, days: &mut BTreeMap<i64, Day>| {
        if active.insert((day, user.clone())) {
            days.entry(day).or_default().active_users += 1;
            new_active.push(vec![day.into(), user.into()]);
        }
    };
    for envelope in events {
        match &envelope.event {
            Event::Submission(SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                at,
                ..
            }) => {
                let id = submission_id.to_string();
                if subs.contains_key(&id) {
                    continue;
                }
                let day = utc_day(micros(*at));
                days.entry(day).or_default().submissions += 1;
                activate(day, user_id.to_string(), &mut days);
                subs.insert(
                    id,
                    Sub {
                        user: user_id.to_string(),
                        day,
                        verdict: None,
                        at: NO_POS,
                        dirty: true,
                    },
                );
            }
            Event::Submission(SubmissionEvent::SubmissionJudged {
                submission_id,
                verdict,
                ..
            }) => {
                let at = pos(envelope.cursor);
                let sub = subs
                    .get_mut(&submission_id.to_string())
                    .ok_or_else(|| never_created(*submission_id))?;
                if at <= sub.at {
                    continue;
                }
                let day = sub.day;
                rejudge(
                    days.entry(day).or_default(),
                    sub.verdict,
                    verdict.kind,
                    |kind, n| *verdicts.entry((day, kind.as_str())).or_default() += n,
                );
                sub.verdict = Some(verdict.kind);
                sub.at = at;
                sub.dirty = true;
            }
            Event::Playground(PlaygroundEvent::PlaygroundRunCompleted { .. }) => {
                if !seen_runs.insert(pos(envelope.cursor)) {
                    continue;
                }
                let run = Run::of(envelope);
                days.entry(run.day).or_default().playground_runs += 1;
                activate(run.day, run.user.to_string(), &mut days);
                new_runs.push(run.values());
            }
            _ => {}
        }
    }

    let dirty: Vec<Vec<V>> = subs
        .iter()
        .filter(|(_, s)| s.dirty)
        .map(|(id, s)| s.values(id))
        .collect();
    if !dirty.is_empty() {
        insert(
            conn,
            &format!(
                "INSERT INTO analytics_submissions ({})",
                SUB_COLUMNS.join(", ")
            ),
            &replace_others(&SUB_COLUMNS, &["submission_id"]),
            &dirty,
        )
        .await?;
    }
    if !new_runs.is_empty() {
        insert(
            conn,
            &format!(
                "INSERT INTO analytics_playground_runs ({})",
                RUN_COLUMNS.join(", ")
            ),
            "ON CONFLICT (tx, seq) DO NOTHING",
            &new_runs,
        )
        .await?;
    }
    if !new_active.is_empty() {
        insert(
            conn,
            "INSERT INTO analytics_day_users (day, user_id)",
            "ON CONFLICT (day, user_id) DO NOTHING",
            &new_active,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = days
        .iter()
        .filter(|(_, d)| **d != Day::default())
        .map(|(day, d)| d.values(*day))
        .collect();
    if !rows.is_empty() {
        insert(
            conn,
            &format!("INSERT INTO analytics_days ({})", DAY_COLUMNS.join(", ")),
            &add_others("analytics_days", &DAY_COLUMNS, &["day"]),
            &rows,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|((d, v), n)| vec![(*d).into(), (*v).into(), (*n).into()])
        .collect();
    if !rows.is_empty() {
        insert(
            conn,
            "INSERT INTO analytics_day_verdicts (day, verdict, n)",
            &add_others(
                "analytics_day_verdicts",
                &["day", "verdict", "n"],
                &["day", "verdict"],
            ),
            &rows,
        )
        .await?;
    }
    let fell: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|((d, v), _)| vec![(*d).into(), (*v).into()])
        .collect();
    if !fell.is_empty() {
        delete_in(
            conn,
            "DELETE FROM analytics_day_verdicts WHERE n = 0 AND",
            &["day", "verdict"],
            &fell,
        )
        .await?;
    }
    Ok(())
}

/// Every row of the analytics tables folded in memory, for a rebuild into
/// empty ones: what [`fold`] leaves, batch after batch.
#[derive(Debug, Default)]
struct AnalyticsFold {
    /// In the order they were made: about key order, since ids are
    /// time-ordered, so sorting them is cheap.
    subs: Vec<(SubmissionId, Sub<UserId>)>,
    index: HashMap<SubmissionId, usize>,
    active: HashSet<(i64, UserId)>,
    days: HashMap<i64, Day>,
    verdicts: HashMap<(i64, VerdictKind), i64>,
    /// In log order, which is their key's order.
    runs: Vec<Run>,
}

impl AnalyticsFold {
    fn activate(&mut self, day: i64, user: UserId) {
        if self.active.insert((day, user)) {
            self.days.entry(day).or_default().active_users += 1;
        }
    }
}

impl Fold for AnalyticsFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            match &envelope.event {
                Event::Submission(SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    at,
                    ..
                }) => {
                    let Entry::Vacant(vacant) = self.index.entry(*submission_id) else {
                        continue;
                    };
                    vacant.insert(self.subs.len());
                    let day = utc_day(micros(*at));
                    self.subs.push((
                        *submission_id,
                        Sub {
                            user: *user_id,
                            day,
                            verdict: None,
                            at: NO_POS,
                            dirty: true,
                        },
                    ));
                    self.days.entry(day).or_default().submissions += 1;
                    self.activate(day, *user_id);
                }
                Event::Submission(SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    ..
                }) => {
                    let at = pos(envelope.cursor);
                    let &i = self
                        .index
                        .get(submission_id)
                        .ok_or_else(|| never_created(*submission_id))?;
                    let sub = &mut self.subs[i].1;
                    if at <= sub.at {
                        continue;
                    }
                    let day = sub.day;
                    rejudge(
                        self.days.entry(day).or_default(),
                        sub.verdict,
                        verdict.kind,
                        |kind, n| *self.verdicts.entry((day, kind)).or_default() += n,
                    );
                    sub.verdict = Some(verdict.kind);
                    sub.at = at;
                }
                Event::Playground(PlaygroundEvent::PlaygroundRunCompleted { .. }) => {
                    // Runs are keyed by position: one at or before the last
                    // is one already seen.
                    if self
                        .runs
                        .last()
                        .is_some_and(|run| run.at >= pos(envelope.cursor))
                    {
                        continue;
                    }
                    let run = Run::of(envelope);
                    self.days.entry(run.day).or_default().playground_runs += 1;
                    self.activate(run.day, run.user);
                    self.runs.push(run);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        self.subs.len()
            + self.active.len()
            + self.days.len()
            + self.verdicts.len()
            + self.runs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        self.index = HashMap::new();
        let mut subs = std::mem::take(&mut self.subs);
        // Stable: it merges the runs already in order rather than sorting anew.
        subs.sort_by_key(|(id, _)| *id);
        let mut active: Vec<_> = std::mem::take(&mut self.active).into_iter().collect();
        active.sort_unstable();
        // Rows the batches delete, or never write, at zero.
        let mut days: Vec<_> = std::mem::take(&mut self.days)
            .into_iter()
            .filter(|(_, d)| *d != Day::default())
            .collect();
        days.sort_unstable_by_key(|(day, _)| *day);
        let mut verdicts: Vec<_> = std::mem::take(&mut self.verdicts)
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((day, kind), n)| (day, kind.as_str(), n))
            .collect();
        verdicts.sort_unstable();
        let runs = std::mem::take(&mut self.runs);
        Box::pin(async move {
            insert_all(
                conn,
                &format!(
                    "INSERT INTO analytics_submissions ({})",
                    SUB_COLUMNS.join(", ")
                ),
                &mut subs.into_iter().map(|(id, sub)| sub.values(id)),
            )
            .await?;
            insert_all(
                conn,
                &format!("INSERT INTO analytics_days ({})", DAY_COLUMNS.join(", ")),
                &mut days.into_iter().map(|(day, d)| d.values(day)),
            )
            .await?;
            insert_all(
                conn,
                "INSERT INTO analytics_day_users (day, user_id)",
                &mut active
                    .into_iter()
                    .map(|(day, user)| vec![day.into(), V::T(user.to_string())]),
            )
            .await?;
            insert_all(
                conn,
                "INSERT INTO analytics_day_verdicts (day, verdict, n)",
                &mut verdicts
                    .into_iter()
                    .map(|(day, kind, n)| vec![day.into(), kind.into(), n.into()]),
            )
            .await?;
            insert_all(
                conn,
                &format!(
                    "INSERT INTO analytics_playground_runs ({})",
                    RUN_COLUMNS.join(", ")
                ),
                &mut runs.into_iter().map(Run::values),
            )
            .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::fold_check::*;
    use store::Cursor;

    /// [`history`] with playground runs among its events, by its users and
    /// over several days, some of them stopped by a limit.
    fn with_runs(events: Vec<Envelope>) -> Vec<Envelope> {
        let users: Vec<UserId> = events
            .iter()
            .filter_map(|e| match &e.event {
                Event::Submission(SubmissionEvent::SubmissionCreated { user_id, .. }) => {
                    Some(*user_id)
                }
                _ => None,
            })
            .collect();
        let mut out: Vec<Envelope> = vec![];
        for (i, envelope) in events.into_iter().enumerate() {
            if i % 7 == 3 {
                let at = envelope.recorded_at + chrono::Duration::hours(5 * (i % 11) as i64);
                out.push(Envelope {
                    event: PlaygroundEvent::PlaygroundRunCompleted {
                        user_id: users[i % users.len()],
                        code_bytes: 10,
                        stdin_bytes: 0,
                        exit_code: Some(0),
                        signal: None,
                        cpu_ms: i as u32 % 50,
                        wall_ms: i as u32 % 60,
                        memory_kb: 9000 + i as u64,
                        limit_hit: i.is_multiple_of(5).then(|| "cpu".into()),
                        at,
                    }
                    .into(),
                    ..envelope.clone()
                });
            }
            out.push(envelope);
        }
        for (i, envelope) in out.iter_mut().enumerate() {
            envelope.cursor = Cursor {
                tx: 1 + i as u64 / 3,
                seq: i as u64 % 3,
            };
        }
        out
    }

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        fold_equals_batches(
            &Analytics,
            &with_runs(history(1_500)),
            &[
                ("analytics_submissions", "submission_id"),
                ("analytics_days", "day"),
                ("analytics_day_users", "day, user_id"),
                ("analytics_day_verdicts", "day, verdict"),
                ("analytics_playground_runs", "tx, seq"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn the_fold_fails_like_batches() {
        fold_fails_like_batches(&Analytics).await;
    }
}
