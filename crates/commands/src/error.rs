use domain::DomainError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command did not happen. `Domain` and the named rejections are the
/// caller's to fix; `Store`, `Corrupt` and `Internal` are ours.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("this account is deactivated")]
    Deactivated,
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<domain::codec::CodecError> for Error {
    fn from(e: domain::codec::CodecError) -> Self {
        Error::Corrupt(e.to_string())
    }
}
