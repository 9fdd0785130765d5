//! The Docker backend: one fresh container per run, taken from a warm pool.
//!
//! Each run gets a container of its own, never reused and removed after
//! the run: no network, a read-only root, `/work`, `/tmp` and `/dev/shm` as
//! tmpfs mounts capped at [`Limits::work_dir_bytes`], memory (swap equal to
//! memory), pids and CPU limits, every capability dropped,
//! `no-new-privileges`, uid/gid 65534, the native backend's seccomp deny list
//! (`seccomp.rs`), no log driver (output only reaches the supervisor).
//!
//! **The pool.** Creating and starting a container costs a few hundred
//! milliseconds, so a background task keeps [`DockerConfig::pool_size`]
//! containers created and started, each running the loader (`crate::loader`)
//! blocked on its stdin. A run takes one, writes its limits into the
//! container's cgroup, attaches to its stdin/stdout/stderr and writes the
//! run's header, files and stdin: it pays for an HTTP upgrade and a fork.
//! Pool containers have the pool's tmpfs size ([`DockerConfig::pool_work_dir_bytes`],
//! by default that of [`Limits::default`]); a run with another size gets a
//! container made for it on the spot.
//!
//! **Measurement from outside**, as natively: CPU time, memory, peak and OOM
//! kills come from the container's cgroup files on the host (`cgroup.rs`),
//! sampled every 50 ms for the CPU limit and read once more at the end. The
//! container outlives its program (the loader stays as PID 1 until the
//! container is removed), so the end-of-run numbers are read from a cgroup
//! that still exists. The peak is reset, and the CPU counter read as a base,
//! right before the run's input is written. Where the daemon's cgroups are
//! not visible (a remote daemon), limits are set with `docker update` and
//! usage comes from the stats API, sampled: the final numbers may then be up
//! to one sample old and the peak cannot be reset.
//!
//! **Killing** a run (a limit, [`Session::kill`], a dropped session) kills
//! the program's processes from the host by pid, from the container's
//! `cgroup.procs`, sparing the loader, which then reaps them and reports a
//! death by SIGKILL; without visible cgroups the container itself is killed.
mod cgroup;
mod seccomp;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, ContainerUpdateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, ListContainersOptions,
    RemoveContainerOptions, StatsOptions, WaitContainerOptions,
};
use futures::{Stream, StreamExt as _};
use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::AsyncWrite;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use self::cgroup::{ContainerCgroup, LOADER_TASKS, RunCounters};
use crate::loader::{self, DRAIN_GRACE, Final, LoadedRun};
use crate::native::validate;
use crate::{
    Error, Event, ExitStatus, Limits, Result, RunOutcome, RunSpec, Sandbox, Session,
    Stream as OutStream, Usage, UsageProbe,
};

/// Configuration of [`DockerSandbox`]. [`Default`] fits a local daemon and
/// the image built by `crates/sandbox/docker/build-image.sh`.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The daemon's unix socket.
    pub socket: PathBuf,
    /// The sandbox image: Debian's python3 at `/usr/bin/python3`, `/work`,
    /// `/etc` closed to uid 65534 (see `crates/sandbox/docker/`).
    pub image: String,
    /// Containers kept created and started, waiting for a run. 0 makes every
    /// run create its container.
    pub pool_size: usize,
    /// Tmpfs size of pool containers; runs with another
    /// [`Limits::work_dir_bytes`] get a container made on the spot.
    pub pool_work_dir_bytes: u64,
    /// CPUs a container may use at once (Docker's `--cpus`).
    pub cpus: f64,
    /// A container nobody runs anything in exits after this long (so the
    /// pool of a process that died goes away by itself); pool containers
    /// older than this are replaced rather than used.
    pub idle_timeout: Duration,
    /// Where the host's cgroup file system is mounted.
    pub cgroup_mount: PathBuf,
    /// Timeout of each request to the daemon.
    pub request_timeout: Duration,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            socket: "/var/run/docker.sock".into(),
            image: DEFAULT_IMAGE.to_owned(),
            pool_size: 2,
            pool_work_dir_bytes: Limits::default().work_dir_bytes,
            cpus: 1.0,
            idle_timeout: Duration::from_secs(600),
            cgroup_mount: "/sys/fs/cgroup".into(),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The image `build-image.sh` builds by default.
