//! `tutor`: every question to the tutor with its reply or failure, for the
//! conversation view, and usage per UTC day, user and problem (questions,
//! replies, failures, tokens, latency) for the admins' analytics.
//!
//! Owns `tutor_messages` and `tutor_usage`. A question's day is the day it
//! was asked, and its reply is counted on that day too. The quota's own
//! events (`TutorQuotaUsed`) are the write side's concern and ignored here.

use chrono::{DateTime, NaiveDate, Utc};
use domain::tutor::{MessageId, TutorEvent};
use domain::{Event, ProblemId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::queries::parse;
use crate::{
    Envelope, Projection, ReadDb, Result, date_day, day_date, from_micros, micros, utc_day,
};

#[derive(Debug)]
pub struct Tutor;

impl Projection for Tutor {
    fn name(&self) -> &'static str {
        "tutor"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tutor_messages", "tutor_usage"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::Tutor(event) = &envelope.event else {
                return Ok(());
            };
            match event {
                TutorEvent::TutorMessageSent {
                    message_id,
                    user_id,
                    problem_id,
                    problem_slug,
                    text,
                    at,
                    ..
                } => {
                    let day = utc_day(micros(*at));
                    let inserted = sqlx::query(
                        "INSERT INTO tutor_messages (message_id, user_id, problem_id, problem_slug, day, question, \
                         asked_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') \
                         ON CONFLICT (message_id) DO NOTHING",
                    )
                    .bind(message_id.to_string())
                    .bind(user_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(problem_slug)
                    .bind(day)
                    .bind(text)
                    .bind(micros(*at))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(());
                    }
                    sqlx::query(
                        "INSERT INTO tutor_usage (day, user_id, problem_id, problem_slug, questions, replies, failures, \
                         prompt_tokens, completion_tokens, latency_ms_total, latency_ms_max) \
                         VALUES ($1, $2, $3, $4, 1, 0, 0, 0, 0, 0, 0) ON CONFLICT (day, user_id, problem_id) \
                         DO UPDATE SET questions = tutor_usage.questions + 1",
                    )
                    .bind(day)
                    .bind(user_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(problem_slug)
                    .execute(conn)
                    .await?;
                }
                TutorEvent::TutorReplied {
                    message_id,
                    text,
                    model,
                    prompt_tokens,
                    completion_tokens,
                    latency_ms,
                    hints_revealed,
                    replaced,
                    at,
                    ..
                } => {
                    let row = sqlx::query(
                        "UPDATE tutor_messages SET status = 'answered', reply = $2, model = $3, prompt_tokens = $4, \
                         completion_tokens = $5, latency_ms = $6, hints_revealed = $7, replaced = $8, replied_at = $9 \
                         WHERE message_id = $1 AND status = 'pending' RETURNING day, user_id, problem_id",
                    )
                    .bind(message_id.to_string())
                    .bind(text)
                    .bind(model)
                    .bind(*prompt_tokens as i64)
                    .bind(*completion_tokens as i64)
                    .bind(*latency_ms as i64)
                    .bind(*hints_revealed as i64)
                    .bind(*replaced as i64)
                    .bind(micros(*at))
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(row) = row else { return Ok(()) };
                    sqlx::query(
                        "UPDATE tutor_usage SET replies = replies + 1, prompt_tokens = prompt_tokens + $4, \
                         completion_tokens = completion_tokens + $5, latency_ms_total = latency_ms_total + $6, \
                         latency_ms_max = CASE WHEN latency_ms_max > $6 THEN latency_ms_max ELSE $6 END \
                         WHERE day = $1 AND user_id = $2 AND problem_id = $3",
                    )
                    .bind(row.try_get::<i64, _>("day")?)
                    .bind(row.try_get::<String, _>("user_id")?)
                    .bind(row.try_get::<String, _>("problem_id")?)
                    .bind(*prompt_tokens as i64)
                    .bind(*completion_tokens as i64)
                    .bind(*latency_ms as i64)
                    .execute(conn)
                    .await?;
                }
                TutorEvent::TutorReplyFailed {
                    message_id,
                    model,
                    code,
                    error,
                    latency_ms,
                    at,
                    ..
                } => {
                    let row = sqlx::query(
                        "UPDATE tutor_messages SET status = 'failed', model = $2, error_code = $3, error_message = $4, \
                         latency_ms = $5, replied_at = $6 WHERE message_id = $1 AND status = 'pending' \
                         RETURNING day, user_id, problem_id",
                    )
                    .bind(message_id.to_string())
                    .bind(model)
                    .bind(code)
                    .bind(error)
                    .bind(*latency_ms as i64)
                    .bind(micros(*at))
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(row) = row else { return Ok(()) };
                    sqlx::query(
                        "UPDATE tutor_usage SET failures = failures + 1 WHERE day = $1 AND user_id = $2 AND problem_id = $3",
                    )
                    .bind(row.try_get::<i64, _>("day")?)
                    .bind(row.try_get::<String, _>("user_id")?)
                    .bind(row.try_get::<String, _>("problem_id")?)
                    .execute(conn)
                    .await?;
                }
                TutorEvent::TutorQuotaUsed { .. } => {}
            }
            Ok(())
        })
    }
}

