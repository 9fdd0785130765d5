//! What resolvers reach through the GraphQL context.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use commands::{Actor, Commands};
use governor::{DefaultKeyedRateLimiter, Quota};
use projections::{Progress, ReadDb};
use store::Cursor;

use crate::auth::Keys;
use crate::error::{Code, api_error};

/// What a playground run reports. Measured from outside the program.
#[derive(Debug, Clone, Default)]
pub struct SnippetReport {
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_ms: u32,
    pub wall_ms: u32,
    pub memory_kb: u64,
    /// "cpu", "wall", "memory", "output", "processes", "file_size".
    pub limit_hit: Option<String>,
}

/// Runs a snippet in a sandbox. Implemented by the binary, so this crate
/// knows nothing of sandboxes.
pub trait SnippetRunner: Send + Sync + std::fmt::Debug {
    fn run(
        &self,
        code: String,
        stdin: String,
    ) -> futures::future::BoxFuture<'_, Result<SnippetReport, String>>;
}

/// What an uploaded package did to its problem.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    /// A new version: the statement, tests or limits changed.
    Updated,
    Unchanged,
}

/// What importing an uploaded package did, and what judging it showed.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub slug: String,
    pub outcome: ImportOutcome,
    /// The problem's version afterwards.
    pub version: u32,
    /// The last event appended, for read-your-writes; `None` when unchanged.
    pub cursor: Option<Cursor>,
    /// Every test, examples and hidden ones, that the reference passed.
    pub tests: usize,
    /// The reference solution's slowest test and largest peak.
    pub reference_runtime_ms: u32,
    pub reference_memory_kb: u64,
    /// Each known-wrong solution (package-relative path) and its verdict.
    pub wrong: Vec<(String, domain::submission::VerdictKind)>,
}

/// Why an uploaded package was not imported.
#[derive(Debug, thiserror::Error)]
pub enum PackageImportError {
    /// The package is malformed or fails validation; nothing was appended.
    /// `file` is the package-relative path, `message` the whole
    /// `file:line:column: …` text.
    #[error("{message}")]
    Invalid { file: String, message: String },
    #[error(transparent)]
    Command(#[from] commands::Error),
}

/// Loads, judges and imports an uploaded problem package. Implemented by the
/// binary, so this crate knows nothing of package files or sandboxes.
pub trait PackageImporter: Send + Sync + std::fmt::Debug {
    /// `files` are `(path inside the package, contents)`.
    fn import(
        &self,
        actor: Actor,
        files: Vec<(String, String)>,
    ) -> futures::future::BoxFuture<'_, Result<ImportReport, PackageImportError>>;
}

/// Where a tutor reply being written stands, as told to other API nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TutorSignal {
    Started,
    /// The next piece of the reply.
    Piece(String),
    /// The reply is written; the recorded one follows through the log.
    Finished,
}

/// Tells the other API nodes about the replies written here, so their
/// subscribers get the tokens too. Implemented by the binary (over core
/// NATS), so this crate knows nothing of a message bus. Best effort and
/// must not block: the recorded reply always arrives through the log.
pub trait TutorRelay: Send + Sync + std::fmt::Debug {
    fn send(&self, message_id: domain::tutor::MessageId, signal: &TutorSignal);
}

/// Per-minute limits on the expensive or abusable mutations.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Logins and registrations per client address.
    pub auth_per_minute: u32,
    /// Submissions per user.
    pub submit_per_minute: u32,
    /// Playground runs per user.
    pub playground_per_minute: u32,
    /// Forum comments posted or edited per user. Votes are allowed six
    /// times as often (each one is an event too).
    pub comment_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth_per_minute: 30,
            submit_per_minute: 30,
            playground_per_minute: 20,
            comment_per_minute: 10,
        }
    }
}

/// Votes allowed per comment allowed.
const VOTES_PER_COMMENT: u32 = 6;