pub const DEFAULT_IMAGE: &str = "pydojo-sandbox:bookworm";
/// Label on every container of this backend; its value names the
/// [`DockerSandbox`] instance that made it.
pub const CONTAINER_LABEL: &str = "org.pydojo.sandbox";
/// The unprivileged identity inside (`nobody`/`nogroup`), as natively.
const USER: &str = "65534:65534";
/// How often the supervisor samples CPU time (and, without visible cgroups,
/// the stats API).
const CPU_POLL: Duration = Duration::from_millis(50);
/// How long the end of a run waits for a last stats API sample (the
/// daemon can take a second or more when it waits for two CPU samples).
const API_FINAL_SAMPLE: Duration = Duration::from_secs(3);
/// Pool containers this close to their idle timeout are not handed out.
const STALE_MARGIN: Duration = Duration::from_secs(30);

/// Runs programs in Docker containers. See the module docs; [`DockerSandbox::check`]
/// says what is missing.
#[derive(Debug)]
pub struct DockerSandbox {
    shared: Arc<Shared>,
    filler: Option<AbortHandle>,
}

#[derive(Debug)]
struct Shared {
    docker: Docker,
    config: DockerConfig,
    seccomp: String,
    /// Value of [`CONTAINER_LABEL`] on this instance's containers.
    instance: String,
    ready: Mutex<VecDeque<Warm>>,
    /// Wakes the filler when a container was taken.
    refill: Notify,
    /// Wakes [`DockerSandbox::pool_filled`] when one was added.
    filled: Notify,
    /// Every container this instance created and has not removed yet.
    live: Mutex<HashSet<String>>,
}

/// A started container whose loader waits for a run.
#[derive(Debug)]
struct Warm {
    id: String,
    /// Host pid of its PID 1 (the loader), 0 if unknown.
    loader_pid: i64,
    cgroup: Option<ContainerCgroup>,
    created: Instant,
}

