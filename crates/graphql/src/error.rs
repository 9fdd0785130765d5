//! Every error a client sees carries a machine-readable `extensions.code`.
//! Internal failures are logged with their detail and shown only as INTERNAL.

use async_graphql::ErrorExtensions;
use domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    BadUserInput,
    RateLimited,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::RateLimited => "RATE_LIMITED",
            Code::Internal => "INTERNAL",
        }
    }
}

/// Builds a client-facing error.
pub fn api_error(code: Code, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code.as_str()))
}

pub fn internal(context: &str, error: &dyn std::fmt::Display) -> async_graphql::Error {
    tracing::error!(%error, "{context}");
    api_error(Code::Internal, "internal error; it has been logged")
}

pub fn from_domain(e: &DomainError) -> async_graphql::Error {
    let code = match e {
        DomainError::Invalid { .. } => Code::BadUserInput,
        DomainError::NotFound(_) => Code::NotFound,
        DomainError::AlreadyExists(_) | DomainError::InvalidState(_) => Code::Conflict,
        DomainError::LimitReached(_) => Code::RateLimited,
    };
    let err = api_error(code, e.to_string());
    match e {
        DomainError::Invalid { field, .. } => {
            let field = *field;
            err.extend_with(move |_, x| x.set("field", field))
        }
        _ => err,
    }
}

pub fn from_command(e: commands::Error) -> async_graphql::Error {
    use commands::Error as E;
    match e {
        E::Domain(d) => from_domain(&d),
        E::Forbidden(m) => api_error(Code::Forbidden, m),
        E::InvalidCredentials => api_error(Code::Unauthenticated, "wrong username or password"),
        E::Deactivated => api_error(Code::Forbidden, "this account is deactivated"),
        E::Store(store::Error::Conflict { .. }) => api_error(
            Code::Conflict,
            "someone else changed this at the same time; try again",
        ),
        other => internal("command failed", &other),
    }
}

pub fn from_read(e: projections::Error) -> async_graphql::Error {
    internal("read model query failed", &e)
}
