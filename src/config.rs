//! Typed configuration: every field is a flag and a `PYDOJO_*` variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

/// A value that must never be printed (URLs with passwords, secrets).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Self(s.to_string()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreBackend {
    /// One SQLite file in the data directory (embedded mode).
    Sqlite,
    /// PostgreSQL at --database-url (distributed mode).
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Durability {
    /// fsync every group commit: nothing committed is lost even on power loss.
    Full,
    /// fsync at checkpoints: survives a crashed process, may lose the last
    /// commits on power loss. Faster.
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JudgeMode {
    /// Judge submissions in this process, in the native sandbox (bubblewrap,
    /// seccomp, cgroups; needs root for cgroups). One node only.
    Embedded,
    /// Do not judge here: submissions stay queued until a judge takes them.
    Off,
}

/// Where events and read models live.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the SQLite files and the generated JWT secret. Created
    /// (mode 0700) if missing.
    #[arg(long, env = "PYDOJO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Event store backend.
    #[arg(long = "store", env = "PYDOJO_STORE", value_enum, default_value_t = StoreBackend::Sqlite)]
    pub store: StoreBackend,

    /// PostgreSQL URL for the event store (with --store postgres), e.g.
    /// postgres://user:pass@host/db. Never printed.
    #[arg(long, env = "PYDOJO_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// PostgreSQL URL for the read models. Defaults to --database-url with
    /// --store postgres, and to <data-dir>/read.db with --store sqlite.
    #[arg(long, env = "PYDOJO_READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<Secret>,

    /// SQLite event log durability.
    #[arg(long, env = "PYDOJO_SQLITE_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub sqlite_durability: Durability,

    /// Connections per PostgreSQL pool.
    #[arg(long, env = "PYDOJO_PG_MAX_CONNECTIONS", default_value_t = 16)]
    pub pg_max_connections: u32,
}

/// `pydojo serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "PYDOJO_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The JWT signing secret (at least 32 bytes). When unset, a random one is
    /// generated on first start and kept in <data-dir>/jwt-secret (mode 0600).
    /// API nodes that share users must share it. Never printed.
    #[arg(long, env = "PYDOJO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// How long a login token is valid, in hours.
    #[arg(long, env = "PYDOJO_TOKEN_TTL_HOURS", default_value_t = 24)]
    pub token_ttl_hours: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PYDOJO_BODY_LIMIT_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub body_limit_bytes: usize,

    /// Logins, registrations and password changes per minute per client address.
    #[arg(long, env = "PYDOJO_AUTH_RATE_PER_MINUTE", default_value_t = 30)]
    pub auth_rate_per_minute: u32,

    /// Submissions per minute per user.
    #[arg(long, env = "PYDOJO_SUBMIT_RATE_PER_MINUTE", default_value_t = 30)]
    pub submit_rate_per_minute: u32,

    /// Where submissions are judged. Without bubblewrap or cgroups the
    /// embedded judge reports why at start and submissions stay queued.
    #[arg(long, env = "PYDOJO_JUDGE", value_enum, default_value_t = JudgeMode::Embedded)]
    pub judge: JudgeMode,

    /// Playground runs per minute per user.
    #[arg(long, env = "PYDOJO_PLAYGROUND_RATE_PER_MINUTE", default_value_t = 20)]
    pub playground_rate_per_minute: u32,

    /// A playground run's wall-clock (and CPU) limit, in ms.
    #[arg(long, env = "PYDOJO_PLAYGROUND_WALL_MS", default_value_t = 10_000)]
    pub playground_wall_ms: u64,

    /// A playground run's memory limit, in MiB.
    #[arg(long, env = "PYDOJO_PLAYGROUND_MEMORY_MB", default_value_t = 128)]
    pub playground_memory_mb: u64,

    /// A playground run's cap on stdout and on stderr, each, in bytes.
    #[arg(long, env = "PYDOJO_PLAYGROUND_OUTPUT_BYTES", default_value_t = 1024 * 1024)]
    pub playground_output_bytes: u64,

    /// How long a mutation waits for the read models to show its own write, in ms.
    #[arg(long, env = "PYDOJO_CONSISTENCY_TIMEOUT_MS", default_value_t = 10_000)]
    pub consistency_timeout_ms: u64,
}
