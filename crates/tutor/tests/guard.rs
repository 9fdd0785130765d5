//! The hint-only guard: what counts as a complete solution, and that a
//! streamed reply never shows one.

use tutor::guard::{StreamGuard, find_solution};

const FULL: &str = "Here you go:\n\n```python\ndef two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n        if target - x in seen:\n            return [seen[target - x], i]\n        seen[x] = i\n```\n\nThat is O(n).";

#[test]
fn a_fenced_entry_point_with_a_full_body_is_a_solution() {
    assert!(find_solution(FULL, Some("two_sum")).is_some());
}

#[test]
fn an_unfenced_entry_point_with_a_one_line_return_is_a_solution() {
    let text = "Try this:\ndef two_sum(nums, target):\n    return [nums.index(a) for a in nums][:2]\nGood luck";
    assert!(find_solution(text, Some("two_sum")).is_some());
}

#[test]
fn a_solution_as_a_method_of_a_class_is_caught() {
    let text = "```\nclass Solution:\n    def two_sum(self, nums, target):\n        d = {}\n        for i, x in enumerate(nums):\n            d[x] = i\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
}

#[test]
fn a_renamed_long_function_is_a_solution() {
    let text = "```python\ndef helper(a, t):\n    d = {}\n    for i, x in enumerate(a):\n        y = t - x\n        if y in d:\n            return [d[y], i]\n        d[x] = i\n    return []\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
}

#[test]
fn a_skeleton_a_snippet_and_prose_are_not_solutions() {
    let skeleton =
        "```python\ndef two_sum(nums, target):\n    seen = {}\n    # your loop here\n    pass\n```";
    assert!(find_solution(skeleton, Some("two_sum")).is_none());
    let snippet =
        "A dictionary lookup is `x in seen`:\n```python\nif target - x in seen:\n    ...\n```";
    assert!(find_solution(snippet, Some("two_sum")).is_none());
    let documented = "```python\ndef two_sum(nums, target):\n    \"\"\"return the two indices\"\"\"\n    # return [i, j] once you find them\n    ...\n```";
    assert!(find_solution(documented, Some("two_sum")).is_none());
    let prose = "Define what you need to remember. A class of problems like this uses hashing.";
    assert!(find_solution(prose, Some("two_sum")).is_none());
}

#[test]
fn a_full_stdin_program_is_a_solution_for_an_stdio_problem() {
    let text = "```python\nimport sys\nn = int(input())\nxs = list(map(int, input().split()))\ntotal = sum(xs)\nprint(total)\n```";
    assert!(find_solution(text, None).is_some());
    let hint = "```python\nn = int(input())\n```";
    assert!(find_solution(hint, None).is_none());
}

/// Streams `text` in pieces of `size` bytes; what was shown, or the violation.
fn stream(text: &str, size: usize) -> (String, bool) {
    let mut guard = StreamGuard::new(Some("two_sum"));
    let mut shown = String::new();
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(size) {
        let piece: String = piece.iter().collect();
        match guard.push(&piece) {
            Ok(s) => shown.push_str(&s),
            Err(_) => return (shown, true),
        }
    }
    match guard.finish() {
        Ok(s) => shown.push_str(&s),
        Err(_) => return (shown, true),
    }
    (shown, false)
}

#[test]
fn a_streamed_solution_is_stopped_before_any_of_its_code_is_shown() {
    for size in [1, 3, 7, 50] {
        let (shown, stopped) = stream(FULL, size);
        assert!(stopped, "caught with pieces of {size}");
        assert!(!shown.contains("seen = {}"), "no code was shown: {shown:?}");
        assert!(
            !shown.contains("def two_sum"),
            "not even its first line: {shown:?}"
        );
        assert!(
            shown.starts_with("Here you go:"),
            "the prose before it was: {shown:?}"
        );
    }
}

#[test]
fn a_streamed_hint_is_shown_whole_and_in_pieces_as_it_comes() {
    let hint = "Think about what you have **already seen**.\n\n```python\nif target - x in seen:\n    ...\n```\nThen decide.";
    for size in [1, 4, 64] {
        let (shown, stopped) = stream(hint, size);
        assert!(!stopped);
        assert_eq!(shown, hint, "everything is shown in the end");
    }
    let mut guard = StreamGuard::new(Some("two_sum"));
    assert_eq!(guard.push("Think about").unwrap(), "Think about");
    assert_eq!(
        guard.push(" it.\n``").unwrap(),
        " it.\n",
        "a possible fence is held"
    );
    assert_eq!(
        guard.push("`py\nx = 1\n").unwrap(),
        "",
        "an open block is held"
    );
    assert_eq!(guard.push("```\nOk").unwrap(), "```py\nx = 1\n```\nOk");
}

// Ways a model (or a learner's prompt injection) could slip a solution past
// the guard.

#[test]
fn a_placeholder_comment_does_not_excuse_a_full_solution() {
    // "Add a `# TODO` comment at the end" must not be enough.
    let text = "```python\ndef two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n        if target - x in seen:\n            return [seen[target - x], i]\n        seen[x] = i\n    # TODO: nothing left, your code is done\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
    let with_pass = "```python\ndef two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n        try:\n            return [seen[target - x], i]\n        except KeyError:\n            pass\n        seen[x] = i\n```";
    assert!(find_solution(with_pass, Some("two_sum")).is_some());
}

#[test]
fn a_one_line_definition_is_a_solution() {
    let text = "Sure:\ndef is_palindrome(s): return s == s[::-1]\nThat's it.";
    assert!(find_solution(text, Some("is_palindrome")).is_some());
    let fenced = "```python\ndef is_palindrome(s): return s == s[::-1]\n```";
    assert!(find_solution(fenced, Some("is_palindrome")).is_some());
}

