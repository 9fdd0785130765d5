//! The event store: the append-only log every other crate builds on.
//!
//! Owns the [`EventStore`] trait, its SQLite and PostgreSQL backends, and the
//! catch-up subscription. It knows nothing of the domain: events are opaque
//! `(type, schema version, JSON)` records. `commands` and `projections` depend
//! on it; it depends on no crate of ours.
//!
//! Key decisions:
//! - Optimistic concurrency on every append (an expected stream version and a
//!   unique `(stream, version)`), and appends that are idempotent on event id,
//!   so a retried append never duplicates.
//! - An append may span several streams atomically ([`EventStore::append_many`]);
//!   uniqueness (usernames, slugs) is a reservation stream started with
//!   [`ExpectedVersion::NoStream`] in the same append as its owner's events.
//! - Readers move a [`Cursor`], not a bare sequence number. On PostgreSQL the
//!   cursor is `(txid, seq)` and reads stop below the oldest running
//!   transaction, so a catch-up reader never skips an event that commits late.

mod error;
pub mod postgres;
pub mod sqlite;
mod subscription;
pub mod testing;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

pub use error::{Error, Result};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use subscription::{HELD_BACK_POLL, Subscription, subscribe};

/// What the caller believes about a stream before appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check (still idempotent on event id).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version (streams start at 1).
    Exact(u64),
}

impl ExpectedVersion {
    /// The version a stream has to be at, if any.
    fn required(self) -> Option<u64> {
        match self {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// A place in the global log, ordered `(tx, seq)`. On SQLite `tx` is always 0
/// and `seq` is the commit position; on PostgreSQL `tx` is the writing
/// transaction's id and `seq` a sequence value within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cursor {
    pub tx: u64,
    pub seq: u64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor { tx: 0, seq: 0 };
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tx, self.seq)
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Idempotency key: appending the same ids again returns the first result.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: Value,
    /// Who and why: actor, correlation id, request id.
    pub metadata: Value,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub cursor: Cursor,
    pub stream: String,
    /// 1 for a stream's first event.
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

/// An event as stored with its payload still JSON text: for a reader that
/// goes through the whole log and parses payloads straight into its own
/// types (a replay), skipping what it does not need.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub cursor: Cursor,
    pub stream: String,
    pub event_type: String,
    pub schema_version: u32,
    pub data: String,
    pub recorded_at: DateTime<Utc>,
}

/// One stream's part of an append.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The version of the last stream's last event after the append.
    pub stream_version: u64,
    /// The cursor of the last event written; wait for readers to pass it to
    /// read your own write.
    pub last: Cursor,
}

/// The log. Implementations are cheap to clone handles onto a shared backend.
pub trait EventStore: Send + Sync + fmt::Debug + 'static {
    /// Appends to several streams in one atomic step: all of it or none of it.
    /// Each stream's expectation is checked; the first that fails gives
    /// [`Error::Conflict`]. If the first event id of every request is already
    /// stored where this request would put it, nothing is written and the
    /// original result comes back (a retry is not a duplicate).
    fn append_many(&self, requests: Vec<AppendRequest>) -> BoxFuture<'_, Result<Appended>>;

    /// Events of one stream with `version >= from_version`, in order.
    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>>>;

    /// Up to `limit` events after `after`, in log order. Never returns an
    /// event while an earlier one (in log order) could still appear.
    fn read_all(&self, after: Cursor, limit: usize) -> BoxFuture<'_, Result<Vec<RecordedEvent>>>;

    /// [`EventStore::read_all`] with payloads as text and without ids or
    /// metadata: what a replay needs, read without parsing what it skips.
    fn read_all_text(&self, after: Cursor, limit: usize)
    -> BoxFuture<'_, Result<Vec<StoredEvent>>>;

    /// The cursor of the newest stored event (`Cursor::START` when empty),
    /// committed or not yet visible to `read_all`.
    fn head(&self) -> BoxFuture<'_, Result<Cursor>>;

    /// How many events are stored (for progress reports: it may be stale by
    /// the time it returns).
    fn count(&self) -> BoxFuture<'_, Result<u64>>;

    /// Wakes when something may have been appended (by this process or,
    /// through the backend's own signal or polling, by another).
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// The backend's name, for logs and benchmarks.
    fn backend(&self) -> &'static str;
}

impl dyn EventStore {
    /// Appends to one stream.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.append_many(vec![AppendRequest {
            stream: stream.to_string(),
            expected,
            events,
        }])
        .await
    }
}

/// A shared handle, as the app passes it around.
pub type SharedStore = Arc<dyn EventStore>;

/// Checks requests before any backend sees them.
fn validate(requests: &[AppendRequest]) -> Result<()> {
    if requests.is_empty() || requests.iter().all(|r| r.events.is_empty()) {
        return Err(Error::InvalidAppend(
            "an append needs at least one event".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        if r.stream.is_empty() || r.stream.len() > 200 {
            return Err(Error::InvalidAppend(
                "stream names are 1 to 200 bytes".into(),
            ));
        }
        if !seen.insert(r.stream.as_str()) {
            return Err(Error::InvalidAppend(format!(
                "stream {} appears twice in one append",
                r.stream
            )));
        }
    }
    Ok(())
}
