//! One cgroup per run, on cgroup v1 (one directory per controller: memory,
//! pids, cpuacct) or v2 (one directory).
//!
//! Run cgroups are created under a parent that by default sits *below the
//! cgroup of the current process* (`<own cgroup>/pydojo`): the runs then stay
//! inside whatever limits the service itself runs under, and on v2 this is
//! the delegated subtree a service manager hands out.
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Which cgroup hierarchy the run cgroups live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

const V1_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// Where run cgroups are created, resolved once.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: PathBuf,
    },
    V2 {
        parent: PathBuf,
    },
}

impl Layout {
    /// Finds the hierarchy under `mount` and the parent directory of run
    /// cgroups. `parent` is a cgroup path such as `/pydojo`; `None` means
    /// `<own cgroup>/pydojo`.
    pub(crate) fn detect(mount: &Path, parent: Option<&Path>) -> Result<Self> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::CgroupUnavailable(format!("reading /proc/self/cgroup: {e}")))?;
        let resolve = |controller: &str| -> Result<PathBuf> {
            let relative = match parent {
                Some(p) => p.to_path_buf(),
                None => own_cgroup(&own, controller)
                    .ok_or_else(|| {
                        Error::CgroupUnavailable(format!(
                            "this process is in no {} cgroup (see /proc/self/cgroup)",
                            if controller.is_empty() {
                                "v2"
                            } else {
                                controller
                            }
                        ))
                    })?
                    .join("pydojo"),
            };
            let base = if controller.is_empty() {
                mount.to_path_buf()
            } else {
                mount.join(controller)
            };
            Ok(base.join(relative.strip_prefix("/").unwrap_or(&relative)))
        };

        if mount.join("cgroup.controllers").exists() {
            return Ok(Layout::V2 {
                parent: resolve("")?,
            });
        }
        let missing: Vec<_> = V1_CONTROLLERS
            .iter()
            .filter(|c| !mount.join(c).join("cgroup.procs").exists())
            .collect();
        if !missing.is_empty() {
            return Err(Error::CgroupUnavailable(format!(
                "{} is neither a cgroup v2 mount nor has the v1 controllers {missing:?} mounted",
                mount.display()
            )));
        }
        Ok(Layout::V1 {
            memory: resolve("memory")?,
            pids: resolve("pids")?,
            cpuacct: resolve("cpuacct")?,
        })
    }

    pub(crate) fn version(&self) -> CgroupVersion {
        match self {
            Layout::V1 { .. } => CgroupVersion::V1,
            Layout::V2 { .. } => CgroupVersion::V2,
        }
    }

    /// The parent directories run cgroups are created in.
    fn parents(&self) -> Vec<&Path> {
        match self {
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => vec![memory, pids, cpuacct],
            Layout::V2 { parent } => vec![parent],
        }
    }

    /// Removes the run cgroups a process that is gone left behind (a
    /// service killed with SIGKILL cannot clean up): their processes are
    /// killed (bubblewrap's `--die-with-parent` has normally done that
    /// already) and the directories removed. A run cgroup's name carries the
    /// pid of the process that made it; those of live processes, another
    /// service sharing the parent included, are left alone. Returns how
    /// many were removed.
    pub(crate) fn sweep_stale(&self) -> usize {
        let mut removed = 0;
        for parent in self.parents() {
            let Ok(entries) = fs::read_dir(parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(owner) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("run-"))
                    .and_then(|rest| rest.split('-').next())
                    .and_then(|pid| pid.parse::<u32>().ok())
                else {
                    continue;
                };
                if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
                    continue;
                }
                let dir = entry.path();
                for _ in 0..20 {
                    let procs = read(&dir.join("cgroup.procs")).unwrap_or_default();
                    let pids: Vec<i32> = procs
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect();
                    if pids.is_empty() {
                        break;
                    }
                    for pid in pids {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                match fs::remove_dir(&dir) {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a stale run cgroup")
                    }
                }
            }
        }
        removed
    }

    /// Creates the parents (enabling the v2 controllers on the way) and a
    /// run cgroup, then removes it again: the readiness check.
    pub(crate) fn check(&self) -> Result<()> {
        let cgroup = RunCgroup::create(self, &crate::Limits::default())?;
        cgroup.remove_blocking();
        Ok(())
    }
}

