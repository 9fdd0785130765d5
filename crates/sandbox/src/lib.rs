//! Runs an untrusted command over a few files, with stdin, under limits, and
//! reports what happened.
//!
//! # What this crate owns
//! The [`Sandbox`] contract ([`RunSpec`] in, [`RunOutcome`] out) and its native
//! Linux backend, [`NativeSandbox`]: bubblewrap for namespaces and the file
//! system view, a seccomp filter compiled in-process, a fresh cgroup per run for
//! memory, process count and CPU accounting, and rlimits as a second fence.
//!
//! # What it may depend on
//! Nothing of the domain: it does not know problems, users, test cases or
//! verdicts. `executor` turns a submission into runs and a verdict; this crate
//! only says "exit 1 after 0.3 s of CPU, stdout was …, the memory limit was
//! hit". Its dependencies are tokio, nix, seccompiler, rlimit, serde, thiserror
//! and tracing.
//!
//! # Key design decisions
//! * **The user's program misbehaving is a [`RunOutcome`], never an [`Error`].**
//!   An infinite loop, an OOM kill or an output flood are reported through
//!   [`RunOutcome::limit_hit`]; [`Error`] is only for the sandbox itself failing
//!   (bubblewrap missing, cgroup not writable, spawn failed).
//! * **Everything that decides a limit is measured from outside the sandbox**:
//!   wall time by a tokio timer, CPU time from the cgroup (`cpuacct.usage` on
//!   v1, `cpu.stat` on v2, sampled every 50 ms and read once more at the end),
//!   memory peak and OOM kills from the cgroup, output size from the pipes.
//!   Nothing the program writes is trusted.
//! * **No `unsafe`, hence no `pre_exec`.** The launcher is a tiny `bash` that
//!   blocks reading one line from its stdin. While it waits, the parent writes
//!   its pid into the run's cgroup(s) and lowers its rlimits with `prlimit(2)`
//!   (the safe wrapper of the `rlimit` crate), then sends the newline; bash
//!   then `exec`s `setpriv` (dropping to an unprivileged host uid when the
//!   service runs as root) which `exec`s bubblewrap, with the staged input
//!   files and the seccomp program opened on numbered descriptors. So the
//!   process is in its cgroup, with its rlimits, before anything of the user's
//!   runs, and every failure of that setup is a typed Rust error rather than
//!   a message on the user's stderr. bash rather than dash because dash cannot
//!   open descriptors above 9, and each input file needs one.
//! * **The sandbox's user is never host root.** bubblewrap maps the inside
//!   uid (65534) onto the uid that started it; run as root, the program would
//!   hold kuid 0 without capabilities and could write any root-owned file
//!   that was visible and writable by owner (it could, for instance, rename
//!   its UTS namespace through `/proc/sys`). Hence the drop to
//!   [`NativeConfig::host_user`] right before bubblewrap.
//! * **Start-up is paid before the run asks.** The launch above (bash,
//!   setpriv, bubblewrap's namespaces and mounts, the cgroup) costs more
//!   than python3 itself, so [`NativeSandbox`] keeps a warm pool
//!   ([`NativeConfig::pool_size`]) of sandboxes launched that way whose
//!   command is a small loader blocked on its stdin, as the Docker backend
//!   does with containers. A run takes one (never reused; killed and its
//!   cgroup removed after), writes its limits into the sandbox's cgroup,
//!   counts CPU from the take and restarts the memory peak, and sends the
//!   loader its files, argv, environment and rlimits; the loader forks and
//!   execs the program and reports its exit in a trailer. Runs the pool
//!   does not fit, or that find it empty, are launched cold. See
//!   `src/loader.rs` and `src/native/pool.rs`.
//! * **A run is a [`Session`]**, driven while it runs: stdin is fed from a
//!   channel by its own task (so a program that never reads cannot stall
//!   anything), output is read incrementally by one task per pipe and
//!   forwarded, under the caps, as [`Event::Output`], and the cgroup can be
//!   read at any moment ([`Session::usage`]). The supervisor enforces the
//!   limits whatever the caller does; dropping the session kills the run.
//!   [`Sandbox::run`] is a session with stdin closed at once; the judge
//!   drives one test at a time through a session; a live terminal streams
//!   through one.
//!
//! # The sandbox, concretely
//! bubblewrap with every namespace unshared (no network: only a loopback of
//! its own), `--disable-userns`, `--die-with-parent`,
//! `--new-session`, `--cap-drop ALL`, uid/gid 65534 inside; read-only binds of
//! the runtime paths only; `/proc` of its own pid namespace; a minimal `/dev`;
//! `/work` (working directory), `/tmp` and `/dev/shm` as fresh tmpfs mounts
//! capped with `--size` at [`Limits::work_dir_bytes`] (tmpfs pages are also
//! charged to the memory cgroup); `/` and `/dev` remounted read-only; an
//! empty environment plus [`RunSpec::env`]; a seccomp deny list (EPERM) for
//! ptrace, mount, namespaces, keyrings, bpf, io_uring, perf, module loading
//! and the like, `clone` with namespace flags, x32 syscalls, and `clone3` as
//! ENOSYS so that glibc falls back to the inspectable `clone`.
//!
//! A pooled sandbox is the same bubblewrap sandbox with `--as-pid-1`: the
//! loader is its PID 1 (instead of bubblewrap's init) and the program PID
//! 2, the files are written into `/work` by the loader, the environment is
//! set by the loader's `execve`, and the rlimits by the loader in the
//! program before it. The loader's memory (~8 MB) counts against the run's
//! memory limit and shows in its peak, as on Docker.
//!
//! A fresh cgroup per run: on v1 one directory each under the memory, pids
//! and cpuacct hierarchies, on v2 one directory; by default below the
//! service's own cgroup (`<own>/pydojo/run-…`). Memory limit (and swap where
//! the kernel lets us), pids limit, CPU usage, peak memory and OOM kills come
//! from there. After the run everything left in it is killed and it is
//! removed. rlimits are a second fence: `CPU` (limit rounded up plus one
//! second), `FSIZE`, `CORE` 0; see `set_rlimits` for why not `NPROC` and `AS`.
//!
//! The cgroup v2 code path follows the kernel documentation but has not been
//! exercised here: the development machine is a v1 (hybrid) host.
//!
//! # The Docker backend
//! [`DockerSandbox`] runs each program in a fresh container (never reused,
//! removed after the run) from a warm pool of started containers, so a run
//! pays for an attach and a fork rather than a container start. Same
//! contract, same limits, same [`RunOutcome`]s: no network, read-only root,
//! tmpfs `/work`, `/tmp` and `/dev/shm` capped at [`Limits::work_dir_bytes`],
//! memory (no swap), pids and CPU limits, no capabilities,
//! `no-new-privileges`, uid 65534, and the native seccomp deny list as a
//! Docker profile. A small loader is each container's PID 1: it receives the
//! files, argv and environment on stdin, runs the program as PID 2, and
//! stays alive after it so that the end-of-run numbers are read from the
//! container's cgroup on the host (or, for a remote daemon, the stats API)
//! before the container goes. [`select`] picks a backend at run time. See
//! `src/docker/mod.rs` and the crate README.
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod docker;
mod loader;
mod native;
mod session;

