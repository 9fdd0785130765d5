//! The forum's command handlers: post, reply, edit, delete, hide, vote.
//!
//! Each reads what the decision needs from the log (the author's account,
//! the problem, the parent comment) and lets the comment aggregate decide.
//! Ownership and the admin role are checked here, as for every command;
//! the rules about comments themselves live in `domain::forum`.

use chrono::Utc;
use domain::forum::{self, Comment, CommentCommand, CommentState, ParentFacts, Vote};
use domain::submission::ProblemFacts;
use domain::user::{User, UserState};
use domain::{CommentId, DomainError};

use crate::{Actor, Commands, Done, Error, Result, user_stream};

impl Commands {
    /// The acting user as the log has them; a deactivated account may not
    /// write to the forum even while an old token still reaches us.
    async fn active_user(&self, actor: &Actor) -> Result<UserState> {
        let (user, _) = self.load::<User>(&user_stream(actor.user_id)).await?;
        let state = user.0.ok_or(DomainError::NotFound("user"))?;
        if !state.active {
            return Err(Error::Deactivated);
        }
        Ok(state)
    }

    async fn comment(&self, id: CommentId) -> Result<Option<CommentState>> {
        Ok(self.load::<Comment>(&forum::stream(id)).await?.0.0)
    }

    /// Posts a comment on the published problem `slug`, or a reply to
    /// `parent` (a comment on the same problem that is neither deleted nor
    /// hidden).
    #[tracing::instrument(skip(self, actor, body), fields(user = %actor.user_id, comment_id))]
    pub async fn post_comment(
        &self,
        actor: &Actor,
        slug: &str,
        parent: Option<CommentId>,
        body: &str,
        spoiler: bool,
    ) -> Result<Done<CommentId>> {
        let author = self.active_user(actor).await?;
        let facts = self.problem_by_slug(slug).await?.map(ProblemFacts::from);
        let reply_to = match parent {
            Some(id) => Some((id, self.comment(id).await?.as_ref().map(ParentFacts::of))),
            None => None,
        };
        let comment_id = CommentId::new();
        tracing::Span::current().record("comment_id", tracing::field::display(comment_id));
        let at = Utc::now();
        let done = self
            .execute::<Comment>(&forum::stream(comment_id), Some(actor), |_| {
                CommentCommand::Post {
                    comment_id,
                    author_id: actor.user_id,
                    author_name: author.username.clone(),
                    problem: facts.clone(),
                    reply_to: reply_to.clone(),
                    body: body.to_string(),
                    spoiler,
                    at,
                }
            })
            .await?;
        Ok(Done {
            value: comment_id,
            cursor: done.cursor,
        })
    }

    /// The author only: replaces the comment's text and spoiler flag.
    #[tracing::instrument(skip(self, actor, body), fields(user = %actor.user_id, %id))]
    pub async fn edit_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        body: &str,
        spoiler: bool,
    ) -> Result<Done<()>> {
        self.own_comment(actor, id, "only its author may edit a comment")
            .await?;
        let at = Utc::now();
        self.comment_command(actor, id, |_| CommentCommand::Edit {
            by: actor.user_id,
            body: body.to_string(),
            spoiler,
            at,
        })
        .await
    }

    /// The author only. The comment stays in the log; readers see
    /// "[deleted]" in its place while it has replies.
    #[tracing::instrument(skip(self, actor), fields(user = %actor.user_id, %id))]
    pub async fn delete_comment(&self, actor: &Actor, id: CommentId) -> Result<Done<()>> {
        self.own_comment(actor, id, "only its author may delete a comment")
            .await?;
        let at = Utc::now();
        self.comment_command(actor, id, |_| CommentCommand::Delete {
            by: actor.user_id,
            at,
        })
        .await
    }

    /// Admins only: hides a comment from users, with a reason. Its text
    /// stays in the log.
    #[tracing::instrument(skip(self, actor, reason), fields(by = %actor.user_id, %id))]
    pub async fn hide_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        reason: &str,
    ) -> Result<Done<()>> {
        actor.require_admin()?;
        self.active_user(actor).await?;
        let at = Utc::now();
        self.comment_command(actor, id, |_| CommentCommand::Hide {
            by: actor.user_id,
            reason: reason.to_string(),
            at,
        })
        .await
    }

    /// Admins only.
    #[tracing::instrument(skip(self, actor), fields(by = %actor.user_id, %id))]
    pub async fn unhide_comment(&self, actor: &Actor, id: CommentId) -> Result<Done<()>> {
        actor.require_admin()?;
        self.active_user(actor).await?;
        let at = Utc::now();
        self.comment_command(actor, id, |_| CommentCommand::Unhide {
            by: actor.user_id,
            at,
        })
        .await
    }

    /// One vote per user and comment: a new vote replaces the old one,
    /// `Vote::None` takes it back, and repeating a vote changes nothing.
    #[tracing::instrument(skip(self, actor), fields(user = %actor.user_id, %id))]
    pub async fn vote_comment(&self, actor: &Actor, id: CommentId, vote: Vote) -> Result<Done<()>> {
        self.active_user(actor).await?;
        let at = Utc::now();
        self.comment_command(actor, id, |_| CommentCommand::CastVote {
            voter: actor.user_id,
            vote,
            at,
        })
        .await
    }

    /// NotFound for no such comment, Forbidden for someone else's.
    async fn own_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        forbidden: &'static str,
    ) -> Result<()> {
        self.active_user(actor).await?;
        let comment = self
            .comment(id)
            .await?
            .ok_or(DomainError::NotFound("comment"))?;
        if comment.author_id != actor.user_id {
            return Err(Error::Forbidden(forbidden));
        }
        Ok(())
    }

    async fn comment_command(
        &self,
        actor: &Actor,
        id: CommentId,
        command: impl Fn(&Comment) -> CommentCommand,
    ) -> Result<Done<()>> {
        let done = self
            .execute::<Comment>(&forum::stream(id), Some(actor), command)
            .await?;
        Ok(Done {
            value: (),
            cursor: done.cursor,
        })
    }
}
