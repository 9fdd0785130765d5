//! The read side: SQL read models built from the event log, and the queries
//! the API answers from them.
//!
//! Depends on `domain` (to decode events) and `store` (to follow the log);
//! never on `commands`: the log is the only contract between the two sides.
//!
//! Key decisions:
//! - Every projection has a stable name and a checkpoint stored in the same
//!   transaction as its rows, so a crash (even `kill -9`) between two batches
//!   loses nothing and applies nothing twice. Writes are idempotent anyway.
//! - One [`Runner`] reads the log once and feeds every projection in one
//!   transaction per batch; a projection whose checkpoint is ahead (after a
//!   rebuild of another) skips what it has already seen.
//! - Read models use portable SQL through sqlx's `Any` driver, so the same
//!   projection code runs on SQLite (embedded) and PostgreSQL (production).
//! - Each projection owns the tables named after it and reads no other
//!   table while it applies events, so it can be rebuilt alone. A submission
//!   can be judged again (a rejudge): its latest verdict by log position
//!   replaces the earlier one everywhere. Each projection's per-submission
//!   row keeps the verdict it counts and that verdict's position, applies a
//!   verdict only if it is newer, and moves counters by taking the old
//!   verdict's share out and putting the new one's in, so re-applying an
//!   event changes nothing. Modules hold their projection and the queries
//!   over it.
//! - [`Projection::apply_batch`] folds a whole batch: the heavy projections
//!   load the rows a batch touches with a few set-based reads, compute in
//!   memory and write back with multi-row statements, leaving exactly the
//!   rows event-by-event application leaves (their `apply` is a batch of
//!   one).
//! - A rebuild into empty tables goes further: those projections' [`Fold`]
//!   keeps the whole state in memory and writes each row once at the end
//!   (on SQLite files through a plain SQLite connection, see `sink`), each
//!   projection on a thread and a shadow file of its own. A fold must leave
//!   exactly the rows its batch path leaves; `fold_check` tests that.
//! - Each projection declares its tables, so [`replay`] can rebuild any of
//!   them into a shadow from the log and swap it in atomically, or build the
//!   read models as they stood at any past moment.

pub mod analytics;
mod batch;
mod db;
pub mod distribution;
mod error;
mod fold;
#[cfg(test)]
mod fold_check;
pub mod forum;
pub mod leaderboard;
pub mod problem_stats;
pub mod problems;
pub mod profiles;
pub mod queries;
pub mod ranking;
pub mod rejudges;
pub mod replay;
mod runner;
mod sink;
pub mod submissions;
pub mod tutor;
pub mod users;

pub use batch::V as SqlValue;
pub use db::{ReadBackend, ReadDb};
pub use error::{Error, Result};
pub use runner::{Envelope, Fold, Progress, Projection, Runner, Step};
pub use sink::Sink;

/// The projections this build maintains, in the order they are applied.
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(users::Users),
        Box::new(problems::Problems),
        Box::new(submissions::Submissions),
        Box::new(ranking::Ranking),
        Box::new(leaderboard::Leaderboard),
        Box::new(profiles::Profiles),
        Box::new(problem_stats::ProblemStats),
        Box::new(analytics::Analytics),
        Box::new(rejudges::Rejudges),
        Box::new(forum::Forum),
        Box::new(tutor::Tutor),
    ]
}

/// Microseconds since the epoch: how read models store time (portable, sortable).
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

const DAY_MICROS: i64 = 86_400_000_000;

/// The UTC day (days since 1970-01-01) of a read-model time.
pub fn utc_day(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

/// The calendar date of a day number.
pub fn day_date(day: i64) -> chrono::NaiveDate {
    from_micros(day * DAY_MICROS).date_naive()
}

/// The day number of a calendar date.
pub fn date_day(date: chrono::NaiveDate) -> i64 {
    utc_day(micros(date.and_time(chrono::NaiveTime::MIN).and_utc()))
}

/// A verdict for a submission the log never created, which the domain rules out.
pub(crate) fn never_created(id: domain::SubmissionId) -> Error {
    Error::Corrupt(format!(
        "a verdict for submission {id}, which the log never created"
    ))
}