pub use docker::{CONTAINER_LABEL, DEFAULT_IMAGE, DockerConfig, DockerSandbox};
pub use native::{CgroupVersion, NativeConfig, NativeSandbox};
pub use session::{Event, Session, StdinClosed, Usage, UsageProbe};

/// Resource limits of one run. Each limit is enforced by the kernel (cgroup,
/// rlimit, tmpfs size) or by the supervisor from outside, never by the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time of all processes of the run together (user + system).
    pub cpu_time: Duration,
    /// Time from spawn to exit, as seen by the supervisor.
    pub wall_time: Duration,
    /// Memory of the whole run, page cache and tmpfs files included (they are
    /// charged to the cgroup). Swap is not allowed on top where the kernel lets
    /// us say so.
    pub memory_bytes: u64,
    /// Tasks (processes and threads) the program may have at once. The two
    /// bubblewrap processes that wrap it are not counted.
    pub max_processes: u32,
    /// Cap on stdout and on stderr, each. Going over kills the run.
    pub output_bytes: u64,
    /// Largest file the program may write (`RLIMIT_FSIZE`); input files must
    /// fit too.
    pub file_size_bytes: u64,
    /// Size of the tmpfs mounted as the working directory; `/tmp` and
    /// `/dev/shm` get the same size each.
    pub work_dir_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(2),
            wall_time: Duration::from_secs(5),
            memory_bytes: 256 << 20,
            max_processes: 16,
            output_bytes: 1 << 20,
            file_size_bytes: 1 << 20,
            work_dir_bytes: 16 << 20,
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// argv. `argv[0]` is looked up inside the sandbox's read-only runtime
    /// (`/usr/bin:/bin` when `PATH` is not in [`RunSpec::env`]), e.g.
    /// `["python3", "-I", "-S", "main.py"]`.
    pub program: Vec<String>,
    /// Files written into the working directory before the program starts:
    /// relative path (subdirectories allowed, no `..`) and contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Everything the program reads on stdin; then EOF.
    pub stdin: Vec<u8>,
    pub limits: Limits,
    /// The whole environment of the program: nothing of the host leaks in.
    pub env: Vec<(String, String)>,
}

