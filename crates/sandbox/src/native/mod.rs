//! The native backend: bubblewrap + seccomp + a cgroup per run + rlimits.
//!
//! A run either takes a sandbox from the warm pool (`pool.rs`: bubblewrap
//! launched ahead of time with the loader as its PID 1, driven through the
//! loader protocol like a Docker container), or, when the pool is empty,
//! disabled or does not fit the run, is launched cold: the bash launcher,
//! `setpriv` and bubblewrap with the files, environment and program on its
//! command line, supervised here.
mod bwrap;
mod cgroup;
mod pool;
pub(crate) mod seccomp;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::libc;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

pub use cgroup::CgroupVersion;
use cgroup::{Layout, RunCgroup};
pub(crate) use cgroup::{Stats, apply_limits};

use crate::{
    Error, Event, ExitStatus, LimitKind, Limits, Result, RunOutcome, RunSpec, Sandbox, Session,
    Stream,
};

/// Configuration of [`NativeSandbox`]. [`Default`] fits a Debian host.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// bubblewrap, 0.8 or later (`--size`, `--disable-userns`).
    pub bwrap_path: PathBuf,
    /// The launcher shell. Must be bash: it opens one descriptor per input
    /// file, numbered from 10, which dash cannot do.
    pub shell_path: PathBuf,
    /// Host paths bound read-only at the same place inside: the runtime the
    /// program needs and nothing else. A path that is a symlink on the host
    /// (`/lib -> usr/lib` on merged-/usr systems) becomes the same symlink;
    /// paths that do not exist are skipped.
    pub runtime_paths: Vec<PathBuf>,
    /// Where the cgroup file system is mounted. v1 or v2 is detected there.
    pub cgroup_mount: PathBuf,
    /// Cgroup path (as in `/proc/self/cgroup`) under which run cgroups are
    /// created. `None`: `<cgroup of this process>/pydojo`.
    pub cgroup_parent: Option<PathBuf>,
    /// Host uid and gid the launcher (and so bubblewrap and the program)
    /// switches to when this service runs as root. Without it the sandbox's
    /// user would be root on the host (bubblewrap maps the inside uid onto
    /// the caller's), so any root-owned file that ever became visible would
    /// be readable and writable. Use a uid of its own that no other process
    /// runs as; the default is nobody/nogroup. Ignored when not root.
    pub host_user: Option<(u32, u32)>,
    /// util-linux `setpriv`, used to drop to [`NativeConfig::host_user`].
    pub setpriv_path: PathBuf,
    /// Host directory for the per-run staging directory (input files and
    /// the compiled seccomp filter, mode 0700, removed after the run). Never
    /// visible inside the sandbox.
    pub staging_dir: PathBuf,
    /// Sandboxes kept launched ahead of time, each with the loader waiting
    /// for a run (see `pool.rs`); refilled in the background as runs take
    /// them. A pooled run skips bash, setpriv and bubblewrap's namespace and
    /// mount set-up (~10 ms here). Costs: each idle pooled sandbox holds
    /// about 8 MB (the loader, a python3 waiting on its stdin) and a cgroup,
    /// and the loader's memory counts against the run's memory limit and
    /// shows in its peak, as on Docker. 0 disables the pool: every run is
    /// launched cold.
    pub pool_size: usize,
    /// Tmpfs size of `/work`, `/tmp` and `/dev/shm` in pooled sandboxes;
    /// runs with another [`Limits::work_dir_bytes`] are launched cold.
    pub pool_work_dir_bytes: u64,
    /// A pooled sandbox's loader exits by itself after waiting this long
    /// for a run; the pool replaces sandboxes shortly before that.
    pub pool_idle_timeout: Duration,
}

