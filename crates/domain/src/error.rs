/// A business rule said no. Store and infrastructure failures are never a
/// `DomainError`; handlers keep the two apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule about its shape (too long, empty, malformed).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The thing does not exist (or the caller may not know that it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The thing exists already (a name taken, a stream already started).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The command does not fit the current state (already published, inactive).
    #[error("{0}")]
    InvalidState(String),
    /// A quota or limit is used up (the tutor's daily questions).
    #[error("{0}")]
    LimitReached(String),
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
