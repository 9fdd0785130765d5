//! Read queries over the read models. The API answers only from these.

use chrono::{DateTime, Utc};
use domain::problem::{Checker, Difficulty, Limits, ProblemKind, ProblemStatus, TestCase};
use domain::user::Role;
use domain::{ProblemId, SubmissionId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, ReadDb, Result, from_micros};

#[derive(Debug, Clone, PartialEq)]
pub struct UserView {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub active: bool,
    pub session_epoch: u32,
    pub display_name: String,
    pub bio: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProblemView {
    pub problem_id: ProblemId,
    pub slug: String,
    pub title: String,
    pub statement: String,
    pub difficulty: Difficulty,
    pub tags: Vec<String>,
    pub kind: ProblemKind,
    pub template: String,
    pub examples: Vec<TestCase>,
    pub limits: Limits,
    pub checker: Checker,
    pub status: ProblemStatus,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionView {
    pub submission_id: SubmissionId,
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub problem_version: u32,
    pub language: String,
    pub code: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The current verdict: after a rejudge, the rejudge's.
    pub verdict: Option<domain::submission::Verdict>,
    /// The problem version the current verdict was judged against (a
    /// rejudge's may be later than `problem_version`, the one submitted to).
    pub judged_version: Option<u32>,
}

/// Which problems a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ProblemFilter {
    /// Drafts and archived problems too (admins only).
    pub include_unpublished: bool,
    pub difficulty: Option<Difficulty>,
    pub tag: Option<String>,
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn user(row: &AnyRow) -> Result<UserView> {
    let role: String = row.try_get("role")?;
    Ok(UserView {
        user_id: parse("user_id", &row.try_get::<String, _>("user_id")?)?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", role))?,
        active: row.try_get::<i64, _>("active")? != 0,
        session_epoch: row.try_get::<i64, _>("session_epoch")? as u32,
        display_name: row.try_get("display_name")?,
        bio: row.try_get("bio")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

pub async fn user_by_id(db: &ReadDb, id: UserId) -> Result<Option<UserView>> {
    let row = sqlx::query(
        "SELECT user_id, username, email, role, active, session_epoch, display_name, bio, created_at FROM users WHERE user_id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user).transpose()
}

pub async fn user_by_username(db: &ReadDb, username: &str) -> Result<Option<UserView>> {
    let row = sqlx::query(
        "SELECT user_id, username, email, role, active, session_epoch, display_name, bio, created_at FROM users WHERE username_key = $1",
    )
    .bind(domain::user::normalize_key(username))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user).transpose()
}

pub async fn list_users(db: &ReadDb, limit: i64, offset: i64) -> Result<Vec<UserView>> {
    let rows = sqlx::query(
        "SELECT user_id, username, email, role, active, session_epoch, display_name, bio, created_at FROM users \
         ORDER BY created_at, user_id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(user).collect()
}

/// Whether the read database answers.
pub async fn ping(db: &ReadDb) -> Result<()> {
    sqlx::query("SELECT 1").execute(&db.pool).await?;
    Ok(())
}

pub(crate) fn difficulty(s: &str) -> Result<Difficulty> {
    match s {
        "easy" => Ok(Difficulty::Easy),
        "medium" => Ok(Difficulty::Medium),
        "hard" => Ok(Difficulty::Hard),
        other => Err(corrupt("difficulty", other)),
    }
}

fn status(s: &str) -> Result<ProblemStatus> {
    match s {
        "draft" => Ok(ProblemStatus::Draft),
        "published" => Ok(ProblemStatus::Published),
        "archived" => Ok(ProblemStatus::Archived),
        other => Err(corrupt("status", other)),
    }
}

fn problem(row: &AnyRow) -> Result<ProblemView> {
    Ok(ProblemView {
        problem_id: parse("problem_id", &row.try_get::<String, _>("problem_id")?)?,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        statement: row.try_get("statement")?,
        difficulty: difficulty(&row.try_get::<String, _>("difficulty")?)?,
        tags: json("tags", &row.try_get::<String, _>("tags")?)?,
        kind: json("kind", &row.try_get::<String, _>("kind")?)?,
        template: row.try_get("template")?,
        examples: json("examples", &row.try_get::<String, _>("examples")?)?,
        limits: Limits {
            time_limit_ms: row.try_get::<i64, _>("time_limit_ms")? as u32,
            memory_limit_mb: row.try_get::<i64, _>("memory_limit_mb")? as u32,
        },
        checker: json("checker", &row.try_get::<String, _>("checker")?)?,
        status: status(&row.try_get::<String, _>("status")?)?,
        version: row.try_get::<i64, _>("version")? as u32,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
        published_at: row
            .try_get::<Option<i64>, _>("published_at")?
            .map(from_micros),
    })
}

/// A problem by slug; drafts and archived ones only when `include_unpublished`.
pub async fn problem_by_slug(
    db: &ReadDb,
    slug: &str,
    include_unpublished: bool,
) -> Result<Option<ProblemView>> {
    let row = sqlx::query(
        "SELECT problem_id, slug, title, statement, difficulty, tags, kind, template, examples, time_limit_ms, \
         memory_limit_mb, checker, status, version, created_at, updated_at, published_at \
         FROM problems WHERE slug = $1 AND ($2 = 1 OR status = 'published')",
    )
    .bind(slug)
    .bind(include_unpublished as i64)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(problem).transpose()
}

pub async fn list_problems(
    db: &ReadDb,
    filter: &ProblemFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<ProblemView>> {
    let rows = sqlx::query(
        "SELECT problem_id, slug, title, statement, difficulty, tags, kind, template, examples, time_limit_ms, \
         memory_limit_mb, checker, status, version, created_at, updated_at, published_at \
         FROM problems \
         WHERE ($1 = 1 OR status = 'published') \
           AND (CAST($2 AS TEXT) IS NULL OR difficulty = $2) \
           AND (CAST($3 AS TEXT) IS NULL OR tags LIKE $3) \
         ORDER BY created_at, problem_id LIMIT $4 OFFSET $5",
    )
    .bind(filter.include_unpublished as i64)
    .bind(filter.difficulty.map(|d| d.as_str().to_string()))
    .bind(filter.tag.as_ref().map(|t| format!("%{}%", serde_json::to_string(t).expect("strings serialise"))))
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(problem).collect()
}

/// Hidden tests: for admins and the judge only, never for users.
pub async fn hidden_tests(db: &ReadDb, problem_id: ProblemId) -> Result<Vec<TestCase>> {
    let tests: Option<String> =
        sqlx::query_scalar("SELECT tests FROM problem_hidden_tests WHERE problem_id = $1")
            .bind(problem_id.to_string())
            .fetch_optional(&db.pool)
            .await?;
    tests.map_or(Ok(vec![]), |t| json("hidden_tests", &t))
}

fn submission(row: &AnyRow) -> Result<SubmissionView> {
    Ok(SubmissionView {
        submission_id: parse("submission_id", &row.try_get::<String, _>("submission_id")?)?,
        user_id: parse("user_id", &row.try_get::<String, _>("user_id")?)?,
        problem_id: parse("problem_id", &row.try_get::<String, _>("problem_id")?)?,
        problem_slug: row.try_get("problem_slug")?,
        problem_version: row.try_get::<i64, _>("problem_version")? as u32,
        language: row.try_get("language")?,
        code: row.try_get("code")?,
        status: row.try_get("status")?,
        created_at: from_micros(row.try_get("created_at")?),
        verdict: row
            .try_get::<Option<String>, _>("verdict_detail")?
            .map(|v| json("verdict_detail", &v))
            .transpose()?,
        judged_version: row
            .try_get::<Option<i64>, _>("judged_version")?
            .map(|v| v as u32),
    })
}

pub async fn submission_by_id(db: &ReadDb, id: SubmissionId) -> Result<Option<SubmissionView>> {
    let row = sqlx::query(
        "SELECT submission_id, user_id, problem_id, problem_slug, problem_version, language, code, status, created_at, verdict_detail, \
         judged_version FROM submissions WHERE submission_id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(submission).transpose()
}

/// A user's submissions, newest first, optionally for one problem.
pub async fn submissions_of(
    db: &ReadDb,
    user: UserId,
    problem_slug: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SubmissionView>> {
    let rows = sqlx::query(
        "SELECT submission_id, user_id, problem_id, problem_slug, problem_version, language, code, status, created_at, verdict_detail, \
         judged_version FROM submissions WHERE user_id = $1 AND (CAST($2 AS TEXT) IS NULL OR problem_slug = $2) \
         ORDER BY created_at DESC, submission_id DESC LIMIT $3 OFFSET $4",
    )
    .bind(user.to_string())
    .bind(problem_slug)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(submission).collect()
}
