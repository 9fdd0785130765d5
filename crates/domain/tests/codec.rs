//! The stored form of events is a contract with every database ever written.

use chrono::Utc;
use domain::codec::{self, CodecError, EVENT_TYPES};
use domain::forum::{CommentEvent, Vote};
use domain::problem::*;
use domain::reservation::*;
use domain::submission::*;
use domain::tutor::{MessageId, TutorEvent};
use domain::user::*;
use domain::{Event, ProblemId, RejudgeId, SubmissionId, UserId};

fn one_of_each() -> Vec<Event> {
    let c = domain::CommentId::new();
    let (u, p, at) = (UserId::new(), ProblemId::new(), Utc::now());
    let spec = ProblemSpec {
        title: "t".into(),
        statement: "s".into(),
        difficulty: Difficulty::Hard,
        tags: vec![],
        kind: ProblemKind::StdIo,
        template: String::new(),
        examples: vec![],
        hidden_tests: vec![TestCase {
            input: "1".into(),
            expected: "1".into(),
            explanation: None,
        }],
        limits: Limits::default(),
        checker: Checker::Float {
            abs_tol: 1e-6,
            rel_tol: 1e-9,
        },
        hints: Vec::new(),
    };
    vec![
        UserEvent::UserRegistered {
            user_id: u,
            username: "a".into(),
            email: "e".into(),
            password_hash: "h".into(),
            role: Role::Admin,
            at,
        }
        .into(),
        UserEvent::UserProfileUpdated {
            user_id: u,
            display_name: "d".into(),
            bio: "b".into(),
            at,
        }
        .into(),
        UserEvent::UserPasswordChanged {
            user_id: u,
            password_hash: "h".into(),
            session_epoch: 1,
            at,
        }
        .into(),
        UserEvent::UserRoleChanged {
            user_id: u,
            role: Role::Reviewer,
            by: u,
            at,
        }
        .into(),
        UserEvent::UserDeactivated {
            user_id: u,
            by: u,
            reason: "r".into(),
            session_epoch: 2,
            at,
        }
        .into(),
        UserEvent::UserReactivated {
            user_id: u,
            by: u,
            at,
        }
        .into(),
        ProblemEvent::ProblemCreated {
            problem_id: p,
            slug: "s".into(),
            spec: spec.clone(),
            version: 1,
            by: u,
            at,
        }
        .into(),
        ProblemEvent::ProblemEdited {
            problem_id: p,
            spec,
            version: 2,
            by: u,
            at,
        }
        .into(),
        ProblemEvent::ProblemPublished {
            problem_id: p,
            version: 2,
            by: u,
            at,
        }
        .into(),
        ProblemEvent::ProblemArchived {
            problem_id: p,
            by: u,
            at,
        }
        .into(),
        SubmissionEvent::SubmissionCreated {
            submission_id: SubmissionId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "s".into(),
            problem_version: 2,
            language: "python3".into(),
            code: "print(1)".into(),
            at,
        }
        .into(),
        ReservationEvent::KeyReserved {
            kind: ReservationKind::Email,
            key: "e".into(),
            owner: u.0,
            at,
        }
        .into(),
        SubmissionEvent::SubmissionJudged {
            submission_id: SubmissionId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "s".into(),
            problem_version: 2,
            verdict: Verdict {
                kind: VerdictKind::WrongAnswer,
                passed: 1,
                total: 3,
                runtime_ms: 12,
                memory_kb: 9000,
                tests: vec![TestOutcome {
                    index: 0,
                    hidden: false,
                    verdict: VerdictKind::Accepted,
                    runtime_ms: 12,
                    memory_kb: 9000,
                }],
                failed_example: Some(FailedExample {
                    index: 1,
                    input: "[1]".into(),
                    expected: "2".into(),
                    actual: "3".into(),
                }),
                message: None,
            },
            at,
            rejudge_id: None,
        }
        .into(),
        domain::playground::PlaygroundEvent::PlaygroundRunCompleted {
            user_id: u,
            code_bytes: 10,
            stdin_bytes: 0,
            exit_code: Some(0),
            signal: None,
            cpu_ms: 12,
            wall_ms: 20,
            memory_kb: 9000,
            limit_hit: None,
            at,
        }
        .into(),
        SubmissionEvent::SubmissionRejudgeRequested {
            submission_id: SubmissionId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "two-sum".into(),
            rejudge_id: RejudgeId::new(),
            problem_version: 2,
            previous_verdict: VerdictKind::Accepted,
            at,
        }
        .into(),
        domain::rejudge::RejudgeEvent::RejudgeStarted {
            rejudge_id: RejudgeId::new(),
            problem_id: p,
            problem_slug: "two-sum".into(),
            problem_version: 2,
            scope: domain::rejudge::RejudgeScope::Accepted,
            total: 3,
            by: u,
            at,
        }
        .into(),
        CommentEvent::CommentPosted {
            comment_id: c,
            problem_id: p,
            problem_slug: "two-sum".into(),
            parent_id: Some(domain::CommentId::new()),
            depth: 1,
            author_id: u,
            author_name: "ada".into(),
            body: "**hi**".into(),
            spoiler: true,
            at,
        }
        .into(),
        CommentEvent::CommentEdited {
            comment_id: c,
            problem_id: p,
            body: "hi".into(),
            spoiler: false,
            by: u,
            at,
        }
        .into(),
        CommentEvent::CommentDeleted {
            comment_id: c,
            problem_id: p,
            by: u,
            at,
        }
        .into(),
        CommentEvent::CommentHidden {
            comment_id: c,
            problem_id: p,
            reason: "spam".into(),
            by: u,
            at,
        }
        .into(),
        CommentEvent::CommentUnhidden {
            comment_id: c,
            problem_id: p,
            by: u,
            at,
        }
        .into(),
        CommentEvent::CommentVoted {
            comment_id: c,
            problem_id: p,
            voter_id: u,
            vote: Vote::Down,
            at,
        }
        .into(),
        TutorEvent::TutorMessageSent {
            message_id: MessageId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "two-sum".into(),
            text: "why?".into(),
            code: Some("def f(): pass".into()),
            submission_id: None,
            at,
        }
        .into(),
        TutorEvent::TutorReplied {
            message_id: MessageId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "two-sum".into(),
            text: "think".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 100,
            completion_tokens: 20,
            latency_ms: 900,
            hints_revealed: 1,
            replaced: false,
            at,
        }
        .into(),
        TutorEvent::TutorReplyFailed {
            message_id: MessageId::new(),
            user_id: u,
            problem_id: p,
            problem_slug: "two-sum".into(),
            model: "gpt-4o-mini".into(),
            code: "TIMEOUT".into(),
            error: "too slow".into(),
            latency_ms: 30_000,
            at,
        }
        .into(),
        TutorEvent::TutorQuotaUsed {
            user_id: u,
            day: at.date_naive(),
            message_id: MessageId::new(),
            at,
        }
        .into(),
    ]
}

