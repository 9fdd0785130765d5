//! `leaderboard`: the global ranking of users by problems solved, weighted
//! by difficulty ([`weight`]: easy 1, medium 2, hard 3), ties broken by who
//! reached the score first, then by user id so the order is total.
//!
//! A problem counts as solved while the user has an accepted submission of
//! it (by current verdicts: a rejudge can take a solve back, and the user's
//! score drops, or they leave the board with no solve left), timed by when
//! the earliest such submission was made (not judged, so a slow judge queue
//! does not reorder people). Weights follow the problem's current difficulty: an edit
//! that changes it rescores every solver. Since every weight is positive, a
//! user's score is reached when they solved the last of their problems, so
//! "reached at" is the latest of their solve times.
//!
//! Owns `leaderboard_problems`, `leaderboard_submissions` (each submission's
//! current verdict and its log position: a verdict applies only if newer),
//! `leaderboard_solves` and `leaderboard`. Each leaderboard row is recomputed
//! from the solves, so applying an event twice gives the same row.

use chrono::{DateTime, Utc};
use domain::problem::{Difficulty, ProblemEvent};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::fold::{Creation, IdHash, Judge, SubTable, Subs, id_keys, submission_ids, uuid_text};
use crate::queries::parse;
use crate::ranking::{BadCursor, Page};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

use crate::batch::{
    NO_POS, Pos, V, delete_in, execute_in, insert, insert_all, int, keys, pairs, pos,
    replace_others, select_in, text,
};
use crate::{Envelope, Fold, Projection, ReadDb, Result, Sink, from_micros, micros, never_created};

/// Points for solving a problem of this difficulty.
pub fn weight(difficulty: Difficulty) -> i64 {
    match difficulty {
        Difficulty::Easy => 1,
        Difficulty::Medium => 2,
        Difficulty::Hard => 3,
    }
}

#[derive(Debug)]
pub struct Leaderboard;

impl Projection for Leaderboard {
    fn name(&self) -> &'static str {
        "leaderboard"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "leaderboard_problems",
            "leaderboard_submissions",
            "leaderboard_solves",
            "leaderboard",
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
        Some(Box::<LeaderboardFold>::default())
    }
}

#[derive(Debug, Clone)]
struct Sub {
    user: String,
    problem: String,
    created_at: i64,
    accepted: bool,
    at: Pos,
    dirty: bool,
}

const SUBS: SubTable = SubTable {
    name: "leaderboard_submissions",
    columns: &[
        "submission_id",
        "user_id",
        "problem_id",
        "created_at",
        "accepted",
        "verdict_tx",
        "verdict_seq",
    ],
};

fn sub_from(row: &sqlx::any::AnyRow) -> Result<(String, Sub)> {
    Ok((
        text(row, 0)?,
        Sub {
            user: text(row, 1)?,
            problem: text(row, 2)?,
            created_at: int(row, 3)?,
            accepted: int(row, 4)? == 1,
            at: (int(row, 5)?, int(row, 6)?),
            dirty: false,
        },
    ))
}

