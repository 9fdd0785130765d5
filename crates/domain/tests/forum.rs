//! Given/when/then tests of the comment aggregate: posting and replying,
//! editing and deleting one's own, moderation, and one vote per user.

use chrono::{TimeZone, Utc};
use domain::forum::*;
use domain::problem::ProblemStatus;
use domain::submission::ProblemFacts;
use domain::{Aggregate, CommentId, DomainError, ProblemId, Timestamp, UserId};

fn at() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn given(
    history: &[CommentEvent],
    command: CommentCommand,
) -> Result<Vec<CommentEvent>, DomainError> {
    Comment::replay(history).decide(command)
}

fn problem(id: ProblemId, status: ProblemStatus) -> ProblemFacts {
    ProblemFacts {
        problem_id: id,
        slug: "two-sum".into(),
        version: 1,
        status,
    }
}

struct World {
    problem: ProblemId,
    author: UserId,
    other: UserId,
    comment: CommentId,
}

fn world() -> World {
    World {
        problem: ProblemId::new(),
        author: UserId::new(),
        other: UserId::new(),
        comment: CommentId::new(),
    }
}

fn post(
    w: &World,
    reply_to: Option<(CommentId, Option<ParentFacts>)>,
    body: &str,
) -> CommentCommand {
    CommentCommand::Post {
        comment_id: w.comment,
        author_id: w.author,
        author_name: "ada".into(),
        problem: Some(problem(w.problem, ProblemStatus::Published)),
        reply_to,
        body: body.into(),
        spoiler: false,
        at: at(),
    }
}

fn posted(w: &World) -> CommentEvent {
    CommentEvent::CommentPosted {
        comment_id: w.comment,
        problem_id: w.problem,
        problem_slug: "two-sum".into(),
        parent_id: None,
        depth: 0,
        author_id: w.author,
        author_name: "ada".into(),
        body: "Use a hash map.".into(),
        spoiler: false,
        at: at(),
    }
}

fn parent(w: &World, depth: u32) -> (CommentId, ParentFacts) {
    let id = CommentId::new();
    (
        id,
        ParentFacts {
            comment_id: id,
            problem_id: w.problem,
            depth,
            deleted: false,
            hidden: false,
        },
    )
}

