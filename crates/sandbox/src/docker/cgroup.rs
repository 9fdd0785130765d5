//! A container's cgroup, read and written from the host.
//!
//! Docker makes one cgroup per container; the run's limits are written there
//! (a pool container is created before its run's limits are known) and its
//! CPU time, memory, peak and OOM kills are read from there, as the native
//! backend does with the cgroup it creates. The directories are found through
//! the host pid of the container's PID 1 (`/proc/<pid>/cgroup`), which works
//! for any cgroup driver or parent; when that pid is not visible (the daemon
//! lives in another pid namespace) the usual places are tried:
//! `<controller>/docker/<id>` on v1, `system.slice/docker-<id>.scope` and
//! `docker/<id>` on v2. When none is visible the backend measures through the
//! Docker API instead (see `super::ApiProbe`).
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{CgroupVersion, Limits, Result, Usage, UsageProbe};

/// The cgroup directories of one container.
#[derive(Debug, Clone)]
pub(crate) struct ContainerCgroup {
    version: CgroupVersion,
    memory: PathBuf,
    pids: PathBuf,
    cpu: PathBuf,
}

/// Tasks of the container that are not the program's: the loader (PID 1).
pub(crate) const LOADER_TASKS: u32 = 1;

fn number(path: &Path) -> io::Result<u64> {
    fs::read_to_string(path)?
        .trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn keyed(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl ContainerCgroup {
    /// Finds the cgroup of container `id` whose PID 1 has host pid `pid`
    /// (0 when unknown) under `mount`. `None` when it is not visible here.
    pub(crate) fn locate(mount: &Path, id: &str, pid: i64) -> Option<Self> {
        let v2 = mount.join("cgroup.controllers").exists();
        let version = if v2 {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        };
        let own = (pid > 0)
            .then(|| fs::read_to_string(format!("/proc/{pid}/cgroup")).ok())
            .flatten()
            .filter(|contents| contents.contains(id));
        let dir = |controller: &str| -> Option<PathBuf> {
            let base = if v2 {
                mount.to_path_buf()
            } else {
                mount.join(controller)
            };
            let from_proc = own.as_deref().and_then(|contents| {
                contents.lines().find_map(|line| {
                    let mut parts = line.splitn(3, ':');
                    let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                    let matches = if v2 {
                        controllers.is_empty()
                    } else {
                        controllers.split(',').any(|c| c == controller)
                    };
                    matches.then(|| base.join(path.trim_start_matches('/')))
                })
            });
            let guesses = if v2 {
                vec![
                    base.join(format!("system.slice/docker-{id}.scope")),
                    base.join("docker").join(id),
                ]
            } else {
                vec![base.join("docker").join(id)]
            };
            from_proc
                .into_iter()
                .chain(guesses)
                .find(|d| d.join("cgroup.procs").exists())
        };
        let cgroup = if v2 {
            let d = dir("")?;
            ContainerCgroup {
                version,
                memory: d.clone(),
                pids: d.clone(),
                cpu: d,
            }
        } else {
            ContainerCgroup {
                version,
                memory: dir("memory")?,
                pids: dir("pids")?,
                cpu: dir("cpuacct")?,
            }
        };
        // Visible is not enough: the limits are written here.
        let writable =
            nix::unistd::access(&cgroup.memory_limit_file(), nix::unistd::AccessFlags::W_OK)
                .is_ok();
        writable.then_some(cgroup)
    }

    fn memory_limit_file(&self) -> PathBuf {
        match self.version {
            CgroupVersion::V1 => self.memory.join("memory.limit_in_bytes"),
            CgroupVersion::V2 => self.memory.join("memory.max"),
        }
    }

    /// Applies a run's memory (swap included) and process limits.
    pub(crate) fn set_limits(&self, limits: &Limits) -> Result<()> {
        crate::native::apply_limits(
            self.version,
            &self.memory,
            &self.pids,
            limits.memory_bytes,
            limits.max_processes.saturating_add(LOADER_TASKS),
        )
    }

    pub(crate) fn cpu(&self) -> io::Result<Duration> {
        match self.version {
            CgroupVersion::V1 => number(&self.cpu.join("cpuacct.usage")).map(Duration::from_nanos),
            CgroupVersion::V2 => keyed(&self.cpu.join("cpu.stat"), "usage_usec")
                .map(Duration::from_micros)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "no usage_usec in cpu.stat")
                }),
        }
    }

    /// Current and peak memory. v2 before Linux 5.19 has no peak: current.
    pub(crate) fn memory(&self) -> io::Result<(u64, u64)> {
        match self.version {
            CgroupVersion::V1 => Ok((
                number(&self.memory.join("memory.usage_in_bytes"))?,
                number(&self.memory.join("memory.max_usage_in_bytes"))?,
            )),
            CgroupVersion::V2 => {
                let current = number(&self.memory.join("memory.current"))?;
                Ok((
                    current,
                    number(&self.memory.join("memory.peak")).unwrap_or(current),
                ))
            }
        }
    }

    /// Restarts the peak from the current use (v1 only, as natively).
    pub(crate) fn reset_peak(&self) -> bool {
        self.version == CgroupVersion::V1
            && fs::write(self.memory.join("memory.max_usage_in_bytes"), "0").is_ok()
    }

    /// OOM kills so far.
    pub(crate) fn oom_kills(&self) -> u64 {
        match self.version {
            CgroupVersion::V1 => keyed(&self.memory.join("memory.oom_control"), "oom_kill")
                .unwrap_or_else(|| number(&self.memory.join("memory.failcnt")).unwrap_or(0)),
            CgroupVersion::V2 => keyed(&self.memory.join("memory.events"), "oom_kill").unwrap_or(0),
        }
    }

    /// Forks refused by the pids limit so far.
    pub(crate) fn pids_refused(&self) -> u64 {
        keyed(&self.pids.join("pids.events"), "max").unwrap_or(0)
    }

    /// Host pids of the container's tasks, as seen from this pid namespace.
    pub(crate) fn procs(&self) -> io::Result<Vec<i32>> {
        Ok(fs::read_to_string(self.pids.join("cgroup.procs"))?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|&pid| pid > 0)
            .collect())
    }
}

/// The counters of one run: the container's cgroup, with the CPU time the
/// loader used before the run subtracted.
#[derive(Debug)]
pub(crate) struct RunCounters {
    pub(crate) cgroup: ContainerCgroup,
    pub(crate) cpu_base: Duration,
}

impl RunCounters {
    pub(crate) fn cpu(&self) -> io::Result<Duration> {
        Ok(self.cgroup.cpu()?.saturating_sub(self.cpu_base))
    }
}

impl UsageProbe for RunCounters {
    fn usage(&self) -> io::Result<Usage> {
        let cpu_time = self.cpu()?;
        let (memory_bytes, peak_memory_bytes) = self.cgroup.memory()?;
        Ok(Usage {
            cpu_time,
            memory_bytes,
            peak_memory_bytes,
            oom_kills: self.cgroup.oom_kills(),
        })
    }

    fn reset_peak_memory(&self) -> bool {
        self.cgroup.reset_peak()
    }
}
