//! The submission aggregate: created, judged once, and judged again each time
//! an admin rejudges its problem. A rejudge's verdict replaces the earlier one
//! in every read model; the earlier one stays in the log.

use serde::{Deserialize, Serialize};

use crate::problem::ProblemStatus;
use crate::{Aggregate, DomainError, ProblemId, RejudgeId, SubmissionId, Timestamp, UserId};

/// Submitted code is UTF-8 (guaranteed by `String`) and at most this many bytes.
pub const CODE_MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmissionEvent {
    SubmissionCreated {
        submission_id: SubmissionId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        /// The problem version the code was submitted against.
        problem_version: u32,
        language: String,
        code: String,
        at: Timestamp,
    },
    /// The judge's verdict. Carries what readers need (user, problem,
    /// version) so rankings and profiles are plain folds.
    SubmissionJudged {
        submission_id: SubmissionId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        problem_version: u32,
        verdict: Verdict,
        at: Timestamp,
        /// Set when this verdict answers a rejudge (then `problem_version` is
        /// the version the rejudge judged against). Absent in verdicts
        /// recorded before rejudges existed, hence the default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rejudge_id: Option<RejudgeId>,
    },
    /// An admin asked for this judged submission to be judged again against
    /// `problem_version` (the problem's version when the rejudge started).
    /// The job queues pick it up like a new submission.
    SubmissionRejudgeRequested {
        submission_id: SubmissionId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        rejudge_id: RejudgeId,
        problem_version: u32,
        /// The verdict this rejudge may replace, so that what changed can be
        /// told from the two events alone.
        previous_verdict: VerdictKind,
        at: Timestamp,
    },
}

/// What the handler read about the problem, for the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemFacts {
    pub problem_id: ProblemId,
    pub slug: String,
    pub version: u32,
    pub status: ProblemStatus,
}

