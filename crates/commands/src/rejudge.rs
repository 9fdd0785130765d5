//! Rejudging a problem's submissions after its tests or limits changed.
//!
//! The caller (the API) lists the problem's submissions from a read model;
//! each one is then checked against its own stream (it belongs to the
//! problem, it is judged, its verdict fits the scope), and the rejudge and
//! every request go into the log in one atomic append. A submission still
//! waiting for its first verdict is left out: it is judged against the
//! version it was made for, and a later rejudge can take it.

use chrono::Utc;
use domain::rejudge::{Rejudge, RejudgeCommand, RejudgeProblem, RejudgeScope};
use domain::submission::{Submission, SubmissionCommand, VerdictKind};
use domain::{Aggregate, DomainError, RejudgeId, SubmissionId};
use futures::{StreamExt, TryStreamExt};
use store::{AppendRequest, ExpectedVersion};

use crate::{
    Actor, Commands, Done, Error, RETRIES, Result, new_event, rejudge_stream, submission_stream,
};

/// How many submission streams are read at once while choosing.
const LOAD_CONCURRENCY: usize = 16;

/// What a started rejudge queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejudgeStarted {
    pub rejudge_id: RejudgeId,
    /// The problem version every new verdict is judged against.
    pub problem_version: u32,
    /// Submissions queued.
    pub total: u32,
    /// Candidates left out: not judged yet, of another problem, or outside
    /// the scope.
    pub skipped: u32,
}

impl Commands {
    /// Admins only. Queues the judged submissions among `candidates` that fit
    /// `scope` to be judged again against the problem's current version.
    #[tracing::instrument(skip(self, actor, candidates), fields(by = %actor.user_id, candidates = candidates.len()))]
    pub async fn start_rejudge(
        &self,
        actor: &Actor,
        slug: &str,
        scope: RejudgeScope,
        candidates: Vec<SubmissionId>,
    ) -> Result<Done<RejudgeStarted>> {
        actor.require_admin()?;
        let mut attempt = 0;
        loop {
            match self
                .try_start_rejudge(actor, slug, scope, &candidates)
                .await
            {
                Err(Error::Store(store::Error::Conflict { .. })) if attempt < RETRIES => {
                    // A verdict landed on a chosen submission meanwhile:
                    // choose again from the new state.
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_start_rejudge(
        &self,
        actor: &Actor,
        slug: &str,
        scope: RejudgeScope,
        candidates: &[SubmissionId],
    ) -> Result<Done<RejudgeStarted>> {
        let problem = self.problem_by_slug(slug).await?;
        let rejudge_id = RejudgeId::new();
        let at = Utc::now();
        let Some(problem) = problem else {
            return Err(DomainError::NotFound("problem").into());
        };
        let loaded: Vec<(SubmissionId, Submission, u64)> =
            futures::stream::iter(candidates.iter().copied())
                .map(|id| async move {
                    let (state, version) = self.load::<Submission>(&submission_stream(id)).await?;
                    Ok::<_, Error>((id, state, version))
                })
                .buffered(LOAD_CONCURRENCY)
                .try_collect()
                .await?;
        let mut requests = Vec::new();
        let mut chosen = Vec::new();
        for (id, state, version) in loaded {
            let in_scope = match scope {
                RejudgeScope::All => true,
                RejudgeScope::Accepted => state
                    .0
                    .as_ref()
                    .and_then(|s| s.verdict.as_ref())
                    .is_some_and(|v| v.kind == VerdictKind::Accepted),
            };
            if !in_scope {
                continue;
            }
            let events = match state.decide(SubmissionCommand::RequestRejudge {
                rejudge_id,
                problem_id: problem.id,
                problem_version: problem.version,
                at,
            }) {
                Ok(events) => events,
                Err(DomainError::NotFound(_) | DomainError::InvalidState(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            chosen.push(id);
            requests.push(AppendRequest {
                stream: submission_stream(id),
                expected: ExpectedVersion::Exact(version),
                events: events
                    .into_iter()
                    .map(|e| new_event(e.into(), Some(actor)))
                    .collect(),
            });
        }
        let started = Rejudge::default().decide(RejudgeCommand::Start {
            rejudge_id,
            problem: Some(RejudgeProblem {
                problem_id: problem.id,
                slug: problem.slug.clone(),
                version: problem.version,
            }),
            scope,
            submissions: chosen.clone(),
            by: actor.user_id,
            at,
        })?;
        // The rejudge's own event goes last, so the append's cursor is past
        // every request: waiting for it reads the whole rejudge back.
        requests.push(AppendRequest {
            stream: rejudge_stream(rejudge_id),
            expected: ExpectedVersion::NoStream,
            events: started
                .into_iter()
                .map(|e| new_event(e.into(), Some(actor)))
                .collect(),
        });
        let appended = self.store.append_many(requests).await?;
        let total = chosen.len() as u32;
        Ok(Done {
            value: RejudgeStarted {
                rejudge_id,
                problem_version: problem.version,
                total,
                skipped: candidates.len() as u32 - total,
            },
            cursor: appended.last,
        })
    }

    /// The rejudge as its stream records it.
    pub async fn rejudge(&self, id: RejudgeId) -> Result<Option<domain::rejudge::RejudgeState>> {
        Ok(self.load::<Rejudge>(&rejudge_stream(id)).await?.0.0)
    }
}
