//! Given/when/then tests of every command's accept and reject path.

use chrono::{TimeZone, Utc};
use domain::problem::*;
use domain::submission::*;
use domain::user::*;
use domain::{Aggregate, DomainError, ProblemId, RejudgeId, SubmissionId, Timestamp, UserId};

fn at() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// Given `history`, when `command`, then the result.
fn given<A: Aggregate>(
    history: &[A::Event],
    command: A::Command,
) -> Result<Vec<A::Event>, DomainError> {
    A::replay(history).decide(command)
}

fn registered(id: UserId) -> UserEvent {
    UserEvent::UserRegistered {
        user_id: id,
        username: "ada".into(),
        email: "ada@example.org".into(),
        password_hash: "$argon2id$fake".into(),
        role: Role::User,
        at: at(),
    }
}

fn register(id: UserId, username: &str, email: &str) -> UserCommand {
    UserCommand::Register {
        user_id: id,
        username: username.into(),
        email: email.into(),
        password_hash: "$argon2id$fake".into(),
        role: Role::User,
        at: at(),
    }
}

#[test]
fn registers_a_new_user() {
    let id = UserId::new();
    let events = given::<User>(&[], register(id, "ada", "ada@example.org")).unwrap();
    assert_eq!(events, vec![registered(id)]);
}

