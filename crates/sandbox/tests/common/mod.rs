//! Shared setup of the integration tests: a real [`NativeSandbox`] on this
//! host, or, outside CI, a skip with the reason printed.
#![allow(dead_code)]

use std::time::Duration;

use sandbox::{Limits, NativeSandbox, RunOutcome, RunSpec, Sandbox as _};

/// The sandbox, checked. With `CI=true` a missing prerequisite fails the
/// test; otherwise the test is skipped with the reason printed.
pub async fn sandbox() -> Option<NativeSandbox> {
    let ready = match NativeSandbox::with_defaults() {
        Ok(sandbox) => sandbox.check().await.map(|()| sandbox),
        Err(e) => Err(e),
    };
    match ready {
        Ok(sandbox) => Some(sandbox),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("sandbox prerequisites missing (CI=true, so this fails): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: sandbox prerequisites missing: {e}");
            None
        }
    }
}

/// `python3 -I -S main.py` with `code` as main.py.
pub fn python(code: &str) -> RunSpec {
    RunSpec::new(["python3", "-I", "-S", "main.py"]).file("main.py", code)
}

pub fn limits() -> Limits {
    Limits::default()
}

pub fn tight(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

pub async fn run(sandbox: &NativeSandbox, spec: RunSpec) -> RunOutcome {
    sandbox.run(spec).await.expect("the sandbox itself works")
}

pub fn stdout(outcome: &RunOutcome) -> String {
    String::from_utf8_lossy(&outcome.stdout).into_owned()
}

pub fn stderr(outcome: &RunOutcome) -> String {
    String::from_utf8_lossy(&outcome.stderr).into_owned()
}

/// Asserts the run ended normally with code 0, showing stderr otherwise.
pub fn assert_ok(outcome: &RunOutcome) {
    assert!(
        outcome.exit.success() && outcome.limit_hit.is_none(),
        "run failed: {:?} limit {:?}\nstdout: {}\nstderr: {}",
        outcome.exit,
        outcome.limit_hit,
        stdout(outcome),
        stderr(outcome)
    );
}

pub const SECOND: Duration = Duration::from_secs(1);
