//! `problem_stats`: per problem, submissions, verdicts, acceptance, how many
//! users tried and how many solved it, and the verdict mix. Runtime and memory
//! distributions of accepted submissions live in [`crate::ranking`].
//!
//! As in profiles, an `InternalError` verdict is counted in the verdict mix
//! but not as judged, so the judge's failures never lower acceptance. Every
//! count follows current verdicts: a rejudge moves its submission from the
//! old verdict to the new one (a kind nobody has any more leaves the mix),
//! and a user is a solver while they have an accepted submission.
//!
//! Owns `problem_stats_submissions` (each submission's current verdict and
//! its log position: a verdict applies only if newer, which makes counters
//! idempotent), `problem_stats`, `problem_stats_users` (who tried, and how
//! many of their submissions are accepted now) and `problem_stats_verdicts`.

use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::profiles::verdict_kind;
use crate::queries::{difficulty, parse};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, int, keys, pairs, pos, replace_others,
    select_in, text,
};
use crate::{Envelope, Projection, ReadDb, Result, never_created};

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
    problem: String,
    user: String,
    verdict: Option<VerdictKind>,
    at: Pos,
    dirty: bool,
}

const SUB_COLUMNS: [&str; 6] = [
    "submission_id",
    "problem_id",
    "user_id",
    "verdict",
    "verdict_tx",
    "verdict_seq",
];

/// What a verdict adds to a problem's (judged, accepted) counts.
fn share(verdict: Option<VerdictKind>) -> (i64, i64) {
    match verdict {
        None | Some(VerdictKind::InternalError) => (0, 0),
        Some(VerdictKind::Accepted) => (1, 1),
        Some(_) => (1, 0),
    }
}

/// Counter deltas for one problem.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    submissions: i64,
    judged: i64,
    accepted: i64,
    attempters: i64,
    solvers: i64,
}

/// A user's standing on a problem: whether their row was there, and how many
/// of their submissions are currently accepted.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    stored: bool,
    accepted: i64,
    dirty: bool,
}

/// Folds a batch: submissions with their current verdicts, each user's count
/// of accepted submissions per problem (a solver has at least one), and the
/// problem counters and verdict mix moved by deltas.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut attempt_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for e in events {
        if let Event::Submission(
            SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_id,
                ..
            }
            | SubmissionEvent::SubmissionJudged {
                submission_id,
                user_id,
                problem_id,
                ..
            },
        ) = &e.event
        {
            ids.insert(submission_id.to_string());
            attempt_keys.insert((problem_id.to_string(), user_id.to_string()));
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let mut subs: HashMap<String, Sub> = HashMap::new();
    for row in select_in(
        conn,
        &format!(
            "SELECT {} FROM problem_stats_submissions WHERE",
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
                problem: text(&row, 1)?,
                user: text(&row, 2)?,
                verdict: verdict.as_deref().map(verdict_kind).transpose()?,
                at: (int(&row, 4)?, int(&row, 5)?),
                dirty: false,
            },
        );
    }
    let mut attempts: HashMap<(String, String), Attempt> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT problem_id, user_id, accepted FROM problem_stats_users WHERE",
        &["problem_id", "user_id"],
        &pairs(&attempt_keys),
    )
    .await?
    {
        attempts.insert(
            (text(&row, 0)?, text(&row, 1)?),
            Attempt {
                stored: true,
                accepted: int(&row, 2)?,
                dirty: false,
            },
        );
    }
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut verdicts: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
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
                problem_id,
                ..
            } => {
                let id = submission_id.to_string();
                if subs.contains_key(&id) {
                    continue;
                }
                let sub = Sub {
                    problem: problem_id.to_string(),
                    user: user_id.to_string(),
                    verdict: None,
                    at: NO_POS,
                    dirty: true,
                };
                let c = counts.entry(sub.problem.clone()).or_default();
                c.submissions += 1;
                let pair = (sub.problem.clone(), sub.user.clone());
                if let std::collections::hash_map::Entry::Vacant(e) = attempts.entry(pair) {
                    c.attempters += 1;
                    e.insert(Attempt {
                        stored: false,
                        accepted: 0,
                        dirty: true,
                    });
                }
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
                let c = counts.entry(sub.problem.clone()).or_default();
                c.judged += judged - old_judged;
                c.accepted += accepted - old_accepted;
                if accepted != old_accepted {
                    let a = attempts
                        .get_mut(&(sub.problem.clone(), sub.user.clone()))
                        .ok_or_else(|| never_created(*submission_id))?;
                    let before = a.accepted;
                    a.accepted += accepted - old_accepted;
                    a.dirty = true;
                    c.solvers += (a.accepted > 0) as i64 - (before > 0) as i64;
                }
                if let Some(old) = sub.verdict {
                    *verdicts
                        .entry((sub.problem.clone(), old.as_str()))
                        .or_default() -= 1;
                }
                *verdicts
                    .entry((sub.problem.clone(), verdict.kind.as_str()))
                    .or_default() += 1;
                sub.verdict = Some(verdict.kind);
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
                (&s.problem).into(),
                (&s.user).into(),
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
                "INSERT INTO problem_stats_submissions ({})",
                SUB_COLUMNS.join(", ")
            ),
            &replace_others(&SUB_COLUMNS, &["submission_id"]),
            &dirty,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = attempts
        .iter()
        .filter(|(_, a)| a.dirty || !a.stored)
        .map(|((p, u), a)| vec![p.into(), u.into(), a.accepted.into()])
        .collect();
    if !rows.is_empty() {
        insert(
            conn,
            "INSERT INTO problem_stats_users (problem_id, user_id, accepted)",
            "ON CONFLICT (problem_id, user_id) DO UPDATE SET accepted = excluded.accepted",
            &rows,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = counts
        .iter()
        .filter(|(_, c)| **c != Counts::default())
        .map(|(p, c)| {
            vec![
                p.into(),
                c.submissions.into(),
                c.judged.into(),
                c.accepted.into(),
                c.attempters.into(),
                c.solvers.into(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let columns = [
            "problem_id",
            "submissions",
            "judged",
            "accepted",
            "attempters",
            "solvers",
        ];
        insert(
            conn,
            &format!("INSERT INTO problem_stats ({})", columns.join(", ")),
            &add_others("problem_stats", &columns, &["problem_id"]),
            &rows,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|((p, v), n)| vec![p.into(), (*v).into(), (*n).into()])
        .collect();
    if !rows.is_empty() {
        insert(
            conn,
            "INSERT INTO problem_stats_verdicts (problem_id, verdict, n)",
            &add_others(
                "problem_stats_verdicts",
                &["problem_id", "verdict", "n"],
                &["problem_id", "verdict"],
            ),
            &rows,
        )
        .await?;
    }
    let fell: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|((p, v), _)| vec![p.into(), (*v).into()])
        .collect();
    if !fell.is_empty() {
        delete_in(
            conn,
            "DELETE FROM problem_stats_verdicts WHERE n = 0 AND",
            &["problem_id", "verdict"],
            &fell,
        )
        .await?;
    }
    Ok(())
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
