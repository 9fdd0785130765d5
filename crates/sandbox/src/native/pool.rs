//! The native warm pool: bubblewrap sandboxes launched before a run asks.
//!
//! A cold run pays for bash, `setpriv`, bubblewrap's namespaces and mounts
//! and its own orchestration before python3 even starts: about 2.6 times a
//! bare python3 start here. So, as the Docker backend does with containers,
//! a background task ([`fill`]) keeps [`NativeConfig::pool_size`]
//! sandboxes launched exactly as a cold run is (same launcher, same
//! bubblewrap arguments, seccomp filter, uid drop, `--die-with-parent`,
//! fresh tmpfs `/work`, `/tmp` and `/dev/shm`, each in a fresh run cgroup
//! joined before bubblewrap starts), whose command is the loader
//! (`crate::loader`) as PID 1, blocked on its stdin.
//!
//! A run takes one ([`Shared::take_pooled`]): it writes the run's memory
//! and pids limits into the sandbox's cgroup, makes CPU time count from now
//! and restarts the memory peak ([`Pooled::prepare`]), then drives it with
//! the loader protocol ([`start`]), supervised by `crate::loader::supervise`
//! like a container. Each pooled sandbox serves one run: afterwards it is
//! killed and its cgroup removed, so nothing of a run is visible to the
//! next. Runs the pool does not fit (another tmpfs size, a memory limit
//! below what the loader already uses) and runs that find it empty are
//! launched cold.
//!
//! Pool cgroups are named like every run cgroup (`run-<pid>-…`), so the
//! stale-cgroup sweep removes those of a process that died; their
//! sandboxes died with it (`--die-with-parent`).
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::{Mutex as AsyncMutex, Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::cgroup::{BWRAP_TASKS, RunCgroup};
use super::{Shared, Stage, bwrap, exit_status, forward};
use crate::loader::{self, DRAIN_GRACE, Final, LoadedRun};
use crate::{Error, Event, ExitStatus, Limits, NativeConfig, Result, RunSpec, Session};

/// Pooled sandboxes this close to their loader's idle timeout are replaced
/// rather than used.
const STALE_MARGIN: Duration = Duration::from_secs(30);
/// How long the filler lets a run that took a sandbox have the machine to
/// itself before launching the replacement (a launch is ~20 ms of CPU,
/// about what a python3 start needs), unless the pool ran empty.
const REFILL_DELAY: Duration = Duration::from_millis(20);

/// The sandboxes waiting for a run.
#[derive(Debug, Default)]
pub(super) struct Pool {
    state: Mutex<State>,
    /// Wakes the filler when a sandbox was taken.
    refill: Notify,
    /// Wakes [`Pool::filled`] when one was added.
    filled: Notify,
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Pooled>,
    /// The owning sandbox was dropped: nothing is added any more.
    closed: bool,
}

/// A launched sandbox whose loader waits for a run.
#[derive(Debug)]
pub(super) struct Pooled {
    child: Child,
    cgroup: RunCgroup,
    /// Holds the seccomp program until bubblewrap has read it.
    stage: Stage,
    launched: Instant,
}

impl Pool {
    pub(super) fn ready(&self) -> usize {
        self.state.lock().expect("pool lock").ready.len()
    }

    pub(super) async fn filled(&self, size: usize) {
        loop {
            let filled = self.filled.notified();
            if self.ready() >= size {
                return;
            }
            filled.await;
        }
    }

    pub(super) fn cgroups(&self) -> Vec<PathBuf> {
        let state = self.state.lock().expect("pool lock");
        state
            .ready
            .iter()
            .map(|p| PathBuf::from(p.cgroup.display()))
            .collect()
    }

    /// Adds a sandbox, or tears it down when the pool is closed.
    fn add(&self, pooled: Pooled) {
        let mut state = self.state.lock().expect("pool lock");
        if state.closed {
            drop(state);
            pooled.destroy_blocking();
            return;
        }
        state.ready.push_back(pooled);
        drop(state);
        self.filled.notify_waiters();
    }

    /// Closes the pool and tears down what it holds, waiting for it.
    pub(super) fn close(&self) {
        let ready = {
            let mut state = self.state.lock().expect("pool lock");
            state.closed = true;
            std::mem::take(&mut state.ready)
        };
        for pooled in ready {
            pooled.destroy_blocking();
        }
    }
}

impl Shared {
    /// A pooled sandbox prepared for a run with `limits`, or `None` when
    /// the run must be launched cold.
    pub(super) fn take_pooled(&self, limits: &Limits) -> Option<Pooled> {
        if self.config.pool_size == 0 || limits.work_dir_bytes != self.config.pool_work_dir_bytes {
            return None;
        }
        let fresh_for = fresh_for(&self.config);
        loop {
            let next = self.pool.state.lock().expect("pool lock").ready.pop_front();
            let mut pooled = next?;
            self.pool.refill.notify_one();
            let alive = matches!(pooled.child.try_wait(), Ok(None));
            if !alive || pooled.launched.elapsed() >= fresh_for {
                tokio::spawn(pooled.destroy());
                continue;
            }
            return match pooled.prepare(limits) {
                Ok(()) => Some(pooled),
                Err(e) => {
                    // A limit the sandbox cannot take (memory below what
                    // the loader already uses): a cold launch reports it
                    // the usual way.
                    tracing::debug!(error = %e, "pooled sandbox does not fit the run; launching cold");
                    tokio::spawn(pooled.destroy());
                    None
                }
            };
        }
    }

    /// Launches a sandbox for the pool: the cold launch with the pool's
    /// tmpfs size and the loader as the command.
    pub(super) async fn launch_pooled(&self) -> Result<Pooled> {
        let limits = Limits {
            work_dir_bytes: self.config.pool_work_dir_bytes,
            ..Limits::default()
        };
        let stage = Stage::create(&self.config.staging_dir, &self.seccomp, &[])?;
        let cgroup = RunCgroup::create(&self.layout, &limits)?;
        let args = bwrap::pooled_arguments(
            &self.runtime,
            limits.work_dir_bytes,
            self.config.pool_idle_timeout,
        );
        match self.launch(args, 0, &stage, &cgroup, None).await {
            Ok((child, launched)) => Ok(Pooled {
                child,
                cgroup,
                stage,
                launched,
            }),
            Err(e) => {
                cgroup.kill_all().await;
                cgroup.remove().await;
                Err(e)
            }
        }
    }
}

/// How long a pooled sandbox may wait before it is replaced.
fn fresh_for(config: &NativeConfig) -> Duration {
    config.pool_idle_timeout.saturating_sub(STALE_MARGIN)
}

/// Keeps the pool full, one launch at a time (a launch is mostly CPU, and
/// runs need it too, so it also waits [`REFILL_DELAY`] after a take while
/// the pool is not empty), replacing sandboxes about to time out and backing
/// off while launches fail.
pub(super) async fn fill(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    let fresh_for = fresh_for(&shared.config);
    loop {
        let (ready, oldest) = {
            let state = shared.pool.state.lock().expect("pool lock");
            (state.ready.len(), state.ready.front().map(|p| p.launched))
        };
        if ready >= shared.config.pool_size {
            let refill = shared.pool.refill.notified();
            match oldest {
                Some(oldest) => {
                    tokio::select! {
                        () = refill => {}
                        () = tokio::time::sleep_until(oldest + fresh_for) => {
                            let stale = {
                                let mut state = shared.pool.state.lock().expect("pool lock");
                                state.ready.pop_front()
                            };
                            if let Some(stale) = stale {
                                stale.destroy().await;
                            }
                        }
                    }
                }
                None => refill.await,
            }
            continue;
        }
        if ready > 0 {
            tokio::time::sleep(REFILL_DELAY).await;
        }
        match shared.launch_pooled().await {
            Ok(pooled) => {
                shared.pool.add(pooled);
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "could not fill the native sandbox pool");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

impl Pooled {
    /// Applies the run's limits and makes the counters start now.
    pub(super) fn prepare(&mut self, limits: &Limits) -> Result<()> {
        self.cgroup.set_limits(limits)?;
        self.cgroup.restart_counters()
    }

    /// Kills the sandbox and removes its cgroup.
    async fn destroy(mut self) {
        let _ = self.child.start_kill();
        self.cgroup.kill_all().await;
        let _ = tokio::time::timeout(DRAIN_GRACE, self.child.wait()).await;
        self.cgroup.remove().await;
    }

    fn destroy_blocking(mut self) {
        let _ = self.child.start_kill();
        self.cgroup.destroy_blocking();
        let _ = self.child.try_wait();
    }
}

/// Hands the run to a prepared pooled sandbox: the loader's preamble and
/// the run's stdin go to the loader, the output is supervised by
/// [`loader::supervise`]. The sandbox is torn down after the run.
pub(super) fn start(pooled: Pooled, spec: RunSpec) -> Result<Session> {
    let nonce = loader::nonce().map_err(Error::Supervise)?;
    let Pooled {
        mut child,
        cgroup,
        stage,
        ..
    } = pooled;
    let input = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let bwrap_pid = child.id().and_then(|pid| i32::try_from(pid).ok());

    let probe = Arc::new(cgroup.probe());
    let stdin_tx = loader::open_stdin(input, loader::preamble(&nonce, &spec), spec.stdin);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (kill_tx, kill_rx) = oneshot::channel();
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(forward(stdout, crate::Stream::Stdout, tx.clone()));
    tokio::spawn(forward(stderr, crate::Stream::Stderr, tx));
    let output = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok)));

    let limits = spec.limits;
    tokio::spawn(async move {
        let run = PooledRun {
            name: cgroup.display(),
            child: AsyncMutex::new(child),
            bwrap_pid,
            cgroup,
        };
        let result = loader::supervise(&run, &limits, nonce, output, &events_tx, kill_rx).await;
        // After a trailer only bubblewrap and the loader are left (the
        // loader killed and reaped the rest before writing it), and the
        // outcome goes out at once. Anything more (a program that forged
        // the trailer) is killed first: nothing of the run outlives its
        // outcome.
        let leftovers = run
            .cgroup
            .procs()
            .map_or(true, |p| p.len() > BWRAP_TASKS as usize);
        if leftovers {
            run.kill_all().await;
        }
        let _ = events_tx.send(Event::Exited(result));
        run.kill_all().await;
        let PooledRun { child, cgroup, .. } = run;
        let _ = tokio::time::timeout(DRAIN_GRACE, child.into_inner().wait()).await;
        cgroup.remove().await;
        drop(stage);
    });
    Ok(Session::new(stdin_tx, events_rx, probe, kill_tx))
}

/// A pooled sandbox running a program: [`LoadedRun`] for the shared
/// supervisor.
#[derive(Debug)]
struct PooledRun {
    name: String,
    /// bubblewrap's outer process; reaped only after the run, so its pid
    /// stays ours to kill until then.
    child: AsyncMutex<Child>,
    bwrap_pid: Option<i32>,
    cgroup: RunCgroup,
}

impl PooledRun {
    /// Kills the whole sandbox: bubblewrap first (`--die-with-parent` then
    /// takes the pid namespace down), then anything left in the cgroup.
    async fn kill_all(&self) {
        if let Some(pid) = self.bwrap_pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.cgroup.kill_all().await;
    }
}

impl LoadedRun for PooledRun {
    fn name(&self) -> &str {
        &self.name
    }

    fn cpu(&self) -> Option<Duration> {
        self.cgroup.cpu_usage().ok()
    }

    /// The sandbox is ours alone and its cgroup outlives it, so a kill
    /// takes the loader too: the final numbers are still read from the
    /// cgroup, and the program is reported killed by SIGKILL.
    async fn kill_program(&self) -> bool {
        self.kill_all().await;
        true
    }

    async fn final_stats(&self) -> Final {
        let stats = self.cgroup.stats();
        Final {
            cpu: stats.cpu,
            peak_memory: stats.peak_memory,
            oom_killed: stats.oom_killed,
            memory_limit_reached: false,
            pids_refused: stats.pids_refused,
        }
    }

    async fn exit_without_trailer(&self, killed: bool) -> Result<ExitStatus> {
        if killed {
            return Ok(ExitStatus::Signal(libc::SIGKILL));
        }
        let mut child = self.child.lock().await;
        match tokio::time::timeout(DRAIN_GRACE, child.wait()).await {
            Ok(Ok(status)) => Ok(exit_status(status)),
            Ok(Err(e)) => Err(Error::Supervise(e)),
            Err(_) => Err(Error::Supervise(std::io::Error::other(
                "the sandbox's loader closed its output without reporting the program's exit",
            ))),
        }
    }
}
