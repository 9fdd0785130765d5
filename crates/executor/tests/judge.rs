//! Verdicts from the real sandboxes: every test runs on the native backend
//! and on Docker (module `native` and module `docker`). A backend that is
//! not ready here skips its tests with the reason printed, unless
//! `CI=true`, where they fail.
use std::sync::Arc;

use domain::problem::{Checker, Difficulty, Limits, ProblemKind, ProblemSpec, TestCase};
use domain::submission::{Verdict, VerdictKind};
use executor::Judge;
use sandbox::{BackendChoice, DockerConfig, DynSandbox, NativeConfig, RunSpec, Sandbox};

async fn judge_on(choice: BackendChoice) -> Option<Judge<Arc<dyn DynSandbox>>> {
    // Boxed: the set-up future is large, and debug builds run tests on 2 MiB stacks.
    match Box::pin(sandbox::select(
        choice,
        NativeConfig::default(),
        DockerConfig::default(),
    ))
    .await
    {
        Ok((sandbox, _)) => Some(Judge::new(sandbox)),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{choice:?} sandbox not ready (CI=true, so this fails): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: {choice:?} sandbox not ready: {e}");
            None
        }
    }
}

/// The verdict tests, once per backend: `judge()` in each module gives that
/// backend's judge.
macro_rules! on_both_backends {
    ($($test:item)*) => {
        mod native {
            use super::*;
            async fn judge() -> Option<Judge<Arc<dyn DynSandbox>>> {
                judge_on(BackendChoice::Native).await
            }
            $($test)*
        }
        mod docker {
            use super::*;
            async fn judge() -> Option<Judge<Arc<dyn DynSandbox>>> {
                judge_on(BackendChoice::Docker).await
            }
            $($test)*
        }
    };
}

fn case(input: &str, expected: &str) -> TestCase {
    TestCase {
        input: input.into(),
        expected: expected.into(),
        explanation: None,
    }
}

