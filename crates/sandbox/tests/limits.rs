//! The program's behaviour and its limits, against real bubblewrap and
//! cgroups. Each test shows the limit doing its job, so each can fail.
mod common;

use std::time::Duration;

use common::*;
use sandbox::{ExitStatus, LimitKind, RunSpec, Stream};

async fn runs_a_print_and_returns_its_stdout(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(&sb, python("print('hi')")).await;
    assert_ok(&outcome);
    assert_eq!(outcome.stdout, b"hi\n");
    assert!(outcome.stderr.is_empty());
    assert!(!outcome.stdout_truncated);
    assert!(outcome.wall_time > Duration::ZERO && outcome.cpu_time > Duration::ZERO);
}

async fn delivers_stdin_then_eof(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let input = "3\n1 2 3\n".repeat(10_000); // larger than a pipe buffer
    let spec = python("import sys\ndata = sys.stdin.read()\nprint(len(data), data[:8].split())")
        .stdin(input.clone());
    let outcome = run(&sb, spec).await;
    assert_ok(&outcome);
    assert_eq!(
        stdout(&outcome),
        format!("{} ['3', '1', '2', '3']\n", input.len())
    );
}

async fn places_nested_input_files_in_the_work_directory(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let spec = python(
        // -I leaves the script's directory off sys.path.
        "import os, sys\nsys.path.insert(0, '')\nimport pkg.util as u\nprint(os.getcwd(), u.X, open('data/in.txt').read())",
    )
        .file("pkg/__init__.py", "")
        .file("pkg/util.py", "X = 42")
        .file("data/in.txt", "payload");
    let outcome = run(&sb, spec).await;
    assert_ok(&outcome);
    assert_eq!(stdout(&outcome), "/work 42 payload\n");
}

async fn reports_the_exit_code(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(&sb, python("import sys\nprint('bye')\nsys.exit(3)")).await;
    assert_eq!(outcome.exit, ExitStatus::Code(3));
    assert_eq!(outcome.limit_hit, None);
    assert_eq!(outcome.stdout, b"bye\n");
}

async fn reports_an_uncaught_exception_as_exit_1_with_the_traceback(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(&sb, python("raise ValueError('boom')")).await;
    assert_eq!(outcome.exit, ExitStatus::Code(1));
    assert!(
        stderr(&outcome).contains("ValueError: boom"),
        "{}",
        stderr(&outcome)
    );
}

async fn reports_death_by_signal(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(
        &sb,
        python("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"),
    )
    .await;
    assert_eq!(outcome.exit, ExitStatus::Signal(15));
    assert_eq!(outcome.limit_hit, None);
}

async fn stops_an_infinite_loop_at_the_cpu_limit(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| {
        l.cpu_time = SECOND;
        // Generous: on a loaded machine the loop gets less than a core.
        l.wall_time = 30 * SECOND;
    });
    let outcome = run(&sb, python("while True: pass").limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Cpu), "{outcome:?}");
    assert_eq!(outcome.exit, ExitStatus::Signal(9));
    assert!(outcome.cpu_time >= SECOND, "{:?}", outcome.cpu_time);
    assert!(outcome.cpu_time < 2 * SECOND, "{:?}", outcome.cpu_time);
}

async fn counts_cpu_spread_over_several_processes(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| {
        l.cpu_time = SECOND;
        l.wall_time = 30 * SECOND;
    });
    // Each process stays under the per-process rlimit; only the cgroup
    // counter sees the total.
    let code = "import os\nfor _ in range(3):\n    if os.fork() == 0: break\nwhile True: pass";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Cpu), "{outcome:?}");
    assert!(outcome.cpu_time < 2 * SECOND, "{:?}", outcome.cpu_time);
}

async fn stops_a_sleeping_program_at_the_wall_limit(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.wall_time = SECOND);
    let outcome = run(&sb, python("import time\ntime.sleep(1000)").limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Wall), "{outcome:?}");
    assert_eq!(outcome.exit, ExitStatus::Signal(9));
    assert!(outcome.wall_time >= SECOND && outcome.wall_time < 3 * SECOND);
    assert!(
        outcome.cpu_time < SECOND / 2,
        "sleeping is not CPU: {:?}",
        outcome.cpu_time
    );
}