#[test]
fn rejects_a_malformed_username_or_email() {
    let id = UserId::new();
    for bad in ["ab", "1ada", "ada lovelace", "ada<script>", &"a".repeat(33)] {
        let err = given::<User>(&[], register(id, bad, "ada@example.org")).unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::Invalid {
                    field: "username",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
    for bad in [
        "ada",
        "ada@",
        "@x.org",
        "ada@org",
        "a da@x.org",
        "a@b@c.org",
    ] {
        let err = given::<User>(&[], register(id, "ada", bad)).unwrap_err();
        assert!(
            matches!(err, DomainError::Invalid { field: "email", .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn rejects_registering_the_same_user_twice() {
    let id = UserId::new();
    let err = given::<User>(&[registered(id)], register(id, "ada", "ada@example.org")).unwrap_err();
    assert_eq!(err, DomainError::AlreadyExists("user"));
}

#[test]
fn rejects_commands_to_an_unknown_user() {
    let err = given::<User>(
        &[],
        UserCommand::Reactivate {
            by: UserId::new(),
            at: at(),
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::NotFound("user"));
}

#[test]
fn updates_a_profile_within_limits() {
    let id = UserId::new();
    let ok = given::<User>(
        &[registered(id)],
        UserCommand::UpdateProfile {
            display_name: " Ada L. ".into(),
            bio: "Counts.".into(),
            at: at(),
        },
    )
    .unwrap();
    assert_eq!(
        ok,
        vec![UserEvent::UserProfileUpdated {
            user_id: id,
            display_name: "Ada L.".into(),
            bio: "Counts.".into(),
            at: at()
        }]
    );
    let err = given::<User>(
        &[registered(id)],
        UserCommand::UpdateProfile {
            display_name: "x".repeat(65),
            bio: String::new(),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Invalid {
            field: "displayName",
            ..
        }
    ));
}

#[test]
fn changing_the_password_ends_older_sessions() {
    let id = UserId::new();
    let events = given::<User>(
        &[registered(id)],
        UserCommand::ChangePassword {
            password_hash: "$argon2id$new".into(),
            at: at(),
        },
    )
    .unwrap();
    assert!(matches!(
        events[..],
        [UserEvent::UserPasswordChanged {
            session_epoch: 1,
            ..
        }]
    ));
}

#[test]
fn deactivation_ends_sessions_and_blocks_changes_until_reactivated() {
    let id = UserId::new();
    let admin = UserId::new();
    let deactivated = given::<User>(
        &[registered(id)],
        UserCommand::Deactivate {
            by: admin,
            reason: "spam".into(),
            at: at(),
        },
    )
    .unwrap();
    assert!(matches!(
        deactivated[..],
        [UserEvent::UserDeactivated {
            session_epoch: 1,
            ..
        }]
    ));

    let history = [registered(id), deactivated[0].clone()];
    let state = User::replay(&history);
    assert!(!state.0.as_ref().unwrap().active);

    let err = given::<User>(
        &history,
        UserCommand::Deactivate {
            by: admin,
            reason: String::new(),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let err = given::<User>(
        &history,
        UserCommand::ChangePassword {
            password_hash: "h".into(),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));

    let back = given::<User>(
        &history,
        UserCommand::Reactivate {
            by: admin,
            at: at(),
        },
    )
    .unwrap();
    assert_eq!(
        back,
        vec![UserEvent::UserReactivated {
            user_id: id,
            by: admin,
            at: at()
        }]
    );
}

#[test]
fn rejects_reactivating_an_active_user_and_self_deactivation() {
    let id = UserId::new();
    let err = given::<User>(
        &[registered(id)],
        UserCommand::Reactivate {
            by: UserId::new(),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let err = given::<User>(
        &[registered(id)],
        UserCommand::Deactivate {
            by: id,
            reason: String::new(),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
}

#[test]
fn changes_a_role_but_not_ones_own() {
    let id = UserId::new();
    let admin = UserId::new();
    let ok = given::<User>(
        &[registered(id)],
        UserCommand::ChangeRole {
            role: Role::Reviewer,
            by: admin,
            at: at(),
        },
    )
    .unwrap();
    assert_eq!(
        ok,
        vec![UserEvent::UserRoleChanged {
            user_id: id,
            role: Role::Reviewer,
            by: admin,
            at: at()
        }]
    );
    let same = given::<User>(
        &[registered(id)],
        UserCommand::ChangeRole {
            role: Role::User,
            by: admin,
            at: at(),
        },
    )
    .unwrap();
    assert!(same.is_empty());
    let err = given::<User>(
        &[registered(id)],
        UserCommand::ChangeRole {
            role: Role::Admin,
            by: id,
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
}

pub fn spec() -> ProblemSpec {
    ProblemSpec {
        title: "Two Sum".into(),
        statement: "Find two numbers that add up to a target.".into(),
        difficulty: Difficulty::Easy,
        tags: vec!["arrays".into(), "hash-map".into()],
        kind: ProblemKind::Function {
            entry_point: "two_sum".into(),
            params: vec!["nums".into(), "target".into()],
        },
        template: "def two_sum(nums, target):\n    pass\n".into(),
        examples: vec![TestCase {
            input: "[[2,7,11,15], 9]".into(),
            expected: "[0,1]".into(),
            explanation: None,
        }],
        hidden_tests: vec![TestCase {
            input: "[[3,3], 6]".into(),
            expected: "[0,1]".into(),
            explanation: None,
        }],
        limits: Limits::default(),
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

fn created(id: ProblemId) -> ProblemEvent {
    ProblemEvent::ProblemCreated {
        problem_id: id,
        slug: "two-sum".into(),
        spec: spec(),
        version: 1,
        by: UserId::default(),
        at: at(),
    }
}

fn create(id: ProblemId, slug: &str, spec: ProblemSpec) -> ProblemCommand {
    ProblemCommand::Create {
        problem_id: id,
        slug: slug.into(),
        spec,
        by: UserId::default(),
        at: at(),
    }
}

#[test]
fn creates_a_problem_as_a_draft_at_version_one() {
    let id = ProblemId::new();
    let events = given::<Problem>(&[], create(id, "two-sum", spec())).unwrap();
    assert_eq!(events, vec![created(id)]);
    let state = Problem::replay(&events).0.unwrap();
    assert_eq!((state.status, state.version), (ProblemStatus::Draft, 1));
}

#[test]
fn rejects_a_problem_with_a_bad_slug_or_spec() {
    let id = ProblemId::new();
    for slug in ["Two-Sum", "-two", "two--sum", "ab", "two_sum"] {
        let err = given::<Problem>(&[], create(id, slug, spec())).unwrap_err();
        assert!(
            matches!(err, DomainError::Invalid { field: "slug", .. }),
            "{slug}"
        );
    }
    type Mutation = Box<dyn Fn(&mut ProblemSpec)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("title", Box::new(|s| s.title = " ".into())),
        ("timeLimitMs", Box::new(|s| s.limits.time_limit_ms = 50)),
        (
            "memoryLimitMb",
            Box::new(|s| s.limits.memory_limit_mb = 4096),
        ),
        ("hiddenTests", Box::new(|s| s.hidden_tests.clear())),
        (
            "hiddenTests",
            Box::new(|s| s.hidden_tests[0].input = "[1,2,3]".into()),
        ),
        (
            "examples",
            Box::new(|s| s.examples[0].expected = "not json".into()),
        ),
        (
            "entryPoint",
            Box::new(|s| {
                s.kind = ProblemKind::Function {
                    entry_point: "2sum".into(),
                    params: vec![],
                }
            }),
        ),
        (
            "template",
            Box::new(|s| s.template = "def other(): pass".into()),
        ),
        (
            "checker",
            Box::new(|s| {
                s.checker = Checker::Float {
                    abs_tol: 0.0,
                    rel_tol: 0.0,
                }
            }),
        ),
        ("tags", Box::new(|s| s.tags = vec!["Bad Tag".into()])),
    ];
    for (field, mutate) in cases {
        let mut s = spec();
        mutate(&mut s);
        let err = given::<Problem>(&[], create(id, "two-sum", s)).unwrap_err();
        assert!(
            matches!(err, DomainError::Invalid { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
}

#[test]
fn stdio_problems_take_free_text_tests() {
    let mut s = spec();
    s.kind = ProblemKind::StdIo;
    s.template = "import sys\n".into();
    s.hidden_tests[0].input = "3 3\n6\n".into();
    s.hidden_tests[0].expected = "0 1\n".into();
    assert!(given::<Problem>(&[], create(ProblemId::new(), "two-sum-io", s)).is_ok());
}

#[test]
fn editing_bumps_the_version_and_a_no_op_edit_records_nothing() {
    let id = ProblemId::new();
    let mut s = spec();
    s.title = "Two Sum II".into();
    let events = given::<Problem>(
        &[created(id)],
        ProblemCommand::Edit {
            spec: s,
            by: UserId::default(),
            at: at(),
        },
    )
    .unwrap();
    assert!(matches!(
        events[..],
        [ProblemEvent::ProblemEdited { version: 2, .. }]
    ));
    let none = given::<Problem>(
        &[created(id)],
        ProblemCommand::Edit {
            spec: spec(),
            by: UserId::default(),
            at: at(),
        },
    )
    .unwrap();
    assert!(none.is_empty());
    let err = given::<Problem>(
        &[],
        ProblemCommand::Edit {
            spec: spec(),
            by: UserId::default(),
            at: at(),
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::NotFound("problem"));
}

#[test]
fn publishes_and_archives_once_each() {
    let id = ProblemId::new();
    let by = UserId::default();
    let published =
        given::<Problem>(&[created(id)], ProblemCommand::Publish { by, at: at() }).unwrap();
    assert_eq!(
        published,
        vec![ProblemEvent::ProblemPublished {
            problem_id: id,
            version: 1,
            by,
            at: at()
        }]
    );
    let history = [created(id), published[0].clone()];
    let err = given::<Problem>(&history, ProblemCommand::Publish { by, at: at() }).unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let archived = given::<Problem>(&history, ProblemCommand::Archive { by, at: at() }).unwrap();
    let history = [created(id), published[0].clone(), archived[0].clone()];
    let err = given::<Problem>(&history, ProblemCommand::Archive { by, at: at() }).unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    // An archived problem can be published again.
    assert!(given::<Problem>(&history, ProblemCommand::Publish { by, at: at() }).is_ok());
}

fn facts(status: ProblemStatus) -> ProblemFacts {
    ProblemFacts {
        problem_id: ProblemId::default(),
        slug: "two-sum".into(),
        version: 3,
        status,
    }
}

fn submit(problem: Option<ProblemFacts>, code: &str) -> SubmissionCommand {
    SubmissionCommand::Create {
        submission_id: SubmissionId::default(),
        user_id: UserId::default(),
        problem,
        code: code.into(),
        at: at(),
    }
}

#[test]
fn accepts_a_submission_to_a_published_problem_against_its_current_version() {
    let events = given::<Submission>(
        &[],
        submit(
            Some(facts(ProblemStatus::Published)),
            "def two_sum(n, t): pass",
        ),
    )
    .unwrap();
    assert!(
        matches!(&events[..], [SubmissionEvent::SubmissionCreated { problem_version: 3, language, .. }] if language == "python3")
    );
}

#[test]
fn rejects_a_submission_to_an_unpublished_or_missing_problem() {
    for problem in [
        None,
        Some(facts(ProblemStatus::Draft)),
        Some(facts(ProblemStatus::Archived)),
    ] {
        let err = given::<Submission>(&[], submit(problem, "pass")).unwrap_err();
        assert_eq!(err, DomainError::NotFound("problem"));
    }
}

#[test]
fn rejects_empty_oversized_or_nul_code() {
    let big = "#".repeat(CODE_MAX_BYTES + 1);
    for code in ["  \n", big.as_str(), "print(1)\0"] {
        let err = given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), code))
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid { field: "code", .. }));
    }
    let exactly = "#".repeat(CODE_MAX_BYTES);
    assert!(
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), &exactly)).is_ok()
    );
}

#[test]
fn rejects_a_second_create_of_the_same_submission() {
    let first =
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), "pass")).unwrap();
    let err = given::<Submission>(
        &first,
        submit(Some(facts(ProblemStatus::Published)), "pass"),
    )
    .unwrap_err();
    assert_eq!(err, DomainError::AlreadyExists("submission"));
}

fn verdict(kind: VerdictKind) -> Verdict {
    Verdict {
        kind,
        passed: 2,
        total: 2,
        runtime_ms: 30,
        memory_kb: 9000,
        tests: vec![],
        failed_example: None,
        message: None,
    }
}

#[test]
fn records_exactly_one_verdict_for_a_submission() {
    let created =
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), "pass")).unwrap();
    let judged = given::<Submission>(
        &created,
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap();
    assert!(
        matches!(&judged[..], [SubmissionEvent::SubmissionJudged { problem_version: 3, problem_slug, verdict, .. }]
        if problem_slug == "two-sum" && verdict.kind == VerdictKind::Accepted)
    );
    let history = [created[0].clone(), judged[0].clone()];
    let err = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: verdict(VerdictKind::WrongAnswer),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
}

#[test]
fn rejects_a_verdict_for_an_unknown_submission_or_an_impossible_count() {
    let err = given::<Submission>(
        &[],
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::NotFound("submission"));
    let created =
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), "pass")).unwrap();
    let mut bad = verdict(VerdictKind::Accepted);
    bad.passed = 3;
    let err = given::<Submission>(
        &created,
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: bad,
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DomainError::Invalid {
            field: "verdict",
            ..
        }
    ));
}

fn judged_history(kind: VerdictKind) -> Vec<SubmissionEvent> {
    let mut history =
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), "pass")).unwrap();
    let judged = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: verdict(kind),
            at: at(),
        },
    )
    .unwrap();
    history.extend(judged);
    history
}

