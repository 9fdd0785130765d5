//! Typed configuration: every field is a flag and a `PYDOJO_*` variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
    /// Judge submissions in this process, in the sandbox chosen by
    /// --sandbox. One node only.
    Embedded,
    /// Distributed: publish jobs to NATS JetStream for `pydojo executor`
    /// processes and record their verdicts (needs --nats-url).
    Nats,
    /// Do not judge here: submissions stay queued until a judge takes them.
    Off,
}

/// A duration written `500ms`, `2s`, `5m` or as plain seconds (`30`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 2s or 5m"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("unknown unit {other:?}: use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

/// How to reach NATS JetStream and what to call things there. Shared by
/// `pydojo serve --judge nats` and `pydojo executor`, which must agree.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL (JetStream enabled), e.g. nats://127.0.0.1:4222.
    /// Credentials in it are never printed.
    #[arg(
        long,
        env = "PYDOJO_NATS_URL",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: Secret,

    /// The work-queue stream of judge jobs.
    #[arg(long, env = "PYDOJO_NATS_JOBS_STREAM", default_value = "PYDOJO_JOBS")]
    pub nats_jobs_stream: String,

    /// The work-queue stream of verdicts.
    #[arg(
        long,
        env = "PYDOJO_NATS_RESULTS_STREAM",
        default_value = "PYDOJO_RESULTS"
    )]
    pub nats_results_stream: String,

    /// Subject prefix: <prefix>.jobs, <prefix>.results and
    /// <prefix>.progress.<submission id> (per-test progress, core NATS).
    #[arg(long, env = "PYDOJO_NATS_SUBJECT_PREFIX", default_value = "pydojo")]
    pub nats_subject_prefix: String,

    /// The durable consumer executors share on the jobs stream.
    #[arg(
        long,
        env = "PYDOJO_NATS_EXECUTOR_CONSUMER",
        default_value = "pydojo-executors"
    )]
    pub nats_executor_consumer: String,

    /// The durable consumer API nodes share on the results stream.
    #[arg(
        long,
        env = "PYDOJO_NATS_RESULTS_CONSUMER",
        default_value = "pydojo-results"
    )]
    pub nats_results_consumer: String,

    /// How long JetStream remembers a message id to drop a repeated job or
    /// verdict (applies when the streams are created).
    #[arg(long, env = "PYDOJO_NATS_DUPLICATE_WINDOW", value_parser = parse_duration, default_value = "24h")]
    pub nats_duplicate_window: Duration,

    /// How long to wait for the NATS server when connecting.
    #[arg(long, env = "PYDOJO_NATS_CONNECT_TIMEOUT", value_parser = parse_duration, default_value = "5s")]
    pub nats_connect_timeout: Duration,
}

impl NatsArgs {
    pub fn topology(&self) -> executor::nats::Topology {
        executor::nats::Topology {
            jobs_stream: self.nats_jobs_stream.clone(),
            results_stream: self.nats_results_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            executor_consumer: self.nats_executor_consumer.clone(),
            results_consumer: self.nats_results_consumer.clone(),
            duplicate_window: self.nats_duplicate_window,
        }
    }
}

/// `pydojo executor`: judges jobs from NATS JetStream in the local sandbox.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    #[command(flatten)]
    pub nats: NatsArgs,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Jobs judged at once. Defaults to the number of CPUs.
    #[arg(long, env = "PYDOJO_EXECUTOR_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// How long JetStream waits for word from an executor (an ack or an
    /// in-progress ack, sent every third of it) before it gives the job to
    /// another: how soon a crashed executor's job is retried. Set on the
    /// shared consumer, so all executors should agree.
    #[arg(long, env = "PYDOJO_EXECUTOR_ACK_WAIT", value_parser = parse_duration, default_value = "30s")]
    pub ack_wait: Duration,

    /// On SIGTERM or Ctrl-C, how long running jobs may finish before they are
    /// handed back to JetStream for another executor.
    #[arg(long, env = "PYDOJO_EXECUTOR_SHUTDOWN_GRACE", value_parser = parse_duration, default_value = "20s")]
    pub shutdown_grace: Duration,

    /// Deliveries of one job judged before it gets an internal-error verdict.
    #[arg(long, env = "PYDOJO_EXECUTOR_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u64,
}