/// Folds a batch: submissions with their current verdicts, then the solves
/// they imply (a solve is the earliest currently accepted submission of a
/// problem, chosen again from all of them when a rejudge took one back),
/// then the rows of every user whose solves or weights changed, recomputed
/// in SQL from their solves.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    // In log order, so that each problem keeps the last difficulty it was given.
    let weights: BTreeMap<String, Difficulty> = events
        .iter()
        .filter_map(|e| difficulty_set(&e.event))
        .map(|(problem, difficulty)| (problem.to_string(), difficulty))
        .collect();
    let ids = submission_ids(events);
    if ids.is_empty() && weights.is_empty() {
        return Ok(());
    }
    let select = SUBS.select();
    let mut subs: HashMap<String, Sub> = HashMap::new();
    if !ids.is_empty() {
        for row in select_in(conn, &select, &["submission_id"], &id_keys(&ids)).await? {
            let (id, sub) = sub_from(&row)?;
            subs.insert(id, sub);
        }
    }
    // Per (user, problem) whose accepted submissions changed: whether one
    // was taken back.
    let mut touched: BTreeMap<(String, String), bool> = BTreeMap::new();
    for envelope in events {
        match &envelope.event {
            Event::Submission(SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_id,
                at,
                ..
            }) => {
                subs.entry(submission_id.to_string())
                    .or_insert_with(|| Sub {
                        user: user_id.to_string(),
                        problem: problem_id.to_string(),
                        created_at: micros(*at),
                        accepted: false,
                        at: NO_POS,
                        dirty: true,
                    });
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
                let accepted = verdict.kind == VerdictKind::Accepted;
                if sub.accepted != accepted {
                    let taken = touched
                        .entry((sub.user.clone(), sub.problem.clone()))
                        .or_insert(false);
                    *taken |= sub.accepted;
                }
                sub.accepted = accepted;
                sub.at = at;
                sub.dirty = true;
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
                (&s.problem).into(),
                s.created_at.into(),
                (s.accepted as i64).into(),
                s.at.0.into(),
                s.at.1.into(),
            ]
        })
        .collect();
    SUBS.upsert(conn, &dirty).await?;
    if !weights.is_empty() {
        let rows: Vec<Vec<V>> = weights
            .iter()
            .map(|(p, d)| vec![p.into(), d.as_str().into(), weight(*d).into()])
            .collect();
        let columns = ["problem_id", "difficulty", "weight"];
        insert(
            conn,
            "INSERT INTO leaderboard_problems (problem_id, difficulty, weight)",
            &replace_others(&columns, &["problem_id"]),
            &rows,
        )
        .await?;
    }

    let mut rescore: BTreeSet<String> = BTreeSet::new();
    if !touched.is_empty() {
        let mut solves: HashMap<(String, String), i64> = HashMap::new();
        for row in select_in(
            conn,
            "SELECT user_id, problem_id, solved_at FROM leaderboard_solves WHERE",
            &["user_id", "problem_id"],
            &pairs(touched.keys()),
        )
        .await?
        {
            solves.insert((text(&row, 0)?, text(&row, 1)?), int(&row, 2)?);
        }
        let taken_back: Vec<(String, String)> = touched
            .iter()
            .filter(|(_, taken)| **taken)
            .map(|(p, _)| p.clone())
            .collect();
        if !taken_back.is_empty() {
            for row in select_in(
                conn,
                &select,
                &["user_id", "problem_id"],
                &pairs(&taken_back),
            )
            .await?
            {
                let (id, sub) = sub_from(&row)?;
                subs.entry(id).or_insert(sub);
            }
        }
        let earliest = solve_times(subs.values().map(|s| {
            (
                (s.user.as_str(), s.problem.as_str()),
                s.accepted,
                s.created_at,
            )
        }));
        let (mut upserts, mut deletes) = (vec![], vec![]);
        for (pair, taken) in &touched {
            let stored = solves.get(pair).copied();
            let found = earliest.get(&(pair.0.as_str(), pair.1.as_str())).copied();
            let new = if *taken {
                found
            } else {
                [stored, found].into_iter().flatten().min()
            };
            if new == stored {
                continue;
            }
            rescore.insert(pair.0.clone());
            match new {
                Some(at) => upserts.push(vec![(&pair.0).into(), (&pair.1).into(), at.into()]),
                None => deletes.push(vec![(&pair.0).into(), (&pair.1).into()]),
            }
        }
        if !upserts.is_empty() {
            insert(
                conn,
                "INSERT INTO leaderboard_solves (user_id, problem_id, solved_at)",
                "ON CONFLICT (user_id, problem_id) DO UPDATE SET solved_at = excluded.solved_at",
                &upserts,
            )
            .await?;
        }
        if !deletes.is_empty() {
            delete_in(
                conn,
                "DELETE FROM leaderboard_solves WHERE",
                &["user_id", "problem_id"],
                &deletes,
            )
            .await?;
        }
    }
    if !weights.is_empty() {
        // A weight changed: its problem's solvers are rescored.
        for row in select_in(
            conn,
            "SELECT user_id FROM leaderboard_solves WHERE",
            &["problem_id"],
            &keys(weights.keys()),
        )
        .await?
        {
            rescore.insert(text(&row, 0)?);
        }
    }
    if rescore.is_empty() {
        return Ok(());
    }
    let users = keys(&rescore);
    execute_in(
        conn,
        "INSERT INTO leaderboard (user_id, score, solved, easy, medium, hard, reached_at) \
         SELECT s.user_id, CAST(SUM(COALESCE(p.weight, 0)) AS BIGINT), COUNT(*), \
         CAST(SUM(CASE WHEN p.difficulty = 'easy' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN p.difficulty = 'medium' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN p.difficulty = 'hard' THEN 1 ELSE 0 END) AS BIGINT), \
         MAX(s.solved_at) \
         FROM leaderboard_solves s LEFT JOIN leaderboard_problems p ON p.problem_id = s.problem_id \
         WHERE",
        &["s.user_id"],
        &users,
        "GROUP BY s.user_id \
         ON CONFLICT (user_id) DO UPDATE SET score = excluded.score, solved = excluded.solved, \
         easy = excluded.easy, medium = excluded.medium, hard = excluded.hard, reached_at = excluded.reached_at",
    )
    .await?;
    // Users whose last solve a rejudge took back leave the board.
    execute_in(
        conn,
        "DELETE FROM leaderboard WHERE NOT EXISTS \
         (SELECT 1 FROM leaderboard_solves s WHERE s.user_id = leaderboard.user_id) AND",
        &["user_id"],
        &users,
        "",
    )
    .await?;
    Ok(())
}

