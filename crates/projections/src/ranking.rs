//! `ranking`: per problem, each user's best accepted submission, ordered by
//! runtime, then memory, then submission time (then user id, so the order is
//! total); and the exact runtime and memory distributions of every accepted
//! submission, from which percentiles ("faster than 87% of accepted
//! submissions") and histograms are read.
//!
//! Owns `ranking_submissions`, `ranking_best`, `ranking_runtimes` and
//! `ranking_memory`. `ranking_submissions` keeps each submission's time (the
//! `SubmissionCreated` time), its current verdict and that verdict's log
//! position: a verdict applies only if it is newer, so re-applied events
//! change nothing. A rejudge that takes an accepted run back removes it from
//! the distributions, and if it was the user's best, their next best
//! accepted run takes its place (or the user leaves the ranking).

use chrono::{DateTime, Utc};
use domain::submission::{Verdict, VerdictKind};
use domain::{ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::distribution::{Distribution, share_above};
use crate::fold::{
    Change, Creation, IdHash, Judge, SubTable, Subs, id_keys, submission_ids, uuid_text,
};
use crate::queries::parse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, insert_all, int, replace_others, select_in, text,
};
use crate::{Envelope, Fold, Projection, ReadDb, Result, Sink, from_micros};

#[derive(Debug)]
pub struct Ranking;

impl Projection for Ranking {
    fn name(&self) -> &'static str {
        "ranking"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "ranking_submissions",
            "ranking_best",
            "ranking_runtimes",
            "ranking_memory",
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
        Some(Box::<RankingFold>::default())
    }
}

/// A submission as the ranking knows it: its current verdict and where in
/// the log that verdict was.
#[derive(Debug, Clone, Copy)]
struct Sub {
    problem: ProblemId,
    user: UserId,
    created_at: i64,
    accepted: bool,
    runtime: i64,
    memory: i64,
    at: Pos,
}

const SUBS: SubTable = SubTable {
    name: "ranking_submissions",
    columns: &[
        "submission_id",
        "problem_id",
        "user_id",
        "created_at",
        "accepted",
        "runtime_ms",
        "memory_kb",
        "verdict_tx",
        "verdict_seq",
    ],
};

const BEST_COLUMNS: [&str; 6] = [
    "problem_id",
    "user_id",
    "submission_id",
    "runtime_ms",
    "memory_kb",
    "submitted_at",
];

/// A run: (runtime, memory, submitted at, submission id), the ranking
/// order, smallest best.
type Run = (i64, i64, i64, SubmissionId);

/// A user on a problem: whose best run `ranking_best` keeps.
type Pair = (ProblemId, UserId);

impl Sub {
    fn created(c: &Creation) -> Self {
        Sub {
            problem: c.problem,
            user: c.user,
            created_at: c.created_at,
            accepted: false,
            runtime: 0,
            memory: 0,
            at: NO_POS,
        }
    }

    fn pair(&self) -> Pair {
        (self.problem, self.user)
    }

    fn run(&self, id: SubmissionId) -> Run {
        (self.runtime, self.memory, self.created_at, id)
    }

    fn row(&self, id: SubmissionId) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.problem.0),
            uuid_text(&self.user.0),
            self.created_at.into(),
            (self.accepted as i64).into(),
            self.runtime.into(),
            self.memory.into(),
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
        self.accepted = verdict.kind == VerdictKind::Accepted;
        self.runtime = verdict.runtime_ms as i64;
        self.memory = verdict.memory_kb as i64;
    }
}

fn sub_from(row: &sqlx::any::AnyRow) -> Result<Sub> {
    Ok(Sub {
        problem: parse("problem_id", &text(row, 1)?)?,
        user: parse("user_id", &text(row, 2)?)?,
        created_at: int(row, 3)?,
        accepted: int(row, 4)? == 1,
        runtime: int(row, 5)?,
        memory: int(row, 6)?,
        at: (int(row, 7)?, int(row, 8)?),
    })
}