/// Which sandbox runs submissions and snippets.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Sandbox backend: `auto` (Docker when its daemon answers and the
    /// sandbox image is there, else native), `native` (bubblewrap, seccomp,
    /// cgroups; needs root for cgroups) or `docker`.
    #[arg(long = "sandbox", env = "PYDOJO_SANDBOX", default_value = "auto")]
    pub backend: sandbox::BackendChoice,

    /// The Docker sandbox image (built offline by
    /// crates/sandbox/docker/build-image.sh).
    #[arg(long, env = "PYDOJO_DOCKER_IMAGE", default_value = sandbox::DEFAULT_IMAGE)]
    pub docker_image: String,

    /// Docker containers kept started and waiting, so a run pays an exec
    /// rather than a container start.
    #[arg(long, env = "PYDOJO_DOCKER_POOL_SIZE", default_value_t = 2)]
    pub docker_pool_size: usize,

    /// The Docker daemon's unix socket.
    #[arg(
        long,
        env = "PYDOJO_DOCKER_SOCKET",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: PathBuf,
}

impl SandboxArgs {
    pub fn docker_config(&self) -> sandbox::DockerConfig {
        sandbox::DockerConfig {
            socket: self.docker_socket.clone(),
            image: self.docker_image.clone(),
            pool_size: self.docker_pool_size,
            ..sandbox::DockerConfig::default()
        }
    }
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

    #[command(flatten)]
    pub sandbox: SandboxArgs,

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

    /// On an empty data directory: create an admin and two users with
    /// passwords generated now and printed once, and import the starter
    /// problems from --demo-problems. Changes nothing on a data directory
    /// that already has events.
    #[arg(long, env = "PYDOJO_DEMO")]
    pub demo: bool,

    /// The problem packages --demo imports.
    #[arg(long, env = "PYDOJO_DEMO_PROBLEMS", default_value = "problems")]
    pub demo_problems: PathBuf,

    /// NATS JetStream, for --judge nats.
    #[command(flatten)]
    pub nats: NatsArgs,

    /// Playground runs per minute per user.
    #[arg(long, env = "PYDOJO_PLAYGROUND_RATE_PER_MINUTE", default_value_t = 20)]
    pub playground_rate_per_minute: u32,

    /// Forum comments posted or edited per minute per user.
    #[arg(long, env = "PYDOJO_COMMENT_RATE_PER_MINUTE", default_value_t = 10)]
    pub comment_rate_per_minute: u32,

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

    /// Messages each live channel (events, judge progress, leaderboards)
    /// holds for its slowest subscriber. A subscriber further behind is
    /// resynced with the current state, so this bounds the memory of live
    /// updates whatever the clients do.
    #[arg(long, env = "PYDOJO_LIVE_CAPACITY", default_value_t = 256)]
    pub live_capacity: usize,

    /// The AI tutor. Boxed: `ServeArgs` is already the largest command.
    #[command(flatten)]
    pub tutor: Box<TutorArgs>,
}

/// The AI tutor: a model behind any OpenAI-compatible endpoint (OpenAI, a
/// local Ollama or vLLM), or the offline hint engine when none is set.
#[derive(Debug, Clone, Args)]
pub struct TutorArgs {
    /// Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1
    /// or http://127.0.0.1:11434/v1 (Ollama). Unset with OPENAI_API_KEY set:
    /// OpenAI's. Neither: the offline hint engine answers.
    #[arg(long, env = "PYDOJO_TUTOR_BASE_URL")]
    pub tutor_base_url: Option<String>,

    /// The API key, from the environment variable OPENAI_API_KEY only (a flag
    /// would show in the process list). Never printed.
    #[arg(skip = std::env::var("OPENAI_API_KEY").ok().and_then(|k| k.parse::<Secret>().ok()))]
    pub openai_api_key: Option<Secret>,

    /// The model the tutor asks.
    #[arg(long, env = "PYDOJO_TUTOR_MODEL", default_value = "gpt-4o-mini")]
    pub tutor_model: String,

    /// Questions per user and UTC day, over all problems (0: no limit).
    #[arg(long, env = "PYDOJO_TUTOR_DAILY_QUOTA", default_value_t = 50)]
    pub tutor_daily_quota: u32,

    /// How long to wait for the model's first token, and between two tokens,
    /// before the question fails with a timeout.
    #[arg(long, env = "PYDOJO_TUTOR_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub tutor_timeout: Duration,
}

impl TutorArgs {
    /// The provider to ask, or `None` for the offline engine.
    pub fn provider(&self) -> Option<tutor::ProviderConfig> {
        let key = self.openai_api_key.as_ref().map(|k| k.expose().to_string());
        let base = match (&self.tutor_base_url, &key) {
            (Some(url), _) => url.clone(),
            (None, Some(_)) => "https://api.openai.com/v1".to_string(),
            (None, None) => return None,
        };
        let mut config = tutor::ProviderConfig::new(base, key, self.tutor_model.clone());
        config.timeout = self.tutor_timeout;
        Some(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_and_without_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("s").is_err());
    }
}
