//! The bubblewrap command line and the launcher script around it.
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::RunSpec;

/// The working directory inside the sandbox.
pub(crate) const WORK_DIR: &str = "/work";
/// The unprivileged identity inside (`nobody`/`nogroup`).
const UID: &str = "65534";
const GID: &str = "65534";
/// Descriptor of the seccomp program, and of the first input file.
const SECCOMP_FD: u32 = 3;
const FIRST_FILE_FD: u32 = 10;

/// One host runtime path as it will appear inside.
#[derive(Debug, Clone)]
pub(crate) enum RuntimeEntry {
    Bind(PathBuf),
    Symlink { path: PathBuf, target: PathBuf },
}

impl RuntimeEntry {
    /// Whether `path` (absolute, inside) would exist through this entry.
    pub(crate) fn provides(&self, path: &str) -> bool {
        match self {
            RuntimeEntry::Bind(p) => Path::new(path).starts_with(p) && Path::new(path).exists(),
            RuntimeEntry::Symlink { .. } => false,
        }
    }
}

/// Classifies the configured runtime paths once: symlinks are recreated as
/// symlinks (binding `/lib` on a merged-/usr host would otherwise bind
/// `/usr/lib` a second time), missing paths are dropped.
pub(crate) fn runtime_entries(paths: &[PathBuf]) -> Vec<RuntimeEntry> {
    paths
        .iter()
        .filter_map(|path| {
            let meta = fs::symlink_metadata(path).ok()?;
            Some(if meta.file_type().is_symlink() {
                RuntimeEntry::Symlink {
                    path: path.clone(),
                    target: fs::read_link(path).ok()?,
                }
            } else {
                RuntimeEntry::Bind(path.clone())
            })
        })
        .collect()
}

/// bubblewrap's arguments (after the program path) for a cold run of
/// `spec`: the input files copied in from descriptors, the environment set
/// by bubblewrap, the program bubblewrap's command.
pub(crate) fn arguments(runtime: &[RuntimeEntry], spec: &RunSpec) -> Vec<String> {
    let mut args = sandbox(runtime, spec.limits.work_dir_bytes, false);
    let mut push = |parts: &[&str]| args.extend(parts.iter().map(|s| (*s).to_owned()));

    // Parent directories of nested input files, shallowest first.
    let mut dirs: Vec<String> = Vec::new();
    for (path, _) in &spec.files {
        let inside = format!("{WORK_DIR}/{path}");
        for parent in Path::new(&inside).ancestors().skip(1) {
            if parent == Path::new(WORK_DIR) {
                break;
            }
            let parent = parent.to_string_lossy().into_owned();
            if !dirs.contains(&parent) {
                dirs.push(parent);
            }
        }
    }
    dirs.sort_by_key(|d| d.matches('/').count());
    for dir in &dirs {
        push(&["--dir", dir]);
    }
    for (fd, (path, _)) in (FIRST_FILE_FD..).zip(&spec.files) {
        let inside = format!("{WORK_DIR}/{path}");
        push(&["--perms", "0644", "--file", &fd.to_string(), &inside]);
    }
    finish(&mut args);
    for (key, value) in &spec.env {
        args.extend(["--setenv".to_owned(), key.clone(), value.clone()]);
    }
    args.extend([
        "--seccomp".to_owned(),
        SECCOMP_FD.to_string(),
        "--".to_owned(),
    ]);
    args.extend(spec.program.iter().cloned());
    args
}

/// bubblewrap's arguments for a pooled sandbox: the same sandbox with
/// `/work`, `/tmp` and `/dev/shm` of `work_dir_bytes` each, nothing in
/// them, and the loader (`crate::loader`) as its command and as the PID 1
/// of its pid namespace (`--as-pid-1`: the loader reaps, and kills what the
/// program leaves, itself). The loader writes the files and sets the
/// program's environment and rlimits when a run takes the sandbox.
pub(crate) fn pooled_arguments(
    runtime: &[RuntimeEntry],
    work_dir_bytes: u64,
    idle: std::time::Duration,
) -> Vec<String> {
    let mut args = sandbox(runtime, work_dir_bytes, true);
    finish(&mut args);
    args.extend([
        "--seccomp".to_owned(),
        SECCOMP_FD.to_string(),
        "--".to_owned(),
    ]);
    args.extend(
        [
            "/usr/bin/python3",
            "-I",
            "-S",
            "-c",
            crate::loader::LOADER,
            &idle.as_secs().max(1).to_string(),
        ]
        .map(String::from),
    );
    args
}

/// The sandbox itself: namespaces, identity, the read-only runtime, `/proc`,
/// `/dev` and the three size-capped tmpfs mounts (their pages are also
/// charged to the run's memory cgroup).
fn sandbox(runtime: &[RuntimeEntry], work_dir_bytes: u64, as_pid_1: bool) -> Vec<String> {
    let size = work_dir_bytes.to_string();
    let mut args: Vec<String> = [
        "--unshare-all",
        // Explicit so that `--disable-userns` applies: no nested user
        // namespaces, hence no fresh capabilities, inside.
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        UID,
        "--gid",
        GID,
        "--hostname",
        "sandbox",
    ]
    .map(String::from)
    .to_vec();
    if as_pid_1 {
        args.push("--as-pid-1".to_owned());
    }
    let mut push = |parts: &[&str]| args.extend(parts.iter().map(|s| (*s).to_owned()));

    for entry in runtime {
        match entry {
            RuntimeEntry::Bind(p) => {
                let p = p.to_string_lossy();
                push(&["--ro-bind", &p, &p]);
            }
            RuntimeEntry::Symlink { path, target } => {
                push(&[
                    "--symlink",
                    &target.to_string_lossy(),
                    &path.to_string_lossy(),
                ]);
            }
        }
    }
    push(&["--proc", "/proc", "--dev", "/dev"]);
    for (dir, perms) in [("/tmp", "1777"), ("/dev/shm", "1777"), (WORK_DIR, "0755")] {
        push(&["--perms", perms, "--size", &size, "--tmpfs", dir]);
    }
    args
}

/// The read-only remounts, working directory and empty environment that
/// close every sandbox's arguments, before its own `--setenv`s.
fn finish(args: &mut Vec<String>) {
    // bubblewrap's root and /dev are tmpfs mounts the sandbox user could
    // otherwise write to, outside the size caps. Non-recursive: the work
    // directory, /tmp, /dev/shm and the device nodes keep their own flags.
    args.extend(
        [
            "--remount-ro",
            "/",
            "--remount-ro",
            "/dev",
            "--chdir",
            WORK_DIR,
            "--clearenv",
        ]
        .map(String::from),
    );
}

/// The bash script that launches bubblewrap. Arguments: the staging
/// directory, then the command (`setpriv … -- bwrap …` or `bwrap …`).
///
/// It first blocks on one line of stdin: the supervisor sends it once the
/// launcher is in its cgroup and has its rlimits. Then it execs the command
/// with the seccomp program on fd 3 and the input files on fds 10, 11, …,
/// opened while still privileged. Only integers are interpolated; paths come
/// in as arguments.
pub(crate) fn launcher_script(files: usize) -> String {
    let mut script = String::from(
        "read -r _ || exit 125\nstage=$1\nshift\nexec \"$@\" 3<\"$stage/seccomp.bpf\"",
    );
    for i in 0..files {
        let fd = FIRST_FILE_FD as usize + i;
        let _ = write!(script, " {fd}<\"$stage/{i}\"");
    }
    script
}