impl DockerSandbox {
    /// Connects to the daemon (negotiating the API version) and starts
    /// filling the pool. Fails when the daemon does not answer; call
    /// [`DockerSandbox::check`] before the first run.
    pub async fn new(config: DockerConfig) -> Result<Self> {
        let socket = config.socket.to_string_lossy().into_owned();
        let not_ready = |e: bollard::errors::Error| Error::NotReady {
            problems: vec![format!(
                "the Docker daemon at {socket} does not answer: {e}"
            )],
        };
        let docker = Docker::connect_with_unix(
            &socket,
            config.request_timeout.as_secs().max(1),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(not_ready)?
        .negotiate_version()
        .await
        .map_err(not_ready)?;
        let shared = Arc::new(Shared {
            docker,
            seccomp: seccomp::profile(),
            instance: format!("{}-{}", std::process::id(), unique_suffix()),
            config,
            ready: Mutex::new(VecDeque::new()),
            refill: Notify::new(),
            filled: Notify::new(),
            live: Mutex::new(HashSet::new()),
        });
        let filler = (shared.config.pool_size > 0)
            .then(|| tokio::spawn(fill_pool(Arc::clone(&shared))).abort_handle());
        Ok(Self { shared, filler })
    }

    /// [`DockerSandbox::new`] with [`DockerConfig::default`].
    pub async fn with_defaults() -> Result<Self> {
        Self::new(DockerConfig::default()).await
    }

    /// Checks everything a run needs, then makes one: the daemon answers,
    /// the image is there, and a trivial program exits 0 in a container.
    /// Lists every problem found, not only the first.
    pub async fn check(&self) -> Result<()> {
        let docker = &self.shared.docker;
        let config = &self.shared.config;
        let mut problems = Vec::new();
        if let Err(e) = docker.ping().await {
            problems.push(format!(
                "the Docker daemon at {} does not answer: {e}",
                config.socket.display()
            ));
            return Err(Error::NotReady { problems });
        }
        match docker.inspect_image(&config.image).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => problems.push(format!(
                "image {} missing: build it with `bash crates/sandbox/docker/build-image.sh {}`",
                config.image,
                config
                    .image
                    .split_once(':')
                    .map_or("latest", |(_, tag)| tag)
            )),
            Err(e) => problems.push(format!("inspecting image {}: {e}", config.image)),
        }
        if problems.is_empty() {
            let spec = RunSpec::new(["python3", "-I", "-S", "-c", "pass"]);
            match self.run(spec).await {
                Ok(outcome) if outcome.exit.success() => {}
                Ok(outcome) => problems.push(format!(
                    "a trivial program failed in a container: {:?}, stderr: {}",
                    outcome.exit,
                    String::from_utf8_lossy(&outcome.stderr).trim()
                )),
                Err(e) => problems.push(format!("a trivial run failed: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::NotReady { problems })
        }
    }

    /// Whether runs are measured through the host's cgroup files (`false`:
    /// through the stats API). Known once a container exists.
    pub async fn measures_from_host_cgroups(&self) -> Result<bool> {
        let warm = self
            .take(self.shared.config.pool_work_dir_bytes, &Limits::default())
            .await?;
        let host = warm.cgroup.is_some();
        self.shared.remove_later(warm.id);
        Ok(host)
    }

    /// Containers waiting in the pool right now.
    pub fn pool_ready(&self) -> usize {
        self.shared.ready.lock().expect("pool lock").len()
    }

    /// Waits until the pool holds [`DockerConfig::pool_size`] containers.
    pub async fn pool_filled(&self) {
        loop {
            let filled = self.shared.filled.notified();
            if self.pool_ready() >= self.shared.config.pool_size {
                return;
            }
            filled.await;
        }
    }

    /// Ids of the containers waiting in the pool, oldest first.
    pub fn pool_containers(&self) -> Vec<String> {
        let ready = self.shared.ready.lock().expect("pool lock");
        ready.iter().map(|w| w.id.clone()).collect()
    }

    /// Ids of every container this instance created and has not removed
    /// yet (pool, running and being removed).
    pub fn live_containers(&self) -> Vec<String> {
        self.shared
            .live
            .lock()
            .expect("live lock")
            .iter()
            .cloned()
            .collect()
    }

    /// [`Sandbox::run`], handing every chunk of output to `sink` as it
    /// arrives, like [`crate::NativeSandbox::run_streaming`].
    pub async fn run_streaming(
        &self,
        spec: RunSpec,
        sink: impl FnMut(OutStream, &[u8]) + Send,
    ) -> Result<RunOutcome> {
        self.spawn_session(spec).await?.stream_to(sink).await
    }

    /// [`Sandbox::spawn`]: takes a container, applies the run's limits,
    /// attaches and hands the run to a supervisor task, which writes the
    /// loader's preamble first.
    #[tracing::instrument(skip_all, fields(program = ?spec.program.first()))]
    pub async fn spawn_session(&self, spec: RunSpec) -> Result<Session> {
        validate(&spec)?;
        let nonce = loader::nonce().map_err(Error::Supervise)?;
        let mut warm = self.take(spec.limits.work_dir_bytes, &spec.limits).await?;
        let attached = match self.shared.prepare(&warm, &spec.limits).await {
            Ok(attached) => attached,
            Err(e) => {
                // A pool container can have died meanwhile (its idle timeout,
                // someone's `docker rm`): one more try with a fresh one.
                tracing::warn!(container = %warm.id, error = %e, "pool container unusable; creating one");
                self.shared.remove_later(std::mem::take(&mut warm.id));
                warm = self
                    .shared
                    .create(spec.limits.work_dir_bytes, &spec.limits)
                    .await?;
                match self.shared.prepare(&warm, &spec.limits).await {
                    Ok(attached) => attached,
                    Err(e) => {
                        self.shared.remove_later(warm.id);
                        return Err(e);
                    }
                }
            }
        };
        let Attached {
            output,
            input,
            probe,
        } = attached;
        let stdin_tx = loader::open_stdin(input, loader::preamble(&nonce, &spec), spec.stdin);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let session_probe: Arc<dyn UsageProbe> = match &probe {
            Probe::Host(counters) => Arc::clone(counters) as Arc<dyn UsageProbe>,
            Probe::Api(api) => Arc::clone(api) as Arc<dyn UsageProbe>,
        };
        let limits = spec.limits;
        tokio::spawn(async move {
            // The stats API can take a while to answer (a container under
            // memory pressure): it is sampled by a task of its own so that
            // the output keeps flowing.
            let _sampler = match &probe {
                Probe::Api(api) => Some(AbortOnDrop(
                    tokio::spawn(sample_stats(
                        Arc::clone(&shared),
                        warm.id.clone(),
                        Arc::clone(api),
                    ))
                    .abort_handle(),
                )),
                Probe::Host(_) => None,
            };
            let run = Run {
                shared: &shared,
                id: &warm.id,
                loader_pid: warm.loader_pid,
                probe,
            };
            let output = output.filter_map(|item| {
                std::future::ready(match item {
                    Ok(LogOutput::StdOut { message }) => {
                        Some(Ok((OutStream::Stdout, message.to_vec())))
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        Some(Ok((OutStream::Stderr, message.to_vec())))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(std::io::Error::other(e))),
                })
            });
            let result = loader::supervise(&run, &limits, nonce, output, &events_tx, kill_rx).await;
            shared.remove_later(warm.id);
            let _ = events_tx.send(Event::Exited(result));
        });
        Ok(Session::new(stdin_tx, events_rx, session_probe, kill_tx))
    }

    /// A container for a run: from the pool when it has the right tmpfs
    /// size, else made now.
    async fn take(&self, work_dir_bytes: u64, limits: &Limits) -> Result<Warm> {
        if work_dir_bytes == self.shared.config.pool_work_dir_bytes {
            let fresh_for = self.shared.config.idle_timeout.saturating_sub(STALE_MARGIN);
            loop {
                let next = self.shared.ready.lock().expect("pool lock").pop_front();
                let Some(warm) = next else { break };
                self.shared.refill.notify_one();
                if warm.created.elapsed() < fresh_for {
                    return Ok(warm);
                }
                self.shared.remove_later(warm.id);
            }
        }
        self.shared.create(work_dir_bytes, limits).await
    }
}

impl Sandbox for DockerSandbox {
    async fn spawn(&self, spec: RunSpec) -> Result<Session> {
        self.spawn_session(spec).await
    }
}

/// Removes every container this instance still has, waiting for it: a
/// dropped sandbox leaves nothing behind. Runs on a thread of its own with
/// its own runtime and connection, since drop may happen anywhere (also
/// while the caller's runtime shuts down).
impl Drop for DockerSandbox {
    fn drop(&mut self) {
        if let Some(filler) = self.filler.take() {
            filler.abort();
        }
        self.shared.ready.lock().expect("pool lock").clear();
        let ids: Vec<String> = self.live_containers();
        if ids.is_empty() {
            return;
        }
        let socket = self.shared.config.socket.to_string_lossy().into_owned();
        let version = self.shared.docker.client_version();
        let instance = self.shared.instance.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let docker =
                    Docker::connect_with_unix(&socket, 30, &version).map_err(|e| e.to_string())?;
                let removals = ids.iter().map(|id| remove(&docker, id));
                futures::future::join_all(removals).await;
                // Whatever a creation still in flight made meanwhile.
                let filters = HashMap::from([(
                    "label".to_owned(),
                    vec![format!("{CONTAINER_LABEL}={instance}")],
                )]);
                let options = ListContainersOptions {
                    all: true,
                    filters: Some(filters),
                    ..ListContainersOptions::default()
                };
                let left = docker
                    .list_containers(Some(options))
                    .await
                    .map_err(|e| e.to_string())?;
                let removals = left
                    .iter()
                    .filter_map(|c| c.id.as_deref())
                    .map(|id| remove(&docker, id));
                futures::future::join_all(removals).await;
                Ok::<_, String>(())
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            tracing::warn!(error = %e, "could not remove the sandbox's containers");
        }
    }
}

async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        // Gone already, or being removed by the other path.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => {}
        Err(e) => tracing::warn!(container = %id, error = %e, "could not remove container"),
    }
}

