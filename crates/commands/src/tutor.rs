//! The tutor's command handlers: a question (with its quota unit), and the
//! reply or failure that answers it.
//!
//! The handler gathers from the log what the tutor may use: the problem's
//! spec, the caller's latest submission (named by the caller and checked to
//! be theirs and this problem's), the conversation so far. The domain
//! decides on quota data read from the day's quota stream; the question and
//! its quota unit are one atomic append with both streams' versions
//! expected, so concurrent questions cannot overspend the quota.

use chrono::Utc;
use domain::problem::ProblemSpec;
use domain::submission::{Submission, Verdict};
use domain::tutor::{
    self, Conversation, MessageId, QuotaFacts, TutorCommand, TutorEvent, TutorProblemFacts,
};
use domain::{Aggregate, Event, ProblemId, SubmissionId, UserId};
use store::{AppendRequest, ExpectedVersion};

use crate::{Actor, Commands, Done, RETRIES, Result, new_event, submission_stream};

/// A question for the tutor.
#[derive(Debug, Clone)]
pub struct AskTutor<'a> {
    pub problem_slug: &'a str,
    pub text: &'a str,
    /// The code in the learner's editor; their latest submission's when
    /// `None`.
    pub code: Option<&'a str>,
    /// The learner's latest submission to this problem, if any (the caller
    /// finds it; it is checked here).
    pub latest_submission: Option<SubmissionId>,
    /// Questions per user and UTC day; 0 for no limit.
    pub daily_limit: u32,
}

/// A recorded question and what the tutor may use to answer it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub message_id: MessageId,
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    /// The problem as it is now. Hidden tests are in it: whoever builds the
    /// tutor's context must copy only what the learner may see.
    pub spec: ProblemSpec,
    pub question: String,
    pub code: Option<String>,
    /// The latest judged submission's code and verdict.
    pub judged: Option<(String, Verdict)>,
    pub hints_revealed: u32,
    /// Earlier answered questions, oldest first.
    pub history: Vec<(String, String)>,
}

/// A reply to record.
#[derive(Debug, Clone)]
pub struct TutorOutcome {
    pub user_id: UserId,
    pub problem_id: ProblemId,
    pub message_id: MessageId,
    pub model: String,
    pub latency_ms: u32,
    pub result: std::result::Result<TutorAnswer, TutorFailure>,
}

#[derive(Debug, Clone)]
pub struct TutorAnswer {
    pub text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub hints_revealed: u32,
    pub replaced: bool,
}

#[derive(Debug, Clone)]
pub struct TutorFailure {
    pub code: String,
    pub error: String,
}