/// Each user's best accepted run per problem, among `subs`.
fn best_runs<'a>(
    subs: impl IntoIterator<Item = &'a (SubmissionId, Sub)>,
) -> HashMap<Pair, Run, IdHash> {
    let mut best: HashMap<Pair, Run, IdHash> = HashMap::default();
    for (id, s) in subs.into_iter().filter(|(_, s)| s.accepted) {
        let run = s.run(*id);
        match best.entry(s.pair()) {
            Entry::Occupied(mut e) => {
                if run < *e.get() {
                    e.insert(run);
                }
            }
            Entry::Vacant(e) => {
                e.insert(run);
            }
        }
    }
    best
}

fn best_row((problem, user): &Pair, (runtime, memory, submitted_at, id): &Run) -> Vec<V> {
    vec![
        uuid_text(&problem.0),
        uuid_text(&user.0),
        uuid_text(&id.0),
        (*runtime).into(),
        (*memory).into(),
        (*submitted_at).into(),
    ]
}

fn pair_key((problem, user): &Pair) -> Vec<V> {
    vec![uuid_text(&problem.0), uuid_text(&user.0)]
}

/// Folds a batch in memory: submissions and their current verdicts, the
/// distribution counts moved by deltas, and each touched user's best run,
/// recomputed from all their accepted runs when one of those was taken
/// back by a rejudge.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let ids = submission_ids(events);
    if ids.is_empty() {
        return Ok(());
    }
    let mut subs: Subs<Sub> = Subs::default();
    subs.read(conn, &SUBS, &["submission_id"], &id_keys(&ids), sub_from)
        .await?;
    let mut dirty: BTreeSet<SubmissionId> = BTreeSet::new();
    let mut runtimes: BTreeMap<(ProblemId, i64), i64> = BTreeMap::new();
    let mut memory: BTreeMap<(ProblemId, i64), i64> = BTreeMap::new();
    // Per (problem, user) touched: whether an accepted run was taken back.
    let mut touched: BTreeMap<Pair, bool> = BTreeMap::new();
    for envelope in events {
        subs.apply(envelope, Sub::created, |change| {
            match change {
                Change::Created(id, _) => {
                    dirty.insert(id);
                }
                Change::Judged(id, before, after) => {
                    dirty.insert(id);
                    if before.accepted {
                        *runtimes
                            .entry((before.problem, before.runtime))
                            .or_default() -= 1;
                        *memory.entry((before.problem, before.memory)).or_default() -= 1;
                        touched.insert(before.pair(), true);
                    }
                    if after.accepted {
                        *runtimes.entry((after.problem, after.runtime)).or_default() += 1;
                        *memory.entry((after.problem, after.memory)).or_default() += 1;
                        touched.entry(after.pair()).or_insert(false);
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
    write_counts(conn, "ranking_runtimes", "runtime_ms", &runtimes).await?;
    write_counts(conn, "ranking_memory", "memory_kb", &memory).await?;
    if touched.is_empty() {
        return Ok(());
    }

    // Best runs of the touched users.
    let pair_keys: Vec<Vec<V>> = touched.keys().map(pair_key).collect();
    let mut best: HashMap<Pair, Run> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT problem_id, user_id, runtime_ms, memory_kb, submitted_at, submission_id FROM ranking_best WHERE",
        &["problem_id", "user_id"],
        &pair_keys,
    )
    .await?
    {
        best.insert(
            (
                parse("problem_id", &text(&row, 0)?)?,
                parse("user_id", &text(&row, 1)?)?,
            ),
            (
                int(&row, 2)?,
                int(&row, 3)?,
                int(&row, 4)?,
                parse("submission_id", &text(&row, 5)?)?,
            ),
        );
    }
    let taken_back: Vec<Vec<V>> = touched
        .iter()
        .filter(|(_, taken)| **taken)
        .map(|(pair, _)| pair_key(pair))
        .collect();
    if !taken_back.is_empty() {
        // Every run of those users on those problems: the best is chosen again.
        subs.read(
            conn,
            &SUBS,
            &["problem_id", "user_id"],
            &taken_back,
            sub_from,
        )
        .await?;
    }
    let candidates = best_runs(subs.iter());
    let (mut upserts, mut deletes) = (vec![], vec![]);
    for (pair, taken) in &touched {
        let stored = best.get(pair);
        let new = if *taken {
            candidates.get(pair)
        } else {
            [stored, candidates.get(pair)].into_iter().flatten().min()
        };
        if new == stored {
            continue;
        }
        match new {
            Some(run) => upserts.push(best_row(pair, run)),
            None => deletes.push(pair_key(pair)),
        }
    }
    if !upserts.is_empty() {
        insert(
            conn,
            &format!("INSERT INTO ranking_best ({})", BEST_COLUMNS.join(", ")),
            &replace_others(&BEST_COLUMNS, &["problem_id", "user_id"]),
            &upserts,
        )
        .await?;
    }
    if !deletes.is_empty() {
        delete_in(
            conn,
            "DELETE FROM ranking_best WHERE",
            &["problem_id", "user_id"],
            &deletes,
        )
        .await?;
    }
    Ok(())
}

fn count_row(problem: &ProblemId, value: i64, accepted: i64) -> Vec<V> {
    vec![uuid_text(&problem.0), value.into(), accepted.into()]
}

/// Moves `(problem, value) -> accepted` counts by deltas; a count that
/// reaches zero takes its row with it.
async fn write_counts(
    conn: &mut AnyConnection,
    table: &str,
    column: &str,
    deltas: &BTreeMap<(ProblemId, i64), i64>,
) -> Result<()> {
    let rows: Vec<Vec<V>> = deltas
        .iter()
        .filter(|(_, d)| **d != 0)
        .map(|((p, v), d)| count_row(p, *v, *d))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let columns = ["problem_id", column, "accepted"];
    insert(
        conn,
        &format!("INSERT INTO {table} ({})", columns.join(", ")),
        &add_others(table, &columns, &["problem_id", column]),
        &rows,
    )
    .await?;
    let fell: Vec<Vec<V>> = deltas
        .iter()
        .filter(|(_, d)| **d < 0)
        .map(|((p, v), _)| vec![uuid_text(&p.0), (*v).into()])
        .collect();
    if !fell.is_empty() {
        delete_in(
            conn,
            &format!("DELETE FROM {table} WHERE accepted = 0 AND"),
            &["problem_id", column],
            &fell,
        )
        .await?;
    }
    Ok(())
}

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict. Best runs and distributions are derived from
/// those when written, as the batch path keeps them: a best row per user
/// and problem with an accepted run, a count per value with accepted runs.
#[derive(Debug, Default)]
struct RankingFold {
    subs: Subs<Sub>,
}

impl Fold for RankingFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        self.subs.fold(events, Sub::created)
    }

    fn rows(&self) -> usize {
        // Best runs and distribution counts, derived on writing, are at most
        // one per accepted submission each, and usually far fewer.
        self.subs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let subs = std::mem::take(&mut self.subs).into_sorted();
            SUBS.insert_all(conn, &mut subs.iter().map(|(id, s)| s.row(*id)))
                .await?;

            let mut best: Vec<(Pair, Run)> = best_runs(&subs).into_iter().collect();
            best.sort_unstable_by_key(|(pair, _)| *pair);
            insert_all(
                conn,
                &format!("INSERT INTO ranking_best ({})", BEST_COLUMNS.join(", ")),
                &mut best.iter().map(|(pair, run)| best_row(pair, run)),
            )
            .await?;
            drop(best);

            let accepted: Vec<&Sub> = subs.iter().map(|(_, s)| s).filter(|s| s.accepted).collect();
            for (table, column, value) in [
                (
                    "ranking_runtimes",
                    "runtime_ms",
                    (|s: &Sub| s.runtime) as fn(&Sub) -> i64,
                ),
                ("ranking_memory", "memory_kb", |s: &Sub| s.memory),
            ] {
                let mut counts: HashMap<(ProblemId, i64), i64, IdHash> = HashMap::default();
                for s in &accepted {
                    *counts.entry((s.problem, value(s))).or_default() += 1;
                }
                let mut counts: Vec<((ProblemId, i64), i64)> = counts.into_iter().collect();
                counts.sort_unstable_by_key(|(key, _)| *key);
                insert_all(
                    conn,
                    &format!("INSERT INTO {table} (problem_id, {column}, accepted)"),
                    &mut counts.iter().map(|((p, v), n)| count_row(p, *v, *n)),
                )
                .await?;
            }
            Ok(())
        })
    }
}

