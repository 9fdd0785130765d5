#![allow(dead_code)]

use domain::submission::{FailedExample, TestOutcome, Verdict, VerdictKind};
use tutor::context::Example;
use tutor::{JudgedCode, ProblemContext, TutorRequest};

pub const HIDDEN_MARKER: &str = "HIDDEN-5e1d";

pub fn two_sum() -> ProblemContext {
    ProblemContext {
        slug: "two-sum".into(),
        title: "Two Sum".into(),
        statement: "Return the indices of the two numbers adding up to target.\n\n\
                    **Constraints**\n\n- `2 <= len(nums) <= 20000`\n- `-10^9 <= nums[i], target <= 10^9`\n"
            .into(),
        entry_point: Some("two_sum".into()),
        params: vec!["nums".into(), "target".into()],
        examples: vec![Example {
            input: "[[2, 7, 11, 15], 9]".into(),
            expected: "[0, 1]".into(),
        }],
        hints: vec![
            "What do you need to know about the numbers you have already seen?".into(),
            "For each number, the partner it needs is target - number.".into(),
            "A dictionary from value to index answers it in one pass.".into(),
        ],
        time_limit_ms: 1000,
    }
}

pub fn request(judged: Option<JudgedCode>, hints_revealed: u32) -> TutorRequest {
    TutorRequest {
        problem: two_sum(),
        code: judged.as_ref().map(|j| j.code.clone()),
        judged,
        hints_revealed,
        history: vec![],
        question: "Why does my code fail?".into(),
    }
}

pub fn verdict(kind: VerdictKind, passed: u32, total: u32) -> Verdict {
    Verdict {
        kind,
        passed,
        total,
        runtime_ms: 40,
        memory_kb: 9000,
        tests: (0..=passed.min(total - 1))
            .map(|i| TestOutcome {
                index: i,
                hidden: i > 0,
                verdict: if i < passed {
                    VerdictKind::Accepted
                } else {
                    kind
                },
                runtime_ms: 10,
                memory_kb: 9000,
            })
            .collect(),
        failed_example: None,
        message: None,
    }
}

pub fn failed_example(expected: &str, actual: &str) -> FailedExample {
    FailedExample {
        index: 0,
        input: "[[2, 7, 11, 15], 9]".into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

pub const QUADRATIC: &str = "def two_sum(nums, target):\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == target:\n                return [i, j]\n";