/// Each (user, problem)'s solve time, from its submissions' (pair,
/// currently accepted, created at): the earliest accepted one's creation.
fn solve_times<K: Eq + Hash>(
    subs: impl IntoIterator<Item = (K, bool, i64)>,
) -> HashMap<K, i64, IdHash> {
    let mut earliest: HashMap<K, i64, IdHash> = HashMap::default();
    for (pair, accepted, created_at) in subs {
        if accepted {
            let e = earliest.entry(pair).or_insert(created_at);
            *e = (*e).min(created_at);
        }
    }
    earliest
}

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict and every problem with its current difficulty.
/// Solves and leaderboard rows are derived from those when written, as the
/// batch path keeps them derived: a solve per pair with an accepted
/// submission, a row per user with a solve.
#[derive(Debug, Default)]
struct LeaderboardFold {
    problems: HashMap<ProblemId, Difficulty, IdHash>,
    subs: Subs<FoldedSub>,
}

#[derive(Debug, Clone, Copy)]
struct FoldedSub {
    user: UserId,
    problem: ProblemId,
    created_at: i64,
    accepted: bool,
    at: Pos,
}

impl FoldedSub {
    fn created(c: &Creation) -> Self {
        FoldedSub {
            user: c.user,
            problem: c.problem,
            created_at: c.created_at,
            accepted: false,
            at: NO_POS,
        }
    }

    /// The values of [`SUBS`]' columns.
    fn row(&self, id: SubmissionId) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.user.0),
            uuid_text(&self.problem.0),
            self.created_at.into(),
            (self.accepted as i64).into(),
            self.at.0.into(),
            self.at.1.into(),
        ]
    }
}

impl Judge for FoldedSub {
    fn verdict_at(&mut self) -> &mut Pos {
        &mut self.at
    }

    fn judge(&mut self, verdict: &Verdict) {
        self.accepted = verdict.kind == VerdictKind::Accepted;
    }
}

/// The difficulty a problem event gives its problem, if it is one that does.
fn difficulty_set(event: &Event) -> Option<(ProblemId, Difficulty)> {
    match event {
        Event::Problem(
            ProblemEvent::ProblemCreated {
                problem_id, spec, ..
            }
            | ProblemEvent::ProblemEdited {
                problem_id, spec, ..
            },
        ) => Some((*problem_id, spec.difficulty)),
        _ => None,
    }
}

