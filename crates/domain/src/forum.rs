//! The forum: threaded comments on a problem. One aggregate per comment
//! (stream `comment-<id>`), so posting, editing and voting on different
//! comments never contend; a reply names its parent, whose facts (problem,
//! depth, whether it is still there) the handler reads from the parent's
//! stream and puts into the command.
//!
//! Who may do what: the author edits and deletes; admins hide (with a
//! reason) and unhide; anyone else votes, once (a new vote replaces the old
//! one). Hiding and deleting keep every earlier event in the log; readers
//! decide what to show.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::problem::ProblemStatus;
use crate::submission::ProblemFacts;
use crate::{Aggregate, CommentId, DomainError, ProblemId, Timestamp, UserId};

/// A comment's Markdown source is at most this many bytes.
pub const BODY_MAX_BYTES: usize = 10 * 1024;
/// A moderator's reason is at most this many characters.
pub const REASON_MAX: usize = 500;
/// Replies nest at most this deep (a top-level comment is depth 0).
pub const MAX_DEPTH: u32 = 16;

/// The stream that holds a comment's events.
pub fn stream(id: CommentId) -> String {
    format!("comment-{id}")
}

/// A reader's vote on a comment. `None` takes a vote back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vote {
    Up,
    Down,
    None,
}

impl Vote {
    /// What the vote adds to the comment's score.
    pub fn value(self) -> i64 {
        match self {
            Vote::Up => 1,
            Vote::Down => -1,
            Vote::None => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommentEvent {
    /// Carries the problem's slug and the author's name so that readers
    /// need no other stream.
    CommentPosted {
        comment_id: CommentId,
        problem_id: ProblemId,
        problem_slug: String,
        /// `None` for a top-level comment.
        parent_id: Option<CommentId>,
        depth: u32,
        author_id: UserId,
        author_name: String,
        /// Markdown, as written; rendered and sanitised by readers.
        body: String,
        spoiler: bool,
        at: Timestamp,
    },
    CommentEdited {
        comment_id: CommentId,
        problem_id: ProblemId,
        body: String,
        spoiler: bool,
        by: UserId,
        at: Timestamp,
    },
    /// By its author. The comment keeps its place in its thread while it
    /// has replies.
    CommentDeleted {
        comment_id: CommentId,
        problem_id: ProblemId,
        by: UserId,
        at: Timestamp,
    },
    /// By an admin; the comment's text stays in the log.
    CommentHidden {
        comment_id: CommentId,
        problem_id: ProblemId,
        reason: String,
        by: UserId,
        at: Timestamp,
    },
    CommentUnhidden {
        comment_id: CommentId,
        problem_id: ProblemId,
        by: UserId,
        at: Timestamp,
    },
    /// The voter's vote now; it replaces any earlier one.
    CommentVoted {
        comment_id: CommentId,
        problem_id: ProblemId,
        voter_id: UserId,
        vote: Vote,
        at: Timestamp,
    },
}

/// What the handler read about the comment replied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentFacts {
    pub comment_id: CommentId,
    pub problem_id: ProblemId,
    pub depth: u32,
    pub deleted: bool,
    pub hidden: bool,
}

impl ParentFacts {
    pub fn of(state: &CommentState) -> Self {
        Self {
            comment_id: state.id,
            problem_id: state.problem_id,
            depth: state.depth,
            deleted: state.deleted,
            hidden: state.hidden.is_some(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentCommand {
    Post {
        comment_id: CommentId,
        author_id: UserId,
        author_name: String,
        /// The problem as the log has it; `None` if there is none.
        problem: Option<ProblemFacts>,
        /// The comment replied to, and what the log says of it (`None`
        /// when there is no such comment).
        reply_to: Option<(CommentId, Option<ParentFacts>)>,
        body: String,
        spoiler: bool,
        at: Timestamp,
    },
    Edit {
        by: UserId,
        body: String,
        spoiler: bool,
        at: Timestamp,
    },
    Delete {
        by: UserId,
        at: Timestamp,
    },
    /// Admins only (checked by the handler).
    Hide {
        by: UserId,
        reason: String,
        at: Timestamp,
    },
    /// Admins only (checked by the handler).
    Unhide {
        by: UserId,
        at: Timestamp,
    },
    CastVote {
        voter: UserId,
        vote: Vote,
        at: Timestamp,
    },
}

/// The state a decision needs; `None` before the comment is posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comment(pub Option<CommentState>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentState {
    pub id: CommentId,
    pub problem_id: ProblemId,
    pub parent_id: Option<CommentId>,
    pub depth: u32,
    pub author_id: UserId,
    pub body: String,
    pub spoiler: bool,
    pub deleted: bool,
    /// The moderator's reason while hidden.
    pub hidden: Option<String>,
    /// Each voter's current vote (never `Vote::None`).
    pub votes: HashMap<UserId, Vote>,
}

/// A body is Markdown text: not blank, at most [`BODY_MAX_BYTES`], no NUL.
pub fn validate_body(body: &str) -> Result<(), DomainError> {
    if body.trim().is_empty() {
        return Err(DomainError::invalid("body", "must not be empty"));
    }
    if body.len() > BODY_MAX_BYTES {
        return Err(DomainError::invalid(
            "body",
            format!(
                "must be at most {BODY_MAX_BYTES} bytes (10 KiB); this one is {}",
                body.len()
            ),
        ));
    }
    if body.contains('\0') {
        return Err(DomainError::invalid(
            "body",
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

impl Aggregate for Comment {
    type Command = CommentCommand;
    type Event = CommentEvent;

    fn evolve(self, event: &CommentEvent) -> Self {
        use CommentEvent::*;
        let mut state = self.0;
        match event {
            CommentPosted {
                comment_id,
                problem_id,
                parent_id,
                depth,
                author_id,
                body,
                spoiler,
                ..
            } => {
                state = Some(CommentState {
                    id: *comment_id,
                    problem_id: *problem_id,
                    parent_id: *parent_id,
                    depth: *depth,
                    author_id: *author_id,
                    body: body.clone(),
                    spoiler: *spoiler,
                    deleted: false,
                    hidden: None,
                    votes: HashMap::new(),
                });
            }
            CommentEdited { body, spoiler, .. } => {
                if let Some(s) = state.as_mut() {
                    s.body = body.clone();
                    s.spoiler = *spoiler;
                }
            }
            CommentDeleted { .. } => {
                if let Some(s) = state.as_mut() {
                    s.deleted = true;
                }
            }
            CommentHidden { reason, .. } => {
                if let Some(s) = state.as_mut() {
                    s.hidden = Some(reason.clone());
                }
            }
            CommentUnhidden { .. } => {
                if let Some(s) = state.as_mut() {
                    s.hidden = None;
                }
            }
            CommentVoted { voter_id, vote, .. } => {
                if let Some(s) = state.as_mut() {
                    match vote {
                        Vote::None => s.votes.remove(voter_id),
                        v => s.votes.insert(*voter_id, *v),
                    };
                }
            }
        }
        Comment(state)
    }

    fn decide(&self, command: CommentCommand) -> Result<Vec<CommentEvent>, DomainError> {
        use CommentCommand::*;
        let Some(state) = &self.0 else {
            return match command {
                Post {
                    comment_id,
                    author_id,
                    author_name,
                    problem,
                    reply_to,
                    body,
                    spoiler,
                    at,
                } => post(
                    comment_id,
                    author_id,
                    author_name,
                    problem,
                    reply_to,
                    body,
                    spoiler,
                    at,
                ),
                _ => Err(DomainError::NotFound("comment")),
            };
        };
        let (comment_id, problem_id) = (state.id, state.problem_id);
        match command {
            Post { .. } => Err(DomainError::AlreadyExists("comment")),
            Edit {
                by,
                body,
                spoiler,
                at,
            } => {
                require_author(state, by, "edit")?;
                require_not_deleted(state)?;
                if state.hidden.is_some() {
                    return Err(DomainError::InvalidState(
                        "a comment hidden by a moderator cannot be edited".into(),
                    ));
                }
                validate_body(&body)?;
                if body == state.body && spoiler == state.spoiler {
                    return Ok(vec![]);
                }
                Ok(vec![CommentEvent::CommentEdited {
                    comment_id,
                    problem_id,
                    body,
                    spoiler,
                    by,
                    at,
                }])
            }
            Delete { by, at } => {
                require_author(state, by, "delete")?;
                require_not_deleted(state)?;
                Ok(vec![CommentEvent::CommentDeleted {
                    comment_id,
                    problem_id,
                    by,
                    at,
                }])
            }
            Hide { by, reason, at } => {
                require_not_deleted(state)?;
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Err(DomainError::invalid(
                        "reason",
                        "a moderator must say why a comment is hidden",
                    ));
                }
                if reason.chars().count() > REASON_MAX {
                    return Err(DomainError::invalid(
                        "reason",
                        format!("must be at most {REASON_MAX} characters"),
                    ));
                }
                if state.hidden.is_some() {
                    return Err(DomainError::InvalidState(
                        "the comment is already hidden".into(),
                    ));
                }
                Ok(vec![CommentEvent::CommentHidden {
                    comment_id,
                    problem_id,
                    reason,
                    by,
                    at,
                }])
            }
            Unhide { by, at } => {
                require_not_deleted(state)?;
                if state.hidden.is_none() {
                    return Err(DomainError::InvalidState(
                        "the comment is not hidden".into(),
                    ));
                }
                Ok(vec![CommentEvent::CommentUnhidden {
                    comment_id,
                    problem_id,
                    by,
                    at,
                }])
            }
            CastVote { voter, vote, at } => {
                require_not_deleted(state)?;
                if state.hidden.is_some() {
                    return Err(DomainError::InvalidState(
                        "a comment hidden by a moderator cannot be voted on".into(),
                    ));
                }
                if voter == state.author_id {
                    return Err(DomainError::InvalidState(
                        "you cannot vote on your own comment".into(),
                    ));
                }
                let current = state.votes.get(&voter).copied().unwrap_or(Vote::None);
                if current == vote {
                    return Ok(vec![]);
                }
                Ok(vec![CommentEvent::CommentVoted {
                    comment_id,
                    problem_id,
                    voter_id: voter,
                    vote,
                    at,
                }])
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn post(
    comment_id: CommentId,
    author_id: UserId,
    author_name: String,
    problem: Option<ProblemFacts>,
    reply_to: Option<(CommentId, Option<ParentFacts>)>,
    body: String,
    spoiler: bool,
    at: Timestamp,
) -> Result<Vec<CommentEvent>, DomainError> {
    // Users never learn of drafts, so an unpublished problem is "not found".
    let problem = match problem {
        Some(p) if p.status == ProblemStatus::Published => p,
        _ => return Err(DomainError::NotFound("problem")),
    };
    let (parent_id, depth) = match reply_to {
        None => (None, 0),
        Some((parent_id, facts)) => {
            let parent = match facts {
                Some(f) if f.comment_id == parent_id => f,
                _ => return Err(DomainError::NotFound("parent comment")),
            };
            if parent.problem_id != problem.problem_id {
                return Err(DomainError::invalid(
                    "parentId",
                    "is a comment on another problem",
                ));
            }
            if parent.deleted {
                return Err(DomainError::InvalidState(
                    "cannot reply to a deleted comment".into(),
                ));
            }
            if parent.hidden {
                return Err(DomainError::InvalidState(
                    "cannot reply to a comment hidden by a moderator".into(),
                ));
            }
            if parent.depth + 1 > MAX_DEPTH {
                return Err(DomainError::invalid(
                    "parentId",
                    format!("replies nest at most {MAX_DEPTH} deep"),
                ));
            }
            (Some(parent_id), parent.depth + 1)
        }
    };
    validate_body(&body)?;
    Ok(vec![CommentEvent::CommentPosted {
        comment_id,
        problem_id: problem.problem_id,
        problem_slug: problem.slug,
        parent_id,
        depth,
        author_id,
        author_name,
        body,
        spoiler,
        at,
    }])
}

fn require_author(state: &CommentState, by: UserId, what: &str) -> Result<(), DomainError> {
    if state.author_id == by {
        Ok(())
    } else {
        Err(DomainError::InvalidState(format!(
            "only its author may {what} a comment"
        )))
    }
}

fn require_not_deleted(state: &CommentState) -> Result<(), DomainError> {
    if state.deleted {
        Err(DomainError::InvalidState("the comment is deleted".into()))
    } else {
        Ok(())
    }
}
