//! `submissions`: every submission with its status. Until the judge lands,
//! the status is `queued` and stays so: no verdict is ever made up here.

use domain::Event;
use domain::submission::SubmissionEvent;
use futures::future::BoxFuture;
use sqlx::AnyConnection;

use crate::{Envelope, Projection, Result, micros};

#[derive(Debug)]
pub struct Submissions;

impl Projection for Submissions {
    fn name(&self) -> &'static str {
        "submissions"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["submissions"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::Submission(event) = &envelope.event else {
                return Ok(());
            };
            match event {
                SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    problem_id,
                    problem_slug,
                    problem_version,
                    language,
                    code,
                    at,
                } => {
                    sqlx::query(
                        "INSERT INTO submissions (submission_id, user_id, problem_id, problem_slug, problem_version, \
                         language, code, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8) \
                         ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(submission_id.to_string())
                    .bind(user_id.to_string())
                    .bind(problem_id.to_string())
                    .bind(problem_slug)
                    .bind(*problem_version as i64)
                    .bind(language)
                    .bind(code)
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                SubmissionEvent::SubmissionJudged {
                    submission_id,
                    verdict,
                    at,
                    ..
                } => {
                    sqlx::query(
                    "UPDATE submissions SET status = 'judged', verdict = $2, passed = $3, total = $4, runtime_ms = $5, \
                     memory_kb = $6, verdict_detail = $7, judged_at = $8 WHERE submission_id = $1",
                )
                .bind(submission_id.to_string())
                .bind(verdict.kind.as_str())
                .bind(verdict.passed as i64)
                .bind(verdict.total as i64)
                .bind(verdict.runtime_ms as i64)
                .bind(verdict.memory_kb as i64)
                .bind(serde_json::to_string(verdict).expect("verdicts serialise"))
                .bind(micros(*at))
                .execute(conn)
                .await?;
                }
            }
            Ok(())
        })
    }
}