async fn stops_a_wall_limit_even_when_stdin_is_never_read_and_output_is_blocked(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.wall_time = SECOND);
    // Closes nothing, reads nothing, sleeps in a child that inherited the pipes.
    let code = "import os, time\nif os.fork() == 0:\n    time.sleep(1000)\ntime.sleep(1000)";
    let spec = python(code).stdin(vec![b'x'; 1 << 20]).limits(limits);
    let outcome = run(&sb, spec).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Wall), "{outcome:?}");
    assert!(outcome.wall_time < 3 * SECOND);
}

async fn kills_a_memory_bomb_at_the_memory_limit(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.memory_bytes = 64 << 20);
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Memory), "{outcome:?}");
    assert_eq!(outcome.exit, ExitStatus::Signal(9));
    assert!(
        outcome.peak_memory_bytes > 48 << 20,
        "{}",
        outcome.peak_memory_bytes
    );
    assert!(
        outcome.peak_memory_bytes <= 64 << 20,
        "{}",
        outcome.peak_memory_bytes
    );
}

async fn reports_peak_memory_of_a_normal_run(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(&sb, python("b = bytearray(30 << 20)\nprint(len(b))")).await;
    assert_ok(&outcome);
    assert!(
        outcome.peak_memory_bytes > 30 << 20,
        "{}",
        outcome.peak_memory_bytes
    );
    assert!(
        outcome.peak_memory_bytes < 100 << 20,
        "{}",
        outcome.peak_memory_bytes
    );
}

async fn contains_a_fork_bomb_and_the_host_keeps_working(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| {
        l.wall_time = 3 * SECOND;
        l.cpu_time = 2 * SECOND;
    });
    let code =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert!(
        matches!(
            outcome.limit_hit,
            Some(LimitKind::Processes | LimitKind::Cpu | LimitKind::Wall)
        ),
        "{outcome:?}"
    );
    assert!(outcome.wall_time < 6 * SECOND);
    // Everything of the bomb is gone and a normal program runs.
    let after = run(&sb, python("print('still fine')")).await;
    assert_ok(&after);
    assert_eq!(after.stdout, b"still fine\n");
}

async fn refuses_processes_past_the_limit(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.max_processes = 4);
    let code = "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(100)\n        n += 1\nexcept OSError as e:\n    print(n, e.errno)";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Processes), "{outcome:?}");
    // The parent is one of the four.
    assert_eq!(stdout(&outcome), "3 11\n", "EAGAIN after 3 children");
}

async fn contains_a_thread_bomb(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import threading, time\nn = 0\ntry:\n    while True:\n        threading.Thread(target=time.sleep, args=(100,), daemon=True).start()\n        n += 1\nexcept RuntimeError as e:\n    print(n, e)";
    let outcome = run(&sb, python(code)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Processes), "{outcome:?}");
    assert!(
        stdout(&outcome).starts_with("15 can't start new thread"),
        "{}",
        stdout(&outcome)
    );
}

async fn caps_an_output_flood_and_kills_the_run(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.output_bytes = 100_000);
    let code = "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Output), "{outcome:?}");
    assert!(outcome.stdout_truncated);
    assert!(!outcome.stderr_truncated);
    assert_eq!(outcome.stdout.len(), 100_000);
    assert!(outcome.wall_time < 3 * SECOND);
}

async fn caps_stderr_separately(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.output_bytes = 1000);
    let code = "import sys\nprint('ok', flush=True)\nsys.stderr.write('e' * 5000)";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.stdout, b"ok\n");
    assert!(outcome.stderr_truncated && !outcome.stdout_truncated);
    assert_eq!(outcome.stderr.len(), 1000);
}

async fn streams_output_as_it_is_produced(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import sys\nprint('out', flush=True)\nsys.stderr.write('err')";
    let mut seen = Vec::new();
    let outcome = sb
        .run_streaming(python(code), |stream, chunk| {
            seen.push((stream, chunk.to_vec()))
        })
        .await
        .expect("runs");
    assert_ok(&outcome);
    let joined = |s: Stream| -> Vec<u8> {
        seen.iter()
            .filter(|(st, _)| *st == s)
            .flat_map(|(_, c)| c.clone())
            .collect()
    };
    assert_eq!(joined(Stream::Stdout), outcome.stdout);
    assert_eq!(joined(Stream::Stderr), b"err");
}

