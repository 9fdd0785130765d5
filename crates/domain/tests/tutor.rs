//! Given/when/then tests of the tutor conversation aggregate.

use chrono::{Duration, TimeZone, Utc};
use domain::problem::ProblemStatus;
use domain::tutor::*;
use domain::{Aggregate, DomainError, ProblemId, Timestamp, UserId};

fn at() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

struct World {
    user: UserId,
    problem: ProblemId,
}

impl World {
    fn new() -> Self {
        Self {
            user: UserId::new(),
            problem: ProblemId::new(),
        }
    }

    fn facts(&self, status: ProblemStatus) -> Option<TutorProblemFacts> {
        Some(TutorProblemFacts {
            problem_id: self.problem,
            slug: "two-sum".into(),
            status,
        })
    }

    fn ask(
        &self,
        id: MessageId,
        text: &str,
        used: u32,
        limit: u32,
        when: Timestamp,
    ) -> TutorCommand {
        TutorCommand::Ask {
            message_id: id,
            user_id: self.user,
            problem: self.facts(ProblemStatus::Published),
            text: text.into(),
            code: Some("def two_sum(nums, target): pass".into()),
            submission_id: None,
            quota: QuotaFacts {
                day: when.date_naive(),
                used,
                daily_limit: limit,
            },
            at: when,
        }
    }

    fn sent(&self, id: MessageId, when: Timestamp) -> TutorEvent {
        TutorEvent::TutorMessageSent {
            message_id: id,
            user_id: self.user,
            problem_id: self.problem,
            problem_slug: "two-sum".into(),
            text: "why?".into(),
            code: Some("def two_sum(nums, target): pass".into()),
            submission_id: None,
            at: when,
        }
    }

    fn replied(&self, id: MessageId, hints: u32) -> TutorEvent {
        TutorEvent::TutorReplied {
            message_id: id,
            user_id: self.user,
            problem_id: self.problem,
            problem_slug: "two-sum".into(),
            text: "think".into(),
            model: "m".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
            latency_ms: 5,
            hints_revealed: hints,
            replaced: false,
            at: at(),
        }
    }
}

fn reply(id: MessageId, hints: u32) -> TutorCommand {
    TutorCommand::RecordReply {
        message_id: id,
        text: "a hint".into(),
        model: "m".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        latency_ms: 100,
        hints_revealed: hints,
        replaced: false,
        at: at(),
    }
}

fn given(history: &[TutorEvent], command: TutorCommand) -> Result<Vec<TutorEvent>, DomainError> {
    Conversation::replay(history).decide(command)
}

#[test]
fn a_question_is_recorded_with_its_quota_unit() {
    let w = World::new();
    let id = MessageId::new();
    let events = given(&[], w.ask(id, "  why?  ", 3, 5, at())).unwrap();
    assert_eq!(events[0], w.sent(id, at()), "the text is trimmed");
    assert_eq!(
        events[1],
        TutorEvent::TutorQuotaUsed {
            user_id: w.user,
            day: at().date_naive(),
            message_id: id,
            at: at(),
        }
    );
}

#[test]
fn rejects_a_question_once_the_daily_quota_is_used_up() {
    let w = World::new();
    let err = given(&[], w.ask(MessageId::new(), "why?", 5, 5, at())).unwrap_err();
    assert!(matches!(err, DomainError::LimitReached(_)), "{err:?}");
    assert!(
        given(&[], w.ask(MessageId::new(), "why?", 500, 0, at())).is_ok(),
        "0 is no limit"
    );
}

#[test]
fn rejects_a_question_about_an_unpublished_or_unknown_problem() {
    let w = World::new();
    let mut ask = w.ask(MessageId::new(), "why?", 0, 5, at());
    if let TutorCommand::Ask { problem, .. } = &mut ask {
        *problem = w.facts(ProblemStatus::Draft);
    }
    assert_eq!(
        given(&[], ask.clone()),
        Err(DomainError::NotFound("problem"))
    );
    if let TutorCommand::Ask { problem, .. } = &mut ask {
        *problem = None;
    }
    assert_eq!(given(&[], ask), Err(DomainError::NotFound("problem")));
}

#[test]
fn rejects_an_empty_or_oversized_question_or_code() {
    let w = World::new();
    for text in ["", "   ", &"x".repeat(QUESTION_MAX_CHARS + 1)] {
        let err = given(&[], w.ask(MessageId::new(), text, 0, 5, at())).unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::Invalid {
                    field: "message",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let mut ask = w.ask(MessageId::new(), "why?", 0, 5, at());
    if let TutorCommand::Ask { code, .. } = &mut ask {
        *code = Some("x".repeat(CODE_MAX_BYTES + 1));
    }
    assert!(matches!(
        given(&[], ask),
        Err(DomainError::Invalid { field: "code", .. })
    ));
}

#[test]
fn one_question_at_a_time_until_the_pending_one_is_given_up_on() {
    let w = World::new();
    let first = MessageId::new();
    let history = [w.sent(first, at())];
    let soon = at() + Duration::seconds(10);
    let err = given(&history, w.ask(MessageId::new(), "again?", 1, 5, soon)).unwrap_err();
    assert!(matches!(err, DomainError::InvalidState(_)));
    let later = at() + Duration::seconds(PENDING_TIMEOUT_SECS + 1);
    assert!(given(&history, w.ask(MessageId::new(), "again?", 1, 5, later)).is_ok());
    let answered = [w.sent(first, at()), w.replied(first, 1)];
    assert!(given(&answered, w.ask(MessageId::new(), "again?", 1, 5, soon)).is_ok());
}

#[test]
fn a_question_is_answered_once_and_hints_never_go_back() {
    let w = World::new();
    let id = MessageId::new();
    let history = [w.sent(id, at())];
    let events = given(&history, reply(id, 2)).unwrap();
    assert!(matches!(
        &events[0],
        TutorEvent::TutorReplied {
            hints_revealed: 2,
            ..
        }
    ));
    let answered = [w.sent(id, at()), w.replied(id, 2)];
    assert!(matches!(
        given(&answered, reply(id, 3)),
        Err(DomainError::InvalidState(_))
    ));
    let next = MessageId::new();
    let more = [w.sent(id, at()), w.replied(id, 2), w.sent(next, at())];
    let events = given(&more, reply(next, 0)).unwrap();
    assert!(
        matches!(
            &events[0],
            TutorEvent::TutorReplied {
                hints_revealed: 2,
                ..
            }
        ),
        "an answer that reveals nothing keeps the hints already given"
    );
    assert_eq!(Conversation::replay(&more).0.unwrap().hints_revealed, 2);
}

#[test]
fn a_failure_is_recorded_for_a_pending_question_and_keeps_it() {
    let w = World::new();
    let id = MessageId::new();
    let history = [w.sent(id, at())];
    let fail = TutorCommand::RecordFailure {
        message_id: id,
        model: "m".into(),
        code: "TIMEOUT".into(),
        error: "too slow".into(),
        latency_ms: 30_000,
        at: at(),
    };
    let events = given(&history, fail.clone()).unwrap();
    let state = Conversation::replay(history.iter().chain(&events))
        .0
        .unwrap();
    assert_eq!(state.exchanges[0].question, "why?");
    assert_eq!(state.exchanges[0].reply, Some(Err("TIMEOUT".into())));
    assert_eq!(
        given(&[], fail),
        Err(DomainError::NotFound("tutor message"))
    );
}
