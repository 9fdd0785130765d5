//! The GraphQL API over axum: the only crate that knows HTTP.
//!
//! Depends on `commands` (writes), `projections` (reads), `domain` and
//! `store`; nothing depends on it but the binary.
//!
//! Key decisions:
//! - Mutations wait until the read models have applied their own write
//!   (read-your-writes), so a client never sees its change missing.
//! - Every error carries `extensions.code` (UNAUTHENTICATED, FORBIDDEN,
//!   NOT_FOUND, CONFLICT, BAD_USER_INPUT, RATE_LIMITED, INTERNAL); internal
//!   details are logged, never shown.
//! - Tokens are checked against the user's current state on each request, so
//!   deactivation and password changes end sessions at once. WebSocket
//!   connections check theirs at `connection_init` and again at each
//!   subscription.
//! - Subscriptions hear of a change only once the read models have applied
//!   it ([`live::follow`] trails the projection runner), through bounded
//!   broadcasts: a client that falls behind is resynced with the current
//!   state, never buffered for without bound.
//! - `asOf` (admins) answers from the log replayed up to that moment into a
//!   scratch model ([`as_of`]), through the same projections and queries as
//!   the live answer, so the two cannot drift apart.

pub mod as_of;
pub mod auth;
mod codes;
pub mod context;
pub mod error;
mod forum;
mod http;
pub mod live;
mod package_zip;
mod rejudge;
pub mod schema;
mod stats;
mod subscription;
mod tutor;
mod types;
mod ws;

pub use crate::tutor::{TutorHub, TutorService};
pub use as_of::TimeTravel;
pub use context::{
    ImportOutcome, ImportReport, Limiters, PackageImportError, PackageImporter, RateLimits,
    Services, SnippetReport, SnippetRunner, TutorRelay, TutorSignal,
};
pub use http::router;
pub use live::{JudgeProgress, Live};

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema::build(None).sdl()
}