async fn contains_a_disk_fill_in_the_work_directory(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| {
        l.work_dir_bytes = 4 << 20;
        l.file_size_bytes = 1 << 20;
    });
    let code = r#"
import errno
written, i = 0, 0
try:
    while True:
        with open(f"f{i}", "wb") as f:
            f.write(b"x" * (512 << 10))
        written += 512 << 10
        i += 1
except OSError as e:
    print("full", errno.errorcode[e.errno], written)
try:
    with open("big", "wb") as f:
        f.write(b"x" * (2 << 20))
except OSError as e:
    print("big", errno.errorcode[e.errno])
raise SystemExit(1)
"#;
    let outcome = run(&sb, python(code).limits(limits)).await;
    let out = stdout(&outcome);
    assert_eq!(outcome.exit, ExitStatus::Code(1), "{outcome:?}");
    let full: Vec<&str> = out.lines().next().unwrap_or("").split(' ').collect();
    assert_eq!(full[..2], ["full", "ENOSPC"], "{out}");
    assert!(full[2].parse::<u64>().unwrap() <= 4 << 20, "{out}");
    assert!(
        out.contains("big ENOSPC") || out.contains("big EFBIG"),
        "{out}"
    );
}

async fn refuses_a_file_larger_than_the_file_size_limit(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let limits = tight(|l| l.file_size_bytes = 1 << 20);
    let code = "import errno\ntry:\n    open('big', 'wb').write(b'x' * (2 << 20))\nexcept OSError as e:\n    print(errno.errorcode[e.errno])";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(stdout(&outcome), "EFBIG\n");
}

async fn turns_deep_recursion_into_a_recursion_error(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let outcome = run(&sb, python("def f(n): return f(n + 1)\nf(0)")).await;
    assert_eq!(outcome.exit, ExitStatus::Code(1));
    assert!(
        stderr(&outcome).contains("RecursionError"),
        "{}",
        stderr(&outcome)
    );
}

async fn contains_a_stack_overflow_when_the_recursion_limit_is_lifted(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import sys\nsys.setrecursionlimit(10**8)\ndef f(n): return f(n + 1)\nf(0)";
    let outcome = run(&sb, python(code)).await;
    assert!(
        matches!(outcome.exit, ExitStatus::Signal(_)) || outcome.limit_hit.is_some(),
        "{outcome:?}"
    );
    assert_ok(&run(&sb, python("print(1)")).await);
}

async fn forks_and_threads_work_within_limits(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let code = "import os, threading, subprocess\nt = threading.Thread(target=print, args=('thread',))\nt.start(); t.join()\npid = os.fork()\nif pid == 0:\n    os._exit(7)\nprint('child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))";
    let outcome = run(&sb, python(code)).await;
    assert_ok(&outcome);
    assert_eq!(stdout(&outcome), "thread\nchild 7\n");
}

async fn rejects_a_file_path_outside_the_work_directory(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let spec = RunSpec::new(["python3"]).file("../escape.py", "x");
    let err = sandbox::Sandbox::run(&sb, spec).await.unwrap_err();
    assert!(matches!(err, sandbox::Error::InvalidSpec(_)), "{err}");
}

backend_tests!(
    runs_a_print_and_returns_its_stdout,
    delivers_stdin_then_eof,
    places_nested_input_files_in_the_work_directory,
    reports_the_exit_code,
    reports_an_uncaught_exception_as_exit_1_with_the_traceback,
    reports_death_by_signal,
    stops_an_infinite_loop_at_the_cpu_limit,
    counts_cpu_spread_over_several_processes,
    stops_a_sleeping_program_at_the_wall_limit,
    stops_a_wall_limit_even_when_stdin_is_never_read_and_output_is_blocked,
    kills_a_memory_bomb_at_the_memory_limit,
    reports_peak_memory_of_a_normal_run,
    contains_a_fork_bomb_and_the_host_keeps_working,
    refuses_processes_past_the_limit,
    contains_a_thread_bomb,
    caps_an_output_flood_and_kills_the_run,
    caps_stderr_separately,
    streams_output_as_it_is_produced,
    contains_a_disk_fill_in_the_work_directory,
    refuses_a_file_larger_than_the_file_size_limit,
    turns_deep_recursion_into_a_recursion_error,
    contains_a_stack_overflow_when_the_recursion_limit_is_lifted,
    forks_and_threads_work_within_limits,
    rejects_a_file_path_outside_the_work_directory,
);