fn rejudge(history: &[SubmissionEvent], id: RejudgeId, version: u32) -> Vec<SubmissionEvent> {
    let problem_id = match &history[0] {
        SubmissionEvent::SubmissionCreated { problem_id, .. } => *problem_id,
        _ => unreachable!(),
    };
    given::<Submission>(
        history,
        SubmissionCommand::RequestRejudge {
            rejudge_id: id,
            problem_id,
            problem_version: version,
            at: at(),
        },
    )
    .unwrap()
}

#[test]
fn a_rejudge_gets_exactly_one_new_verdict_against_the_new_version() {
    let mut history = judged_history(VerdictKind::Accepted);
    let id = RejudgeId::new();
    history.extend(rejudge(&history, id, 4));
    assert_eq!(
        Submission::replay(&history).0.unwrap().awaiting(),
        Some(Some(id))
    );
    // A verdict for the first judgement again (a late redelivery) is refused.
    let err = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: None,
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let judged = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: Some(id),
            verdict: verdict(VerdictKind::WrongAnswer),
            at: at(),
        },
    )
    .unwrap();
    assert!(matches!(
        &judged[..],
        [SubmissionEvent::SubmissionJudged { problem_version: 4, rejudge_id: Some(r), verdict, .. }]
        if *r == id && verdict.kind == VerdictKind::WrongAnswer
    ));
    history.extend(judged);
    let state = Submission::replay(&history).0.unwrap();
    assert_eq!(state.awaiting(), None);
    assert_eq!(state.verdict.unwrap().kind, VerdictKind::WrongAnswer);
    let err = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: Some(id),
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, DomainError::InvalidState(_)),
        "the rejudge's verdict is recorded once"
    );
}

