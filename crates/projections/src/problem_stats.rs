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

use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::fold::{Change, Creation, IdHash, Judge, SubTable, Subs, id_keys, uuid_text};
use crate::profiles::{share, share_moved, verdict_kind};
use crate::queries::{difficulty, parse};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, insert_all, int, select_in, text,
};
use crate::{Envelope, Fold, Projection, ReadDb, Result, Sink, never_created};

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

    fn fold(&self) -> Option<Box<dyn Fold>> {
        Some(Box::<ProblemStatsFold>::default())
    }
}

#[derive(Debug, Clone, Copy)]
struct Sub {
    problem: ProblemId,
    user: UserId,
    verdict: Option<VerdictKind>,
    at: Pos,
}

const SUBS: SubTable = SubTable {
    name: "problem_stats_submissions",
    columns: &[
        "submission_id",
        "problem_id",
        "user_id",
        "verdict",
        "verdict_tx",
        "verdict_seq",
    ],
};

const COUNT_COLUMNS: [&str; 6] = [
    "problem_id",
    "submissions",
    "judged",
    "accepted",
    "attempters",
    "solvers",
];

/// A user on a problem: a row of `problem_stats_users`.
type Pair = (ProblemId, UserId);

impl Sub {
    fn created(c: &Creation) -> Self {
        Sub {
            problem: c.problem,
            user: c.user,
            verdict: None,
            at: NO_POS,
        }
    }

    fn pair(&self) -> Pair {
        (self.problem, self.user)
    }

    fn row(&self, id: SubmissionId) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.problem.0),
            uuid_text(&self.user.0),
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
    }
}

fn sub_from(row: &AnyRow) -> Result<Sub> {
    let verdict: Option<String> = row.try_get(3)?;
    Ok(Sub {
        problem: parse("problem_id", &text(row, 1)?)?,
        user: parse("user_id", &text(row, 2)?)?,
        verdict: verdict.as_deref().map(verdict_kind).transpose()?,
        at: (int(row, 4)?, int(row, 5)?),
    })
}

/// A problem's counters, or deltas to them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    submissions: i64,
    judged: i64,
    accepted: i64,
    attempters: i64,
    solvers: i64,
}

fn counts_row(problem: &ProblemId, c: &Counts) -> Vec<V> {
    vec![
        uuid_text(&problem.0),
        c.submissions.into(),
        c.judged.into(),
        c.accepted.into(),
        c.attempters.into(),
        c.solvers.into(),
    ]
}

fn user_row((problem, user): &Pair, accepted: i64) -> Vec<V> {
    vec![uuid_text(&problem.0), uuid_text(&user.0), accepted.into()]
}

fn verdict_row(problem: &ProblemId, verdict: &str, n: i64) -> Vec<V> {
    vec![uuid_text(&problem.0), verdict.into(), n.into()]
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
    let mut ids: BTreeSet<SubmissionId> = BTreeSet::new();
    let mut attempt_keys: BTreeSet<Pair> = BTreeSet::new();
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
            ids.insert(*submission_id);
            attempt_keys.insert((*problem_id, *user_id));
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let mut subs: Subs<Sub> = Subs::default();
    subs.read(conn, &SUBS, &["submission_id"], &id_keys(&ids), sub_from)
        .await?;
    let mut attempts: HashMap<Pair, Attempt> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT problem_id, user_id, accepted FROM problem_stats_users WHERE",
        &["problem_id", "user_id"],
        &attempt_keys
            .iter()
            .map(|(p, u)| vec![uuid_text(&p.0), uuid_text(&u.0)])
            .collect::<Vec<_>>(),
    )
    .await?
    {
        attempts.insert(
            (
                parse("problem_id", &text(&row, 0)?)?,
                parse("user_id", &text(&row, 1)?)?,
            ),
            Attempt {
                stored: true,
                accepted: int(&row, 2)?,
                dirty: false,
            },
        );
    }
    let mut dirty: BTreeSet<SubmissionId> = BTreeSet::new();
    let mut counts: BTreeMap<ProblemId, Counts> = BTreeMap::new();
    let mut verdicts: BTreeMap<(ProblemId, &'static str), i64> = BTreeMap::new();
    for envelope in events {
        subs.apply(envelope, Sub::created, |change| {
            match change {
                Change::Created(id, sub) => {
                    dirty.insert(id);
                    let c = counts.entry(sub.problem).or_default();
                    c.submissions += 1;
                    if let Entry::Vacant(e) = attempts.entry(sub.pair()) {
                        c.attempters += 1;
                        e.insert(Attempt {
                            stored: false,
                            accepted: 0,
                            dirty: true,
                        });
                    }
                }
                Change::Judged(id, before, after) => {
                    dirty.insert(id);
                    let (judged, accepted) = share_moved(before.verdict, after.verdict);
                    let c = counts.entry(after.problem).or_default();
                    c.judged += judged;
                    c.accepted += accepted;
                    if accepted != 0 {
                        let a = attempts
                            .get_mut(&after.pair())
                            .ok_or_else(|| never_created(id))?;
                        let had = a.accepted;
                        a.accepted += accepted;
                        a.dirty = true;
                        c.solvers += (a.accepted > 0) as i64 - (had > 0) as i64;
                    }
                    if let Some(old) = before.verdict {
                        *verdicts.entry((after.problem, old.as_str())).or_default() -= 1;
                    }
                    if let Some(new) = after.verdict {
                        *verdicts.entry((after.problem, new.as_str())).or_default() += 1;
                    }
                }
            }
            Ok(())
        })?;
    }

    let rows: Vec<Vec<V>> = dirty
        .iter()
        .filter_map(|id| subs.get(id).map(|s| s.row(*id)))
        .collect();
    SUBS.upsert(conn, &rows).await?;
    let rows: Vec<Vec<V>> = attempts
        .iter()
        .filter(|(_, a)| a.dirty || !a.stored)
        .map(|(pair, a)| user_row(pair, a.accepted))
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
        .map(|(p, c)| counts_row(p, c))
        .collect();
    if !rows.is_empty() {
        insert(
            conn,
            &format!("INSERT INTO problem_stats ({})", COUNT_COLUMNS.join(", ")),
            &add_others("problem_stats", &COUNT_COLUMNS, &["problem_id"]),
            &rows,
        )
        .await?;
    }
    let rows: Vec<Vec<V>> = verdicts
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|((p, v), n)| verdict_row(p, v, *n))
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
        .map(|((p, v), _)| vec![uuid_text(&p.0), (*v).into()])
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

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict. The other tables are derived from those when
/// written, as the batch path keeps them: a user row per user and problem
/// with a submission, a counters row per problem with a submission, a mix
/// row per verdict some submission has now.
#[derive(Debug, Default)]
struct ProblemStatsFold {
    subs: Subs<Sub>,
}

