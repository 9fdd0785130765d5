//! What the program can see and do: network, host files, processes,
//! environment, signals, leftovers between runs, syscalls. Each test states
//! the attack and checks it failed, from outside.
mod common;

use std::net::TcpListener;
use std::process::Command;

use common::*;
use sandbox::ExitStatus;

/// Runs `code`, which prints one line per attempt, and returns the lines.
async fn attempts(backend: Backend, code: &str) -> Vec<String> {
    let sb = sandbox(backend).await.expect("checked by the caller");
    let outcome = run(&sb, python(code)).await;
    assert_ok(&outcome);
    stdout(&outcome).lines().map(str::to_owned).collect()
}

/// Prelude of the attack scripts: `attempt(label, fn)` prints
/// `label ok <result>` or `label error <ExceptionName>`.
const ATTEMPT: &str = r#"
def attempt(label, fn):
    try:
        print(label, "ok", repr(fn())[:200])
    except BaseException as e:
        print(label, "error", type(e).__name__)
"#;

fn assert_all_failed(lines: &[String], expected: usize) {
    assert_eq!(lines.len(), expected, "{lines:#?}");
    for line in lines {
        assert!(line.contains(" error "), "attack succeeded: {line}");
    }
}

async fn cannot_reach_the_network_even_a_listener_on_the_hosts_loopback(backend: Backend) {
    if sandbox(backend).await.is_none() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The host can reach it: the attempt below is meaningful.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("host connects to its own listener");
    let code = format!(
        r#"{ATTEMPT}
import socket
def connect(host, port):
    s = socket.create_connection((host, port), timeout=2)
    return s.getpeername()
attempt("loopback", lambda: connect("127.0.0.1", {port}))
attempt("internet", lambda: connect("1.1.1.1", 53))
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53)))
"#
    );
    assert_all_failed(&attempts(backend, &code).await, 4);
}

async fn cannot_read_host_files(backend: Backend) {
    if sandbox(backend).await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("secret.txt");
    std::fs::write(&secret_path, "host-secret-7f3a").unwrap();
    let manifest = env!("CARGO_MANIFEST_DIR");
    let code = format!(
        r#"{ATTEMPT}
import os
def read(p):
    return open(p, "rb").read()
for p in ["/root", "/home", "/work/../root"]:
    attempt("list " + p, lambda: os.listdir(p) or 1/0)
for p in ["/etc/shadow", "/etc/passwd", "/etc/hostname", {secret:?}, {manifest:?} + "/Cargo.toml",
          "/proc/1/root" + {secret:?}, "/proc/self/root" + {secret:?}]:
    attempt("read " + p, lambda: read(p))
"#,
        secret = secret_path.to_str().unwrap(),
    );
    let lines = attempts(backend, &code).await;
    assert_all_failed(&lines, 10);
    assert!(!lines.concat().contains("host-secret"));
}

async fn cannot_write_outside_the_work_directory(backend: Backend) {
    if sandbox(backend).await.is_none() {
        return;
    }
    let code = format!(
        r#"{ATTEMPT}
import os
for p in ["/x", "/usr/x", "/usr/bin/python3", "/etc/x", "/proc/sys/kernel/hostname", "/dev/x", "/lib/x"]:
    attempt("write " + p, lambda: open(p, "wb", buffering=0).write(b"x"))
attempt("mkdir /opt", lambda: os.mkdir("/opt"))
attempt("chmod python", lambda: os.chmod("/usr/bin/python3", 0o777))
"#
    );
    assert_all_failed(&attempts(backend, &code).await, 9);
}

async fn sees_only_its_own_processes_in_proc(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\nprint(pids == [1, os.getpid()], os.getppid(), pids)";
    let outcome = run(&sb, python(code)).await;
    assert_ok(&outcome);
    // The sandbox's init (bubblewrap's, or the Docker loader) is 1 and the
    // program's parent; the program is the only other process: nothing of
    // the host. (Natively the program is 2; in a container runc's set-up
    // used a few pids first.)
    assert!(
        stdout(&outcome).starts_with("True 1 "),
        "{}",
        stdout(&outcome)
    );
}