#[test]
fn a_newer_rejudge_supersedes_one_still_pending() {
    let mut history = judged_history(VerdictKind::Accepted);
    let (old, new) = (RejudgeId::new(), RejudgeId::new());
    history.extend(rejudge(&history, old, 4));
    history.extend(rejudge(&history, new, 5));
    let stale = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: Some(old),
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(stale, DomainError::InvalidState(_)));
    let judged = given::<Submission>(
        &history,
        SubmissionCommand::RecordVerdict {
            rejudge_id: Some(new),
            verdict: verdict(VerdictKind::Accepted),
            at: at(),
        },
    )
    .unwrap();
    assert!(matches!(
        &judged[..],
        [SubmissionEvent::SubmissionJudged {
            problem_version: 5,
            ..
        }]
    ));
}

#[test]
fn only_a_judged_submission_of_that_problem_is_rejudged() {
    let created =
        given::<Submission>(&[], submit(Some(facts(ProblemStatus::Published)), "pass")).unwrap();
    let SubmissionEvent::SubmissionCreated { problem_id, .. } = &created[0] else {
        unreachable!()
    };
    let err = given::<Submission>(
        &created,
        SubmissionCommand::RequestRejudge {
            rejudge_id: RejudgeId::new(),
            problem_id: *problem_id,
            problem_version: 4,
            at: at(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let history = judged_history(VerdictKind::Accepted);
    let err = given::<Submission>(
        &history,
        SubmissionCommand::RequestRejudge {
            rejudge_id: RejudgeId::new(),
            problem_id: ProblemId::new(),
            problem_version: 4,
            at: at(),
        },
    )
    .unwrap_err();
    assert_eq!(err, DomainError::NotFound("submission"));
}
