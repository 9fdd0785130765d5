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
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::{Event, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::fold::{Change, Creation, IdHash, Judge, SubTable, Subs, id_keys, uuid_text};
use crate::profiles::{share_moved, verdict_kind};
use crate::queries::parse;
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, insert_all, int, pos, select_in, text,
};
use crate::{
    Envelope, Fold, Projection, ReadDb, Result, Sink, date_day, day_date, micros, utc_day,
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

/// A submission as the analytics know it: the day it was made, its current
/// verdict and where in the log that verdict was.
#[derive(Debug, Clone, Copy)]
struct Sub {
    user: UserId,
    day: i64,
    verdict: Option<VerdictKind>,
    at: Pos,
    /// Made or judged since it was read back: a batch writes it.
    dirty: bool,
}

const SUBS: SubTable = SubTable {
    name: "analytics_submissions",
    columns: &[
        "submission_id",
        "user_id",
        "day",
        "verdict",
        "verdict_tx",
        "verdict_seq",
    ],
};

impl Sub {
    fn created(c: &Creation) -> Self {
        Sub {
            user: c.user,
            day: utc_day(c.created_at),
            verdict: None,
            at: NO_POS,
            dirty: true,
        }
    }

    fn row(&self, id: SubmissionId) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.user.0),
            self.day.into(),
            V::OT(self.verdict.map(|k| k.as_str().to_string())),
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
        self.dirty = true;
    }
}