impl From<crate::problem::ProblemState> for ProblemFacts {
    fn from(p: crate::problem::ProblemState) -> Self {
        Self {
            problem_id: p.id,
            slug: p.slug,
            version: p.version,
            status: p.status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionCommand {
    Create {
        submission_id: SubmissionId,
        user_id: UserId,
        problem: Option<ProblemFacts>,
        code: String,
        at: Timestamp,
    },
    /// Records the judge's verdict. A submission gets exactly one per job
    /// (its first judgement, and each rejudge), however often the job is
    /// delivered: `rejudge_id` says which job the verdict answers.
    RecordVerdict {
        verdict: Verdict,
        rejudge_id: Option<RejudgeId>,
        at: Timestamp,
    },
    /// Queues the judged submission to be judged again against
    /// `problem_version`. A newer rejudge supersedes one still pending.
    RequestRejudge {
        rejudge_id: RejudgeId,
        problem_id: ProblemId,
        problem_version: u32,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission(pub Option<SubmissionState>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionState {
    pub id: SubmissionId,
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub problem_version: u32,
    pub code: String,
    pub verdict: Option<Verdict>,
    /// The rejudge waiting for a verdict, and the version it judges against.
    pub pending_rejudge: Option<(RejudgeId, u32)>,
}

impl SubmissionState {
    /// The job this submission waits on, if any: its first judgement
    /// (`Some(None)`), or a rejudge (`Some(Some(id))`).
    pub fn awaiting(&self) -> Option<Option<RejudgeId>> {
        match (&self.verdict, self.pending_rejudge) {
            (None, _) => Some(None),
            (Some(_), Some((id, _))) => Some(Some(id)),
            (Some(_), None) => None,
        }
    }
}

impl Aggregate for Submission {
    type Command = SubmissionCommand;
    type Event = SubmissionEvent;

    fn evolve(self, event: &SubmissionEvent) -> Self {
        match event {
            SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_id,
                problem_slug,
                problem_version,
                code,
                ..
            } => Submission(Some(SubmissionState {
                id: *submission_id,
                user_id: *user_id,
                problem_id: *problem_id,
                problem_slug: problem_slug.clone(),
                problem_version: *problem_version,
                code: code.clone(),
                verdict: None,
                pending_rejudge: None,
            })),
            SubmissionEvent::SubmissionJudged {
                verdict,
                rejudge_id,
                ..
            } => {
                let mut state = self.0;
                if let Some(s) = state.as_mut() {
                    s.verdict = Some(verdict.clone());
                    if rejudge_id.is_some() && s.pending_rejudge.map(|(id, _)| id) == *rejudge_id {
                        s.pending_rejudge = None;
                    }
                }
                Submission(state)
            }
            SubmissionEvent::SubmissionRejudgeRequested {
                rejudge_id,
                problem_version,
                ..
            } => {
                let mut state = self.0;
                if let Some(s) = state.as_mut() {
                    s.pending_rejudge = Some((*rejudge_id, *problem_version));
                }
                Submission(state)
            }
        }
    }

    fn decide(&self, command: SubmissionCommand) -> Result<Vec<SubmissionEvent>, DomainError> {
        match command {
            SubmissionCommand::Create {
                submission_id,
                user_id,
                problem,
                code,
                at,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::AlreadyExists("submission"));
                }
                // Users never learn of drafts, so an unpublished problem is "not found".
                let problem = match problem {
                    Some(p) if p.status == ProblemStatus::Published => p,
                    _ => return Err(DomainError::NotFound("problem")),
                };
                if code.trim().is_empty() {
                    return Err(DomainError::invalid("code", "must not be empty"));
                }
                if code.len() > CODE_MAX_BYTES {
                    return Err(DomainError::invalid(
                        "code",
                        format!("must be at most {CODE_MAX_BYTES} bytes"),
                    ));
                }
                if code.contains('\0') {
                    return Err(DomainError::invalid(
                        "code",
                        "must not contain NUL characters",
                    ));
                }
                Ok(vec![SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    problem_id: problem.problem_id,
                    problem_slug: problem.slug,
                    problem_version: problem.version,
                    language: "python3".into(),
                    code,
                    at,
                }])
            }
            SubmissionCommand::RecordVerdict {
                verdict,
                rejudge_id,
                at,
            } => {
                let Some(state) = &self.0 else {
                    return Err(DomainError::NotFound("submission"));
                };
                if state.awaiting() != Some(rejudge_id) {
                    return Err(DomainError::InvalidState(match rejudge_id {
                        None => "submission is already judged".into(),
                        Some(id) => format!("submission is not awaiting rejudge {id}"),
                    }));
                }
                let problem_version = match rejudge_id {
                    Some(_) => state
                        .pending_rejudge
                        .map_or(state.problem_version, |(_, v)| v),
                    None => state.problem_version,
                };
                if verdict.passed > verdict.total || verdict.tests.len() as u32 > verdict.total {
                    return Err(DomainError::invalid(
                        "verdict",
                        "more tests passed or run than exist",
                    ));
                }
                Ok(vec![SubmissionEvent::SubmissionJudged {
                    submission_id: state.id,
                    user_id: state.user_id,
                    problem_id: state.problem_id,
                    problem_slug: state.problem_slug.clone(),
                    problem_version,
                    verdict,
                    at,
                    rejudge_id,
                }])
            }
            SubmissionCommand::RequestRejudge {
                rejudge_id,
                problem_id,
                problem_version,
                at,
            } => {
                // A submission of another problem is "not found" for this one.
                let Some(state) = self.0.as_ref().filter(|s| s.problem_id == problem_id) else {
                    return Err(DomainError::NotFound("submission"));
                };
                let Some(previous) = &state.verdict else {
                    return Err(DomainError::InvalidState(
                        "submission is not judged yet; its first judgement is still to come".into(),
                    ));
                };
                Ok(vec![SubmissionEvent::SubmissionRejudgeRequested {
                    submission_id: state.id,
                    user_id: state.user_id,
                    problem_id: state.problem_id,
                    problem_slug: state.problem_slug.clone(),
                    rejudge_id,
                    problem_version,
                    previous_verdict: previous.kind,
                    at,
                }])
            }
        }
    }
}

/// The outcome of judging, in the order a submission can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerdictKind {
    Accepted,
    WrongAnswer,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RuntimeError,
    CompileError,
    /// The judge itself failed; the submission is not at fault.
    InternalError,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Accepted => "accepted",
            VerdictKind::WrongAnswer => "wrong_answer",
            VerdictKind::TimeLimitExceeded => "time_limit_exceeded",
            VerdictKind::MemoryLimitExceeded => "memory_limit_exceeded",
            VerdictKind::OutputLimitExceeded => "output_limit_exceeded",
            VerdictKind::RuntimeError => "runtime_error",
            VerdictKind::CompileError => "compile_error",
            VerdictKind::InternalError => "internal_error",
        }
    }
}

/// One test's result. Runtime and memory are measured by the sandbox from
/// outside (cgroup and rusage), never reported by the user's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// Position among the problem's tests: examples first, then hidden tests.
    pub index: u32,
    pub hidden: bool,
    pub verdict: VerdictKind,
    pub runtime_ms: u32,
    pub memory_kb: u64,
}

/// What a user may learn about the first failing *visible* test (an example).
/// Hidden tests' inputs and outputs are never put here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedExample {
    pub index: u32,
    pub input: String,
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub passed: u32,
    pub total: u32,
    /// The slowest test's CPU time, in milliseconds.
    pub runtime_ms: u32,
    /// The largest peak memory over the tests, in KiB.
    pub memory_kb: u64,
    pub tests: Vec<TestOutcome>,
    /// WrongAnswer on an example: the case, expected and actual output.
    pub failed_example: Option<FailedExample>,
    /// CompileError: "SyntaxError: … (line L, column C)"; RuntimeError: the
    /// exception type, message and the traceback trimmed to the user's code;
    /// InternalError: what went wrong in the judge.
    pub message: Option<String>,
}
