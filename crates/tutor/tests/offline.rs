//! The offline tutor reads each kind of verdict and reveals one graded hint
//! per question.

mod common;

use common::*;
use domain::submission::VerdictKind;
use tutor::JudgedCode;
use tutor::offline::{self, difference, largest_size};

fn judged(code: &str, v: domain::submission::Verdict) -> Option<JudgedCode> {
    Some(JudgedCode {
        code: code.into(),
        verdict: v,
    })
}

#[test]
fn a_time_limit_names_the_input_size_the_complexity_it_needs_and_the_nested_loop() {
    let reply = offline::reply(&request(
        judged(QUADRATIC, verdict(VerdictKind::TimeLimitExceeded, 3, 10)),
        0,
    ));
    let t = &reply.text;
    assert!(t.contains("Time limit exceeded on hidden test 4"), "{t}");
    assert!(t.contains("len(nums) up to 20,000"), "{t}");
    assert!(
        t.contains("about 4×10^8 steps"),
        "n² steps are estimated: {t}"
    );
    assert!(t.contains("O(n log n) or O(n)"), "{t}");
    assert!(t.contains("loop inside a loop (line 3)"), "{t}");
    assert!(t.contains("1000 ms"), "{t}");
}

#[test]
fn sizes_are_read_from_the_constraints_and_value_bounds_are_ignored() {
    assert_eq!(
        largest_size("- `1 <= n <= 10^5`\n- `-10^9 <= a[i] <= 10^9`"),
        Some(("n".into(), 100_000))
    );
    assert_eq!(
        largest_size("2 ≤ len(grid) ≤ 2*10^5"),
        Some(("len(grid)".into(), 200_000))
    );
    assert_eq!(largest_size("- `-10^9 <= nums[i], target <= 10^9`"), None);
}

#[test]
fn a_wrong_answer_shows_the_failing_example_and_how_the_output_differs() {
    let mut v = verdict(VerdictKind::WrongAnswer, 0, 10);
    v.failed_example = Some(failed_example("[0, 1]", "[1, 0]"));
    let reply = offline::reply(&request(judged("def two_sum(n, t): ...", v), 0));
    let t = &reply.text;
    assert!(t.contains("Wrong answer on example 1"), "{t}");
    assert!(
        t.contains("[2, 7, 11, 15], 9"),
        "the failing input is shown: {t}"
    );
    assert!(t.contains("expected output is [0, 1]"), "{t}");
    assert!(t.contains("gave [1, 0]"), "{t}");
    assert!(t.contains("right elements in the wrong order"), "{t}");
}

#[test]
fn output_differences_are_described() {
    assert!(difference("[0, 1]", "null").contains("returned None"));
    assert!(
        difference("[0, 1]", "[0, 1, 2]").contains("You return 3 elements where 2 are expected")
    );
    assert!(difference("[0, 1]", "[0, 2]").contains("position 1: expected 1, you have 2"));
    assert!(difference("5", "4").contains("off by one"));
    assert!(difference("5", "9").contains("larger than"));
    assert!(difference("true", "false").contains("opposite truth value"));
    assert!(difference("[1]", "1").contains("expected answer is a list, but you return a number"));
    assert!(
        difference("a\nb\n", "a\nc\n").contains("Line 2 differs: expected `b`, you printed `c`")
    );
    assert!(difference("a\nb", "a").contains("You print 1 line where 2 are expected"));
    assert!(difference("a b", "a b  ").contains("only in whitespace"));
}

#[test]
fn a_wrong_answer_on_a_hidden_test_reveals_nothing_of_it() {
    let v = verdict(VerdictKind::WrongAnswer, 4, 10);
    let reply = offline::reply(&request(judged("def two_sum(n, t): ...", v), 0));
    let t = &reply.text;
    assert!(t.contains("Wrong answer on test 5, a hidden test"), "{t}");
    assert!(t.contains("edge cases"), "{t}");
    assert!(!t.contains(HIDDEN_MARKER));
}

#[test]
fn a_runtime_error_names_the_exception_and_quotes_the_line() {
    let code = "def two_sum(nums, target):\n    seen = {}\n    return [seen[target], 0]\n";
    let mut v = verdict(VerdictKind::RuntimeError, 0, 10);
    v.message = Some(
        "Traceback (most recent call last):\n  File \"solution.py\", line 3, in two_sum\n    return [seen[target], 0]\nKeyError: 9"
            .into(),
    );
    let reply = offline::reply(&request(judged(code, v), 0));
    let t = &reply.text;
    assert!(t.contains("Runtime error: KeyError: 9."), "{t}");
    assert!(t.contains("line 3: `return [seen[target], 0]`"), "{t}");
    assert!(
        t.contains("dictionary lookup of a key that is not there"),
        "{t}"
    );
}

#[test]
fn a_syntax_error_points_at_its_line() {
    let code = "def two_sum(nums, target)\n    return []\n";
    let mut v = verdict(VerdictKind::CompileError, 0, 10);
    v.message = Some("SyntaxError: expected ':' (line 1, column 26)".into());
    let t = offline::reply(&request(judged(code, v), 0)).text;
    assert!(t.contains("SyntaxError: expected ':'"), "{t}");
    assert!(t.contains("line 1: `def two_sum(nums, target)`"), "{t}");
}

#[test]
fn memory_output_accepted_and_internal_verdicts_are_explained() {
    let t = |kind| offline::reply(&request(judged("x = 1", verdict(kind, 2, 10)), 0)).text;
    assert!(t(VerdictKind::MemoryLimitExceeded).contains("too much in memory"));
    assert!(t(VerdictKind::OutputLimitExceeded).contains("debugging `print`"));
    assert!(t(VerdictKind::InternalError).contains("not your code's fault"));
    let accepted = offline::reply(&request(
        judged("x = 1", verdict(VerdictKind::Accepted, 10, 10)),
        0,
    ))
    .text;
    assert!(accepted.contains("accepted (10 of 10 tests"), "{accepted}");
}

#[test]
fn hints_are_revealed_one_level_at_a_time_and_then_repeated() {
    let hints = two_sum().hints;
    let first = offline::reply(&request(None, 0));
    assert_eq!(first.hints_revealed, 1);
    assert!(first.text.contains(&format!("Hint 1 of 3: {}", hints[0])));
    assert!(!first.text.contains(&hints[1]));
    let second = offline::reply(&request(None, 1));
    assert_eq!(second.hints_revealed, 2);
    assert!(second.text.contains(&format!("Hint 2 of 3: {}", hints[1])));
    let third = offline::reply(&request(None, 2));
    assert_eq!(third.hints_revealed, 3);
    let after = offline::reply(&request(None, 3));
    assert_eq!(after.hints_revealed, 3, "nothing more to reveal");
    assert!(
        after.text.contains("You have all 3 hints"),
        "{}",
        after.text
    );
}

#[test]
fn the_same_question_gets_the_same_answer() {
    let mut v = verdict(VerdictKind::WrongAnswer, 0, 10);
    v.failed_example = Some(failed_example("[0, 1]", "[0, 2]"));
    let req = request(judged("def two_sum(n, t): ...", v), 1);
    assert_eq!(offline::reply(&req), offline::reply(&req));
}

#[test]
fn a_bound_too_large_for_u64_is_no_bound_and_no_panic() {
    assert_eq!(largest_size("1 <= n <= 99e18"), None);
    assert_eq!(
        largest_size("1 <= n <= 5e18").map(|(_, n)| n),
        Some(5_000_000_000_000_000_000)
    );
}
