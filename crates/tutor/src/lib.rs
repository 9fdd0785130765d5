//! The AI tutor: answers a learner's question about a problem with hints,
//! never a solution.
//!
//! Owns the provider client (async-openai against any OpenAI-compatible
//! endpoint, streaming, with timeouts and retries of what is safe to retry),
//! the system prompt and the context built from what the learner can see
//! ([`context`]), the solution guard ([`guard`]), and the offline hint
//! engine ([`offline`]) used when no endpoint is configured. Depends on
//! `domain` for its types only; it records nothing and serves nothing: the
//! API layer asks it for a reply and the write side records the outcome.
//!
//! Key decision: the guard sits between the model and the learner while the
//! reply streams. Prose goes out token by token, but code is held back until
//! its block is complete and checked, so a solution is replaced with a hint
//! before any of it is shown.

pub mod context;
pub mod guard;
pub mod offline;
pub mod provider;

use std::ops::ControlFlow;
use std::time::Duration;

pub use context::{JudgedCode, ProblemContext, TutorRequest};
pub use provider::{Provider, ProviderConfig, Usage};

/// The model name recorded for the offline engine's replies.
pub const OFFLINE_MODEL: &str = "offline";

/// The longest reply kept, in bytes. `max_tokens` should stop a model long
/// before this, but an endpoint that ignores it must not make us hold (and
/// record, and fan out) an unbounded reply.
pub const REPLY_MAX_BYTES: usize = 32 * 1024;

/// Why no reply came. Each has a stable code and a message for the learner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TutorError {
    /// The provider said 429; `Some` when it said for how long.
    #[error("the tutor's model provider is rate limiting requests")]
    RateLimited(Option<Duration>),
    #[error("the tutor's model provider did not answer within {0:?}")]
    Timeout(Duration),
    /// 5xx or no connection, after the retries.
    #[error("the tutor's model provider is unavailable: {0}")]
    Unavailable(String),
    /// Anything else the provider said (a wrong key, an unknown model).
    #[error("the tutor's model provider refused the request: {0}")]
    Provider(String),
}

impl TutorError {
    pub fn code(&self) -> &'static str {
        match self {
            TutorError::RateLimited(_) => "RATE_LIMITED",
            TutorError::Timeout(_) => "TIMEOUT",
            TutorError::Unavailable(_) => "UNAVAILABLE",
            TutorError::Provider(_) => "PROVIDER_ERROR",
        }
    }

    /// What the learner is told. Provider details stay in the log.
    pub fn user_message(&self) -> String {
        match self {
            TutorError::RateLimited(Some(wait)) => format!(
                "The tutor is busy right now (the model provider is rate limiting us). Try again in {} s.",
                wait.as_secs().max(1)
            ),
            TutorError::RateLimited(None) => {
                "The tutor is busy right now (the model provider is rate limiting us). Try again in a minute."
                    .to_string()
            }
            TutorError::Timeout(_) => {
                "The tutor took too long to answer (the model provider timed out). Try again.".to_string()
            }
            TutorError::Unavailable(_) => {
                "The tutor's model provider is unavailable at the moment. Try again later.".to_string()
            }
            TutorError::Provider(_) => {
                "The tutor could not get an answer from its model provider. An admin has been told.".to_string()
            }
        }
    }
}

/// A reply, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TutorReply {
    pub text: String,
    /// The model that answered, or [`OFFLINE_MODEL`].
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Graded hints revealed after this reply.
    pub hints_revealed: u32,
    /// The guard replaced the model's reply with a hint.
    pub replaced: bool,
}

/// Which tutor answers.
#[derive(Debug, Clone)]
pub enum Tutor {
    /// A model behind an OpenAI-compatible endpoint.
    Online(Provider),
    /// The deterministic hint engine.
    Offline,
}

impl Tutor {
    pub fn model(&self) -> &str {
        match self {
            Tutor::Online(p) => p.model(),
            Tutor::Offline => OFFLINE_MODEL,
        }
    }

    pub fn is_online(&self) -> bool {
        matches!(self, Tutor::Online(_))
    }

    /// Answers `req`. `on_text` gets the reply as it may be shown, piece by
    /// piece; the returned reply is the whole of it (a guarded reply's
    /// replacement, when the model wrote a solution).
    pub async fn reply(
        &self,
        req: &TutorRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<TutorReply, TutorError> {
        match self {
            Tutor::Offline => {
                let answer = offline::reply(req);
                for piece in split_words(&answer.text) {
                    on_text(piece);
                }
                Ok(TutorReply {
                    text: answer.text,
                    model: OFFLINE_MODEL.to_string(),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    hints_revealed: answer.hints_revealed,
                    replaced: false,
                })
            }
            Tutor::Online(provider) => {
                let mut guard = guard::StreamGuard::new(req.problem.entry_point.as_deref());
                let mut violation = None;
                let mut usage = Usage::default();
                provider
                    .stream(context::messages(req), |piece| match piece {
                        provider::Piece::Text(text)
                            if guard.text().len() + text.len() > REPLY_MAX_BYTES =>
                        {
                            tracing::warn!(
                                max = REPLY_MAX_BYTES,
                                "the tutor's reply is too long; cut"
                            );
                            ControlFlow::Break(())
                        }
                        provider::Piece::Text(text) => match guard.push(&text) {
                            Ok(shown) => {
                                if !shown.is_empty() {
                                    on_text(&shown);
                                }
                                ControlFlow::Continue(())
                            }
                            Err(v) => {
                                violation = Some(v);
                                ControlFlow::Break(())
                            }
                        },
                        provider::Piece::Done(u) => {
                            usage = u;
                            ControlFlow::Continue(())
                        }
                    })
                    .await?;
                if violation.is_none() {
                    match guard.finish() {
                        Ok(rest) if !rest.is_empty() => on_text(&rest),
                        Ok(_) => {}
                        Err(v) => violation = Some(v),
                    }
                }
                let (text, hints_revealed, replaced) = match violation {
                    Some(v) => {
                        tracing::warn!(
                            reason = v.reason,
                            "the tutor's reply held a solution; replaced with a hint"
                        );
                        let (hint, revealed) = offline::next_hint(req);
                        (
                            format!(
                                "I won't write the solution for you: working it out is the point. \
                                 Here is a hint instead.\n\n{hint}"
                            ),
                            revealed,
                            true,
                        )
                    }
                    None => (guard.text().to_string(), req.hints_revealed, false),
                };
                Ok(TutorReply {
                    text,
                    model: provider.model().to_string(),
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    hints_revealed,
                    replaced,
                })
            }
        }
    }
}

/// Splits text into words, each with the whitespace after it, so the pieces
/// join back into the text.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}