#[test]
fn a_verdict_stored_before_rejudges_existed_decodes_as_a_first_judgement() {
    let event = one_of_each()
        .into_iter()
        .find(|e| codec::encode(e).event_type == "SubmissionJudged")
        .unwrap();
    let enc = codec::encode(&event);
    assert!(
        enc.data.get("rejudge_id").is_none(),
        "a first judgement stores no rejudge id, as before"
    );
    let Event::Submission(SubmissionEvent::SubmissionJudged { rejudge_id, .. }) =
        codec::decode(enc.event_type, 1, enc.data).unwrap()
    else {
        panic!("decodes as a verdict")
    };
    assert_eq!(rejudge_id, None);
}

#[test]
fn every_event_round_trips_under_its_pinned_type_name() {
    let events = one_of_each();
    let names: Vec<&str> = events.iter().map(|e| codec::encode(e).event_type).collect();
    let pinned: Vec<&str> = EVENT_TYPES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, pinned,
        "every stored type name is pinned; renaming one breaks old logs"
    );
    for event in events {
        let enc = codec::encode(&event);
        assert_eq!(enc.schema_version, 1);
        assert!(
            enc.data.get("at").is_some(),
            "payload is the bare struct, no Rust path: {}",
            enc.data
        );
        let back = codec::decode(enc.event_type, enc.schema_version, enc.data).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn rejects_unknown_types_future_versions_and_bad_payloads() {
    assert!(matches!(
        codec::decode("Nope", 1, serde_json::json!({})),
        Err(CodecError::UnknownType(_))
    ));
    assert!(matches!(
        codec::decode("UserRegistered", 9, serde_json::json!({})),
        Err(CodecError::FutureVersion { .. })
    ));
    assert!(matches!(
        codec::decode("UserRegistered", 1, serde_json::json!({"user_id": 1})),
        Err(CodecError::Malformed { .. })
    ));
}

#[test]
fn every_event_decodes_from_its_stored_text_as_from_its_value() {
    for event in one_of_each() {
        let enc = codec::encode(&event);
        let text = enc.data.to_string();
        let back = codec::decode_text(enc.event_type, enc.schema_version, &text).unwrap();
        assert_eq!(back, event, "{}", enc.event_type);
    }
}

#[test]
fn decoding_text_rejects_what_decoding_values_rejects() {
    assert!(matches!(
        codec::decode_text("Nope", 1, "{}"),
        Err(CodecError::UnknownType(_))
    ));
    assert!(matches!(
        codec::decode_text("UserRegistered", 9, "{}"),
        Err(CodecError::FutureVersion { .. })
    ));
    for bad in [r#"{"user_id": 1}"#, "not json", r#"{"a":1}} , {"#, ""] {
        assert!(
            matches!(
                codec::decode_text("UserRegistered", 1, bad),
                Err(CodecError::Malformed { .. })
            ),
            "{bad}"
        );
    }
}