impl Commands {
    /// Records a question to the tutor on the published problem
    /// `problem_slug`, counted against the caller's daily quota.
    #[tracing::instrument(skip(self, actor, ask), fields(user = %actor.user_id, slug = ask.problem_slug, message_id))]
    pub async fn ask_tutor(&self, actor: &Actor, ask: AskTutor<'_>) -> Result<Done<Asked>> {
        let problem = self.problem_by_slug(ask.problem_slug).await?;
        let facts = problem.as_ref().map(|p| TutorProblemFacts {
            problem_id: p.id,
            slug: p.slug.clone(),
            status: p.status,
        });
        // The latest submission counts only if it is the caller's, to this
        // problem.
        let submission = match (ask.latest_submission, &problem) {
            (Some(id), Some(p)) => self
                .load::<Submission>(&submission_stream(id))
                .await?
                .0
                .0
                .filter(|s| s.user_id == actor.user_id && s.problem_id == p.id),
            _ => None,
        };
        let code = ask
            .code
            .map(str::to_string)
            .or_else(|| submission.as_ref().map(|s| s.code.clone()));
        let judged = submission
            .as_ref()
            .and_then(|s| s.verdict.clone().map(|v| (s.code.clone(), v)));
        let message_id = MessageId::new();
        tracing::Span::current().record("message_id", tracing::field::display(message_id));
        let at = Utc::now();
        let day = at.date_naive();
        let quota_stream = tutor::quota_stream(actor.user_id, day);
        let problem_id = facts.as_ref().map(|f| f.problem_id).unwrap_or_default();
        let conversation_stream = tutor::stream(actor.user_id, problem_id);
        let mut attempt = 0;
        loop {
            let used = self.store.read_stream(&quota_stream, 1).await?;
            let quota_version = used.last().map_or(0, |r| r.version);
            let quota = QuotaFacts {
                day,
                used: u32::try_from(used.len()).unwrap_or(u32::MAX),
                daily_limit: ask.daily_limit,
            };
            let (conversation, version) = self.load::<Conversation>(&conversation_stream).await?;
            let events = conversation.decide(TutorCommand::Ask {
                message_id,
                user_id: actor.user_id,
                problem: facts.clone(),
                text: ask.text.to_string(),
                code: code.clone(),
                submission_id: submission.as_ref().map(|s| s.id),
                quota,
                at,
            })?;
            let (quota_events, asked): (Vec<TutorEvent>, Vec<TutorEvent>) = events
                .into_iter()
                .partition(|e| matches!(e, TutorEvent::TutorQuotaUsed { .. }));
            let question = asked.iter().find_map(|e| match e {
                TutorEvent::TutorMessageSent { text, .. } => Some(text.clone()),
                _ => None,
            });
            let expect = |v: u64| {
                if v == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(v)
                }
            };
            let requests = vec![
                AppendRequest {
                    stream: conversation_stream.clone(),
                    expected: expect(version),
                    events: asked
                        .into_iter()
                        .map(|e| new_event(Event::from(e), Some(actor)))
                        .collect(),
                },
                AppendRequest {
                    stream: quota_stream.clone(),
                    expected: expect(quota_version),
                    events: quota_events
                        .into_iter()
                        .map(|e| new_event(Event::from(e), Some(actor)))
                        .collect(),
                },
            ];
            match self.store.append_many(requests).await {
                Ok(appended) => {
                    let state = conversation.0;
                    let history = state
                        .as_ref()
                        .map(|s| {
                            s.exchanges
                                .iter()
                                .filter_map(|e| match &e.reply {
                                    Some(Ok(reply)) => Some((e.question.clone(), reply.clone())),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let problem = problem.expect("the domain accepted the problem");
                    return Ok(Done {
                        value: Asked {
                            message_id,
                            user_id: actor.user_id,
                            problem_id: problem.id,
                            problem_slug: problem.slug,
                            spec: problem.spec,
                            question: question.unwrap_or_default(),
                            code,
                            judged,
                            hints_revealed: state.map_or(0, |s| s.hints_revealed),
                            history,
                        },
                        cursor: appended.last,
                    });
                }
                Err(store::Error::Conflict { .. }) if attempt < RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records the tutor's reply to `message_id`, or why there is none.
    #[tracing::instrument(skip(self, outcome), fields(message_id = %outcome.message_id, ok = outcome.result.is_ok()))]
    pub async fn record_tutor_outcome(&self, outcome: TutorOutcome) -> Result<Done<()>> {
        let at = Utc::now();
        let stream = tutor::stream(outcome.user_id, outcome.problem_id);
        let done = self
            .execute::<Conversation>(&stream, None, |_| match &outcome.result {
                Ok(answer) => TutorCommand::RecordReply {
                    message_id: outcome.message_id,
                    text: answer.text.clone(),
                    model: outcome.model.clone(),
                    prompt_tokens: answer.prompt_tokens,
                    completion_tokens: answer.completion_tokens,
                    latency_ms: outcome.latency_ms,
                    hints_revealed: answer.hints_revealed,
                    replaced: answer.replaced,
                    at,
                },
                Err(failure) => TutorCommand::RecordFailure {
                    message_id: outcome.message_id,
                    model: outcome.model.clone(),
                    code: failure.code.clone(),
                    error: failure.error.clone(),
                    latency_ms: outcome.latency_ms,
                    at,
                },
            })
            .await?;
        Ok(Done {
            value: (),
            cursor: done.cursor,
        })
    }

    /// Questions `user` has asked the tutor on `day` (UTC), from the log.
    pub async fn tutor_questions_on(&self, user: UserId, day: chrono::NaiveDate) -> Result<u32> {
        let events = self
            .store
            .read_stream(&tutor::quota_stream(user, day), 1)
            .await?;
        Ok(u32::try_from(events.len()).unwrap_or(u32::MAX))
    }
}
