//! The rejudge aggregate: an admin's request to judge a problem's submissions
//! again, usually after its tests changed.
//!
//! A rejudge is one atomic append: `RejudgeStarted` on its own stream and a
//! `SubmissionRejudgeRequested` on each chosen submission's stream. Each
//! submission's verdict for it carries the rejudge id, so progress is the
//! count of those verdicts against `total`, and a rejudge interrupted by a
//! crash resumes from the log like any other job.

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, ProblemId, RejudgeId, SubmissionId, Timestamp, UserId};

/// Which of a problem's judged submissions a rejudge takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejudgeScope {
    /// Every judged submission.
    All,
    /// Only those whose current verdict is Accepted: the ones a stricter test
    /// can knock out of the rankings.
    Accepted,
}

impl RejudgeScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RejudgeScope::All => "all",
            RejudgeScope::Accepted => "accepted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejudgeEvent {
    RejudgeStarted {
        rejudge_id: RejudgeId,
        problem_id: ProblemId,
        problem_slug: String,
        /// The problem version every verdict of this rejudge is judged against.
        problem_version: u32,
        scope: RejudgeScope,
        /// How many submissions were queued (each got a
        /// `SubmissionRejudgeRequested` in the same append).
        total: u32,
        by: UserId,
        at: Timestamp,
    },
}

/// What the handler read about the problem, for the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejudgeProblem {
    pub problem_id: ProblemId,
    pub slug: String,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejudgeCommand {
    Start {
        rejudge_id: RejudgeId,
        /// `None` when the problem does not exist.
        problem: Option<RejudgeProblem>,
        scope: RejudgeScope,
        /// The submissions chosen (each already checked by its own aggregate).
        submissions: Vec<SubmissionId>,
        by: UserId,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejudge(pub Option<RejudgeState>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejudgeState {
    pub id: RejudgeId,
    pub problem_id: ProblemId,
    pub problem_version: u32,
    pub scope: RejudgeScope,
    pub total: u32,
}

/// The most submissions one rejudge takes: one append holds them all.
pub const REJUDGE_MAX: usize = 20_000;

impl Aggregate for Rejudge {
    type Command = RejudgeCommand;
    type Event = RejudgeEvent;

    fn evolve(self, event: &RejudgeEvent) -> Self {
        match event {
            RejudgeEvent::RejudgeStarted {
                rejudge_id,
                problem_id,
                problem_version,
                scope,
                total,
                ..
            } => Rejudge(Some(RejudgeState {
                id: *rejudge_id,
                problem_id: *problem_id,
                problem_version: *problem_version,
                scope: *scope,
                total: *total,
            })),
        }
    }

    fn decide(&self, command: RejudgeCommand) -> Result<Vec<RejudgeEvent>, DomainError> {
        match command {
            RejudgeCommand::Start {
                rejudge_id,
                problem,
                scope,
                submissions,
                by,
                at,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::AlreadyExists("rejudge"));
                }
                let Some(problem) = problem else {
                    return Err(DomainError::NotFound("problem"));
                };
                if submissions.len() > REJUDGE_MAX {
                    return Err(DomainError::invalid(
                        "submissions",
                        format!(
                            "{} submissions is more than one rejudge takes ({REJUDGE_MAX}); \
                             rejudge the accepted ones first",
                            submissions.len()
                        ),
                    ));
                }
                Ok(vec![RejudgeEvent::RejudgeStarted {
                    rejudge_id,
                    problem_id: problem.problem_id,
                    problem_slug: problem.slug,
                    problem_version: problem.version,
                    scope,
                    total: submissions.len() as u32,
                    by,
                    at,
                }])
            }
        }
    }
}