impl Fold for ProblemStatsFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        self.subs.fold(events, Sub::created)
    }

    fn rows(&self) -> usize {
        // The rows derived on writing are at most one per submission, and
        // far fewer but for the users'.
        self.subs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let subs = std::mem::take(&mut self.subs).into_sorted();
            SUBS.insert_all(conn, &mut subs.iter().map(|(id, s)| s.row(*id)))
                .await?;

            let mut users: HashMap<Pair, i64, IdHash> = HashMap::default();
            let mut counts: HashMap<ProblemId, Counts, IdHash> = HashMap::default();
            let mut verdicts: HashMap<(ProblemId, &'static str), i64, IdHash> = HashMap::default();
            for (_, s) in &subs {
                let (judged, accepted) = share(s.verdict);
                *users.entry(s.pair()).or_default() += accepted;
                let c = counts.entry(s.problem).or_default();
                c.submissions += 1;
                c.judged += judged;
                c.accepted += accepted;
                if let Some(kind) = s.verdict {
                    *verdicts.entry((s.problem, kind.as_str())).or_default() += 1;
                }
            }
            drop(subs);
            let mut users: Vec<(Pair, i64)> = users.into_iter().collect();
            users.sort_unstable_by_key(|(pair, _)| *pair);
            for ((problem, _), accepted) in &users {
                let c = counts.entry(*problem).or_default();
                c.attempters += 1;
                c.solvers += (*accepted > 0) as i64;
            }
            insert_all(
                conn,
                "INSERT INTO problem_stats_users (problem_id, user_id, accepted)",
                &mut users
                    .iter()
                    .map(|(pair, accepted)| user_row(pair, *accepted)),
            )
            .await?;
            drop(users);

            let mut counts: Vec<(ProblemId, Counts)> = counts.into_iter().collect();
            counts.sort_unstable_by_key(|(problem, _)| *problem);
            insert_all(
                conn,
                &format!("INSERT INTO problem_stats ({})", COUNT_COLUMNS.join(", ")),
                &mut counts.iter().map(|(problem, c)| counts_row(problem, c)),
            )
            .await?;

            let mut verdicts: Vec<((ProblemId, &'static str), i64)> =
                verdicts.into_iter().collect();
            verdicts.sort_unstable_by_key(|(key, _)| *key);
            insert_all(
                conn,
                "INSERT INTO problem_stats_verdicts (problem_id, verdict, n)",
                &mut verdicts
                    .iter()
                    .map(|((problem, verdict), n)| verdict_row(problem, verdict, *n)),
            )
            .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold_check::*;

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        for seed in 0..20 {
            fold_equals_batches(&ProblemStats, &tied_history(seed, 400)).await;
        }
    }

    #[tokio::test]
    async fn the_fold_fails_like_batches() {
        for seed in 0..20 {
            fold_fails_like_batches(&ProblemStats, &tied_history(seed, 400)).await;
        }
    }
}