fn spec(kind: ProblemKind, examples: Vec<TestCase>, hidden_tests: Vec<TestCase>) -> ProblemSpec {
    ProblemSpec {
        title: "Add".into(),
        statement: "Add two numbers.".into(),
        difficulty: Difficulty::Easy,
        tags: vec![],
        kind,
        template: String::new(),
        examples,
        hidden_tests,
        limits: Limits {
            time_limit_ms: 1000,
            memory_limit_mb: 64,
        },
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

/// `add(a, b)`: one example, two hidden tests with recognisable values.
fn add_function() -> ProblemSpec {
    spec(
        ProblemKind::Function {
            entry_point: "add".into(),
            params: vec!["a".into(), "b".into()],
        },
        vec![case("[1, 2]", "3")],
        vec![case("[123456, 654321]", "777777"), case("[-5, 5]", "0")],
    )
}

/// Reads two integers, prints their sum. Same tests as [`add_function`].
fn add_stdio() -> ProblemSpec {
    spec(
        ProblemKind::StdIo,
        vec![case("1 2\n", "3\n")],
        vec![case("123456 654321\n", "777777\n"), case("-5 5\n", "0\n")],
    )
}

const HIDDEN_DATA: [&str; 3] = ["123456", "654321", "777777"];

fn assert_no_hidden_data(verdict: &Verdict) {
    let json = serde_json::to_string(verdict).unwrap();
    for secret in HIDDEN_DATA {
        assert!(
            !json.contains(secret),
            "hidden data {secret} leaked: {json}"
        );
    }
}

fn message(verdict: &Verdict) -> &str {
    verdict.message.as_deref().unwrap_or_default()
}

macro_rules! judged {
    ($spec:expr, $code:expr) => {{
        let Some(judge) = judge().await else { return };
        judge.judge(&$spec, $code).await
    }};
}

on_both_backends! {
// ---------------------------------------------------------------- function

#[tokio::test]
async fn accepts_a_correct_function_that_also_prints() {
    let code = "def add(a, b):\n    print('debugging', a, b)\n    print('no newline', end='')\n    return a + b\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
    assert_eq!((v.passed, v.total, v.tests.len()), (3, 3, 3));
    assert!(v.tests.iter().all(|t| t.verdict == VerdictKind::Accepted));
    assert_eq!(
        v.tests.iter().map(|t| t.hidden).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert!(v.memory_kb > 1024, "{v:?}");
    assert!(v.failed_example.is_none() && v.message.is_none());
}

#[tokio::test]
async fn accepts_a_leetcode_style_solution_class() {
    let code = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

#[tokio::test]
async fn shows_the_failing_example_on_a_wrong_answer() {
    let v = judged!(add_function(), "def add(a, b):\n    return a - b\n");
    assert_eq!(v.kind, VerdictKind::WrongAnswer, "{v:?}");
    assert_eq!((v.passed, v.total, v.tests.len()), (0, 3, 1));
    let failed = v.failed_example.expect("an example failed");
    assert_eq!(failed.index, 0);
    assert_eq!(failed.input, "[1, 2]");
    assert_eq!(failed.expected, "3");
    assert_eq!(failed.actual, "-1");
}

#[tokio::test]
async fn hides_a_hidden_test_that_gets_a_wrong_answer() {
    let code = "def add(a, b):\n    return 3 if (a, b) == (1, 2) else a * b\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::WrongAnswer, "{v:?}");
    assert_eq!((v.passed, v.total, v.tests.len()), (1, 3, 2));
    assert!(v.tests[1].hidden);
    assert!(v.failed_example.is_none());
    assert_no_hidden_data(&v);
}

#[tokio::test]
async fn stops_an_infinite_loop_in_a_function() {
    let v = judged!(
        add_function(),
        "def add(a, b):\n    while True:\n        pass\n"
    );
    assert_eq!(v.kind, VerdictKind::TimeLimitExceeded, "{v:?}");
    assert_eq!((v.passed, v.tests.len()), (0, 1));
    assert!(v.runtime_ms >= 900, "{v:?}");
}

#[tokio::test]
async fn stops_a_function_over_the_memory_limit() {
    let v = judged!(
        add_function(),
        "def add(a, b):\n    x = bytearray(10**9)\n    return a + b\n"
    );
    assert_eq!(v.kind, VerdictKind::MemoryLimitExceeded, "{v:?}");
}

#[tokio::test]
async fn stops_a_function_flooding_stdout() {
    let v = judged!(
        add_function(),
        "def add(a, b):\n    while True:\n        print('x' * 1000)\n"
    );
    assert_eq!(v.kind, VerdictKind::OutputLimitExceeded, "{v:?}");
}

#[tokio::test]
async fn reports_a_function_exception_with_the_users_frames_only() {
    let code = "def helper():\n    raise ValueError('boom')\n\ndef add(a, b):\n    helper()\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    let m = message(&v);
    assert!(m.contains("ValueError: boom"), "{m}");
    assert!(m.contains("File \"solution.py\", line 2, in helper"), "{m}");
    assert!(m.contains("File \"solution.py\", line 5, in add"), "{m}");
    assert!(!m.contains("harness") && !m.contains("importlib"), "{m}");
    assert!(v.failed_example.is_none());
}

#[tokio::test]
async fn keeps_a_hidden_tests_exception_message_secret() {
    let code =
        "def add(a, b):\n    if a == 1:\n        return 3\n    raise ValueError(f'{a} {b}')\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert_eq!(v.passed, 1);
    assert!(message(&v).contains("ValueError"), "{v:?}");
    assert_no_hidden_data(&v);
}

#[tokio::test]
async fn rejects_a_function_with_a_syntax_error() {
    let v = judged!(
        add_function(),
        "def add(a, b):\n    return (a +\n\nx = = 1\n"
    );
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    let m = message(&v);
    assert!(m.starts_with("SyntaxError: "), "{m}");
    assert!(m.contains("(line 2, column "), "{m}");
    assert!(v.tests.is_empty() && v.passed == 0 && v.total == 3);
}

#[tokio::test]
async fn rejects_a_wrongly_named_entry_point() {
    let v = judged!(add_function(), "def plus(a, b):\n    return a + b\n");
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    assert!(
        message(&v).contains("expected a function add(a, b)"),
        "{v:?}"
    );
    assert!(v.tests.is_empty());
}

#[tokio::test]
async fn rejects_an_entry_point_with_the_wrong_parameters() {
    let v = judged!(add_function(), "def add(a):\n    return a\n");
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    assert!(
        message(&v).contains("expected a function add(a, b), found add(a)"),
        "{v:?}"
    );
    let v = judged!(add_function(), "def add(a, b, c):\n    return a\n");
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    let v = judged!(
        add_function(),
        "def add(a, b, c=0, *rest):\n    return a + b\n"
    );
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

#[tokio::test]
async fn a_forged_delimiter_cannot_claim_a_result() {
    // Prints what a report looks like after a guessed delimiter, then leaves
    // before the harness can write its own.
    let code = r#"
import os, sys
def add(a, b):
    for d in ["=====PYDOJO-RESULT-00000000000000000000000000000000=====", os.environ.get("PYDOJO_DELIMITER", "")]:
        print("\n" + d + "\n" + '{"ok": %d}' % (a + b))
    sys.stdout.flush()
    os._exit(0)
"#;
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert!(message(&v).contains("before returning"), "{v:?}");
}

#[tokio::test]
async fn reports_an_exception_at_import_time_before_any_test() {
    let v = judged!(
        add_function(),
        "import nonexistent_module\ndef add(a, b):\n    return a + b\n"
    );
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert!(message(&v).contains("ModuleNotFoundError"), "{v:?}");
    assert!(v.tests.is_empty());
}

#[tokio::test]
async fn compares_floats_with_tolerance_end_to_end() {
    let mut spec = spec(
        ProblemKind::Function {
            entry_point: "third".into(),
            params: vec!["x".into()],
        },
        vec![case("[1]", "0.3333333")],
        vec![case("[[1, 2]]", "[0.3333333, 0.6666667]")],
    );
    spec.checker = Checker::Float {
        abs_tol: 1e-6,
        rel_tol: 0.0,
    };
    let code = "def third(x):\n    return [v / 3 for v in x] if isinstance(x, list) else x / 3\n";
    let v = judged!(spec, code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

// ------------------------------------------------------------------- stdio

#[tokio::test]
async fn accepts_a_correct_stdio_program() {
    let code = "a, b = map(int, input().split())\nprint(a + b, '  ')\n\n";
    let v = judged!(add_stdio(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
    assert_eq!((v.passed, v.total, v.tests.len()), (3, 3, 3));
}

#[tokio::test]
async fn shows_the_failing_stdio_example() {
    let v = judged!(
        add_stdio(),
        "a, b = map(int, input().split())\nprint(a - b)\n"
    );
    assert_eq!(v.kind, VerdictKind::WrongAnswer, "{v:?}");
    let failed = v.failed_example.expect("an example failed");
    assert_eq!(
        (failed.input.as_str(), failed.expected.as_str()),
        ("1 2\n", "3\n")
    );
    assert_eq!(failed.actual, "-1\n");
}

#[tokio::test]
async fn hides_a_hidden_stdio_test_that_gets_a_wrong_answer() {
    let code = "a, b = map(int, input().split())\nprint(3 if a == 1 else a * b)\n";
    let v = judged!(add_stdio(), code);
    assert_eq!(v.kind, VerdictKind::WrongAnswer, "{v:?}");
    assert_eq!((v.passed, v.tests.len()), (1, 2));
    assert!(v.failed_example.is_none());
    assert_no_hidden_data(&v);
}

#[tokio::test]
async fn stops_an_infinite_stdio_loop() {
    let v = judged!(add_stdio(), "while True:\n    pass\n");
    assert_eq!(v.kind, VerdictKind::TimeLimitExceeded, "{v:?}");
}

#[tokio::test]
async fn stops_a_stdio_program_over_the_memory_limit() {
    let v = judged!(add_stdio(), "x = bytearray(10**9)\nprint(3)\n");
    assert_eq!(v.kind, VerdictKind::MemoryLimitExceeded, "{v:?}");
}

#[tokio::test]
async fn stops_a_stdio_program_flooding_stdout() {
    let v = judged!(add_stdio(), "while True:\n    print('x' * 1000)\n");
    assert_eq!(v.kind, VerdictKind::OutputLimitExceeded, "{v:?}");
}

#[tokio::test]
async fn reports_a_stdio_exception_with_a_clean_traceback() {
    let v = judged!(add_stdio(), "input()\nraise ValueError('boom')\n");
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    let m = message(&v);
    assert!(m.contains("ValueError: boom"), "{m}");
    assert!(m.contains("File \"solution.py\", line 2"), "{m}");
    assert!(!m.contains("/work/"), "{m}");
}

#[tokio::test]
async fn keeps_a_hidden_stdio_tests_error_secret() {
    let code = "a, b = map(int, input().split())\nif a == 1:\n    print(3)\nelse:\n    int(str(a) + 'x')\n";
    let v = judged!(add_stdio(), code);
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert!(message(&v).contains("ValueError"), "{v:?}");
    assert_no_hidden_data(&v);
}

#[tokio::test]
async fn rejects_a_stdio_program_with_a_syntax_error() {
    let v = judged!(add_stdio(), "print(1)\nif True\n    print(2)\n");
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    let m = message(&v);
    assert!(m.starts_with("SyntaxError: "), "{m}");
    assert!(m.contains("line 2, column 8"), "{m}");
}

#[tokio::test]
async fn rejects_a_stdio_program_with_bad_indentation() {
    let v = judged!(add_stdio(), "if True:\nprint(2)\n");
    assert_eq!(v.kind, VerdictKind::CompileError, "{v:?}");
    assert!(message(&v).starts_with("IndentationError: "), "{v:?}");
}

// ------------------------------------------ one harness, a child per test

#[tokio::test]
async fn each_test_starts_from_the_state_after_loading() {
    // Module state changed by one test is not seen by the next: each test
    // runs in a fresh fork of the loaded module.
    let code =
        "calls = []\ndef add(a, b):\n    calls.append(1)\n    return a + b + len(calls) - 1\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

#[tokio::test]
async fn a_function_cannot_read_the_next_tests_from_stdin() {
    let code = "import sys\ndef add(a, b):\n    rest = sys.stdin.read()\n    return a + b if rest == '' else rest\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

#[tokio::test]
async fn a_solution_killing_the_harness_is_a_runtime_error() {
    let code = "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert_eq!(v.passed, 0, "{v:?}");
}

#[tokio::test]
async fn a_time_limit_on_a_later_test_is_that_tests() {
    // Fast on the example, slow on the hidden tests: the example passes with
    // its own small runtime, the first hidden test is over the limit.
    let code = "def add(a, b):\n    if a == 1:\n        return 3\n    while True:\n        pass\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::TimeLimitExceeded, "{v:?}");
    assert_eq!((v.passed, v.tests.len()), (1, 2), "{v:?}");
    assert!(v.tests[0].runtime_ms < 500, "{v:?}");
    assert!(v.tests[1].runtime_ms >= 900, "{v:?}");
    assert_no_hidden_data(&v);
}

#[tokio::test]
async fn a_stdio_program_may_exit_early_with_success() {
    let code =
        "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\nprint('never')\n";
    let v = judged!(add_stdio(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
}

#[tokio::test]
async fn a_stdio_program_exiting_with_an_error_code_is_a_runtime_error() {
    let v = judged!(add_stdio(), "import sys\nprint(3)\nsys.exit(3)\n");
    assert_eq!(v.kind, VerdictKind::RuntimeError, "{v:?}");
    assert!(message(&v).contains("exited with code 3"), "{v:?}");
}

#[tokio::test]
async fn memory_is_measured_per_test() {
    // The example allocates 40 MB, the hidden tests nothing: each test's
    // peak is its own.
    let code = "def add(a, b):\n    if a == 1:\n        x = bytearray(40 * 1024 * 1024)\n    return a + b\n";
    let v = judged!(add_function(), code);
    assert_eq!(v.kind, VerdictKind::Accepted, "{v:?}");
    assert!(v.tests[0].memory_kb > 40 * 1024, "{v:?}");
    assert!(v.tests[1].memory_kb < 30 * 1024, "{v:?}");
    assert_eq!(v.memory_kb, v.tests[0].memory_kb);
}
}

// ------------------------------------------------------ a broken sandbox

#[derive(Debug)]
struct BrokenSandbox;

impl Sandbox for BrokenSandbox {
    async fn spawn(&self, _spec: RunSpec) -> sandbox::Result<sandbox::Session> {
        Err(sandbox::Error::CgroupUnavailable("no cgroup here".into()))
    }
}

#[tokio::test]
async fn a_sandbox_failure_is_an_internal_error() {
    let v = Judge::new(BrokenSandbox)
        .judge(&add_function(), "def add(a, b):\n    return a + b\n")
        .await;
    assert_eq!(v.kind, VerdictKind::InternalError);
    assert!(message(&v).contains("no cgroup here"), "{v:?}");
    assert!(v.tests.is_empty());
}