/// Where a question stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Pending,
    Answered,
    Failed,
}

/// One question and its answer, as the conversation shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub message_id: MessageId,
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub question: String,
    pub asked_at: DateTime<Utc>,
    pub status: MessageStatus,
    pub reply: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub hints_revealed: Option<i64>,
    pub replaced: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub replied_at: Option<DateTime<Utc>>,
}

// A macro, not a const: sqlx takes only static SQL, which `concat!` keeps.
macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT message_id, user_id, problem_id, problem_slug, question, asked_at, status, reply, model, \
             prompt_tokens, completion_tokens, latency_ms, hints_revealed, replaced, error_code, error_message, \
             replied_at FROM tutor_messages ",
            $rest
        )
    };
}

fn message(row: &sqlx::any::AnyRow) -> Result<MessageView> {
    let status: String = row.try_get("status")?;
    Ok(MessageView {
        message_id: parse("tutor message id", &row.try_get::<String, _>("message_id")?)?,
        user_id: parse("user id", &row.try_get::<String, _>("user_id")?)?,
        problem_id: parse("problem id", &row.try_get::<String, _>("problem_id")?)?,
        problem_slug: row.try_get("problem_slug")?,
        question: row.try_get("question")?,
        asked_at: from_micros(row.try_get("asked_at")?),
        status: match status.as_str() {
            "pending" => MessageStatus::Pending,
            "answered" => MessageStatus::Answered,
            "failed" => MessageStatus::Failed,
            other => {
                return Err(crate::Error::Corrupt(format!(
                    "tutor message status {other:?}"
                )));
            }
        },
        reply: row.try_get("reply")?,
        model: row.try_get("model")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        latency_ms: row.try_get("latency_ms")?,
        hints_revealed: row.try_get("hints_revealed")?,
        replaced: row.try_get::<Option<i64>, _>("replaced")?.unwrap_or(0) != 0,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        replied_at: row
            .try_get::<Option<i64>, _>("replied_at")?
            .map(from_micros),
    })
}

/// `user`'s conversation about `problem`, oldest first.
pub async fn conversation(
    db: &ReadDb,
    user: UserId,
    problem: ProblemId,
) -> Result<Vec<MessageView>> {
    let rows = sqlx::query(select_messages!(
        "WHERE user_id = $1 AND problem_id = $2 ORDER BY asked_at, message_id"
    ))
    .bind(user.to_string())
    .bind(problem.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(message).collect()
}

pub async fn message_by_id(db: &ReadDb, id: MessageId) -> Result<Option<MessageView>> {
    let row = sqlx::query(select_messages!("WHERE message_id = $1"))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(message).transpose()
}

/// Tutor use by one user on one problem on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub date: NaiveDate,
    pub user_id: UserId,
    /// `None` if the user is not in the read model (cannot happen unless it
    /// is being rebuilt).
    pub username: Option<String>,
    pub problem_slug: String,
    pub questions: i64,
    pub replies: i64,
    pub failures: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Over replies; `None` without one.
    pub mean_latency_ms: Option<f64>,
    pub max_latency_ms: i64,
}

/// Usage in `from..=to`, newest day first, then by questions.
pub async fn usage(db: &ReadDb, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
    let rows = sqlx::query(
        "SELECT t.day, t.user_id, u.username, t.problem_slug, t.questions, t.replies, t.failures, t.prompt_tokens, \
         t.completion_tokens, t.latency_ms_total, t.latency_ms_max FROM tutor_usage t \
         LEFT JOIN users u ON u.user_id = t.user_id WHERE t.day >= $1 AND t.day <= $2 \
         ORDER BY t.day DESC, t.questions DESC, t.problem_slug, t.user_id",
    )
    .bind(date_day(from))
    .bind(date_day(to))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let replies: i64 = row.try_get("replies")?;
            let total: i64 = row.try_get("latency_ms_total")?;
            Ok(UsageRow {
                date: day_date(row.try_get("day")?),
                user_id: parse("user id", &row.try_get::<String, _>("user_id")?)?,
                username: row.try_get("username")?,
                problem_slug: row.try_get("problem_slug")?,
                questions: row.try_get("questions")?,
                replies,
                failures: row.try_get("failures")?,
                prompt_tokens: row.try_get("prompt_tokens")?,
                completion_tokens: row.try_get("completion_tokens")?,
                mean_latency_ms: (replies > 0).then(|| total as f64 / replies as f64),
                max_latency_ms: row.try_get("latency_ms_max")?,
            })
        })
        .collect()
}