/// The cgroup path of this process for `controller` (`""` for v2), from the
/// contents of `/proc/self/cgroup`.
fn own_cgroup(proc_self_cgroup: &str, controller: &str) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        matches.then(|| PathBuf::from(path))
    })
}

/// What the cgroup measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub cpu: Duration,
    pub peak_memory: u64,
    pub oom_killed: bool,
    pub pids_refused: bool,
}

/// The cgroup(s) of one run.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    version: CgroupVersion,
    /// v1: memory, pids, cpuacct; v2: the one directory.
    dirs: Vec<PathBuf>,
    /// CPU time used before the run began (by a pooled sandbox's loader
    /// while it waited), subtracted from every reading.
    cpu_base: Duration,
}

/// Tasks of the sandbox that are not the program's: bubblewrap's outer
/// process and the PID 1 of the sandbox's pid namespace (bubblewrap's init
/// on a cold launch, the loader in a pooled sandbox). Added to the user's
/// process limit.
pub(crate) const BWRAP_TASKS: u32 = 2;

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn run_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "run-{}-{}-{nanos:x}",
        std::process::id(),
        RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn write(path: &Path, value: &str, action: &'static str) -> Result<()> {
    fs::write(path, value).map_err(|source| Error::Cgroup {
        action,
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
}

/// The value of `key` in a flat-keyed file (`memory.events`, `cpu.stat`,
/// `memory.oom_control`, `pids.events`).
fn keyed(contents: &str, key: &str) -> Option<u64> {
    contents.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl RunCgroup {
    pub(crate) fn create(layout: &Layout, limits: &crate::Limits) -> Result<Self> {
        let name = run_name();
        let cgroup = match layout {
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => {
                let mut cgroup = RunCgroup {
                    version: CgroupVersion::V1,
                    dirs: Vec::with_capacity(3),
                    cpu_base: Duration::ZERO,
                };
                // Pushed one by one so a failure half-way removes what exists.
                for parent in [memory, pids, cpuacct] {
                    let dir = parent.join(&name);
                    fs::create_dir_all(&dir).map_err(|source| Error::Cgroup {
                        action: "creating",
                        path: dir.clone(),
                        source,
                    })?;
                    cgroup.dirs.push(dir);
                }
                // Without swap accounting (no memsw files) swap cannot be
                // capped; swappiness 0 at least keeps the run from using it.
                let _ = fs::write(cgroup.dirs[0].join("memory.swappiness"), "0");
                cgroup
            }
            Layout::V2 { parent } => {
                enable_v2_controllers(parent)?;
                let dir = parent.join(&name);
                fs::create_dir(&dir).map_err(|source| Error::Cgroup {
                    action: "creating",
                    path: dir.clone(),
                    source,
                })?;
                RunCgroup {
                    version: CgroupVersion::V2,
                    dirs: vec![dir],
                    cpu_base: Duration::ZERO,
                }
            }
        };
        cgroup.set_limits(limits)?;
        Ok(cgroup)
    }

    /// Applies a run's memory (swap included, where the kernel lets us)
    /// and process limits. Also used on a pooled sandbox's cgroup, made
    /// before its run's limits were known.
    pub(crate) fn set_limits(&self, limits: &crate::Limits) -> Result<()> {
        let pids = match self.version {
            CgroupVersion::V1 => &self.dirs[1],
            CgroupVersion::V2 => &self.dirs[0],
        };
        apply_limits(
            self.version,
            &self.dirs[0],
            pids,
            limits.memory_bytes,
            limits.max_processes.saturating_add(BWRAP_TASKS),
        )
    }

    /// Makes the counters start now, for a pooled sandbox taken by a run:
    /// CPU time is counted from here (what the loader used while it waited
    /// is subtracted) and the memory peak restarts from the current use
    /// (v1; v2's `memory.peak` cannot be reset this way, so there it still
    /// covers the loader's start-up, which is below the run's own use).
    pub(crate) fn restart_counters(&mut self) -> Result<()> {
        self.cpu_base = Duration::ZERO;
        self.cpu_base = self.cpu_usage().map_err(|source| Error::Cgroup {
            action: "reading CPU usage of",
            path: self.dirs[self.dirs.len() - 1].clone(),
            source,
        })?;
        if self.version == CgroupVersion::V1 {
            write(
                &self.dirs[0].join("memory.max_usage_in_bytes"),
                "0",
                "resetting the memory peak of",
            )?;
        }
        Ok(())
    }

    /// Host pids of the run's processes (bubblewrap's included).
    pub(crate) fn procs(&self) -> io::Result<Vec<i32>> {
        let file = self
            .procs_file()
            .ok_or_else(|| io::Error::other("the run cgroup is gone"))?;
        Ok(read(&file)?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect())
    }

    /// The directory that names this cgroup in logs.
    pub(crate) fn display(&self) -> String {
        self.dirs
            .first()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    }

    /// Moves `pid` (and so everything it will fork) into the run cgroup(s).
    pub(crate) fn join(&self, pid: u32) -> Result<()> {
        for dir in &self.dirs {
            write(
                &dir.join("cgroup.procs"),
                &pid.to_string(),
                "moving the launcher into",
            )?;
        }
        Ok(())
    }

    /// CPU time used so far by all tasks of the run.
    pub(crate) fn cpu_usage(&self) -> io::Result<Duration> {
        Ok(Self::probe_cpu(self.version, &self.dirs)?.saturating_sub(self.cpu_base))
    }

    fn probe_cpu(version: CgroupVersion, dirs: &[PathBuf]) -> io::Result<Duration> {
        match version {
            CgroupVersion::V1 => {
                let ns: u64 = read(&dirs[2].join("cpuacct.usage"))?
                    .trim()
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                Ok(Duration::from_nanos(ns))
            }
            CgroupVersion::V2 => {
                let stat = read(&dirs[0].join("cpu.stat"))?;
                let us = keyed(&stat, "usage_usec").ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "no usage_usec in cpu.stat")
                })?;
                Ok(Duration::from_micros(us))
            }
        }
    }

    /// A reader of this run's usage for a [`crate::Session`]; it fails once
    /// the cgroup is removed.
    pub(crate) fn probe(&self) -> CgroupProbe {
        CgroupProbe {
            version: self.version,
            dirs: self.dirs.clone(),
            cpu_base: self.cpu_base,
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let cpu = self.cpu_usage().unwrap_or_default();
        let dir = &self.dirs[0];
        let number = |file: &str| {
            read(&dir.join(file))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let events = |dir: &Path, file: &str, key: &str| {
            read(&dir.join(file)).ok().and_then(|s| keyed(&s, key))
        };
        match self.version {
            CgroupVersion::V1 => {
                // `oom_kill` in memory.oom_control exists since Linux 4.13;
                // before that a failcnt on the memory limit is the best hint.
                let oom_killed = match events(dir, "memory.oom_control", "oom_kill") {
                    Some(kills) => kills > 0,
                    None => number("memory.failcnt").unwrap_or(0) > 0,
                };
                Stats {
                    cpu,
                    peak_memory: number("memory.max_usage_in_bytes").unwrap_or(0),
                    oom_killed,
                    pids_refused: events(&self.dirs[1], "pids.events", "max").unwrap_or(0) > 0,
                }
            }
            CgroupVersion::V2 => Stats {
                cpu,
                peak_memory: number("memory.peak").unwrap_or(0),
                oom_killed: events(dir, "memory.events", "oom_kill").unwrap_or(0) > 0,
                pids_refused: events(dir, "pids.events", "max").unwrap_or(0) > 0,
            },
        }
    }

    /// The pids cgroup: every task of the run is listed there. `None` when
    /// creation failed before it existed.
    fn procs_file(&self) -> Option<PathBuf> {
        let dir = match self.version {
            CgroupVersion::V1 => self.dirs.get(1)?,
            CgroupVersion::V2 => self.dirs.first()?,
        };
        Some(dir.join("cgroup.procs"))
    }

    /// Kills every process of the run and waits until the cgroup is empty.
    ///
    /// v2 has `cgroup.kill` (Linux 5.14). Otherwise processes are killed by
    /// pid, in rounds, since a fork bomb may fork between read and kill; the
    /// pids limit keeps the rounds few. Killing by pid can in theory hit a
    /// reused pid; the supervisor kills its direct child first, which tears
    /// the whole pid namespace down, so these rounds only see stragglers.
    pub(crate) async fn kill_all(&self) {
        if self.version == CgroupVersion::V2 {
            let _ = fs::write(self.dirs[0].join("cgroup.kill"), "1");
        }
        // Dying tasks leave the list within a millisecond or so: poll fast
        // at first, then back off.
        let Some(procs_file) = self.procs_file() else {
            return;
        };
        let mut pause = Duration::from_micros(250);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < give_up {
            let Ok(procs) = read(&procs_file) else {
                return;
            };
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        tracing::warn!(procs = %procs_file.display(), "run cgroup still not empty after kill rounds");
    }

    /// Removes the run cgroup(s). An emptied cgroup can stay busy for a
    /// moment while the last tasks are reaped, hence the retries.
    pub(crate) async fn remove(mut self) {
        for dir in std::mem::take(&mut self.dirs) {
            let mut attempts = 0;
            while let Err(e) = fs::remove_dir(&dir) {
                attempts += 1;
                if e.kind() == io::ErrorKind::NotFound {
                    break;
                }
                if attempts == 100 {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove run cgroup");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn remove_blocking(mut self) {
        for dir in std::mem::take(&mut self.dirs) {
            let _ = fs::remove_dir(dir);
        }
    }

    /// [`RunCgroup::kill_all`] and [`RunCgroup::remove`] for callers that
    /// cannot await (a dropped [`crate::NativeSandbox`] tearing down its
    /// pool): blocks this thread, for a few milliseconds normally and two
    /// seconds at most.
    pub(crate) fn destroy_blocking(mut self) {
        self.destroy_within(Duration::from_secs(2));
    }

    fn destroy_within(&mut self, limit: Duration) {
        let give_up = std::time::Instant::now() + limit;
        while std::time::Instant::now() < give_up {
            let pids = self.procs().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        for dir in std::mem::take(&mut self.dirs) {
            while let Err(e) = fs::remove_dir(&dir) {
                if e.kind() == io::ErrorKind::NotFound {
                    break;
                }
                if std::time::Instant::now() >= give_up {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove run cgroup");
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// A run (or a pool launch) whose future was dropped (cancelled) skips the
/// async cleanup: kill what is left and remove the directories, blocking
/// for a moment at most (the next start's sweep removes what is still
/// left).
impl Drop for RunCgroup {
    fn drop(&mut self) {
        if !self.dirs.is_empty() {
            self.destroy_within(Duration::from_millis(100));
        }
    }
}

/// Writes a memory limit (swap included where the kernel lets us: none on
/// top of memory) and a task limit into a cgroup's `memory` and `pids`
/// directories (the same directory on v2). Also used on cgroups that exist
/// already (a pooled sandbox's, a container's), so the order matters on v1:
/// memory + swap may never be below memory, so it is raised first when
/// growing and lowered last when shrinking.
pub(crate) fn apply_limits(
    version: CgroupVersion,
    memory_dir: &Path,
    pids_dir: &Path,
    memory_bytes: u64,
    max_tasks: u32,
) -> Result<()> {
    let memory = memory_bytes.to_string();
    match version {
        CgroupVersion::V1 => {
            let mem = memory_dir.join("memory.limit_in_bytes");
            let memsw = memory_dir.join("memory.memsw.limit_in_bytes");
            let current = read(&mem)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            let has_memsw = memsw.exists();
            if has_memsw && memory_bytes > current {
                write(&memsw, &memory, "limiting memory+swap")?;
            }
            write(&mem, &memory, "limiting memory")?;
            if has_memsw && memory_bytes <= current {
                write(&memsw, &memory, "limiting memory+swap")?;
            }
        }
        CgroupVersion::V2 => {
            write(&memory_dir.join("memory.max"), &memory, "limiting memory")?;
            let swap = memory_dir.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0", "forbidding swap")?;
            }
        }
    }
    write(
        &pids_dir.join("pids.max"),
        &max_tasks.to_string(),
        "limiting pids",
    )
}

/// On v2 a controller is usable in a cgroup only when every ancestor lists
/// it in `cgroup.subtree_control`. Enables memory and pids from the mount
/// down to `parent` (creating it). Writing the subtree_control of a cgroup
/// that itself holds processes fails (the "no internal processes" rule): then
/// run the service in a delegated cgroup with an empty leaf for itself, or
/// point `cgroup_parent` elsewhere.
fn enable_v2_controllers(parent: &Path) -> Result<()> {
    fs::create_dir_all(parent).map_err(|source| Error::Cgroup {
        action: "creating",
        path: parent.to_path_buf(),
        source,
    })?;
    let mut ancestors: Vec<&Path> = parent
        .ancestors()
        .take_while(|p| p.join("cgroup.subtree_control").exists())
        .collect();
    ancestors.reverse();
    for dir in ancestors {
        let control = dir.join("cgroup.subtree_control");
        let enabled = read(&control).unwrap_or_default();
        let missing: Vec<_> = ["memory", "pids"]
            .into_iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            write(&control, &missing.join(" "), "enabling memory and pids in")?;
        }
    }
    Ok(())
}

/// Reads a run cgroup's counters while the run goes on.
#[derive(Debug)]
pub(crate) struct CgroupProbe {
    version: CgroupVersion,
    dirs: Vec<PathBuf>,
    cpu_base: Duration,
}

impl crate::UsageProbe for CgroupProbe {
    fn usage(&self) -> io::Result<crate::Usage> {
        let number = |file: &str| -> io::Result<u64> {
            read(&self.dirs[0].join(file))?
                .trim()
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        };
        let cpu_time =
            RunCgroup::probe_cpu(self.version, &self.dirs)?.saturating_sub(self.cpu_base);
        let events = |file: &str, key: &str| {
            read(&self.dirs[0].join(file))
                .ok()
                .and_then(|s| keyed(&s, key))
                .unwrap_or(0)
        };
        let (memory_bytes, peak_memory_bytes, oom_kills) = match self.version {
            CgroupVersion::V1 => (
                number("memory.usage_in_bytes")?,
                number("memory.max_usage_in_bytes")?,
                events("memory.oom_control", "oom_kill"),
            ),
            // `memory.peak` exists since Linux 5.19.
            CgroupVersion::V2 => {
                let current = number("memory.current")?;
                (
                    current,
                    number("memory.peak").unwrap_or(current),
                    events("memory.events", "oom_kill"),
                )
            }
        };
        Ok(crate::Usage {
            cpu_time,
            memory_bytes,
            peak_memory_bytes,
            oom_kills,
        })
    }

    /// v1: writing to `memory.max_usage_in_bytes` restarts it from the
    /// current use. v2's `memory.peak` can only be reset per open file
    /// (Linux 6.12), which this probe does not keep: `false`.
    fn reset_peak_memory(&self) -> bool {
        match self.version {
            CgroupVersion::V1 => {
                fs::write(self.dirs[0].join("memory.max_usage_in_bytes"), "0").is_ok()
            }
            CgroupVersion::V2 => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_own_cgroup_of_a_v1_controller_and_of_v2() {
        let contents = "4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/unified/x\n";
        assert_eq!(own_cgroup(contents, "memory"), Some(PathBuf::from("/a/b")));
        assert_eq!(own_cgroup(contents, "cpuacct"), Some(PathBuf::from("/c")));
        assert_eq!(own_cgroup(contents, ""), Some(PathBuf::from("/unified/x")));
        assert_eq!(own_cgroup(contents, "pids"), None);
    }

    #[test]
    fn reads_flat_keyed_files() {
        let contents = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(contents, "oom_kill"), Some(3));
        assert_eq!(keyed(contents, "missing"), None);
    }
}