impl Default for NativeConfig {
    fn default() -> Self {
        Self {
            bwrap_path: "/usr/bin/bwrap".into(),
            shell_path: "/bin/bash".into(),
            runtime_paths: ["/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            cgroup_mount: "/sys/fs/cgroup".into(),
            cgroup_parent: None,
            host_user: Some((65534, 65534)),
            setpriv_path: "/usr/bin/setpriv".into(),
            staging_dir: std::env::temp_dir(),
            pool_size: 2,
            pool_work_dir_bytes: Limits::default().work_dir_bytes,
            pool_idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Runs programs in bubblewrap on this host. See the crate docs for the
/// design; [`NativeSandbox::check`] says what is missing. Dropping it kills
/// its pooled sandboxes and removes their cgroups (runs still going on are
/// their sessions' to end).
#[derive(Debug)]
pub struct NativeSandbox {
    shared: Arc<Shared>,
    /// The pool's filler, started with the first runtime seen.
    filler: Mutex<Option<AbortHandle>>,
}

/// What the sandbox and its pool filler share.
#[derive(Debug)]
struct Shared {
    config: NativeConfig,
    layout: Layout,
    seccomp: Vec<u8>,
    runtime: Vec<bwrap::RuntimeEntry>,
    pool: pool::Pool,
}

/// How often the supervisor samples the cgroup's CPU counter. The rlimit
/// catches a single busy process on its own; this catches CPU spread over
/// several processes, at most one period late.
const CPU_POLL: Duration = Duration::from_millis(50);
/// How long to wait for the output pipes to close once the run's processes
/// are all dead; only a bug would make this matter.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
pub(crate) const READ_CHUNK: usize = 64 * 1024;

impl NativeSandbox {
    /// Resolves the cgroup layout, removes run cgroups that a process now
    /// gone left behind, and compiles the seccomp filter. Cheap;
    /// does not check that bubblewrap works: call [`NativeSandbox::check`].
    pub fn new(config: NativeConfig) -> Result<Self> {
        let layout = Layout::detect(&config.cgroup_mount, config.cgroup_parent.as_deref())?;
        let stale = layout.sweep_stale();
        if stale > 0 {
            tracing::info!(stale, "removed run cgroups left by a process that is gone");
        }
        let seccomp = seccomp::compiled_filter()?;
        let runtime = bwrap::runtime_entries(&config.runtime_paths);
        let sandbox = Self {
            shared: Arc::new(Shared {
                config,
                layout,
                seccomp,
                runtime,
                pool: pool::Pool::default(),
            }),
            filler: Mutex::new(None),
        };
        sandbox.start_filler();
        Ok(sandbox)
    }

    /// Starts filling the pool, once, if there is a pool and a tokio
    /// runtime to run the filler on (else the first run starts it).
    fn start_filler(&self) {
        if self.shared.config.pool_size == 0 {
            return;
        }
        let mut filler = self.filler.lock().expect("filler lock");
        if filler.is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let task = runtime.spawn(pool::fill(Arc::clone(&self.shared)));
            *filler = Some(task.abort_handle());
        }
    }

    /// Sandboxes waiting in the pool right now.
    pub fn pool_ready(&self) -> usize {
        self.shared.pool.ready()
    }

    /// Waits until the pool holds [`NativeConfig::pool_size`] sandboxes
    /// (returns at once without a pool).
    pub async fn pool_filled(&self) {
        self.start_filler();
        self.shared.pool.filled(self.shared.config.pool_size).await
    }

    /// The cgroup directories of the sandboxes waiting in the pool, oldest
    /// first (the memory controller's on v1).
    pub fn pool_cgroups(&self) -> Vec<PathBuf> {
        self.shared.pool.cgroups()
    }

    /// [`NativeSandbox::new`] with [`NativeConfig::default`].
    pub fn with_defaults() -> Result<Self> {
        Self::new(NativeConfig::default())
    }

    pub fn cgroup_version(&self) -> CgroupVersion {
        self.shared.layout.version()
    }

    /// Checks everything a run needs, then makes one: bubblewrap, bash and
    /// python3 present, a run cgroup can be created and limited, and a
    /// trivial program exits 0 under the full sandbox, launched cold and,
    /// with a pool, in a pooled sandbox. Lists every problem found, not only
    /// the first.
    pub async fn check(&self) -> Result<()> {
        let shared = &self.shared;
        let mut problems = Vec::new();
        let mut tools = vec![
            ("bubblewrap", &shared.config.bwrap_path),
            ("the launcher shell (bash)", &shared.config.shell_path),
        ];
        if shared.host_user().is_some() {
            tools.push(("setpriv (util-linux)", &shared.config.setpriv_path));
        }
        for (what, path) in tools {
            if !is_executable(path) {
                problems.push(format!(
                    "{what} not found or not executable at {}",
                    path.display()
                ));
            }
        }
        if !shared
            .runtime
            .iter()
            .any(|e| e.provides("/usr/bin/python3"))
        {
            problems.push("no /usr/bin/python3 in the runtime paths".to_owned());
        }
        if let Err(e) = shared.layout.check() {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            let spec = || RunSpec::new(["python3", "-I", "-S", "-c", "pass"]);
            let cold = async { shared.spawn_cold(spec()).await?.wait().await };
            let pooled = async {
                let mut sandbox = shared.launch_pooled().await?;
                sandbox.prepare(&spec().limits)?;
                pool::start(sandbox, spec())?.wait().await
            };
            let mut runs = vec![("", cold.await)];
            if shared.config.pool_size > 0 {
                runs.push((" in a pooled sandbox", pooled.await));
            }
            for (how, result) in runs {
                match result {
                    Ok(outcome) if outcome.exit.success() => {}
                    Ok(outcome) => problems.push(format!(
                        "a trivial program failed under the sandbox{how}: {:?}, stderr: {}",
                        outcome.exit,
                        String::from_utf8_lossy(&outcome.stderr).trim()
                    )),
                    Err(e) => problems.push(format!("a trivial run{how} failed: {e}")),
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::NotReady { problems })
        }
    }

    /// [`Sandbox::run`], handing every chunk of output to `sink` as it
    /// arrives (before truncation marks it; chunks past the cap are not
    /// passed). The outcome still holds the collected output.
    pub async fn run_streaming(
        &self,
        spec: RunSpec,
        sink: impl FnMut(Stream, &[u8]) + Send,
    ) -> Result<RunOutcome> {
        self.spawn_session(spec).await?.stream_to(sink).await
    }

    /// [`Sandbox::spawn`]: takes a pooled sandbox when one fits the run
    /// and hands it the run through the loader; otherwise launches the run
    /// cold.
    #[tracing::instrument(skip_all, fields(program = ?spec.program.first()))]
    pub async fn spawn_session(&self, spec: RunSpec) -> Result<Session> {
        validate(&spec)?;
        self.start_filler();
        if let Some(pooled) = self.shared.take_pooled(&spec.limits) {
            return pool::start(pooled, spec);
        }
        self.shared.spawn_cold(spec).await
    }
}

impl Shared {
    /// The host identity runs use, if this process switches to one.
    fn host_user(&self) -> Option<(u32, u32)> {
        self.config
            .host_user
            .filter(|_| nix::unistd::geteuid().is_root())
    }

    /// A cold run: stages the files, makes the run's cgroup, starts the
    /// launcher and, once it is in the cgroup with its rlimits, lets it exec
    /// bubblewrap; then hands the run to a supervisor task.
    async fn spawn_cold(&self, spec: RunSpec) -> Result<Session> {
        let stage = Stage::create(&self.config.staging_dir, &self.seccomp, &spec.files)?;
        let cgroup = RunCgroup::create(&self.layout, &spec.limits)?;
        let bwrap_args = bwrap::arguments(&self.runtime, &spec);
        let launched = self
            .launch(
                bwrap_args,
                spec.files.len(),
                &stage,
                &cgroup,
                Some(&spec.limits),
            )
            .await;
        let (child, started) = match launched {
            Ok(launched) => launched,
            Err(e) => {
                cgroup.kill_all().await;
                cgroup.remove().await;
                return Err(e);
            }
        };
        let probe = Arc::new(cgroup.probe());
        let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        if !spec.stdin.is_empty() {
            let _ = stdin_tx.send(spec.stdin);
        }
        let limits = spec.limits;
        tokio::spawn(async move {
            let result = supervise(
                child, started, &limits, &cgroup, stdin_rx, &events_tx, kill_rx,
            )
            .await;
            // Nothing of the run is left alive when the outcome goes out;
            // removing the cgroup and the staged files (a memory cgroup's
            // rmdir is not cheap) happens after, off the caller's path.
            cgroup.kill_all().await;
            let _ = events_tx.send(Event::Exited(result));
            cgroup.remove().await;
            drop(stage);
        });
        Ok(Session::new(stdin_tx, events_rx, probe, kill_tx))
    }

    /// Starts the launcher with bubblewrap's arguments `bwrap_args` and
    /// `files` staged input files, puts it in the cgroup, sets its rlimits
    /// (those of `limits`, or only no core dumps for a pooled sandbox, whose
    /// loader sets the run's in the program) and releases it.
    async fn launch(
        &self,
        bwrap_args: Vec<String>,
        files: usize,
        stage: &Stage,
        cgroup: &RunCgroup,
        limits: Option<&Limits>,
    ) -> Result<(Child, Instant)> {
        let mut command = Command::new(&self.config.shell_path);
        command
            .arg("--noprofile")
            .arg("--norc")
            .arg("-c")
            .arg(bwrap::launcher_script(files))
            .arg("pydojo-launcher")
            .arg(&stage.dir);
        // The launcher stays root until the parent has set its rlimits
        // (lowering another user's limits needs CAP_SYS_RESOURCE, which a
        // containerised root often lacks) and has opened the staged files;
        // setpriv then drops to the host user right before bubblewrap.
        if let Some((uid, gid)) = self.host_user() {
            command
                .arg(&self.config.setpriv_path)
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--");
        }
        command
            .arg(&self.config.bwrap_path)
            .args(bwrap_args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);

        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            program: self.config.shell_path.clone(),
            source,
        })?;
        let pid = child.id().ok_or_else(|| {
            Error::Supervise(std::io::Error::other("launcher exited before setup"))
        })?;
        // The launcher is blocked on `read`: nothing of the run exists yet.
        let mut release = async || {
            cgroup.join(pid)?;
            set_rlimits(pid, limits)?;
            let stdin = child.stdin.as_mut().expect("stdin is piped");
            stdin.write_all(b"\n").await.map_err(Error::Supervise)
        };
        if let Err(e) = release().await {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(e);
        }
        Ok((child, started))
    }
}

impl Sandbox for NativeSandbox {
    async fn spawn(&self, spec: RunSpec) -> Result<Session> {
        self.spawn_session(spec).await
    }
}

/// Stops the filler and tears down every pooled sandbox, waiting for it:
/// their processes are killed and their cgroups removed before this
/// returns.
impl Drop for NativeSandbox {
    fn drop(&mut self) {
        if let Some(filler) = self.filler.lock().expect("filler lock").take() {
            filler.abort();
        }
        self.shared.pool.close();
    }
}

/// Watches a run until it has exited and its output pipes are drained:
/// enforces the wall-time, CPU and output limits, forwards kept output as
/// events and feeds stdin from the session.
async fn supervise(
    mut child: Child,
    started: Instant,
    limits: &Limits,
    cgroup: &RunCgroup,
    mut stdin_rx: mpsc::UnboundedReceiver<Vec<u8>>,
    events: &mpsc::UnboundedSender<Event>,
    mut kill_rx: oneshot::Receiver<()>,
) -> Result<RunOutcome> {
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");

    // Stdin is fed by its own task so a program that does not read it (or
    // reads it slowly while writing output) cannot stall anything. It ends
    // when the session closes stdin (or goes away).
    tokio::spawn(async move {
        while let Some(bytes) = stdin_rx.recv().await {
            // EPIPE when the program exits without reading: not our concern.
            if stdin.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = stdin.shutdown().await;
    });

    let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(16);
    tokio::spawn(forward(stdout, Stream::Stdout, tx.clone()));
    tokio::spawn(forward(stderr, Stream::Stderr, tx));

    let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX);
    let mut out = Captured::new(cap);
    let mut err = Captured::new(cap);
    let deadline = started + limits.wall_time;
    let mut cpu_tick = tokio::time::interval(CPU_POLL);
    cpu_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let mut killed_for: Option<LimitKind> = None;
    let mut kill_requested = false;
    let mut exited: Option<(std::process::ExitStatus, Duration)> = None;
    let mut pipes_open = true;
    let mut drain_deadline = None;

    while exited.is_none() || pipes_open {
        tokio::select! {
            status = child.wait(), if exited.is_none() => {
                let status = status.map_err(Error::Supervise)?;
                exited = Some((status, started.elapsed()));
                // Whatever the program left behind (a daemonised child
                // holding the pipes) goes now, so the pipes close.
                cgroup.kill_all().await;
                drain_deadline = Some(Instant::now() + DRAIN_GRACE);
            }
            chunk = rx.recv(), if pipes_open => match chunk {
                Some((stream, bytes)) => {
                    let captured = match stream {
                        Stream::Stdout => &mut out,
                        Stream::Stderr => &mut err,
                    };
                    if let Some(kept) = captured.push(&bytes) {
                        let _ = events.send(Event::Output(stream, kept.to_vec()));
                    }
                    if captured.truncated && killed_for.is_none() {
                        killed_for = Some(LimitKind::Output);
                        kill_run(&mut child, cgroup).await;
                    }
                }
                None => pipes_open = false,
            },
            // Fires on `Session::kill` and when the session is dropped.
            _ = &mut kill_rx, if !kill_requested && exited.is_none() => {
                kill_requested = true;
                kill_run(&mut child, cgroup).await;
            }
            () = tokio::time::sleep_until(deadline), if exited.is_none() && killed_for.is_none() => {
                killed_for = Some(LimitKind::Wall);
                kill_run(&mut child, cgroup).await;
            }
            _ = cpu_tick.tick(), if exited.is_none() && killed_for.is_none() => {
                if cgroup.cpu_usage().is_ok_and(|used| used >= limits.cpu_time) {
                    killed_for = Some(LimitKind::Cpu);
                    kill_run(&mut child, cgroup).await;
                }
            }
            () = sleep_until_opt(drain_deadline), if pipes_open => {
                tracing::warn!("output pipes still open after the run ended; giving up on them");
                pipes_open = false;
            }
        }
    }
    let (status, wall_time) = exited.expect("loop ends after exit");

    let exit = exit_status(status);
    Ok(finish(
        limits,
        killed_for,
        exit,
        wall_time,
        cgroup.stats(),
        out,
        err,
    ))
}

/// A finished run's outcome, for both supervisors (the cold launch here and
/// the loader's). The limit is the one the supervisor acted on, else the
/// first of memory, CPU, file size, processes that the cgroup and the exit
/// show.
pub(crate) fn finish(
    limits: &Limits,
    killed_for: Option<LimitKind>,
    exit: ExitStatus,
    wall_time: Duration,
    stats: Stats,
    out: Captured,
    err: Captured,
) -> RunOutcome {
    let limit_hit = killed_for.or_else(|| {
        if stats.oom_killed {
            Some(LimitKind::Memory)
        } else if stats.cpu >= limits.cpu_time || exit == ExitStatus::Signal(libc::SIGXCPU) {
            Some(LimitKind::Cpu)
        } else if exit == ExitStatus::Signal(libc::SIGXFSZ) {
            Some(LimitKind::FileSize)
        } else if stats.pids_refused {
            Some(LimitKind::Processes)
        } else {
            None
        }
    });
    tracing::debug!(?exit, ?limit_hit, cpu = ?stats.cpu, ?wall_time, "run finished");
    RunOutcome {
        exit,
        stdout: out.bytes,
        stderr: err.bytes,
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        cpu_time: stats.cpu,
        wall_time,
        peak_memory_bytes: stats.peak_memory,
        limit_hit,
    }
}

pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Kills the direct child first (its pid cannot be reused before we reap
/// it; bubblewrap's `--die-with-parent` then takes the pid namespace down),
/// then anything left in the cgroup.
async fn kill_run(child: &mut Child, cgroup: &RunCgroup) {
    let _ = child.start_kill();
    cgroup.kill_all().await;
}

/// Reads a pipe in chunks and forwards them until EOF.
async fn forward(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    let mut buf = vec![0; READ_CHUNK];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send((stream, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One output stream, kept up to the cap.
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    cap: usize,
    pub(crate) truncated: bool,
}

impl Captured {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Keeps what fits; returns the part kept, if any.
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Option<&'a [u8]> {
        let room = self.cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        let kept = &chunk[..chunk.len().min(room)];
        self.bytes.extend_from_slice(kept);
        (!kept.is_empty()).then_some(kept)
    }
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    match (status.code(), status.signal()) {
        // bubblewrap folds a signal death of the program into 128 + signal.
        (Some(code), _) if (129..=128 + 64).contains(&code) => ExitStatus::Signal(code - 128),
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        (None, None) => ExitStatus::Code(-1),
    }
}

/// rlimits, set on the launcher before it execs bubblewrap, inherited by
/// everything of a cold run (`None`: a pooled sandbox, whose loader sets
/// the same values in the program; only `CORE` 0 here). The second fence
/// behind the cgroup:
/// * `CPU`: whole seconds, one more than the limit, so the supervisor's
///   finer check normally acts first and this only catches a supervisor that
///   fell behind. It is per process; the cgroup counter covers the rest.
/// * `FSIZE`: the largest file the program may write.
/// * `CORE` 0: no core dumps.
///
/// Not `NPROC`: it counts processes per real uid across the whole host
/// (every concurrent run shares the host uid, and root ignores it), so it
/// would be both wrong and shared; the pids cgroup is exact and per run. Not `AS`: threads reserve large stacks and Python would
/// fail in odd places; the memory cgroup limits what is actually used.
fn set_rlimits(pid: u32, limits: Option<&Limits>) -> Result<()> {
    use rlimit::Resource;
    let pid = i32::try_from(pid).map_err(|e| Error::Rlimit(std::io::Error::other(e)))?;
    let mut rlimits = vec![(Resource::CORE, 0)];
    if let Some(limits) = limits {
        let cpu = limits.cpu_time;
        let cpu_secs = cpu.as_secs() + 1 + u64::from(cpu.subsec_nanos() > 0);
        rlimits.extend([
            (Resource::CPU, cpu_secs),
            (Resource::FSIZE, limits.file_size_bytes),
        ]);
    }
    for (resource, value) in rlimits {
        rlimit::prlimit(pid, resource, Some((value, value)), None).map_err(Error::Rlimit)?;
    }
    Ok(())
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub(crate) fn validate(spec: &RunSpec) -> Result<()> {
    let invalid = |msg: String| Err(Error::InvalidSpec(msg));
    if spec.program.is_empty() || spec.program[0].is_empty() {
        return invalid("empty program".into());
    }
    if spec.program.iter().any(|a| a.contains('\0')) {
        return invalid("NUL byte in argv".into());
    }
    let mut total = 0u64;
    for (path, contents) in &spec.files {
        let p = Path::new(path);
        let normal = !path.is_empty()
            && !path.contains('\0')
            && p.components().all(|c| matches!(c, Component::Normal(_)));
        if !normal {
            return invalid(format!(
                "file path {path:?} must be relative without `..` or `.`"
            ));
        }
        let len = contents.len() as u64;
        if len > spec.limits.file_size_bytes {
            return invalid(format!("file {path:?} is larger than the file size limit"));
        }
        total += len;
    }
    if total > spec.limits.work_dir_bytes {
        return invalid("input files do not fit in the work directory".into());
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!("bad environment variable {key:?}"));
        }
    }
    let l = &spec.limits;
    if l.cpu_time.is_zero() || l.wall_time.is_zero() || l.memory_bytes == 0 || l.max_processes == 0
    {
        return invalid("limits must be positive".into());
    }
    Ok(())
}

/// The per-run staging directory on the host: `seccomp.bpf` and the input
/// files as `0`, `1`, … in the order of [`RunSpec::files`]. The launcher
/// opens them on descriptors 3 and 10, 11, …; bubblewrap copies them into the
/// tmpfs. Removed on drop.
#[derive(Debug)]
struct Stage {
    dir: PathBuf,
}

impl Stage {
    fn create(base: &Path, seccomp: &[u8], files: &[(String, Vec<u8>)]) -> Result<Self> {
        let dir = base.join(format!("pydojo-sandbox-{}", unique_suffix()));
        let staging = |source| Error::Staging {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(staging)?;
        let stage = Stage { dir: dir.clone() };
        let write = |name: &str, contents: &[u8]| {
            let path = dir.join(name);
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(contents))
        };
        write("seccomp.bpf", seccomp).map_err(staging)?;
        for (i, (_, contents)) in files.iter().enumerate() {
            write(&i.to_string(), contents).map_err(staging)?;
        }
        Ok(stage)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove staging dir");
        }
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_output_up_to_the_cap_and_marks_truncation() {
        let mut c = Captured::new(5);
        assert_eq!(c.push(b"abc"), Some(&b"abc"[..]));
        assert!(!c.truncated);
        assert_eq!(c.push(b"defg"), Some(&b"de"[..]));
        assert!(c.truncated);
        assert_eq!(c.push(b"x"), None);
        assert_eq!(c.bytes, b"abcde");
    }

    #[test]
    fn unfolds_bubblewraps_signal_exit_codes() {
        use std::process::ExitStatus as Std;
        assert_eq!(exit_status(Std::from_raw(3 << 8)), ExitStatus::Code(3));
        assert_eq!(exit_status(Std::from_raw(137 << 8)), ExitStatus::Signal(9));
        assert_eq!(exit_status(Std::from_raw(9)), ExitStatus::Signal(9));
    }

    #[test]
    fn rejects_paths_that_leave_the_work_directory() {
        for bad in ["../x", "/etc/passwd", "a/../../b", "./a", ""] {
            let spec = RunSpec::new(["python3"]).file(bad, "x");
            assert!(validate(&spec).is_err(), "{bad:?} accepted");
        }
        assert!(validate(&RunSpec::new(["python3"]).file("pkg/mod.py", "x")).is_ok());
    }
}