impl RunSpec {
    /// A spec running `program` with default limits and no files.
    pub fn new<I, S>(program: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    pub fn file(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), contents.into()));
        self
    }

    pub fn stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = stdin.into();
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// Exited normally with this code.
    Code(i32),
    /// Killed by this signal (9 for the OOM killer and for our own kills).
    ///
    /// bubblewrap reports a signal death of the program as exit code
    /// `128 + signal`, like a shell, and this crate unfolds it: a program that
    /// itself calls `exit(128 + n)` for `n` in `1..=64` is reported as
    /// `Signal(n)`.
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// The limit that ended (or spoiled) the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LimitKind {
    Cpu,
    Wall,
    Memory,
    Output,
    /// A fork or thread creation was refused by the process limit. The program
    /// may have survived it; the run is still marked.
    Processes,
    /// The program was killed by `SIGXFSZ`. Python ignores that signal, so a
    /// Python program gets `OSError(EFBIG)` (or `ENOSPC` when the work
    /// directory is full) instead, and the run is not marked.
    FileSize,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub exit: ExitStatus,
    /// At most [`Limits::output_bytes`].
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// CPU time of the whole run, from the cgroup.
    pub cpu_time: Duration,
    pub wall_time: Duration,
    /// Peak memory of the whole run, from the cgroup; 0 if the kernel does
    /// not report it (cgroup v2 before Linux 5.19).
    pub peak_memory_bytes: u64,
    /// The limit that was hit, if any. When several were, the one the
    /// supervisor acted on first, else the first of memory, CPU, file size,
    /// processes.
    pub limit_hit: Option<LimitKind>,
}

/// Which of the two output pipes a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Runs programs under limits.
///
/// [`Sandbox::spawn`] starts a program and hands back a [`Session`] to feed
/// its stdin, read its output as it comes and read its resource usage while
/// it runs (the judge measures each test this way; a playground terminal
/// streams through it). [`Sandbox::run`] is the batch form: all of stdin,
/// then the outcome.
///
/// Written with explicit `Send` futures rather than `async fn` so callers
/// can spawn them on a multi-threaded runtime; implementations may still
/// write `async fn`. For trait objects use [`DynSandbox`].
pub trait Sandbox: Send + Sync {
    /// Starts `spec.program`; [`RunSpec::stdin`] is written first and stdin
    /// stays open until [`Session::close_stdin`]. The run's limits hold for
    /// the whole session.
    fn spawn(&self, spec: RunSpec) -> impl Future<Output = Result<Session>> + Send;

    /// Runs `spec` to the end with [`RunSpec::stdin`] as the whole input.
    fn run(&self, spec: RunSpec) -> impl Future<Output = Result<RunOutcome>> + Send {
        async move { self.spawn(spec).await?.wait().await }
    }
}

/// A shared sandbox is a sandbox: one checked instance can serve several
/// users (the judge and the playground) without being set up twice.
impl<S: Sandbox> Sandbox for std::sync::Arc<S> {
    fn spawn(&self, spec: RunSpec) -> impl Future<Output = Result<Session>> + Send {
        (**self).spawn(spec)
    }

