//! The AI tutor's conversations: one per user and problem, in the stream
//! `tutor-<user>-<problem>`. A question is recorded before any model is asked
//! (`TutorMessageSent`), so it survives a provider that fails; its answer is
//! `TutorReplied` (with the model, token counts and latency) or
//! `TutorReplyFailed` (with a code and the message the user saw).
//!
//! The daily quota is per user across problems, so it cannot live in one
//! conversation: each question also appends `TutorQuotaUsed` to the user's
//! stream for that UTC day, in the same atomic append, with the day stream's
//! version as the expectation. Two questions racing for the last unit of a
//! quota conflict in the store; the retry sees the quota used up.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::problem::ProblemStatus;
use crate::{Aggregate, DomainError, ProblemId, SubmissionId, Timestamp, UserId};

/// A question longer than this is refused.
pub const QUESTION_MAX_CHARS: usize = 4000;
/// The code sent along with a question, at most (as a submission).
pub const CODE_MAX_BYTES: usize = 64 * 1024;
/// A question unanswered for this long is given up on (the process that was
/// answering it died): another may be asked.
pub const PENDING_TIMEOUT_SECS: i64 = 300;

pub use crate::ids::MessageId;

/// The conversation of `user` about `problem`.
pub fn stream(user: UserId, problem: ProblemId) -> String {
    format!("tutor-{user}-{problem}")
}

/// Where `user`'s questions on `day` (UTC) are counted against the quota.
pub fn quota_stream(user: UserId, day: NaiveDate) -> String {
    format!("tutor-quota-{user}-{day}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TutorEvent {
    TutorMessageSent {
        message_id: MessageId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        text: String,
        /// The code the user had when asking (their editor, or their latest
        /// submission), as the tutor saw it.
        code: Option<String>,
        /// The submission whose verdict the tutor saw, if any.
        submission_id: Option<SubmissionId>,
        at: Timestamp,
    },
    TutorReplied {
        message_id: MessageId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        text: String,
        /// The model that answered; "offline" for the built-in hint engine.
        model: String,
        prompt_tokens: u32,
        completion_tokens: u32,
        /// From the question being recorded to the last token.
        latency_ms: u32,
        /// Graded hints revealed in this conversation after this reply.
        hints_revealed: u32,
        /// The model wrote a solution and the guard replaced it with a hint.
        replaced: bool,
        at: Timestamp,
    },
    TutorReplyFailed {
        message_id: MessageId,
        user_id: UserId,
        problem_id: ProblemId,
        problem_slug: String,
        model: String,
        /// RATE_LIMITED, TIMEOUT, UNAVAILABLE or PROVIDER_ERROR.
        code: String,
        /// What the user was told.
        error: String,
        latency_ms: u32,
        at: Timestamp,
    },
    /// One question counted against the user's quota for `day`.
    TutorQuotaUsed {
        user_id: UserId,
        day: NaiveDate,
        message_id: MessageId,
        at: Timestamp,
    },
}

/// What the handler read about the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TutorProblemFacts {
    pub problem_id: ProblemId,
    pub slug: String,
    pub status: ProblemStatus,
}

/// The user's quota as the handler found it in the day's quota stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaFacts {
    pub day: NaiveDate,
    /// Questions already asked that day, over all problems.
    pub used: u32,
    /// Questions allowed per day; 0 means no limit.
    pub daily_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TutorCommand {
    Ask {
        message_id: MessageId,
        user_id: UserId,
        problem: Option<TutorProblemFacts>,
        text: String,
        code: Option<String>,
        submission_id: Option<SubmissionId>,
        quota: QuotaFacts,
        at: Timestamp,
    },
    RecordReply {
        message_id: MessageId,
        text: String,
        model: String,
        prompt_tokens: u32,
        completion_tokens: u32,
        latency_ms: u32,
        hints_revealed: u32,
        replaced: bool,
        at: Timestamp,
    },
    RecordFailure {
        message_id: MessageId,
        model: String,
        code: String,
        error: String,
        latency_ms: u32,
        at: Timestamp,
    },
}

/// One exchange as the conversation remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub message_id: MessageId,
    pub question: String,
    pub asked_at: Timestamp,
    /// `None` while unanswered; `Err` with the code for a failed reply.
    pub reply: Option<Result<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation(pub Option<ConversationState>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub exchanges: Vec<Exchange>,
    pub hints_revealed: u32,
}

impl ConversationState {
    fn exchange(&self, id: MessageId) -> Option<&Exchange> {
        self.exchanges.iter().find(|e| e.message_id == id)
    }
}

impl Aggregate for Conversation {
    type Command = TutorCommand;
    type Event = TutorEvent;

