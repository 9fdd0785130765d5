//! `submissions`: every submission with its status and its current verdict.
//! A rejudge's verdict replaces the earlier one when it comes (the latest
//! by log position wins; `judged_version` is the problem version it was
//! judged against); until then the earlier verdict stands.

use domain::submission::{SubmissionEvent, Verdict};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::AnyConnection;

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

use crate::batch::{NO_POS, Pos, V, insert, insert_all, int, pos, select_in, text};
use crate::fold::{Subs, id_keys, submission_ids};
use crate::{Envelope, Fold, Projection, Result, Sink, micros, never_created};

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

    fn fold(&self) -> Option<Box<dyn Fold>> {
        Some(Box::<SubmissionsFold>::default())
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
            let ids = submission_ids(events);
            if ids.is_empty() {
                return Ok(());
            }
            let mut stored: HashMap<String, Pos> = HashMap::new();
            for row in select_in(
                conn,
                "SELECT submission_id, verdict_tx, verdict_seq FROM submissions WHERE",
                &["submission_id"],
                &id_keys(&ids),
            )
            .await?
            {
                stored.insert(text(&row, 0)?, (int(&row, 1)?, int(&row, 2)?));
            }
            let mut fresh: Subs<Row<&Verdict>> = Subs::default();
            let mut later: BTreeMap<String, Judged<&Verdict>> = BTreeMap::new();
            for envelope in events {
                let Event::Submission(event) = &envelope.event else {
                    continue;
                };
                let id = subject(event).to_string();
                match (event, stored.get(&id)) {
                    (_, None) => apply(&mut fresh, envelope, |judged| judged)?,
                    // Made in an earlier batch: only a newer verdict changes its row.
                    (SubmissionEvent::SubmissionJudged { .. }, Some(&had)) => {
                        let at = pos(envelope.cursor);
                        if at > had {
                            later.insert(id, Judged::of(event, at));
                        }
                    }
                    (_, Some(_)) => {}
                }
            }
            let rows: Vec<Vec<V>> = fresh
                .into_sorted()
                .into_iter()
                .map(|(id, row)| row.values(id))
                .collect();
            insert(
                conn,
                &format!("INSERT INTO submissions ({})", COLUMNS.join(", ")),
                "ON CONFLICT (submission_id) DO NOTHING",
                &rows,
            )
            .await?;
            for (id, judged) in later {
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
                let values = judged.values();
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

/// The submission an event is about.
fn subject(event: &SubmissionEvent) -> SubmissionId {
    match event {
        SubmissionEvent::SubmissionCreated { submission_id, .. }
        | SubmissionEvent::SubmissionJudged { submission_id, .. }
        | SubmissionEvent::SubmissionRejudgeRequested { submission_id, .. } => *submission_id,
    }
}

/// Applies one event to `rows` as to an empty table: a submission's first
/// creation makes its row, and its latest verdict by position is the one it
/// holds, as `keep` keeps it. The batch path (for the submissions a batch
/// makes) and the rebuild's fold both go through here.
fn apply<'e, T: Borrow<Verdict>>(
    rows: &mut Subs<Row<T>>,
    envelope: &'e Envelope,
    keep: impl FnOnce(Judged<&'e Verdict>) -> Judged<T>,
) -> Result<()> {
    let Event::Submission(event) = &envelope.event else {
        return Ok(());
    };
    match event {
        // The earlier verdict stands until the new one comes.
        SubmissionEvent::SubmissionRejudgeRequested { .. } => {}
        SubmissionEvent::SubmissionCreated { submission_id, .. } => {
            rows.add(*submission_id, || Row::created(event));
        }
        SubmissionEvent::SubmissionJudged { submission_id, .. } => {
            let row = rows
                .get_mut(submission_id)
                .ok_or_else(|| never_created(*submission_id))?;
            let at = pos(envelope.cursor);
            if row.older_than(at) {
                row.judged = Some(keep(Judged::of(event, at)));
            }
        }
    }
    Ok(())
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

fn no_verdict() -> [V; VERDICT_COLUMNS.len()] {
    [
        V::OT(None),
        V::OI(None),
        V::OI(None),
        V::OI(None),
        V::OI(None),
        V::OT(None),
        V::OI(None),
        V::OI(None),
        V::I(NO_POS.0),
        V::I(NO_POS.1),
    ]
}

/// A submission's row before it is written: what its creation says, and
/// its current verdict, borrowed from the events (`T = &Verdict`) by a
/// batch or kept (`T = Verdict`) by a rebuild's fold.
#[derive(Debug)]
struct Row<T> {
    user: UserId,
    problem: ProblemId,
    slug: String,
    version: u32,
    language: String,
    code: String,
    created_at: i64,
    judged: Option<Judged<T>>,
}

impl<T: Borrow<Verdict>> Row<T> {
    /// The row a `SubmissionCreated` makes.
    fn created(event: &SubmissionEvent) -> Self {
        let SubmissionEvent::SubmissionCreated {
            user_id,
            problem_id,
            problem_slug,
            problem_version,
            language,
            code,
            at,
            ..
        } = event
        else {
            unreachable!("only creations make rows")
        };
        Row {
            user: *user_id,
            problem: *problem_id,
            slug: problem_slug.clone(),
            version: *problem_version,
            language: language.clone(),
            code: code.clone(),
            created_at: micros(*at),
            judged: None,
        }
    }

    /// Whether a verdict at `at` replaces the one the row holds: the latest
    /// by log position wins, and one already applied changes nothing.
    fn older_than(&self, at: Pos) -> bool {
        self.judged.as_ref().map_or(NO_POS, |j| j.at) < at
    }

    /// Every column, in the order of [`COLUMNS`].
    fn values(self, id: SubmissionId) -> Vec<V> {
        let status = if self.judged.is_some() {
            "judged"
        } else {
            "queued"
        };
        let mut row = Vec::with_capacity(COLUMNS.len());
        row.extend([
            V::T(id.to_string()),
            V::T(self.user.to_string()),
            V::T(self.problem.to_string()),
            V::T(self.slug),
            V::I(self.version as i64),
            V::T(self.language),
            V::T(self.code),
            status.into(),
            V::I(self.created_at),
        ]);
        match &self.judged {
            Some(judged) => row.extend(judged.values()),
            None => row.extend(no_verdict()),
        }
        row
    }
}

/// A verdict as a submission's row holds it, with its position in the log.
#[derive(Debug)]
struct Judged<T> {
    verdict: T,
    /// The problem version it was judged against.
    version: u32,
    judged_at: i64,
    at: Pos,
}

impl<'a> Judged<&'a Verdict> {
    fn of(event: &'a SubmissionEvent, at: Pos) -> Self {
        let SubmissionEvent::SubmissionJudged {
            verdict,
            problem_version,
            at: judged_at,
            ..
        } = event
        else {
            unreachable!("only verdicts judge")
        };
        Judged {
            verdict,
            version: *problem_version,
            judged_at: micros(*judged_at),
            at,
        }
    }

    fn owned(self) -> Judged<Verdict> {
        Judged {
            verdict: self.verdict.clone(),
            version: self.version,
            judged_at: self.judged_at,
            at: self.at,
        }
    }
}

impl<T: Borrow<Verdict>> Judged<T> {
    /// The values of [`VERDICT_COLUMNS`].
    fn values(&self) -> [V; VERDICT_COLUMNS.len()] {
        let verdict = self.verdict.borrow();
        [
            V::OT(Some(verdict.kind.as_str().to_string())),
            V::OI(Some(verdict.passed as i64)),
            V::OI(Some(verdict.total as i64)),
            V::OI(Some(verdict.runtime_ms as i64)),
            V::OI(Some(verdict.memory_kb as i64)),
            V::OT(Some(
                serde_json::to_string(verdict).expect("verdicts serialise"),
            )),
            V::OI(Some(self.judged_at)),
            V::OI(Some(self.version as i64)),
            V::I(self.at.0),
            V::I(self.at.1),
        ]
    }
}

/// The whole table folded in memory, for a rebuild into an empty one.
#[derive(Debug, Default)]
struct SubmissionsFold {
    rows: Subs<Row<Verdict>>,
}

impl Fold for SubmissionsFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            apply(&mut self.rows, envelope, Judged::owned)?;
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        self.rows.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        let rows = std::mem::take(&mut self.rows).into_sorted();
        Box::pin(async move {
            let head = format!("INSERT INTO submissions ({})", COLUMNS.join(", "));
            insert_all(
                conn,
                &head,
                &mut rows.into_iter().map(|(id, row)| row.values(id)),
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold_check::*;

    #[tokio::test]
    async fn the_fold_leaves_the_rows_batches_leave() {
        fold_equals_batches(&Submissions, &history(1_500)).await;
    }

    #[tokio::test]
    async fn the_fold_fails_like_batches() {
        fold_fails_like_batches(&Submissions, &history(40)).await;
    }
}
