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
use domain::Event;
use domain::playground::PlaygroundEvent;
use domain::submission::{SubmissionEvent, VerdictKind};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::profiles::verdict_kind;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, int, keys, pos, replace_others, select_in, text,
};
use crate::{
    Envelope, Projection, ReadDb, Result, date_day, day_date, micros, never_created, utc_day,
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
}

#[derive(Debug, Clone)]
struct Sub {
    user: String,
    day: i64,
    verdict: Option<VerdictKind>,
    at: Pos,
    dirty: bool,
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

/// Counter deltas for one day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Day {
    submissions: i64,
    judged: i64,
    accepted: i64,
    active_users: i64,
    playground_runs: i64,
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
    let mut subs: HashMap<String, Sub> = HashMap::new();
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
                let (old_judged, old_accepted) = share(sub.verdict);
                let (judged, accepted) = share(Some(verdict.kind));
                let d = days.entry(sub.day).or_default();
                d.judged += judged - old_judged;
                d.accepted += accepted - old_accepted;
                if let Some(old) = sub.verdict {
                    *verdicts.entry((sub.day, old.as_str())).or_default() -= 1;
                }
                *verdicts
                    .entry((sub.day, verdict.kind.as_str()))
                    .or_default() += 1;
                sub.verdict = Some(verdict.kind);
                sub.at = at;
                sub.dirty = true;
            }
            Event::Playground(PlaygroundEvent::PlaygroundRunCompleted {
                user_id,
                cpu_ms,
                memory_kb,
                limit_hit,
                at,
                ..
            }) => {
                if !seen_runs.insert(pos(envelope.cursor)) {
                    continue;
                }
                let day = utc_day(micros(*at));
                days.entry(day).or_default().playground_runs += 1;
                activate(day, user_id.to_string(), &mut days);
                new_runs.push(vec![
                    (envelope.cursor.tx as i64).into(),
                    (envelope.cursor.seq as i64).into(),
                    user_id.to_string().into(),
                    day.into(),
                    (*cpu_ms as i64).into(),
                    (*memory_kb as i64).into(),
                    V::OT(limit_hit.clone()),
                ]);
            }
            _ => {}
        }
    }

    let dirty: Vec<Vec<V>> = subs
        .iter()
        .filter(|(_, s)| s.dirty)
        .map(|(id, s)| {
            vec![
                id.into(),
                (&s.user).into(),
                s.day.into(),
                V::OT(s.verdict.map(|k| k.as_str().to_string())),
                s.at.0.into(),
                s.at.1.into(),
            ]
        })
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
            "INSERT INTO analytics_playground_runs (tx, seq, user_id, day, cpu_ms, memory_kb, limit_hit)",
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
        .map(|(day, d)| {
            vec![
                (*day).into(),
                d.submissions.into(),
                d.judged.into(),
                d.accepted.into(),
                d.active_users.into(),
                d.playground_runs.into(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let columns = [
            "day",
            "submissions",
            "judged",
            "accepted",
            "active_users",
            "playground_runs",
        ];
        insert(
            conn,
            &format!("INSERT INTO analytics_days ({})", columns.join(", ")),
            &add_others("analytics_days", &columns, &["day"]),
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
