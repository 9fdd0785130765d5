//! `submissions`: every submission with its status and its current verdict.
//! A rejudge's verdict replaces the earlier one when it comes (the latest
//! by log position wins; `judged_version` is the problem version it was
//! judged against); until then the earlier verdict stands.

use domain::Event;
use domain::submission::SubmissionEvent;
use futures::future::BoxFuture;
use sqlx::AnyConnection;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{NO_POS, Pos, V, insert, int, keys, pos, select_in, text};
use crate::{Envelope, Error, Projection, Result, micros};

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
        self.apply_batch(conn, std::slice::from_ref(envelope))
    }

    /// New submissions go in with one multi-row insert, already carrying the
    /// latest verdict the batch holds for them; verdicts for submissions
    /// made in earlier batches are single updates guarded by position.
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
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
            let mut stored: HashMap<String, Pos> = HashMap::new();
            for row in select_in(
                conn,
                "SELECT submission_id, verdict_tx, verdict_seq FROM submissions WHERE",
                &["submission_id"],
                &keys(&ids),
            )
            .await?
            {
                stored.insert(text(&row, 0)?, (int(&row, 1)?, int(&row, 2)?));
            }
            let mut fresh: Vec<Vec<V>> = vec![];
            let mut fresh_at: HashMap<String, usize> = HashMap::new();
            let mut later: BTreeMap<String, (Pos, &SubmissionEvent)> = BTreeMap::new();
            for envelope in events {
                let Event::Submission(event) = &envelope.event else {
                    continue;
                };
                match event {
                    // The earlier verdict stands until the new one comes.
                    SubmissionEvent::SubmissionRejudgeRequested { .. } => {}
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
                        let id = submission_id.to_string();
                        if stored.contains_key(&id) || fresh_at.contains_key(&id) {
                            continue;
                        }
                        fresh_at.insert(id.clone(), fresh.len());
                        let mut row: Vec<V> = vec![
                            id.into(),
                            user_id.to_string().into(),
                            problem_id.to_string().into(),
                            problem_slug.into(),
                            (*problem_version as i64).into(),
                            language.into(),
                            code.into(),
                            "queued".into(),
                            micros(*at).into(),
                        ];
                        row.extend(no_verdict());
                        fresh.push(row);
                    }
                    SubmissionEvent::SubmissionJudged { submission_id, .. } => {
                        let id = submission_id.to_string();
                        let at = pos(envelope.cursor);
                        if let Some(&i) = fresh_at.get(&id) {
                            let row = &mut fresh[i];
                            row.truncate(COLUMNS.len() - VERDICT_COLUMNS.len());
                            row[7] = "judged".into();
                            row.extend(verdict_values(event, at));
                        } else if let Some(&had) = stored.get(&id) {
                            if at > had {
                                later.insert(id, (at, event));
                            }
                        } else {
                            return Err(Error::Corrupt(format!(
                                "a verdict for submission {id}, which the log never created"
                            )));
                        }
                    }
                }
            }
            if !fresh.is_empty() {
                insert(
                    conn,
                    &format!("INSERT INTO submissions ({})", COLUMNS.join(", ")),
                    "ON CONFLICT (submission_id) DO NOTHING",
                    &fresh,
                )
                .await?;
            }
            for (id, (at, event)) in later {
                let sets: Vec<String> = VERDICT_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 2))
                    .collect();
                let n = VERDICT_COLUMNS.len();
                let sql = format!(
                    "UPDATE submissions SET status = 'judged', {} WHERE submission_id = $1 \
                     AND (verdict_tx < ${} OR (verdict_tx = ${} AND verdict_seq < ${}))",
                    sets.join(", "),
                    n,
                    n,
                    n + 1
                );
                let values = verdict_values(event, at);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
                for v in values {
                    q = match v {
                        V::I(x) => q.bind(x),
                        V::T(x) => q.bind(x),
                        V::OI(x) => q.bind(x),
                        V::OT(x) => q.bind(x),
                    };
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
}

/// The columns of `submissions`, in the order rows are built.
const COLUMNS: [&str; 19] = [
    "submission_id",
    "user_id",
    "problem_id",
    "problem_slug",
    "problem_version",
    "language",
    "code",
    "status",
    "created_at",
    "verdict",
    "passed",
    "total",
    "runtime_ms",
    "memory_kb",
    "verdict_detail",
    "judged_at",
    "judged_version",
    "verdict_tx",
    "verdict_seq",
];

/// What a verdict sets, ending with its position.
const VERDICT_COLUMNS: [&str; 10] = [
    "verdict",
    "passed",
    "total",
    "runtime_ms",
    "memory_kb",
    "verdict_detail",
    "judged_at",
    "judged_version",
    "verdict_tx",
    "verdict_seq",
];

fn no_verdict() -> Vec<V> {
    let mut v = vec![V::OT(None)];
    v.extend([V::OI(None), V::OI(None), V::OI(None), V::OI(None)]);
    v.extend([V::OT(None), V::OI(None), V::OI(None)]);
    v.extend([V::I(NO_POS.0), V::I(NO_POS.1)]);
    v
}

fn verdict_values(event: &SubmissionEvent, at: Pos) -> Vec<V> {
    let SubmissionEvent::SubmissionJudged {
        verdict,
        problem_version,
        at: judged_at,
        ..
    } = event
    else {
        unreachable!("only verdicts have verdict values")
    };
    vec![
        V::OT(Some(verdict.kind.as_str().to_string())),
        V::OI(Some(verdict.passed as i64)),
        V::OI(Some(verdict.total as i64)),
        V::OI(Some(verdict.runtime_ms as i64)),
        V::OI(Some(verdict.memory_kb as i64)),
        V::OT(Some(
            serde_json::to_string(verdict).expect("verdicts serialise"),
        )),
        V::OI(Some(micros(*judged_at))),
        V::OI(Some(*problem_version as i64)),
        V::I(at.0),
        V::I(at.1),
    ]
}