    fn evolve(self, event: &TutorEvent) -> Self {
        let mut state = self.0;
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
                let s = state.get_or_insert_with(|| ConversationState {
                    user_id: *user_id,
                    problem_id: *problem_id,
                    problem_slug: problem_slug.clone(),
                    exchanges: Vec::new(),
                    hints_revealed: 0,
                });
                s.exchanges.push(Exchange {
                    message_id: *message_id,
                    question: text.clone(),
                    asked_at: *at,
                    reply: None,
                });
            }
            TutorEvent::TutorReplied {
                message_id,
                text,
                hints_revealed,
                ..
            } => {
                if let Some(s) = state.as_mut() {
                    s.hints_revealed = s.hints_revealed.max(*hints_revealed);
                    if let Some(e) = s.exchanges.iter_mut().find(|e| e.message_id == *message_id) {
                        e.reply = Some(Ok(text.clone()));
                    }
                }
            }
            TutorEvent::TutorReplyFailed {
                message_id, code, ..
            } => {
                if let Some(e) = state
                    .as_mut()
                    .and_then(|s| s.exchanges.iter_mut().find(|e| e.message_id == *message_id))
                {
                    e.reply = Some(Err(code.clone()));
                }
            }
            // Lives in the quota stream, never in a conversation.
            TutorEvent::TutorQuotaUsed { .. } => {}
        }
        Conversation(state)
    }

    fn decide(&self, command: TutorCommand) -> Result<Vec<TutorEvent>, DomainError> {
        match command {
            TutorCommand::Ask {
                message_id,
                user_id,
                problem,
                text,
                code,
                submission_id,
                quota,
                at,
            } => {
                let problem = match problem {
                    Some(p) if p.status == ProblemStatus::Published => p,
                    _ => return Err(DomainError::NotFound("problem")),
                };
                let text = text.trim().to_string();
                if text.is_empty() {
                    return Err(DomainError::invalid("message", "must not be empty"));
                }
                if text.chars().count() > QUESTION_MAX_CHARS {
                    return Err(DomainError::invalid(
                        "message",
                        format!("must be at most {QUESTION_MAX_CHARS} characters"),
                    ));
                }
                if let Some(code) = &code {
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
                }
                if let Some(s) = &self.0 {
                    let waiting = s.exchanges.iter().any(|e| {
                        e.reply.is_none() && (at - e.asked_at).num_seconds() < PENDING_TIMEOUT_SECS
                    });
                    if waiting {
                        return Err(DomainError::InvalidState(
                            "the tutor is still answering your previous question".into(),
                        ));
                    }
                }
                if quota.daily_limit > 0 && quota.used >= quota.daily_limit {
                    return Err(DomainError::LimitReached(format!(
                        "you have asked the tutor {} questions today, the daily limit; it resets at midnight UTC",
                        quota.used
                    )));
                }
                Ok(vec![
                    TutorEvent::TutorMessageSent {
                        message_id,
                        user_id,
                        problem_id: problem.problem_id,
                        problem_slug: problem.slug,
                        text,
                        code: code.filter(|c| !c.trim().is_empty()),
                        submission_id,
                        at,
                    },
                    TutorEvent::TutorQuotaUsed {
                        user_id,
                        day: quota.day,
                        message_id,
                        at,
                    },
                ])
            }
            TutorCommand::RecordReply {
                message_id,
                text,
                model,
                prompt_tokens,
                completion_tokens,
                latency_ms,
                hints_revealed,
                replaced,
                at,
            } => {
                let s = self.unanswered(message_id)?;
                Ok(vec![TutorEvent::TutorReplied {
                    message_id,
                    user_id: s.user_id,
                    problem_id: s.problem_id,
                    problem_slug: s.problem_slug.clone(),
                    text,
                    model,
                    prompt_tokens,
                    completion_tokens,
                    latency_ms,
                    hints_revealed: hints_revealed.max(s.hints_revealed),
                    replaced,
                    at,
                }])
            }
            TutorCommand::RecordFailure {
                message_id,
                model,
                code,
                error,
                latency_ms,
                at,
            } => {
                let s = self.unanswered(message_id)?;
                Ok(vec![TutorEvent::TutorReplyFailed {
                    message_id,
                    user_id: s.user_id,
                    problem_id: s.problem_id,
                    problem_slug: s.problem_slug.clone(),
                    model,
                    code,
                    error,
                    latency_ms,
                    at,
                }])
            }
        }
    }
}

impl Conversation {
    /// The conversation, if `id` is one of its questions still unanswered.
    fn unanswered(&self, id: MessageId) -> Result<&ConversationState, DomainError> {
        let s = self
            .0
            .as_ref()
            .ok_or(DomainError::NotFound("tutor message"))?;
        match s.exchange(id) {
            None => Err(DomainError::NotFound("tutor message")),
            Some(e) if e.reply.is_some() => Err(DomainError::InvalidState(
                "this question is already answered".into(),
            )),
            Some(_) => Ok(s),
        }
    }
}