    fn run(&self, spec: RunSpec) -> impl Future<Output = Result<RunOutcome>> + Send {
        (**self).run(spec)
    }
}

/// A boxed, sendable future, for [`DynSandbox`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe form of [`Sandbox`] (`Arc<dyn DynSandbox>`), implemented for
/// every [`Sandbox`].
pub trait DynSandbox: Send + Sync {
    fn spawn_boxed(&self, spec: RunSpec) -> BoxFuture<'_, Result<Session>>;
    fn run_boxed(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome>>;
}

impl<S: Sandbox> DynSandbox for S {
    fn spawn_boxed(&self, spec: RunSpec) -> BoxFuture<'_, Result<Session>> {
        Box::pin(self.spawn(spec))
    }

    fn run_boxed(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome>> {
        Box::pin(self.run(spec))
    }
}

/// A type-erased sandbox is a sandbox, so a backend picked at run time
/// (`Arc<dyn DynSandbox>`) fits wherever a [`Sandbox`] does.
impl<'a> Sandbox for std::sync::Arc<dyn DynSandbox + 'a> {
    fn spawn(&self, spec: RunSpec) -> impl Future<Output = Result<Session>> + Send {
        (**self).spawn_boxed(spec)
    }

    fn run(&self, spec: RunSpec) -> impl Future<Output = Result<RunOutcome>> + Send {
        (**self).run_boxed(spec)
    }
}

/// Which backend [`select`] should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Docker when its daemon answers and the image is there, else native.
    #[default]
    Auto,
    Native,
    Docker,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "native" => Ok(Self::Native),
            "docker" => Ok(Self::Docker),
            other => Err(format!(
                "unknown sandbox backend {other:?}: expected auto, native or docker"
            )),
        }
    }
}

/// Sets up and checks the chosen backend; returns it with its name
/// (`"native"` or `"docker"`). [`BackendChoice::Auto`] takes Docker when
/// [`DockerSandbox::check`] passes and falls back to native otherwise (the
/// Docker problems are logged); when neither works, the error lists the
/// problems of both.
pub async fn select(
    choice: BackendChoice,
    native: NativeConfig,
    docker: DockerConfig,
) -> Result<(std::sync::Arc<dyn DynSandbox>, &'static str)> {
    async fn docker_backend(config: DockerConfig) -> Result<std::sync::Arc<dyn DynSandbox>> {
        let sandbox = DockerSandbox::new(config).await?;
        sandbox.check().await?;
        Ok(std::sync::Arc::new(sandbox))
    }
    async fn native_backend(config: NativeConfig) -> Result<std::sync::Arc<dyn DynSandbox>> {
        let sandbox = NativeSandbox::new(config)?;
        sandbox.check().await?;
        Ok(std::sync::Arc::new(sandbox))
    }
    match choice {
        BackendChoice::Native => Ok((native_backend(native).await?, "native")),
        BackendChoice::Docker => Ok((docker_backend(docker).await?, "docker")),
        BackendChoice::Auto => match docker_backend(docker).await {
            Ok(sandbox) => Ok((sandbox, "docker")),
            Err(docker_error) => {
                tracing::info!(reason = %docker_error, "Docker sandbox unavailable; using the native one");
                match native_backend(native).await {
                    Ok(sandbox) => Ok((sandbox, "native")),
                    Err(native_error) => Err(Error::NotReady {
                        problems: vec![
                            format!("docker: {docker_error}"),
                            format!("native: {native_error}"),
                        ],
                    }),
                }
            }
        },
    }
}

/// The sandbox itself failed; the user's program may not even have started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    #[error("sandbox not ready: {}", .problems.join("; "))]
    NotReady { problems: Vec<String> },
    #[error("cgroups unusable: {0}")]
    CgroupUnavailable(String),
    #[error("cgroup: {action} {path}: {source}")]
    Cgroup {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp filter: {0}")]
    Seccomp(String),
    #[error("staging files in {path}: {source}")]
    Staging {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spawning {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting rlimits on the launcher: {0}")]
    Rlimit(#[source] std::io::Error),
    #[error("supervising the run: {0}")]
    Supervise(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