#[derive(Debug)]
pub struct Limiters {
    auth: DefaultKeyedRateLimiter<IpAddr>,
    submit: DefaultKeyedRateLimiter<domain::UserId>,
    playground: DefaultKeyedRateLimiter<domain::UserId>,
    comment: DefaultKeyedRateLimiter<domain::UserId>,
    vote: DefaultKeyedRateLimiter<domain::UserId>,
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("positive"));
        Self {
            auth: DefaultKeyedRateLimiter::keyed(quota(limits.auth_per_minute)),
            submit: DefaultKeyedRateLimiter::keyed(quota(limits.submit_per_minute)),
            playground: DefaultKeyedRateLimiter::keyed(quota(limits.playground_per_minute)),
            comment: DefaultKeyedRateLimiter::keyed(quota(limits.comment_per_minute)),
            vote: DefaultKeyedRateLimiter::keyed(quota(
                limits.comment_per_minute.saturating_mul(VOTES_PER_COMMENT),
            )),
        }
    }

    pub fn check_auth(&self, ip: IpAddr) -> async_graphql::Result<()> {
        self.auth.check_key(&client_key(ip)).map_err(|_| {
            api_error(
                Code::RateLimited,
                "too many login or registration attempts; wait a minute",
            )
        })
    }

    pub fn check_submit(&self, user: domain::UserId) -> async_graphql::Result<()> {
        self.submit
            .check_key(&user)
            .map_err(|_| api_error(Code::RateLimited, "too many submissions; wait a minute"))
    }

    pub fn check_playground(&self, user: domain::UserId) -> async_graphql::Result<()> {
        self.playground
            .check_key(&user)
            .map_err(|_| api_error(Code::RateLimited, "too many playground runs; wait a minute"))
    }

    pub fn check_comment(&self, user: domain::UserId) -> async_graphql::Result<()> {
        self.comment.check_key(&user).map_err(|_| {
            api_error(
                Code::RateLimited,
                "too many comments posted or edited; wait a minute",
            )
        })
    }

    pub fn check_vote(&self, user: domain::UserId) -> async_graphql::Result<()> {
        self.vote
            .check_key(&user)
            .map_err(|_| api_error(Code::RateLimited, "too many votes; wait a minute"))
    }

    /// Drops idle keys so the maps do not grow without bound.
    pub fn shrink(&self) {
        self.auth.retain_recent();
        self.submit.retain_recent();
        self.playground.retain_recent();
        self.comment.retain_recent();
        self.vote.retain_recent();
    }
}

/// The rate-limit key for an address: IPv6 clients usually hold a whole /64,
/// so limiting single addresses would let one client rotate through them.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct Services {
    pub commands: Commands,
    pub db: ReadDb,
    pub progress: Progress,
    pub keys: Keys,
    pub limiters: Arc<Limiters>,
    /// How long a mutation waits for the read models to show its own write.
    pub consistency_timeout: Duration,
    /// The playground's sandbox; `None` where none works on this machine.
    pub playground: Option<Arc<dyn SnippetRunner>>,
    /// Imports uploaded problem packages; `None` without a sandbox to judge
    /// them in.
    pub packages: Option<Arc<dyn PackageImporter>>,
    /// What subscriptions listen to.
    pub live: crate::live::Live,
    /// Models of the past, for `asOf`.
    pub time_travel: Arc<crate::as_of::TimeTravel>,
    /// The AI tutor (a model, or the offline hint engine) and its quota.
    pub tutor: crate::tutor::TutorService,
}

impl Services {
    /// Read-your-writes: waits until the projections have applied `cursor`.
    pub async fn settle(&self, cursor: Cursor) -> async_graphql::Result<()> {
        if self
            .progress
            .wait_for(cursor, self.consistency_timeout)
            .await
        {
            Ok(())
        } else {
            tracing::warn!(%cursor, "read models lag behind a write");
            Err(api_error(
                Code::Internal,
                "the change was recorded but is not visible yet; query again shortly",
            ))
        }
    }
}

/// Per request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub actor: Option<Actor>,
    pub client_ip: IpAddr,
}

impl RequestCtx {
    pub fn actor(&self) -> async_graphql::Result<&Actor> {
        self.actor
            .as_ref()
            .ok_or_else(|| api_error(Code::Unauthenticated, "log in first"))
    }

    pub fn admin(&self) -> async_graphql::Result<&Actor> {
        let actor = self.actor()?;
        if actor.role == domain::user::Role::Admin {
            Ok(actor)
        } else {
            Err(api_error(Code::Forbidden, "only admins may do this"))
        }
    }
}

/// The services, as every resolver reaches them.
pub(crate) fn services<'a>(ctx: &async_graphql::Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Who is asking, as every resolver reaches it.
pub(crate) fn request<'a>(ctx: &async_graphql::Context<'a>) -> &'a RequestCtx {
    ctx.data_unchecked::<RequestCtx>()
}