/// Keeps the pool full, creating the missing containers concurrently,
/// backing off while the daemon fails.
async fn fill_pool(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    let limits = Limits {
        work_dir_bytes: shared.config.pool_work_dir_bytes,
        ..Limits::default()
    };
    loop {
        let ready = shared.ready.lock().expect("pool lock").len();
        let missing = shared.config.pool_size.saturating_sub(ready);
        if missing == 0 {
            shared.refill.notified().await;
            continue;
        }
        let creations = (0..missing).map(|_| shared.create(limits.work_dir_bytes, &limits));
        let mut failed = None;
        for created in futures::future::join_all(creations).await {
            match created {
                Ok(warm) => {
                    shared.ready.lock().expect("pool lock").push_back(warm);
                    shared.filled.notify_waiters();
                }
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            None => backoff = Duration::from_millis(100),
            Some(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "could not fill the sandbox pool");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// A container attached to, with its run's limits applied.
struct Attached {
    output: Output,
    input: Input,
    probe: Probe,
}

/// Where a run's usage comes from.
#[derive(Debug, Clone)]
enum Probe {
    Host(Arc<RunCounters>),
    Api(Arc<ApiProbe>),
}

/// Usage from the stats API, as last sampled by the supervisor.
#[derive(Debug)]
struct ApiProbe {
    latest: Mutex<Option<Usage>>,
    /// Times the memory limit was reached (v1 `failcnt`), last sampled.
    limit_reached: Mutex<u64>,
    cpu_base: Duration,
}

impl UsageProbe for ApiProbe {
    fn usage(&self) -> std::io::Result<Usage> {
        self.latest
            .lock()
            .expect("probe lock")
            .ok_or_else(|| std::io::Error::other("no stats sample yet"))
    }

    fn reset_peak_memory(&self) -> bool {
        false
    }
}

fn docker_error(action: &'static str) -> impl Fn(bollard::errors::Error) -> Error {
    move |e| Error::Supervise(std::io::Error::other(format!("docker {action}: {e}")))
}

impl Shared {
    fn spawn_error(&self, action: &str, e: impl std::fmt::Display) -> Error {
        Error::Spawn {
            program: PathBuf::from(&self.config.image),
            source: std::io::Error::other(format!("{action}: {e}")),
        }
    }

    /// Creates and starts a container whose loader waits for a run.
    async fn create(self: &Arc<Self>, work_dir_bytes: u64, limits: &Limits) -> Result<Warm> {
        let body = self.container_body(work_dir_bytes, limits);
        // Named, and the name recorded before the request: a creation cut
        // short (the sandbox dropped meanwhile) is still found and removed.
        let name = format!("pydojo-sandbox-{}-{}", self.instance, unique_suffix());
        self.live.lock().expect("live lock").insert(name.clone());
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            platform: String::new(),
        };
        let created = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(e) => {
                self.remove_later(name);
                return Err(self.spawn_error("docker create", e));
            }
        };
        let id = created.id;
        {
            let mut live = self.live.lock().expect("live lock");
            live.remove(&name);
            live.insert(id.clone());
        }
        let started = async {
            self.docker.start_container(&id, None).await?;
            self.docker.inspect_container(&id, None).await
        };
        match started.await {
            Ok(info) => {
                let loader_pid = info.state.and_then(|s| s.pid).unwrap_or(0);
                let cgroup = ContainerCgroup::locate(&self.config.cgroup_mount, &id, loader_pid);
                Ok(Warm {
                    id,
                    loader_pid,
                    cgroup,
                    created: Instant::now(),
                })
            }
            Err(e) => {
                self.remove_later(id);
                Err(self.spawn_error("docker start", e))
            }
        }
    }

    fn container_body(&self, work_dir_bytes: u64, limits: &Limits) -> ContainerCreateBody {
        let size = work_dir_bytes;
        let tmpfs = HashMap::from([
            (
                "/work".to_owned(),
                format!("rw,nosuid,nodev,size={size},mode=0700,uid=65534,gid=65534"),
            ),
            (
                "/tmp".to_owned(),
                format!("rw,nosuid,nodev,size={size},mode=1777"),
            ),
        ]);
        let memory = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
        let idle = self.config.idle_timeout.as_secs().max(1).to_string();
        ContainerCreateBody {
            image: Some(self.config.image.clone()),
            cmd: Some(
                ["/usr/bin/python3", "-I", "-S", "-c", loader::LOADER, &idle]
                    .map(String::from)
                    .to_vec(),
            ),
            entrypoint: Some(vec![]),
            user: Some(USER.to_owned()),
            working_dir: Some("/work".to_owned()),
            env: Some(vec![]),
            hostname: Some("sandbox".to_owned()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            tty: Some(false),
            network_disabled: Some(true),
            labels: Some(HashMap::from([(
                CONTAINER_LABEL.to_owned(),
                self.instance.clone(),
            )])),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                readonly_rootfs: Some(true),
                tmpfs: Some(tmpfs),
                shm_size: Some(i64::try_from(size).unwrap_or(i64::MAX)),
                ipc_mode: Some("private".to_owned()),
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(i64::from(limits.max_processes.saturating_add(LOADER_TASKS))),
                nano_cpus: Some((self.config.cpus * 1e9) as i64),
                cap_drop: Some(vec!["ALL".to_owned()]),
                security_opt: Some(vec![
                    "no-new-privileges:true".to_owned(),
                    format!("seccomp={}", self.seccomp),
                ]),
                init: Some(false),
                privileged: Some(false),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("none".to_owned()),
                    config: None,
                }),
                auto_remove: Some(false),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        }
    }

    /// Applies the run's limits, attaches, and takes the usage baseline.
    async fn prepare(&self, warm: &Warm, limits: &Limits) -> Result<Attached> {
        match &warm.cgroup {
            Some(cgroup) => cgroup.set_limits(limits)?,
            None => {
                let memory = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
                let update = ContainerUpdateBody {
                    memory: Some(memory),
                    memory_swap: Some(memory),
                    pids_limit: Some(i64::from(limits.max_processes.saturating_add(LOADER_TASKS))),
                    ..ContainerUpdateBody::default()
                };
                self.docker
                    .update_container(&warm.id, update)
                    .await
                    .map_err(docker_error("update"))?;
            }
        }
        let options = AttachContainerOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            detach_keys: None,
        };
        let attached = self
            .docker
            .attach_container(&warm.id, Some(options))
            .await
            .map_err(|e| self.spawn_error("docker attach", e))?;
        let probe = match &warm.cgroup {
            Some(cgroup) => {
                cgroup.reset_peak();
                let cpu_base = cgroup.cpu().map_err(|source| Error::Cgroup {
                    action: "reading CPU usage of",
                    path: self.config.cgroup_mount.clone(),
                    source,
                })?;
                Probe::Host(Arc::new(RunCounters {
                    cgroup: cgroup.clone(),
                    cpu_base,
                }))
            }
            None => {
                let base = self.api_usage(&warm.id, Duration::ZERO).await?;
                Probe::Api(Arc::new(ApiProbe {
                    latest: Mutex::new(None),
                    limit_reached: Mutex::new(0),
                    cpu_base: base.0.cpu_time,
                }))
            }
        };
        Ok(Attached {
            output: attached.output,
            input: attached.input,
            probe,
        })
    }

    /// One sample of the stats API, with the memory limit's `failcnt`.
    async fn api_usage(&self, id: &str, cpu_base: Duration) -> Result<(Usage, u64)> {
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let stats = self
            .docker
            .stats(id, Some(options))
            .next()
            .await
            .ok_or_else(|| Error::Supervise(std::io::Error::other("docker stats: no sample")))?
            .map_err(docker_error("stats"))?;
        let cpu = stats
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        let memory = stats.memory_stats.unwrap_or_default();
        let current = memory.usage.unwrap_or(0);
        let failcnt = memory.failcnt.unwrap_or(0);
        let usage = Usage {
            cpu_time: Duration::from_nanos(cpu).saturating_sub(cpu_base),
            memory_bytes: current,
            peak_memory_bytes: memory.max_usage.unwrap_or(current),
            // The stats API does not count OOM kills; the end of the run
            // asks `docker inspect` instead.
            oom_kills: 0,
        };
        Ok((usage, failcnt))
    }

    /// Removes a container in the background; [`DockerSandbox`]'s drop
    /// removes what is still left.
    fn remove_later(self: &Arc<Self>, id: String) {
        if id.is_empty() {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            remove(&shared.docker, &id).await;
            shared.live.lock().expect("live lock").remove(&id);
        });
    }
}