impl Fold for LeaderboardFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            if let Some((problem, difficulty)) = difficulty_set(&envelope.event) {
                self.problems.insert(problem, difficulty);
            }
            self.subs.apply(envelope, FoldedSub::created, |_| Ok(()))?;
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        // Solves and leaderboard rows, derived on writing, are at most one
        // per submission and usually far fewer.
        self.problems.len() + self.subs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        // Everything is derived before the first write, so that each table's
        // rows can then be moved out of owned vectors (closures over borrowed
        // rows would make the future not `Send`).
        let subs = std::mem::take(&mut self.subs).into_sorted();
        let mut solves: Vec<((UserId, ProblemId), i64)> = solve_times(
            subs.iter()
                .map(|(_, s)| ((s.user, s.problem), s.accepted, s.created_at)),
        )
        .into_iter()
        .collect();
        solves.sort_unstable_by_key(|(pair, _)| *pair);
        let standings: Vec<Vec<V>> = solves
            .chunk_by(|a, b| a.0.0 == b.0.0)
            .map(|mine| standing_row(mine, &self.problems))
            .collect();
        let mut problems: Vec<(ProblemId, Difficulty)> =
            std::mem::take(&mut self.problems).into_iter().collect();
        problems.sort_unstable_by_key(|(id, _)| *id);
        Box::pin(async move {
            insert_all(
                conn,
                "INSERT INTO leaderboard_problems (problem_id, difficulty, weight)",
                &mut problems
                    .into_iter()
                    .map(|(id, d)| vec![uuid_text(&id.0), d.as_str().into(), weight(d).into()]),
            )
            .await?;
            SUBS.insert_all(conn, &mut subs.into_iter().map(|(id, s)| s.row(id)))
                .await?;
            insert_all(
                conn,
                "INSERT INTO leaderboard_solves (user_id, problem_id, solved_at)",
                &mut solves.into_iter().map(|((user, problem), at)| {
                    vec![uuid_text(&user.0), uuid_text(&problem.0), at.into()]
                }),
            )
            .await?;
            insert_all(
                conn,
                "INSERT INTO leaderboard (user_id, score, solved, easy, medium, hard, reached_at)",
                &mut standings.into_iter(),
            )
            .await
        })
    }
}

