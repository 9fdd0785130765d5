use crate::ExpectedVersion;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone else appended first: decide again from the new state.
    #[error("stream {stream} is at version {actual}, not {expected}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// The same event id is already stored somewhere this append did not put it.
    #[error("event {0} was already appended elsewhere")]
    DuplicateEventId(uuid::Uuid),
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
}
