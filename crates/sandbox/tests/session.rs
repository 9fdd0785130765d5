//! Sessions: stdin fed while the program runs, output as it comes, usage
//! read from outside between steps, and a kill from the caller.
mod common;

use std::time::Duration;

use common::*;
use sandbox::{Event, Session, Stream};

/// Reads stdout events until `needle` has been seen; returns what came.
async fn read_until(session: &mut Session, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        match session.next_event().await {
            Some(Event::Output(Stream::Stdout, bytes)) => {
                seen.push_str(&String::from_utf8_lossy(&bytes))
            }
            Some(Event::Output(Stream::Stderr, bytes)) => {
                panic!("stderr: {}", String::from_utf8_lossy(&bytes))
            }
            other => panic!("ended before {needle:?}: {other:?}; stdout so far {seen:?}"),
        }
    }
    seen
}

const ECHO: &str = r#"
import sys
for line in sys.stdin:
    n = int(line)
    if n < 0:
        break
    total = 0
    for i in range(n):
        total += i
    data = bytearray(n * 8)
    print(f"done {total}", flush=True)
    del data
"#;

async fn a_session_answers_line_by_line_and_is_measured_between_lines(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let mut session = sb.spawn_session(python(ECHO)).await.expect("spawns");

    session.write("10\n").expect("stdin open");
    assert!(
        read_until(&mut session, "done 45\n")
            .await
            .contains("done 45")
    );
    let first = session.usage().expect("usage while running");

    // A heavier step: more CPU and a bigger allocation.
    assert!(session.reset_peak_memory());
    let after_reset = session.usage().expect("usage");
    session.write("3000000\n").expect("stdin open");
    read_until(&mut session, "done 4499998500000\n").await;
    let second = session.usage().expect("usage");
    assert!(
        second.cpu_time > first.cpu_time + Duration::from_millis(20),
        "{first:?} then {second:?}"
    );
    assert!(
        second.peak_memory_bytes >= after_reset.memory_bytes + 20_000_000,
        "a 24 MB bytearray shows in the peak: {after_reset:?} then {second:?}"
    );

    session.write("-1\n").expect("stdin open");
    let outcome = session.wait().await.expect("ends");
    assert_ok(&outcome);
    assert_eq!(stdout(&outcome), "done 45\ndone 4499998500000\n");
}

async fn closing_stdin_gives_the_program_eof(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let mut session = sb.spawn_session(python(ECHO)).await.expect("spawns");
    session.write("1\n").expect("stdin open");
    read_until(&mut session, "done 0\n").await;
    session.close_stdin();
    assert!(session.write("2\n").is_err());
    let outcome = session.wait().await.expect("ends");
    assert_ok(&outcome);
}

async fn kill_ends_a_waiting_program_and_cleans_up(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let mut session = sb.spawn_session(python(ECHO)).await.expect("spawns");
    session.write("1\n").expect("stdin open");
    read_until(&mut session, "done 0\n").await;
    session.kill();
    let outcome = session.wait().await.expect("ends");
    assert!(!outcome.exit.success(), "{outcome:?}");
    assert!(outcome.limit_hit.is_none(), "{outcome:?}");
}

async fn dropping_a_session_kills_its_run(backend: Backend) {
    let Some(sb) = sandbox(backend).await else {
        return;
    };
    let mut session = sb
        .spawn_session(python(
            "import time\nprint('up', flush=True)\ntime.sleep(60)",
        ))
        .await
        .expect("spawns");
    read_until(&mut session, "up\n").await;
    let probe_before = session.usage();
    assert!(probe_before.is_ok());
    drop(session);
    // The run's cgroup is removed once the supervisor has killed it; a new
    // run still works right after.
    let outcome = run(&sb, python("print('next')")).await;
    assert_ok(&outcome);
}

backend_tests!(
    a_session_answers_line_by_line_and_is_measured_between_lines,
    closing_stdin_gives_the_program_eof,
    kill_ends_a_waiting_program_and_cleans_up,
    dropping_a_session_kills_its_run,
);
