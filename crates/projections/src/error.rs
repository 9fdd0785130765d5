pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
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
}