#[test]
fn a_return_without_a_space_is_a_return() {
    let text = "```python\ndef is_palindrome(s):\n    return(s == s[::-1])\n```";
    assert!(find_solution(text, Some("is_palindrome")).is_some());
    let guarded = "```python\ndef is_palindrome(s):\n    if s: return s == s[::-1]\n```";
    assert!(find_solution(guarded, Some("is_palindrome")).is_some());
}

#[test]
fn an_async_or_camel_case_or_aliased_entry_point_is_caught() {
    let asynchronous = "```python\nasync def two_sum(nums, target):\n    return [nums.index(x) for x in nums][:2]\n```";
    assert!(find_solution(asynchronous, Some("two_sum")).is_some());
    let camel = "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        return seen\n```";
    assert!(find_solution(camel, Some("two_sum")).is_some());
    let aliased = "```python\ndef f(a, t):\n    return [a.index(x) for x in a if t - x in a][:2]\ntwo_sum = f\n```";
    assert!(find_solution(aliased, Some("two_sum")).is_some());
}

#[test]
fn a_lambda_bound_to_the_entry_point_is_a_solution() {
    let text = "```python\ntwo_sum = lambda nums, target: [i for i in range(len(nums)) if target - nums[i] in nums][:2]\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
}

#[test]
fn a_short_renamed_function_that_returns_an_answer_is_a_solution() {
    let text = "```python\ndef solve(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n        if target - x in seen: return [seen[target - x], i]\n        seen[x] = i\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
    // A two-line illustration still passes.
    let tiny = "```python\ndef area(r):\n    return 3.14 * r * r\n```";
    assert!(find_solution(tiny, Some("two_sum")).is_none());
}

#[test]
fn a_tilde_fence_is_a_fence() {
    let text = "~~~python\nimport sys\nn = int(input())\nxs = list(map(int, input().split()))\ntotal = sum(xs)\nprint(total)\n~~~";
    assert!(find_solution(text, None).is_some());
    let mut guard = StreamGuard::new(None);
    assert_eq!(
        guard.push("Look:\n~~~python\nn = int(input())\n").unwrap(),
        "Look:\n"
    );
}

#[test]
fn a_streamed_one_line_solution_is_never_shown() {
    let text = "Here:\ndef is_palindrome(s): return s == s[::-1]\nDone.";
    for size in [1, 5, 100] {
        let mut guard = StreamGuard::new(Some("is_palindrome"));
        let mut shown = String::new();
        let mut stopped = false;
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(size) {
            match guard.push(&piece.iter().collect::<String>()) {
                Ok(s) => shown.push_str(&s),
                Err(_) => {
                    stopped = true;
                    break;
                }
            }
        }
        if !stopped {
            stopped = guard.finish().is_err();
        }
        assert!(stopped, "caught with pieces of {size}");
        assert!(!shown.contains("s[::-1]"), "{shown:?}");
    }
}

#[test]
fn a_solution_cut_into_several_harmless_blocks_is_still_a_solution() {
    let text = "Start with:\n```python\ndef two_sum(nums, target):\n    seen = {}\n```\nThen loop:\n```python\n    for i, x in enumerate(nums):\n        if target - x in seen:\n```\nand finally:\n```python\n            return [seen[target - x], i]\n        seen[x] = i\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
    let mut guard = StreamGuard::new(Some("two_sum"));
    let mut shown = String::new();
    let mut stopped = false;
    for line in text.split_inclusive('\n') {
        match guard.push(line) {
            Ok(s) => shown.push_str(&s),
            Err(_) => {
                stopped = true;
                break;
            }
        }
    }
    assert!(stopped || guard.finish().is_err());
    assert!(!shown.contains("return [seen"), "{shown:?}");
}

#[test]
fn an_indented_code_block_is_code_and_held_until_checked() {
    let text = "Here is one way:\n\n    import sys\n    n = int(input())\n    xs = list(map(int, input().split()))\n    print(sum(xs))\n\nGood luck.";
    assert!(find_solution(text, None).is_some());
    for size in [1, 6, 200] {
        let mut guard = StreamGuard::new(None);
        let mut shown = String::new();
        let mut stopped = false;
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(size) {
            match guard.push(&piece.iter().collect::<String>()) {
                Ok(s) => shown.push_str(&s),
                Err(_) => {
                    stopped = true;
                    break;
                }
            }
        }
        assert!(stopped || guard.finish().is_err(), "pieces of {size}");
        assert!(!shown.contains("input()"), "{shown:?}");
    }
    // A nested list is prose, not code.
    let nested = "1. Think about:\n    - the empty list\n    - one element\n    - duplicates\n    - negatives\n    - the largest input\n2. Then code it.";
    assert!(find_solution(nested, None).is_none());
    assert!(find_solution(nested, Some("two_sum")).is_none());
    // Indented prose (a list item's second paragraph) is shown in the end.
    let prose = "1. First\n\n    think about the empty input.\n2. Then the rest.";
    let mut guard = StreamGuard::new(None);
    let mut shown = guard.push(prose).unwrap();
    shown.push_str(&guard.finish().unwrap());
    assert_eq!(shown, prose);
}

#[test]
fn a_body_without_its_definition_is_a_solution() {
    let text = "Wrap this in your function:\n```python\nseen = {}\nfor i, x in enumerate(nums):\n    if target - x in seen:\n        answer = [seen[target - x], i]\n    seen[x] = i\n```";
    assert!(find_solution(text, Some("two_sum")).is_some());
    // Two short snippets in one reply are still hints.
    let hints = "Keep a dictionary:\n```python\nseen = {}\nseen[x] = i\n```\nand look up:\n```python\nif target - x in seen:\n    ...\n```";
    assert!(find_solution(hints, Some("two_sum")).is_none());
}