fn sub_from(row: &AnyRow) -> Result<Sub> {
    let verdict: Option<String> = row.try_get(3)?;
    Ok(Sub {
        user: parse("user_id", &text(row, 1)?)?,
        day: int(row, 2)?,
        verdict: verdict.as_deref().map(verdict_kind).transpose()?,
        at: (int(row, 4)?, int(row, 5)?),
        dirty: false,
    })
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

/// The counters and day rows events move, beside the submissions: by a
/// batch as deltas over what it read back, by a rebuild as totals.
#[derive(Debug, Default)]
struct Tally {
    days: HashMap<i64, Day, IdHash>,
    verdicts: HashMap<(i64, VerdictKind), i64, IdHash>,
    /// Who was active on a day, as a batch read it back.
    stored_active: HashSet<(i64, UserId), IdHash>,
    /// Who was first seen active on a day here.
    active: HashSet<(i64, UserId), IdHash>,
    /// Where the runs a batch read back were in the log.
    stored_runs: HashSet<Pos, IdHash>,
    /// The runs first seen here, in log order, which is their key's order.
    runs: Vec<Run>,
}

/// A tally's rows, each table's in key order. Counters at zero are left
/// out: a batch's would move nothing, and a rebuild's are rows the batches
/// delete or never write.
struct Rows {
    days: Vec<(i64, Day)>,
    active: Vec<(i64, UserId)>,
    verdicts: Vec<(i64, &'static str, i64)>,
    runs: Vec<Run>,
}

impl Tally {
    fn activate(&mut self, day: i64, user: UserId) {
        if !self.stored_active.contains(&(day, user)) && self.active.insert((day, user)) {
            self.days.entry(day).or_default().active_users += 1;
        }
    }

    /// Counts a submission made, or moved from its old verdict to its new.
    fn count(&mut self, change: Change<Sub>) {
        match change {
            Change::Created(_, sub) => {
                self.days.entry(sub.day).or_default().submissions += 1;
                self.activate(sub.day, sub.user);
            }
            Change::Judged(_, before, after) => {
                let (judged, accepted) = share_moved(before.verdict, after.verdict);
                let day = self.days.entry(after.day).or_default();
                day.judged += judged;
                day.accepted += accepted;
                if let Some(old) = before.verdict {
                    *self.verdicts.entry((after.day, old)).or_default() -= 1;
                }
                if let Some(new) = after.verdict {
                    *self.verdicts.entry((after.day, new)).or_default() += 1;
                }
            }
        }
    }

    /// Counts the completed run `envelope` holds, unless it is counted already.
    fn run(&mut self, envelope: &Envelope) {
        let at = pos(envelope.cursor);
        // Runs are keyed by position and come in log order: one at or before
        // the last is one already seen.
        if self.stored_runs.contains(&at) || self.runs.last().is_some_and(|run| run.at >= at) {
            return;
        }
        let run = Run::of(envelope);
        self.days.entry(run.day).or_default().playground_runs += 1;
        self.activate(run.day, run.user);
        self.runs.push(run);
    }

    fn rows(self) -> Rows {
        let mut days: Vec<_> = self
            .days
            .into_iter()
            .filter(|(_, d)| *d != Day::default())
            .collect();
        days.sort_unstable_by_key(|(day, _)| *day);
        let mut active: Vec<_> = self.active.into_iter().collect();
        active.sort_unstable();
        let mut verdicts: Vec<_> = self
            .verdicts
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((day, kind), n)| (day, kind.as_str(), n))
            .collect();
        verdicts.sort_unstable();
        Rows {
            days,
            active,
            verdicts,
            runs: self.runs,
        }
    }
}

fn active_row(day: i64, user: &UserId) -> Vec<V> {
    vec![day.into(), uuid_text(&user.0)]
}

/// Folds a batch: submissions with their current verdicts, playground runs
/// (new ones only, by log position), who was active each day, and the day
/// counters and verdict mix moved by deltas; as a rebuild folds the log,
/// over the rows the batch may touch, read back first.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let mut ids: BTreeSet<SubmissionId> = BTreeSet::new();
    let mut actives: BTreeSet<(i64, UserId)> = BTreeSet::new();
    let mut runs: Vec<Pos> = vec![];
    for e in events {
        match &e.event {
            Event::Submission(SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                at,
                ..
            }) => {
                ids.insert(*submission_id);
                actives.insert((utc_day(micros(*at)), *user_id));
            }
            Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) => {
                ids.insert(*submission_id);
            }
            Event::Playground(PlaygroundEvent::PlaygroundRunCompleted { user_id, at, .. }) => {
                actives.insert((utc_day(micros(*at)), *user_id));
                runs.push(pos(e.cursor));
            }
            _ => {}
        }
    }
    if ids.is_empty() && runs.is_empty() {
        return Ok(());
    }
    let mut folded = AnalyticsFold::default();
    folded
        .subs
        .read(conn, &SUBS, &["submission_id"], &id_keys(&ids), sub_from)
        .await?;
    for row in select_in(
        conn,
        "SELECT day, user_id FROM analytics_day_users WHERE",
        &["day", "user_id"],
        &actives
            .iter()
            .map(|(day, user)| active_row(*day, user))
            .collect::<Vec<_>>(),
    )
    .await?
    {
        let active = (int(&row, 0)?, parse("user_id", &text(&row, 1)?)?);
        folded.tally.stored_active.insert(active);
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let found: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT tx, seq FROM analytics_playground_runs \
             WHERE (tx > $1 OR (tx = $1 AND seq >= $2)) AND (tx < $3 OR (tx = $3 AND seq <= $4))",
        )
        .bind(first.0)
        .bind(first.1)
        .bind(last.0)
        .bind(last.1)
        .fetch_all(&mut *conn)
        .await?;
        folded.tally.stored_runs.extend(found);
    }
    folded.fold(events)?;

    let AnalyticsFold { subs, tally } = folded;
    let dirty: Vec<Vec<V>> = subs
        .iter()
        .filter(|(_, s)| s.dirty)
        .map(|(id, s)| s.row(*id))
        .collect();
    SUBS.upsert(conn, &dirty).await?;
    let Rows {
        days,
        active,
        verdicts,
        runs,
    } = tally.rows();
    insert(
        conn,
        &format!(
            "INSERT INTO analytics_playground_runs ({})",
            RUN_COLUMNS.join(", ")
        ),
        "ON CONFLICT (tx, seq) DO NOTHING",
        &runs.into_iter().map(Run::values).collect::<Vec<_>>(),
    )
    .await?;
    insert(
        conn,
        "INSERT INTO analytics_day_users (day, user_id)",
        "ON CONFLICT (day, user_id) DO NOTHING",
        &active
            .iter()
            .map(|(day, user)| active_row(*day, user))
            .collect::<Vec<_>>(),
    )
    .await?;
    insert(
        conn,
        &format!("INSERT INTO analytics_days ({})", DAY_COLUMNS.join(", ")),
        &add_others("analytics_days", &DAY_COLUMNS, &["day"]),
        &days
            .iter()
            .map(|(day, d)| d.values(*day))
            .collect::<Vec<_>>(),
    )
    .await?;
    insert(
        conn,
        "INSERT INTO analytics_day_verdicts (day, verdict, n)",
        &add_others(
            "analytics_day_verdicts",
            &["day", "verdict", "n"],
            &["day", "verdict"],
        ),
        &verdicts
            .iter()
            .map(|(day, kind, n)| vec![(*day).into(), (*kind).into(), (*n).into()])
            .collect::<Vec<_>>(),
    )
    .await?;
    let fell: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, _, n)| *n < 0)
        .map(|(day, kind, _)| vec![(*day).into(), (*kind).into()])
        .collect();
    delete_in(
        conn,
        "DELETE FROM analytics_day_verdicts WHERE n = 0 AND",
        &["day", "verdict"],
        &fell,
    )
    .await
}

/// Every row of the analytics tables folded in memory: for a rebuild, from
/// empty tables, and by [`fold`] for a batch, over the rows it read back.
#[derive(Debug, Default)]
struct AnalyticsFold {
    subs: Subs<Sub>,
    tally: Tally,
}

impl Fold for AnalyticsFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            if let Event::Playground(PlaygroundEvent::PlaygroundRunCompleted { .. }) =
                &envelope.event
            {
                self.tally.run(envelope);
            }
            let tally = &mut self.tally;
            self.subs.apply(envelope, Sub::created, |change| {
                tally.count(change);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        let t = &self.tally;
        self.subs.len() + t.active.len() + t.days.len() + t.verdicts.len() + t.runs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        let subs = std::mem::take(&mut self.subs).into_sorted();
        let Rows {
            days,
            active,
            verdicts,
            runs,
        } = std::mem::take(&mut self.tally).rows();
        Box::pin(async move {
            SUBS.insert_all(conn, &mut subs.into_iter().map(|(id, sub)| sub.row(id)))
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
                &mut active.into_iter().map(|(day, user)| active_row(day, &user)),
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
    use crate::fold_check::*;
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
        fold_equals_batches(&Analytics, &with_runs(history(1_500))).await;
    }

    #[tokio::test]
    async fn the_fold_fails_like_batches() {
        fold_fails_like_batches(&Analytics, &history(40)).await;
    }
}