fn invalid_field(err: &DomainError) -> &'static str {
    match err {
        DomainError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn posts_a_top_level_comment_on_a_published_problem() {
    let w = world();
    let events = given(&[], post(&w, None, "Use a hash map.")).unwrap();
    assert_eq!(events, vec![posted(&w)]);
}

#[test]
fn rejects_a_comment_on_an_unknown_or_unpublished_problem() {
    let w = world();
    for facts in [
        None,
        Some(problem(w.problem, ProblemStatus::Draft)),
        Some(problem(w.problem, ProblemStatus::Archived)),
    ] {
        let mut command = post(&w, None, "hi");
        if let CommentCommand::Post { problem, .. } = &mut command {
            *problem = facts;
        }
        assert_eq!(given(&[], command), Err(DomainError::NotFound("problem")));
    }
}

#[test]
fn rejects_an_empty_an_oversized_or_a_nul_body() {
    let w = world();
    for bad in ["", "  \n\t ", "a\0b"] {
        let err = given(&[], post(&w, None, bad)).unwrap_err();
        assert_eq!(invalid_field(&err), "body", "{bad:?}");
    }
    let exactly = "x".repeat(BODY_MAX_BYTES);
    assert!(given(&[], post(&w, None, &exactly)).is_ok());
    let over = "x".repeat(BODY_MAX_BYTES + 1);
    let err = given(&[], post(&w, None, &over)).unwrap_err();
    assert_eq!(invalid_field(&err), "body");
    // Bytes, not characters: 3,414 three-byte characters are over 10 KiB.
    let wide = "€".repeat(BODY_MAX_BYTES / 3 + 1);
    assert!(given(&[], post(&w, None, &wide)).is_err());
}

#[test]
fn a_reply_records_its_parent_and_depth() {
    let w = world();
    let (pid, facts) = parent(&w, 2);
    let events = given(&[], post(&w, Some((pid, Some(facts))), "Agreed")).unwrap();
    match &events[..] {
        [
            CommentEvent::CommentPosted {
                parent_id, depth, ..
            },
        ] => {
            assert_eq!(*parent_id, Some(pid));
            assert_eq!(*depth, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_a_reply_to_a_missing_foreign_deleted_hidden_or_too_deep_parent() {
    let w = world();
    let (pid, _) = parent(&w, 0);
    assert_eq!(
        given(&[], post(&w, Some((pid, None)), "hi")),
        Err(DomainError::NotFound("parent comment"))
    );

    let (pid, mut foreign) = parent(&w, 0);
    foreign.problem_id = ProblemId::new();
    let err = given(&[], post(&w, Some((pid, Some(foreign))), "hi")).unwrap_err();
    assert_eq!(invalid_field(&err), "parentId");

    let (pid, mut deleted) = parent(&w, 0);
    deleted.deleted = true;
    assert!(matches!(
        given(&[], post(&w, Some((pid, Some(deleted))), "hi")),
        Err(DomainError::InvalidState(m)) if m.contains("deleted")
    ));

    let (pid, mut hidden) = parent(&w, 0);
    hidden.hidden = true;
    assert!(matches!(
        given(&[], post(&w, Some((pid, Some(hidden))), "hi")),
        Err(DomainError::InvalidState(m)) if m.contains("hidden")
    ));

    let (pid, deepest) = parent(&w, MAX_DEPTH);
    let err = given(&[], post(&w, Some((pid, Some(deepest))), "hi")).unwrap_err();
    assert_eq!(invalid_field(&err), "parentId");
}

#[test]
fn a_comment_is_posted_once() {
    let w = world();
    assert_eq!(
        given(&[posted(&w)], post(&w, None, "again")),
        Err(DomainError::AlreadyExists("comment"))
    );
}

#[test]
fn the_author_edits_and_deletes_their_comment_and_nobody_else_may() {
    let w = world();
    let edit = |by| CommentCommand::Edit {
        by,
        body: "Use a dict.".into(),
        spoiler: true,
        at: at(),
    };
    let events = given(&[posted(&w)], edit(w.author)).unwrap();
    assert_eq!(
        events,
        vec![CommentEvent::CommentEdited {
            comment_id: w.comment,
            problem_id: w.problem,
            body: "Use a dict.".into(),
            spoiler: true,
            by: w.author,
            at: at(),
        }]
    );
    assert!(matches!(
        given(&[posted(&w)], edit(w.other)),
        Err(DomainError::InvalidState(_))
    ));
    // An edit that changes nothing records nothing.
    let same = CommentCommand::Edit {
        by: w.author,
        body: "Use a hash map.".into(),
        spoiler: false,
        at: at(),
    };
    assert_eq!(given(&[posted(&w)], same), Ok(vec![]));

    let delete = |by| CommentCommand::Delete { by, at: at() };
    assert!(matches!(
        given(&[posted(&w)], delete(w.other)),
        Err(DomainError::InvalidState(_))
    ));
    let deleted = given(&[posted(&w)], delete(w.author)).unwrap();
    assert_eq!(
        deleted,
        vec![CommentEvent::CommentDeleted {
            comment_id: w.comment,
            problem_id: w.problem,
            by: w.author,
            at: at(),
        }]
    );
    let history = [posted(&w), deleted[0].clone()];
    assert!(given(&history, delete(w.author)).is_err(), "deleted once");
    assert!(
        given(&history, edit(w.author)).is_err(),
        "no edits after deletion"
    );
}

#[test]
fn an_edit_is_validated_like_a_post() {
    let w = world();
    let err = given(
        &[posted(&w)],
        CommentCommand::Edit {
            by: w.author,
            body: "x".repeat(BODY_MAX_BYTES + 1),
            spoiler: false,
            at: at(),
        },
    )
    .unwrap_err();
    assert_eq!(invalid_field(&err), "body");
}

#[test]
fn a_moderator_hides_with_a_reason_and_the_comment_is_then_frozen() {
    let w = world();
    let admin = UserId::new();
    let hide = |reason: &str| CommentCommand::Hide {
        by: admin,
        reason: reason.into(),
        at: at(),
    };
    let err = given(&[posted(&w)], hide("   ")).unwrap_err();
    assert_eq!(invalid_field(&err), "reason");
    let err = given(&[posted(&w)], hide(&"r".repeat(REASON_MAX + 1))).unwrap_err();
    assert_eq!(invalid_field(&err), "reason");

    let hidden = given(&[posted(&w)], hide(" spoils the answer ")).unwrap();
    assert_eq!(
        hidden,
        vec![CommentEvent::CommentHidden {
            comment_id: w.comment,
            problem_id: w.problem,
            reason: "spoils the answer".into(),
            by: admin,
            at: at(),
        }]
    );
    let history = [posted(&w), hidden[0].clone()];
    assert!(given(&history, hide("again")).is_err(), "hidden once");
    let edit = CommentCommand::Edit {
        by: w.author,
        body: "sneaky".into(),
        spoiler: false,
        at: at(),
    };
    assert!(given(&history, edit).is_err(), "no edits while hidden");
    let vote = CommentCommand::CastVote {
        voter: w.other,
        vote: Vote::Up,
        at: at(),
    };
    assert!(given(&history, vote).is_err(), "no votes while hidden");
    // The author may still delete it.
    assert!(
        given(
            &history,
            CommentCommand::Delete {
                by: w.author,
                at: at()
            }
        )
        .is_ok()
    );

    let unhide = CommentCommand::Unhide {
        by: admin,
        at: at(),
    };
    assert!(given(&[posted(&w)], unhide.clone()).is_err(), "not hidden");
    assert_eq!(given(&history, unhide).unwrap().len(), 1);
}

#[test]
fn one_vote_per_user_a_new_vote_replaces_the_old_one() {
    let w = world();
    let vote = |voter, vote| CommentCommand::CastVote {
        voter,
        vote,
        at: at(),
    };
    let voted = |vote| CommentEvent::CommentVoted {
        comment_id: w.comment,
        problem_id: w.problem,
        voter_id: w.other,
        vote,
        at: at(),
    };
    assert_eq!(
        given(&[posted(&w)], vote(w.other, Vote::Up)),
        Ok(vec![voted(Vote::Up)])
    );
    let history = [posted(&w), voted(Vote::Up)];
    assert_eq!(
        given(&history, vote(w.other, Vote::Up)),
        Ok(vec![]),
        "a repeat adds nothing"
    );
    assert_eq!(
        given(&history, vote(w.other, Vote::Down)),
        Ok(vec![voted(Vote::Down)])
    );
    assert_eq!(
        given(&history, vote(w.other, Vote::None)),
        Ok(vec![voted(Vote::None)])
    );
    let state = Comment::replay(&[posted(&w), voted(Vote::Up), voted(Vote::Down)]);
    assert_eq!(state.0.unwrap().votes.get(&w.other), Some(&Vote::Down));
    let cleared = Comment::replay(&[posted(&w), voted(Vote::Up), voted(Vote::None)]);
    assert!(cleared.0.as_ref().unwrap().votes.is_empty());
    assert_eq!(
        given(&[posted(&w)], vote(w.other, Vote::None)),
        Ok(vec![]),
        "taking back no vote is nothing"
    );
    assert!(matches!(
        given(&[posted(&w)], vote(w.author, Vote::Up)),
        Err(DomainError::InvalidState(m)) if m.contains("own")
    ));
}

#[test]
fn nothing_but_posting_works_on_a_comment_that_does_not_exist() {
    let w = world();
    assert_eq!(
        given(
            &[],
            CommentCommand::Delete {
                by: w.author,
                at: at()
            }
        ),
        Err(DomainError::NotFound("comment"))
    );
}
