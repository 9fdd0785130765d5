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
    #[error("read model row is corrupt: {0}")]
    Corrupt(String),
}
