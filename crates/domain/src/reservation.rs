//! Uniqueness through the event log itself.
//!
//! A unique key (a username, an email, a problem slug) is claimed by starting
//! the stream `reservation-<kind>-<key>` with "expected: no stream", in the same
//! atomic append as the owner's first event. A second claim conflicts in the
//! store, so no side table can drift from the log.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationKind {
    Username,
    Email,
    ProblemSlug,
}

impl ReservationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationKind::Username => "username",
            ReservationKind::Email => "email",
            ReservationKind::ProblemSlug => "slug",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationEvent {
    KeyReserved {
        kind: ReservationKind,
        key: String,
        owner: Uuid,
        at: Timestamp,
    },
}

/// The stream that holds the claim on `key` (already normalised).
pub fn stream(kind: ReservationKind, key: &str) -> String {
    format!("reservation-{}-{}", kind.as_str(), key)
}
