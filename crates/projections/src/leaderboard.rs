//! `leaderboard`: the global ranking of users by problems solved, weighted
//! by difficulty ([`weight`]: easy 1, medium 2, hard 3), ties broken by who
//! reached the score first, then by user id so the order is total.
//!
//! A problem counts as solved from its first accepted submission, timed by
//! when that submission was made (not judged, so a slow judge queue does not
//! reorder people). Weights follow the problem's current difficulty: an edit
//! that changes it rescores every solver. Since every weight is positive, a
//! user's score is reached when they solved the last of their problems, so
//! "reached at" is the latest of their solve times.
//!
//! Owns `leaderboard_problems`, `leaderboard_submissions`,
//! `leaderboard_solves` and `leaderboard`. Each leaderboard row is recomputed
//! from the solves, so applying an event twice gives the same row.

use chrono::{DateTime, Utc};
use domain::problem::{Difficulty, ProblemEvent};
use domain::submission::{SubmissionEvent, VerdictKind};
use domain::{Event, ProblemId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::queries::parse;
use crate::ranking::{BadCursor, Page};
use crate::{Envelope, Error, Projection, ReadDb, Result, from_micros, micros};

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

async fn set_difficulty(
    conn: &mut AnyConnection,
    problem: ProblemId,
    difficulty: Difficulty,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO leaderboard_problems (problem_id, difficulty, weight) VALUES ($1, $2, $3) \
         ON CONFLICT (problem_id) DO UPDATE SET difficulty = excluded.difficulty, weight = excluded.weight",
    )
    .bind(problem.to_string())
    .bind(difficulty.as_str())
    .bind(weight(difficulty))
    .execute(conn)
    .await?;
    Ok(())
}

/// Recomputes a user's row from their solves.
async fn rescore(conn: &mut AnyConnection, user: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO leaderboard (user_id, score, solved, easy, medium, hard, reached_at) \
         SELECT s.user_id, CAST(SUM(COALESCE(p.weight, 0)) AS BIGINT), COUNT(*), \
         CAST(SUM(CASE WHEN p.difficulty = 'easy' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN p.difficulty = 'medium' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN p.difficulty = 'hard' THEN 1 ELSE 0 END) AS BIGINT), \
         MAX(s.solved_at) \
         FROM leaderboard_solves s LEFT JOIN leaderboard_problems p ON p.problem_id = s.problem_id \
         WHERE s.user_id = $1 GROUP BY s.user_id \
         ON CONFLICT (user_id) DO UPDATE SET score = excluded.score, solved = excluded.solved, \
         easy = excluded.easy, medium = excluded.medium, hard = excluded.hard, reached_at = excluded.reached_at",
    )
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

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
        Box::pin(async move {
            match &envelope.event {
                Event::Problem(ProblemEvent::ProblemCreated {
                    problem_id, spec, ..
                }) => set_difficulty(conn, *problem_id, spec.difficulty).await?,
                Event::Problem(ProblemEvent::ProblemEdited {
                    problem_id, spec, ..
                }) => {
                    set_difficulty(&mut *conn, *problem_id, spec.difficulty).await?;
                    let solvers: Vec<String> = sqlx::query_scalar(
                        "SELECT user_id FROM leaderboard_solves WHERE problem_id = $1",
                    )
                    .bind(problem_id.to_string())
                    .fetch_all(&mut *conn)
                    .await?;
                    for user in solvers {
                        rescore(&mut *conn, &user).await?;
                    }
                }
                Event::Submission(SubmissionEvent::SubmissionCreated {
                    submission_id, at, ..
                }) => {
                    sqlx::query(
                        "INSERT INTO leaderboard_submissions (submission_id, created_at) VALUES ($1, $2) \
                         ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                Event::Submission(SubmissionEvent::SubmissionJudged {
                    submission_id,
                    user_id,
                    problem_id,
                    verdict,
                    ..
                }) if verdict.kind == VerdictKind::Accepted => {
                    let created_at: i64 = sqlx::query_scalar(
                        "SELECT created_at FROM leaderboard_submissions WHERE submission_id = $1",
                    )
                    .bind(submission_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| {
                        Error::Corrupt(format!(
                            "a verdict for submission {submission_id}, which the log never created"
                        ))
                    })?;
                    // The earliest accepted submission is the solve, whatever
                    // order the verdicts come in.
                    sqlx::query(
                        "INSERT INTO leaderboard_solves (user_id, problem_id, solved_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id, problem_id) DO UPDATE SET solved_at = excluded.solved_at \
                         WHERE excluded.solved_at < leaderboard_solves.solved_at",
                    )
                    .bind(user_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(created_at)
                    .execute(&mut *conn)
                    .await?;
                    rescore(conn, &user_id.to_string()).await?;
                }
                _ => {}
            }
            Ok(())
        })
    }
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
        "SELECT COUNT(*) FROM leaderboard l WHERE $1 = 1 AND NOT {AFTER}"
    )))
    .bind(has)
    .bind(k.score)
    .bind(k.reached_at)
    .bind(&k.user_id)
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaderboard l LEFT JOIN users u ON u.user_id = l.user_id \
         WHERE {AFTER} ORDER BY l.score DESC, l.reached_at, l.user_id LIMIT $5"
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

/// A user's place on the leaderboard; `None` before their first solve.
pub async fn standing(db: &ReadDb, user: UserId) -> Result<Option<LeaderboardEntry>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaderboard l LEFT JOIN users u ON u.user_id = l.user_id WHERE l.user_id = $1"
    )))
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(None);
    };
    let mine = entry(&row, 0)?;
    let ahead: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM leaderboard l WHERE l.score > $1 OR (l.score = $1 AND (l.reached_at < $2 \
         OR (l.reached_at = $2 AND l.user_id < $3)))",
    )
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