/// One row of a problem's ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingEntry {
    /// 1-based position in the whole ranking, not just this page.
    pub rank: i64,
    pub user_id: UserId,
    pub username: String,
    pub submission_id: SubmissionId,
    pub runtime_ms: i64,
    pub memory_kb: i64,
    pub submitted_at: DateTime<Utc>,
    /// Pass as `after` to get the entries that follow this one.
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub has_next_page: bool,
}

/// Where a ranking page starts: the sort key of the last entry seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    runtime_ms: i64,
    memory_kb: i64,
    submitted_at: i64,
    user_id: String,
}

impl Key {
    fn encode(&self) -> String {
        format!(
            "r:{}:{}:{}:{}",
            self.runtime_ms, self.memory_kb, self.submitted_at, self.user_id
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("r:")?.splitn(4, ':');
        Some(Self {
            runtime_ms: it.next()?.parse().ok()?,
            memory_kb: it.next()?.parse().ok()?,
            submitted_at: it.next()?.parse().ok()?,
            user_id: it.next()?.parse::<UserId>().ok()?.to_string(),
        })
    }
}

/// A cursor this module did not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`after` is not a cursor from this list")]
pub struct BadCursor;

/// The problem's ranking from just after `after` (a cursor from an earlier
/// page), `first` entries at most.
pub async fn problem_ranking(
    db: &ReadDb,
    problem: ProblemId,
    first: i64,
    after: Option<&str>,
) -> Result<std::result::Result<Page<RankingEntry>, BadCursor>> {
    let key = match after.map(Key::decode) {
        Some(None) => return Ok(Err(BadCursor)),
        Some(Some(k)) => Some(k),
        None => None,
    };
    let (has, k) = match &key {
        Some(k) => (1i64, k.clone()),
        None => (
            0,
            Key {
                runtime_ms: 0,
                memory_kb: 0,
                submitted_at: 0,
                user_id: String::new(),
            },
        ),
    };
    // Deactivated users are not listed (see `leaderboard::LISTED`).
    const LISTED: &str =
        "NOT EXISTS (SELECT 1 FROM users d WHERE d.user_id = b.user_id AND d.active = 0)";
    // Rows strictly after the key in ranking order.
    const AFTER: &str = "($2 = 0 OR b.runtime_ms > $3 OR (b.runtime_ms = $3 AND (b.memory_kb > $4 \
         OR (b.memory_kb = $4 AND (b.submitted_at > $5 OR (b.submitted_at = $5 AND b.user_id > $6))))))";
    let ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM ranking_best b WHERE b.problem_id = $1 AND $2 = 1 AND NOT {AFTER} AND {LISTED}"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT b.user_id, COALESCE(u.username, '') AS username, b.submission_id, b.runtime_ms, b.memory_kb, b.submitted_at \
         FROM ranking_best b LEFT JOIN users u ON u.user_id = b.user_id \
         WHERE b.problem_id = $1 AND {AFTER} AND {LISTED} \
         ORDER BY b.runtime_ms, b.memory_kb, b.submitted_at, b.user_id LIMIT $7"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .bind(first + 1)
    .fetch_all(&db.pool)
    .await?;
    let has_next_page = rows.len() as i64 > first;
    let entries = rows
        .iter()
        .take(first as usize)
        .enumerate()
        .map(|(i, row)| {
            let user_id: String = row.try_get("user_id")?;
            let key = Key {
                runtime_ms: row.try_get("runtime_ms")?,
                memory_kb: row.try_get("memory_kb")?,
                submitted_at: row.try_get("submitted_at")?,
                user_id: user_id.clone(),
            };
            Ok(RankingEntry {
                rank: ahead + i as i64 + 1,
                user_id: parse("user_id", &user_id)?,
                username: row.try_get("username")?,
                submission_id: parse("submission_id", &row.try_get::<String, _>("submission_id")?)?,
                runtime_ms: key.runtime_ms,
                memory_kb: key.memory_kb,
                submitted_at: from_micros(key.submitted_at),
                cursor: key.encode(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Ok(Page {
        entries,
        has_next_page,
    }))
}

/// Where an accepted submission stands among all accepted submissions of
/// its problem (its own included), in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Share of accepted submissions strictly slower than this one.
    pub runtime: f64,
    /// Share of accepted submissions with a strictly larger memory peak.
    pub memory: f64,
}

/// `None` when the problem has no accepted submission yet in the read model.
pub async fn percentiles(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
    memory_kb: i64,
) -> Result<Option<Percentiles>> {
    Ok(runtime_percentile(db, problem, runtime_ms)
        .await?
        .zip(memory_percentile(db, problem, memory_kb).await?)
        .map(|(runtime, memory)| Percentiles { runtime, memory }))
}

/// Share of the problem's accepted submissions strictly slower than `runtime_ms`.
pub async fn runtime_percentile(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
) -> Result<Option<f64>> {
    let (slower, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN runtime_ms > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_runtimes WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(runtime_ms)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(slower, total))
}

/// Share of the problem's accepted submissions with a strictly larger memory peak.
pub async fn memory_percentile(
    db: &ReadDb,
    problem: ProblemId,
    memory_kb: i64,
) -> Result<Option<f64>> {
    let (bigger, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN memory_kb > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_memory WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(memory_kb)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(bigger, total))
}

/// Runtime (ms) and memory (KiB) distributions of a problem's accepted
/// submissions.
pub async fn distributions(
    db: &ReadDb,
    problem: ProblemId,
) -> Result<(Distribution, Distribution)> {
    let runtimes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT runtime_ms, accepted FROM ranking_runtimes WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    let memory: Vec<(i64, i64)> =
        sqlx::query_as("SELECT memory_kb, accepted FROM ranking_memory WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    Ok((
        Distribution::from_counts(runtimes),
        Distribution::from_counts(memory),
    ))
}

/// Every problem's runtime and memory distributions (admin analytics).
pub async fn all_distributions(
    db: &ReadDb,
) -> Result<std::collections::HashMap<ProblemId, (Distribution, Distribution)>> {
    type Counts = Vec<(i64, i64)>;
    let mut acc: std::collections::HashMap<ProblemId, (Counts, Counts)> = Default::default();
    let runtimes: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, runtime_ms, accepted FROM ranking_runtimes")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in runtimes {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .0
            .push((v, n));
    }
    let memory: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, memory_kb, accepted FROM ranking_memory")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in memory {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .1
            .push((v, n));
    }
    Ok(acc
        .into_iter()
        .map(|(p, (r, m))| {
            (
                p,
                (Distribution::from_counts(r), Distribution::from_counts(m)),
            )
        })
        .collect())
}

/// Whether `submission` is now its author's best on `problem`, i.e. its
/// verdict moved the problem's ranking.
pub async fn is_best(db: &ReadDb, problem: ProblemId, submission: SubmissionId) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM ranking_best WHERE problem_id = $1 AND submission_id = $2",
    )
    .bind(problem.to_string())
    .bind(submission.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold_check::*;

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        for seed in 0..20 {
            fold_equals_batches(&Ranking, &tied_history(seed, 400)).await;
        }
    }

    #[tokio::test]
    async fn the_fold_fails_like_batches() {
        for seed in 0..20 {
            fold_fails_like_batches(&Ranking, &tied_history(seed, 400)).await;
        }
    }
}
