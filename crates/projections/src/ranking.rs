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
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::distribution::{Distribution, share_above};
use crate::queries::parse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, int, keys, pairs, pos, replace_others,
    select_in, text,
};
use crate::{Envelope, Projection, ReadDb, Result, from_micros, micros, never_created};

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
}

/// A submission as the ranking knows it: its current verdict and where in
/// the log that verdict was.
#[derive(Debug, Clone)]
struct Sub {
    problem: String,
    user: String,
    created_at: i64,
    accepted: bool,
    runtime: i64,
    memory: i64,
    at: Pos,
    dirty: bool,
}

const SUB_COLUMNS: [&str; 9] = [
    "submission_id",
    "problem_id",
    "user_id",
    "created_at",
    "accepted",
    "runtime_ms",
    "memory_kb",
    "verdict_tx",
    "verdict_seq",
];

/// A best run: (runtime, memory, submitted at, submission id), the ranking
/// order, smallest best.
type Best = (i64, i64, i64, String);

fn sub_from(row: &sqlx::any::AnyRow) -> Result<(String, Sub)> {
    Ok((
        text(row, 0)?,
        Sub {
            problem: text(row, 1)?,
            user: text(row, 2)?,
            created_at: int(row, 3)?,
            accepted: int(row, 4)? == 1,
            runtime: int(row, 5)?,
            memory: int(row, 6)?,
            at: (int(row, 7)?, int(row, 8)?),
            dirty: false,
        },
    ))
}

/// Folds a batch in memory: submissions and their current verdicts, the
/// distribution counts moved by deltas, and each touched user's best run,
/// recomputed from all their accepted runs when one of those was taken
/// back by a rejudge.
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
    let select = format!(
        "SELECT {} FROM ranking_submissions WHERE",
        SUB_COLUMNS.join(", ")
    );
    let mut subs: HashMap<String, Sub> = HashMap::new();
    for row in select_in(conn, &select, &["submission_id"], &keys(&ids)).await? {
        let (id, sub) = sub_from(&row)?;
        subs.insert(id, sub);
    }
    let mut runtimes: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut memory: BTreeMap<(String, i64), i64> = BTreeMap::new();
    // Per (problem, user) touched: whether an accepted run was taken back.
    let mut touched: BTreeMap<(String, String), bool> = BTreeMap::new();
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
                at,
                ..
            } => {
                subs.entry(submission_id.to_string())
                    .or_insert_with(|| Sub {
                        problem: problem_id.to_string(),
                        user: user_id.to_string(),
                        created_at: micros(*at),
                        accepted: false,
                        runtime: 0,
                        memory: 0,
                        at: NO_POS,
                        dirty: true,
                    });
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
                let pair = (sub.problem.clone(), sub.user.clone());
                if sub.accepted {
                    *runtimes
                        .entry((sub.problem.clone(), sub.runtime))
                        .or_default() -= 1;
                    *memory.entry((sub.problem.clone(), sub.memory)).or_default() -= 1;
                    touched.insert(pair.clone(), true);
                }
                sub.accepted = verdict.kind == VerdictKind::Accepted;
                sub.runtime = verdict.runtime_ms as i64;
                sub.memory = verdict.memory_kb as i64;
                sub.at = at;
                sub.dirty = true;
                if sub.accepted {
                    *runtimes
                        .entry((sub.problem.clone(), sub.runtime))
                        .or_default() += 1;
                    *memory.entry((sub.problem.clone(), sub.memory)).or_default() += 1;
                    touched.entry(pair).or_insert(false);
                }
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
                s.created_at.into(),
                (s.accepted as i64).into(),
                s.runtime.into(),
                s.memory.into(),
                s.at.0.into(),
                s.at.1.into(),
            ]
        })
        .collect();
    if !dirty.is_empty() {
        insert(
            conn,
            &format!(
                "INSERT INTO ranking_submissions ({})",
                SUB_COLUMNS.join(", ")
            ),
            &replace_others(&SUB_COLUMNS, &["submission_id"]),
            &dirty,
        )
        .await?;
    }
    write_counts(conn, "ranking_runtimes", "runtime_ms", &runtimes).await?;
    write_counts(conn, "ranking_memory", "memory_kb", &memory).await?;
    if touched.is_empty() {
        return Ok(());
    }

    // Best runs of the touched users.
    let pair_keys = pairs(touched.keys());
    let mut best: HashMap<(String, String), Best> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT problem_id, user_id, runtime_ms, memory_kb, submitted_at, submission_id FROM ranking_best WHERE",
        &["problem_id", "user_id"],
        &pair_keys,
    )
    .await?
    {
        best.insert(
            (text(&row, 0)?, text(&row, 1)?),
            (int(&row, 2)?, int(&row, 3)?, int(&row, 4)?, text(&row, 5)?),
        );
    }
    let taken_back: Vec<(String, String)> = touched
        .iter()
        .filter(|(_, taken)| **taken)
        .map(|(p, _)| p.clone())
        .collect();
    if !taken_back.is_empty() {
        // Every run of those users on those problems: the best is chosen again.
        let select = format!(
            "SELECT {} FROM ranking_submissions WHERE",
            SUB_COLUMNS.join(", ")
        );
        for row in select_in(
            conn,
            &select,
            &["problem_id", "user_id"],
            &pairs(&taken_back),
        )
        .await?
        {
            let (id, sub) = sub_from(&row)?;
            subs.entry(id).or_insert(sub);
        }
    }
    let mut candidates: HashMap<(String, String), Best> = HashMap::new();
    for (id, s) in subs.iter().filter(|(_, s)| s.accepted) {
        let key = (s.problem.clone(), s.user.clone());
        let run = (s.runtime, s.memory, s.created_at, id.clone());
        match candidates.get_mut(&key) {
            Some(b) if *b <= run => {}
            Some(b) => *b = run,
            None => {
                candidates.insert(key, run);
            }
        }
    }
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
            Some((runtime, memory, submitted_at, id)) => upserts.push(vec![
                (&pair.0).into(),
                (&pair.1).into(),
                id.into(),
                (*runtime).into(),
                (*memory).into(),
                (*submitted_at).into(),
            ]),
            None => deletes.push(vec![(&pair.0).into(), (&pair.1).into()]),
        }
    }
    if !upserts.is_empty() {
        let columns = [
            "problem_id",
            "user_id",
            "submission_id",
            "runtime_ms",
            "memory_kb",
            "submitted_at",
        ];
        insert(
            conn,
            &format!("INSERT INTO ranking_best ({})", columns.join(", ")),
            &replace_others(&columns, &["problem_id", "user_id"]),
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

/// Moves `(problem, value) -> accepted` counts by deltas; a count that
/// reaches zero takes its row with it.
async fn write_counts(
    conn: &mut AnyConnection,
    table: &str,
    column: &str,
    deltas: &BTreeMap<(String, i64), i64>,
) -> Result<()> {
    let rows: Vec<Vec<V>> = deltas
        .iter()
        .filter(|(_, d)| **d != 0)
        .map(|((p, v), d)| vec![p.into(), (*v).into(), (*d).into()])
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
        .map(|((p, v), _)| vec![p.into(), (*v).into()])
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