/// A user's leaderboard row from their solves, as the batch path's SQL
/// computes it: a problem the log never created weighs nothing and has no
/// difficulty, but counts as solved.
fn standing_row(
    solves: &[((UserId, ProblemId), i64)],
    difficulty: &HashMap<ProblemId, Difficulty, IdHash>,
) -> Vec<V> {
    let (mut score, mut easy, mut medium, mut hard, mut reached_at) = (0, 0, 0, 0, i64::MIN);
    for ((_, problem), solved_at) in solves {
        if let Some(&d) = difficulty.get(problem) {
            score += weight(d);
            *match d {
                Difficulty::Easy => &mut easy,
                Difficulty::Medium => &mut medium,
                Difficulty::Hard => &mut hard,
            } += 1;
        }
        reached_at = reached_at.max(*solved_at);
    }
    vec![
        uuid_text(&solves[0].0.0.0),
        score.into(),
        (solves.len() as i64).into(),
        easy.into(),
        medium.into(),
        hard.into(),
        reached_at.into(),
    ]
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaderboardEntry {
    /// 1-based position in the whole leaderboard.
    pub rank: i64,
    pub user_id: UserId,
    pub username: String,
    pub score: i64,
    pub solved: i64,
    pub easy: i64,
    pub medium: i64,
    pub hard: i64,
    /// When the user reached this score.
    pub reached_at: DateTime<Utc>,
    /// Pass as `after` to get the entries that follow this one.
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    score: i64,
    reached_at: i64,
    user_id: String,
}

impl Key {
    fn encode(&self) -> String {
        format!("l:{}:{}:{}", self.score, self.reached_at, self.user_id)
    }

    fn decode(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("l:")?.splitn(3, ':');
        Some(Self {
            score: it.next()?.parse().ok()?,
            reached_at: it.next()?.parse().ok()?,
            user_id: it.next()?.parse::<UserId>().ok()?.to_string(),
        })
    }
}

/// Deactivated users are not shown (nor counted in ranks) while they stay
/// so; their rows are kept, so a reactivation shows them again at once. The
/// status is read at query time from `users`: the projection itself reads
/// only its own tables while applying events.
const LISTED: &str =
    "NOT EXISTS (SELECT 1 FROM users d WHERE d.user_id = l.user_id AND d.active = 0)";

/// Rows strictly after the key ($1 = 0: no key) in leaderboard order.
const AFTER: &str = "($1 = 0 OR l.score < $2 OR (l.score = $2 AND (l.reached_at > $3 \
     OR (l.reached_at = $3 AND l.user_id > $4))))";

const COLUMNS: &str = "l.user_id, COALESCE(u.username, '') AS username, l.score, l.solved, l.easy, \
     l.medium, l.hard, l.reached_at";

fn entry(row: &AnyRow, rank: i64) -> Result<LeaderboardEntry> {
    let user_id: String = row.try_get("user_id")?;
    let key = Key {
        score: row.try_get("score")?,
        reached_at: row.try_get("reached_at")?,
        user_id: user_id.clone(),
    };
    Ok(LeaderboardEntry {
        rank,
        user_id: parse("user_id", &user_id)?,
        username: row.try_get("username")?,
        score: key.score,
        solved: row.try_get("solved")?,
        easy: row.try_get("easy")?,
        medium: row.try_get("medium")?,
        hard: row.try_get("hard")?,
        reached_at: from_micros(key.reached_at),
        cursor: key.encode(),
    })
}

/// Users who solved anything, best first, from just after `after`.
pub async fn leaderboard(
    db: &ReadDb,
    first: i64,
    after: Option<&str>,
) -> Result<std::result::Result<Page<LeaderboardEntry>, BadCursor>> {
    let key = match after.map(Key::decode) {
        Some(None) => return Ok(Err(BadCursor)),
        other => other.flatten(),
    };
    let has = key.is_some() as i64;
    let k = key.unwrap_or(Key {
        score: 0,
        reached_at: 0,
        user_id: String::new(),
    });
    let ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM leaderboard l WHERE $1 = 1 AND NOT {AFTER} AND {LISTED}"
    )))
    .bind(has)
    .bind(k.score)
    .bind(k.reached_at)
    .bind(&k.user_id)
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaderboard l LEFT JOIN users u ON u.user_id = l.user_id \
         WHERE {AFTER} AND {LISTED} ORDER BY l.score DESC, l.reached_at, l.user_id LIMIT $5"
    )))
    .bind(has)
    .bind(k.score)
    .bind(k.reached_at)
    .bind(&k.user_id)
    .bind(first + 1)
    .fetch_all(&db.pool)
    .await?;
    let has_next_page = rows.len() as i64 > first;
    let entries = rows
        .iter()
        .take(first as usize)
        .enumerate()
        .map(|(i, row)| entry(row, ahead + i as i64 + 1))
        .collect::<Result<Vec<_>>>()?;
    Ok(Ok(Page {
        entries,
        has_next_page,
    }))
}

/// A user's place on the leaderboard; `None` before their first solve, and
/// while they are deactivated.
pub async fn standing(db: &ReadDb, user: UserId) -> Result<Option<LeaderboardEntry>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaderboard l LEFT JOIN users u ON u.user_id = l.user_id \
         WHERE l.user_id = $1 AND {LISTED}"
    )))
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    let mine = entry(&row, 0)?;
    let ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM leaderboard l WHERE (l.score > $1 OR (l.score = $1 AND (l.reached_at < $2 \
         OR (l.reached_at = $2 AND l.user_id < $3)))) AND {LISTED}"
    )))
    .bind(mine.score)
    .bind(micros(mine.reached_at))
    .bind(user.to_string())
    .fetch_one(&db.pool)
    .await?;
    Ok(Some(LeaderboardEntry {
        rank: ahead + 1,
        ..mine
    }))
}

/// Whether `submission` is the user's solve of `problem` (their earliest
/// accepted submission to it), i.e. its verdict moved their standing.
pub async fn is_solve(
    db: &ReadDb,
    user: UserId,
    problem: ProblemId,
    submission: domain::SubmissionId,
) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT s.solved_at FROM leaderboard_solves s JOIN leaderboard_submissions m ON m.submission_id = $3 \
         WHERE s.user_id = $1 AND s.problem_id = $2 AND s.solved_at = m.created_at",
    )
    .bind(user.to_string())
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
        fold_equals_batches(&Leaderboard, &history(1_500)).await;
    }

    #[tokio::test]
    async fn the_fold_rejects_a_verdict_for_no_submission() {
        fold_fails_like_batches(&Leaderboard, &history(40)).await;
    }
}
