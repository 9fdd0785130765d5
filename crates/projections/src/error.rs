pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("read model database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("read model migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("event at {cursor} cannot be decoded: {source}")]
    Decode {
        cursor: store::Cursor,
        #[source]
        source: domain::codec::CodecError,
    },
    #[error(
        "projection {projection} has applied events up to {checkpoint}, but the event log ends at {head}: \
         the log lost events or was replaced; rebuild the read models or restore the matching log"
    )]
    AheadOfLog {
        projection: String,
        checkpoint: store::Cursor,
        head: store::Cursor,
    },
    #[error("read model row is corrupt: {0}")]
    Corrupt(String),
    #[error("no projection is named {name}; the projections are: {known}")]
    UnknownProjection { name: String, known: String },
    #[error(
        "--until {input} is neither a log position (tx:seq, as in 0:1500) nor an RFC 3339 time (2024-03-10T12:00:00Z)"
    )]
    BadUntil { input: String },
    #[error("{0} already exists; a snapshot is only written to a new file")]
    OutputExists(std::path::PathBuf),
    #[error("the event log cannot be read: {0}")]
    LogUnreadable(#[source] store::Error),
}

impl Error {
    /// A stable code for each kind of failure, for scripts and operators.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Database(_) | Error::Sqlite(_) | Error::Migrate(_) => "READ_DATABASE",
            Error::Store(_) | Error::LogUnreadable(_) => "LOG_UNREADABLE",
            Error::Decode { .. } => "UNDECODABLE_EVENT",
            Error::AheadOfLog { .. } => "AHEAD_OF_LOG",
            Error::Corrupt(_) => "CORRUPT_READ_MODEL",
            Error::UnknownProjection { .. } => "UNKNOWN_PROJECTION",
            Error::BadUntil { .. } => "BAD_UNTIL",
            Error::OutputExists(_) => "OUTPUT_EXISTS",
        }
    }
}