async fn runs_as_an_unprivileged_user_without_capabilities(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import os\nprint(os.getuid(), os.getgid())\nprint([l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs'))])";
    let outcome = run(&sb, python(code)).await;
    assert_ok(&outcome);
    let out = stdout(&outcome);
    assert!(out.starts_with("65534 65534\n"), "{out}");
    assert!(out.contains("CapEff:\\t0000000000000000"), "{out}");
    assert!(out.contains("CapPrm:\\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\\t1"), "{out}");
}

/// The host side of the environment test: re-runs this test binary with a
/// secret in its environment (Rust 2024 makes `set_var` unsafe, and the
/// crate forbids unsafe) and checks the inner test passed.
async fn environment_contains_nothing_of_the_host(backend: Backend) {
    if sandbox(backend).await.is_none() {
        return;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            &format!("inner_environment_check_{}", backend.module()),
            "--nocapture",
        ])
        .env("PYDOJO_HOST_SECRET", "s3cr3t-host-value")
        // The sandbox works (checked above): the inner test must not skip.
        .env("CI", "true")
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
#[ignore = "run by native::environment_contains_nothing_of_the_host"]
async fn inner_environment_check_native() {
    inner_environment_check(Backend::Native).await
}

#[tokio::test]
#[ignore = "run by native_cold::environment_contains_nothing_of_the_host"]
async fn inner_environment_check_native_cold() {
    inner_environment_check(Backend::NativeCold).await
}

#[tokio::test]
#[ignore = "run by docker::environment_contains_nothing_of_the_host"]
async fn inner_environment_check_docker() {
    inner_environment_check(Backend::Docker).await
}

async fn inner_environment_check(backend: Backend) {
    assert_eq!(
        std::env::var("PYDOJO_HOST_SECRET").unwrap(),
        "s3cr3t-host-value"
    );
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let spec = python("import os\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')")
        .env("GIVEN", "yes");
    let outcome = run(&sb, spec).await;
    assert_ok(&outcome);
    let out = stdout(&outcome);
    assert!(!out.contains("s3cr3t"), "{out}");
    for line in out.lines() {
        let key = line.split('=').next().unwrap();
        // PWD is set by bubblewrap's --chdir (and the Docker loader, to
        // match), LC_CTYPE by CPython's locale coercion (PEP 538): neither
        // comes from the host.
        assert!(
            ["GIVEN", "PWD", "LC_CTYPE"].contains(&key),
            "unexpected {line}"
        );
    }
    assert!(out.contains("GIVEN=yes\n"));
}

async fn signals_aimed_at_the_host_do_not_land(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = format!(
        r#"{ATTEMPT}
import os, signal
attempt("kill test process", lambda: os.kill({pid}, signal.SIGKILL))
attempt("kill parent", lambda: os.kill(os.getppid(), signal.SIGKILL) or os.kill(os.getppid(), 0) or 1/0)
child = os.fork()
if child == 0:
    signal.pause()
os.kill(-1, signal.SIGKILL)  # every process it may signal but itself and init
print("survived kill -1, child", os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"#,
        pid = std::process::id()
    );
    let outcome = run(&sb, python(&code)).await;
    let out = stdout(&outcome);
    assert!(
        out.contains("kill test process error ProcessLookupError"),
        "{out}"
    );
    assert!(out.contains("kill parent error"), "{out}");
    assert!(out.contains("survived kill -1, child -9"), "{out}");
    assert_eq!(outcome.exit, ExitStatus::Code(0));
    // This process and the sandbox still work.
    assert_ok(&run(&sb, python("print(1)")).await);
}

async fn leaves_nothing_behind_for_the_next_run(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let plant = "import os\nfor p in ['/tmp/left', '/dev/shm/left', '/work/left']:\n    open(p, 'w').write('x')\n    print(os.path.exists(p))";
    let first = run(&sb, python(plant)).await;
    assert_ok(&first);
    assert_eq!(stdout(&first), "True\nTrue\nTrue\n");
    let look = "import os\nfor p in ['/tmp/left', '/dev/shm/left', '/work/left']:\n    print(os.path.exists(p))";
    let second = run(&sb, python(look)).await;
    assert_ok(&second);
    assert_eq!(stdout(&second), "False\nFalse\nFalse\n");
}

/// Two runs one after the other: each has a cgroup (so a container, on
/// Docker) of its own, and the second sees nothing the first wrote.
async fn consecutive_runs_share_no_container_and_no_files(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = r#"
import os
print([l.strip() for l in open("/proc/self/cgroup") if ":memory:" in l or l.startswith("0::")][0])
for p in ["/work/mark", "/tmp/mark", "/dev/shm/mark"]:
    print(os.path.exists(p))
    open(p, "w").write("x")
"#;
    let first = run(&sb, python(code)).await;
    let second = run(&sb, python(code)).await;
    assert_ok(&first);
    assert_ok(&second);
    let (first, second) = (stdout(&first), stdout(&second));
    // Inside a container the cgroup path names the container; bubblewrap
    // unshares the cgroup namespace, so natively it reads `/` (each native
    // run makes its cgroup afresh, see `native::cgroup`).
    if backend == Backend::Docker {
        let cgroup = |out: &str| out.lines().next().unwrap_or_default().to_owned();
        assert_ne!(cgroup(&first), cgroup(&second), "{first}\n{second}");
    }
    assert!(first.ends_with("False\nFalse\nFalse\n"), "{first}");
    assert!(second.ends_with("False\nFalse\nFalse\n"), "{second}");
}

async fn a_planted_symlink_resolves_inside_the_sandbox_only(backend: Backend) {
    if sandbox(backend).await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("secret.txt");
    std::fs::write(&secret_path, "symlink-secret-91c2").unwrap();
    let code = format!(
        r#"{ATTEMPT}
import os
os.symlink({secret:?}, "to_secret")
os.symlink("/etc/hostname", "to_hostname")
os.symlink("/proc/1/root" + {secret:?}, "via_proc")
os.symlink({dir:?}, "to_dir")
attempt("secret", lambda: open("to_secret").read())
attempt("hostname", lambda: open("to_hostname").read())
attempt("via proc", lambda: open("via_proc").read())
attempt("dir", lambda: os.listdir("to_dir"))
attempt("hardlink", lambda: os.link({secret:?}, "hard"))
"#,
        secret = secret_path.to_str().unwrap(),
        dir = dir.path().to_str().unwrap(),
    );
    let lines = attempts(backend, &code).await;
    assert_all_failed(&lines, 5);
    assert!(!lines.concat().contains("symlink-secret"));
}

async fn seccomp_refuses_ptrace_mount_unshare_and_namespace_clones(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    // ptrace(PTRACE_TRACEME) and personality(PER_LINUX32) would succeed
    // without the filter, so EPERM there proves the filter is loaded; x32
    // syscalls would be ENOSYS without it.
    let code = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(label, nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(label, r, errno.errorcode.get(ctypes.get_errno(), 0) if r == -1 else "-")
call("ptrace", 101, 0, 0, 0, 0)
call("mount", 165, 0, 0, 0, 0, 0)
call("umount2", 166, 0, 0)
call("unshare", 272, 0x10000000)
call("setns", 308, 0, 0)
call("clone_newuser", 56, 0x10000000 | 17, 0, 0, 0, 0)
call("clone_newnet", 56, 0x40000000 | 17, 0, 0, 0, 0)
call("clone3", 435, 0, 0)
call("bpf", 321, 0, 0, 0)
call("keyctl", 250, 0, 0, 0, 0, 0)
call("io_uring_setup", 425, 1, 0)
call("perf_event_open", 298, 0, 0, 0, 0, 0)
call("userfaultfd", 323, 0)
call("personality", 135, 8)
call("x32_mount", 0x40000000 | 165, 0, 0, 0, 0, 0)
call("chroot", 161, 0)
call("pivot_root", 155, 0, 0)
"#;
    let outcome = run(&sb, python(code)).await;
    assert_ok(&outcome);
    let out = stdout(&outcome);
    for line in out.lines() {
        let expected = if line.starts_with("clone3 ") {
            "ENOSYS"
        } else {
            "EPERM"
        };
        assert!(line.ends_with(&format!("-1 {expected}")), "{line}\n{out}");
    }
    assert_eq!(out.lines().count(), 17, "{out}");
}

backend_tests!(
    cannot_reach_the_network_even_a_listener_on_the_hosts_loopback,
    cannot_read_host_files,
    cannot_write_outside_the_work_directory,
    sees_only_its_own_processes_in_proc,
    runs_as_an_unprivileged_user_without_capabilities,
    environment_contains_nothing_of_the_host,
    signals_aimed_at_the_host_do_not_land,
    leaves_nothing_behind_for_the_next_run,
    consecutive_runs_share_no_container_and_no_files,
    a_planted_symlink_resolves_inside_the_sandbox_only,
    seccomp_refuses_ptrace_mount_unshare_and_namespace_clones,
);