/// One run being supervised: the backend's side of [`loader::supervise`].
struct Run<'a> {
    shared: &'a Arc<Shared>,
    id: &'a str,
    loader_pid: i64,
    probe: Probe,
}

impl LoadedRun for Run<'_> {
    fn name(&self) -> &str {
        self.id
    }

    fn cpu(&self) -> Option<Duration> {
        match &self.probe {
            Probe::Host(counters) => counters.cpu().ok(),
            Probe::Api(api) => api.usage().ok().map(|u| u.cpu_time),
        }
    }

    /// Kills the program's processes, sparing the loader, which reaps them
    /// and writes its trailer. Without visible cgroups (or a known loader
    /// pid) kills the container instead; returns whether it did.
    async fn kill_program(&self) -> bool {
        let procs = match &self.probe {
            Probe::Host(counters) if self.loader_pid > 0 => counters.cgroup.procs().ok(),
            _ => None,
        };
        if let Some(pids) = procs {
            for pid in pids
                .into_iter()
                .filter(|&p| i64::from(p) != self.loader_pid)
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            return false;
        }
        let options = KillContainerOptions {
            signal: "SIGKILL".to_owned(),
        };
        if let Err(e) = self
            .shared
            .docker
            .kill_container(self.id, Some(options))
            .await
        {
            tracing::debug!(container = %self.id, error = %e, "kill");
        }
        true
    }

    async fn final_stats(&self) -> Final {
        match &self.probe {
            Probe::Host(counters) => Final {
                cpu: counters.cpu().unwrap_or_default(),
                peak_memory: counters.cgroup.memory().map(|(_, peak)| peak).unwrap_or(0),
                oom_killed: counters.cgroup.oom_kills() > 0,
                memory_limit_reached: false,
                pids_refused: counters.cgroup.pids_refused() > 0,
            },
            Probe::Api(api) => {
                let fresh = tokio::time::timeout(
                    API_FINAL_SAMPLE,
                    self.shared.api_usage(self.id, api.cpu_base),
                )
                .await;
                // Counters only grow; a sample of a container already gone
                // reads zeros, so the larger of fresh and last sample wins.
                let last = api.usage().unwrap_or_default();
                let last_failcnt = *api.limit_reached.lock().expect("probe lock");
                let (usage, failcnt) = match fresh {
                    Ok(Ok((fresh, failcnt))) if fresh.cpu_time >= last.cpu_time => {
                        (fresh, failcnt.max(last_failcnt))
                    }
                    _ => (last, last_failcnt),
                };
                let oom_killed = self
                    .shared
                    .docker
                    .inspect_container(self.id, None)
                    .await
                    .ok()
                    .and_then(|info| info.state?.oom_killed)
                    .unwrap_or(false);
                Final {
                    cpu: usage.cpu_time,
                    peak_memory: usage.peak_memory_bytes,
                    oom_killed,
                    memory_limit_reached: failcnt > 0,
                    pids_refused: false,
                }
            }
        }
    }

    /// The exit of a container whose loader wrote no trailer: `128 + n`
    /// unfolded to a signal, as the native backend unfolds bubblewrap's.
    async fn exit_without_trailer(&self, killed: bool) -> Result<ExitStatus> {
        let options = WaitContainerOptions {
            condition: "not-running".to_owned(),
        };
        let waited = tokio::time::timeout(
            DRAIN_GRACE,
            self.shared
                .docker
                .wait_container(self.id, Some(options))
                .next(),
        )
        .await;
        let code = match waited {
            Ok(Some(Ok(response))) => response.status_code,
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
            _ if killed => 128 + i64::from(libc::SIGKILL),
            Ok(Some(Err(e))) => return Err(docker_error("wait")(e)),
            Ok(None) | Err(_) => {
                return Err(Error::Supervise(std::io::Error::other(
                    "the container ended without an exit status",
                )));
            }
        };
        let code = i32::try_from(code).unwrap_or(-1);
        Ok(if (129..=128 + 64).contains(&code) {
            ExitStatus::Signal(code - 128)
        } else {
            ExitStatus::Code(code)
        })
    }
}

/// Samples the stats API into `probe` every [`CPU_POLL`] until aborted.
async fn sample_stats(shared: Arc<Shared>, id: String, probe: Arc<ApiProbe>) {
    let mut tick = tokio::time::interval(CPU_POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok((usage, failcnt)) = shared.api_usage(&id, probe.cpu_base).await {
            *probe.latest.lock().expect("probe lock") = Some(usage);
            *probe.limit_reached.lock().expect("probe lock") = failcnt;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", N.fetch_add(1, Ordering::Relaxed))
}
