//! `problems`: the catalogue, with hidden tests kept in a table of their own.

use domain::problem::{ProblemEvent, ProblemSpec, ProblemStatus};
use domain::{Event, ProblemId, Timestamp};
use futures::future::BoxFuture;
use sqlx::AnyConnection;

use crate::{Envelope, Projection, Result, micros};

#[derive(Debug)]
pub struct Problems;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("specs serialise")
}

async fn write_spec(
    conn: &mut AnyConnection,
    id: ProblemId,
    spec: &ProblemSpec,
    version: u32,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE problems SET title = $2, statement = $3, difficulty = $4, tags = $5, kind = $6, template = $7, \
         examples = $8, time_limit_ms = $9, memory_limit_mb = $10, checker = $11, version = $12, updated_at = $13 \
         WHERE problem_id = $1",
    )
    .bind(id.to_string())
    .bind(&spec.title)
    .bind(&spec.statement)
    .bind(spec.difficulty.as_str())
    .bind(json(&spec.tags))
    .bind(json(&spec.kind))
    .bind(&spec.template)
    .bind(json(&spec.examples))
    .bind(spec.limits.time_limit_ms as i64)
    .bind(spec.limits.memory_limit_mb as i64)
    .bind(json(&spec.checker))
    .bind(version as i64)
    .bind(micros(at))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO problem_hidden_tests (problem_id, tests) VALUES ($1, $2) \
         ON CONFLICT (problem_id) DO UPDATE SET tests = excluded.tests",
    )
    .bind(id.to_string())
    .bind(json(&spec.hidden_tests))
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_status(
    conn: &mut AnyConnection,
    id: ProblemId,
    status: ProblemStatus,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE problems SET status = $2, updated_at = $3, \
         published_at = CASE WHEN $2 = 'published' AND published_at IS NULL THEN $3 ELSE published_at END \
         WHERE problem_id = $1",
    )
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(micros(at))
    .execute(conn)
    .await?;
    Ok(())
}

impl Projection for Problems {
    fn name(&self) -> &'static str {
        "problems"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["problems", "problem_hidden_tests"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::Problem(event) = &envelope.event else {
                return Ok(());
            };
            match event {
                ProblemEvent::ProblemCreated {
                    problem_id,
                    slug,
                    spec,
                    version,
                    by,
                    at,
                } => {
                    // Insert a shell, then write the spec with the same code an edit uses.
                    sqlx::query(
                        "INSERT INTO problems (problem_id, slug, title, statement, difficulty, tags, kind, template, examples, \
                         time_limit_ms, memory_limit_mb, checker, status, version, created_by, created_at, updated_at) \
                         VALUES ($1, $2, '', '', '', '[]', '', '', '[]', 0, 0, '', 'draft', 0, $3, $4, $4) \
                         ON CONFLICT (problem_id) DO NOTHING",
                    )
                    .bind(problem_id.to_string())
                    .bind(slug)
                    .bind(by.to_string())
                    .bind(micros(*at))
                    .execute(&mut *conn)
                    .await?;
                    write_spec(conn, *problem_id, spec, *version, *at).await?;
                }
                ProblemEvent::ProblemEdited {
                    problem_id,
                    spec,
                    version,
                    at,
                    ..
                } => {
                    write_spec(conn, *problem_id, spec, *version, *at).await?;
                }
                ProblemEvent::ProblemPublished { problem_id, at, .. } => {
                    set_status(conn, *problem_id, ProblemStatus::Published, *at).await?;
                }
                ProblemEvent::ProblemArchived { problem_id, at, .. } => {
                    set_status(conn, *problem_id, ProblemStatus::Archived, *at).await?;
                }
            }
            Ok(())
        })
    }
}
