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

mod db;
mod error;
pub mod problems;
pub mod queries;
mod runner;
pub mod submissions;
pub mod users;

pub use db::{ReadBackend, ReadDb};
pub use error::{Error, Result};
pub use runner::{Envelope, Progress, Projection, Runner, Step};

/// The projections this build maintains, in the order they are applied.
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(users::Users),
        Box::new(problems::Problems),
        Box::new(submissions::Submissions),
    ]
}

/// Microseconds since the epoch: how read models store time (portable, sortable).
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
