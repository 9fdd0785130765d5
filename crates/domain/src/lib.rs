//! The PyDojo domain: ids, one event enum per aggregate, and `decide`/`evolve`.
//!
//! This crate is pure: no async, no IO, no clock. Everything from outside (the
//! time, a password hash, whether a problem is published) is fetched by the
//! command handler and put into the command. `commands` and `projections`
//! depend on it; it depends on nothing of ours.
//!
//! Key decision: events are stored under a stable type name and a schema
//! version ([`codec`]), never a Rust type path, and old shapes are upcast in
//! [`codec::decode`] so that aggregates and projections only see the current
//! shape.

pub mod codec;
mod error;
pub mod forum;
mod ids;
pub mod playground;
pub mod problem;
pub mod rejudge;
pub mod reservation;
pub mod submission;
pub mod tutor;
pub mod user;

pub use codec::Event;
pub use error::DomainError;
pub use ids::{CommentId, ProblemId, RejudgeId, SubmissionId, UserId};

/// An event-sourced aggregate: a state folded from its events, and a pure
/// decision that turns a command into new events or a business rejection.
pub trait Aggregate: Default + Sized {
    type Command;
    type Event;

    /// The state after `event`.
    fn evolve(self, event: &Self::Event) -> Self;

    /// The events `command` produces from this state, or why it is refused.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// Folds a history into a state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// Milliseconds-precision UTC timestamps are what the domain records.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
