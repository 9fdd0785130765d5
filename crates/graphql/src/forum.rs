//! The forum's part of the API: comments on a problem as a thread, the
//! mutations on them, and `commentAdded`, a subscription that hears of a
//! new comment once the read model has it.
//!
//! What a reader sees of a comment is decided here, from the read model's
//! row and the reader: users see live comments, and a deleted or hidden
//! comment only as a placeholder ("[deleted]", "[hidden by a moderator]")
//! while replies hang below it; admins also see hidden comments and their
//! text. A spoiler's HTML comes only when the reader asks (`reveal: true`).
//! HTML is rendered from Markdown and sanitised by the projection; the
//! Markdown source goes back only to its author and to admins.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use commands::Actor;
use domain::forum::{CommentEvent, Vote as DomainVote};
use domain::user::Role;
use domain::{CommentId, Event, ProblemId};
use futures::{Stream, StreamExt};
use projections::forum::{self as read, Audience, CommentSort as ReadSort, CommentView};

use crate::context::{RequestCtx, Services, request, services};
use crate::error::{Code, api_error, from_command, from_read, internal};
use crate::live::{self, Heard};
use crate::schema::page;
use crate::schema::{parse_id, problem_view};
use crate::subscription::{UpdateReason, session, until_expired};

const DELETED: &str = "[deleted]";
const HIDDEN: &str = "[hidden by a moderator]";

/// The reader, if logged in. Subscriptions have no request context.
fn viewer(ctx: &Context<'_>) -> Option<Actor> {
    ctx.data_opt::<RequestCtx>().and_then(|r| r.actor)
}

fn is_admin(viewer: Option<&Actor>) -> bool {
    viewer.is_some_and(|a| a.role == Role::Admin)
}

fn audience(viewer: Option<&Actor>) -> Audience {
    if is_admin(viewer) {
        Audience::Moderators
    } else {
        Audience::Users
    }
}

/// The published problem `slug` (any problem, for admins); NOT_FOUND else.
async fn problem_id(
    s: &Services,
    slug: &str,
    viewer: Option<&Actor>,
) -> async_graphql::Result<ProblemId> {
    problem_view(&s.db, slug, is_admin(viewer))
        .await
        .map(|p| p.problem_id)
}

/// Whether `viewer` may see the comment at all (perhaps as a placeholder).
fn visible(view: &CommentView, viewer: Option<&Actor>) -> bool {
    let live = !view.deleted && !view.hidden;
    let own = viewer.is_some_and(|a| a.user_id == view.author_id);
    live || view.live_below > 0 || (view.hidden && !view.deleted && (own || is_admin(viewer)))
}

/// A comment as one reader sees it, or `None` if they may not.
async fn load(
    s: &Services,
    id: CommentId,
    viewer: Option<Actor>,
) -> async_graphql::Result<Option<Comment>> {
    let Some(view) = read::comment_by_id(&s.db, id).await.map_err(from_read)? else {
        return Ok(None);
    };
    // A comment lives only as long as its problem is visible to the reader.
    if projections::queries::problem_by_slug(&s.db, &view.problem_slug, is_admin(viewer.as_ref()))
        .await
        .map_err(from_read)?
        .is_none()
    {
        return Ok(None);
    }
    Ok(visible(&view, viewer.as_ref()).then_some(Comment { view, viewer }))
}

/// A comment the caller just changed, read back (they may always see it).
async fn read_back(s: &Services, id: CommentId, viewer: Actor) -> async_graphql::Result<Comment> {
    let view = read::comment_by_id(&s.db, id)
        .await
        .map_err(from_read)?
        .ok_or_else(|| internal("a comment was recorded but is not in the read model", &id))?;
    Ok(Comment {
        view,
        viewer: Some(viewer),
    })
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CommentSort {
    /// Highest score first (ties: newest first).
    Top,
    /// Newest first.
    New,
    /// Oldest first, as a conversation reads.
    Old,
}

impl From<CommentSort> for ReadSort {
    fn from(s: CommentSort) -> Self {
        match s {
            CommentSort::Top => ReadSort::Top,
            CommentSort::New => ReadSort::New,
            CommentSort::Old => ReadSort::Old,
        }
    }
}

/// A reader's vote on a comment.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Vote {
    Up,
    Down,
    /// No vote (to take one back).
    None,
}

impl From<Vote> for DomainVote {
    fn from(v: Vote) -> Self {
        match v {
            Vote::Up => DomainVote::Up,
            Vote::Down => DomainVote::Down,
            Vote::None => DomainVote::None,
        }
    }
}

impl From<DomainVote> for Vote {
    fn from(v: DomainVote) -> Self {
        match v {
            DomainVote::Up => Vote::Up,
            DomainVote::Down => Vote::Down,
            DomainVote::None => Vote::None,
        }
    }
}

/// One page of comments (or of one comment's replies).
#[derive(SimpleObject, Debug)]
pub struct CommentPage {
    pub items: Vec<Comment>,
    /// Comments over all pages.
    pub total: i64,
    pub has_more: bool,
}

async fn comment_page(
    s: &Services,
    problem: ProblemId,
    parent: Option<CommentId>,
    viewer: Option<Actor>,
    sort: CommentSort,
    limit: i32,
    offset: i32,
) -> async_graphql::Result<CommentPage> {
    let (limit, offset) = page(limit, offset)?;
    let audience = audience(viewer.as_ref());
    let views = read::comments(&s.db, problem, parent, audience, sort.into(), limit, offset)
        .await
        .map_err(from_read)?;
    let total = read::count_comments(&s.db, problem, parent, audience)
        .await
        .map_err(from_read)?;
    Ok(CommentPage {
        has_more: offset + (views.len() as i64) < total,
        items: views
            .into_iter()
            .map(|view| Comment { view, viewer })
            .collect(),
        total,
    })
}

/// A comment in a problem's forum.
#[derive(Debug)]
pub struct Comment {
    view: CommentView,
    viewer: Option<Actor>,
}

impl Comment {
    fn removed(&self) -> Option<&'static str> {
        if self.view.deleted {
            Some(DELETED)
        } else if self.view.hidden && !is_admin(self.viewer.as_ref()) {
            Some(HIDDEN)
        } else {
            None
        }
    }

    fn own(&self) -> bool {
        self.viewer
            .is_some_and(|a| a.user_id == self.view.author_id)
    }
}

#[Object]
impl Comment {
    async fn id(&self) -> ID {
        ID(self.view.comment_id.to_string())
    }

    async fn problem_slug(&self) -> &str {
        &self.view.problem_slug
    }

    /// The comment this one replies to; null for a top-level comment.
    async fn parent_id(&self) -> Option<ID> {
        self.view.parent_id.map(|p| ID(p.to_string()))
    }

    /// 0 for a top-level comment, 1 for a reply to one, and so on.
    async fn depth(&self) -> u32 {
        self.view.depth
    }

    /// The author's username; null once the comment is deleted or hidden.
    async fn author(&self) -> Option<&str> {
        match self.removed() {
            Some(_) => None,
            None => Some(&self.view.author_name),
        }
    }

    /// The comment rendered from Markdown to sanitised HTML: no scripts,
    /// event handlers or raw HTML (raw HTML shows as text). "[deleted]" or
    /// "[hidden by a moderator]" in place of a removed comment. Null for a
    /// spoiler unless `reveal` is true.
    async fn html(&self, #[graphql(default = false)] reveal: bool) -> Option<String> {
        if let Some(placeholder) = self.removed() {
            return Some(placeholder.to_string());
        }
        if self.view.spoiler && !reveal {
            return None;
        }
        Some(self.view.html.clone())
    }

    /// The Markdown source, for its author (to edit it) and for admins;
    /// null for anyone else and once deleted.
    async fn markdown(&self) -> Option<&str> {
        let may = self.own() || is_admin(self.viewer.as_ref());
        (may && !self.view.deleted).then_some(self.view.body.as_str())
    }

    /// A spoiler's text is shown only when the reader asks for it.
    async fn spoiler(&self) -> bool {
        self.view.spoiler
    }

    async fn deleted(&self) -> bool {
        self.view.deleted
    }

    /// Hidden by a moderator.
    async fn hidden(&self) -> bool {
        self.view.hidden
    }

    /// Why a moderator hid it: for admins and the comment's author.
    async fn hidden_reason(&self) -> Option<&str> {
        let may = self.own() || is_admin(self.viewer.as_ref());
        if may {
            self.view.hidden_reason.as_deref()
        } else {
            None
        }
    }

    /// Up votes minus down votes.
    async fn score(&self) -> i64 {
        self.view.score
    }

    async fn upvotes(&self) -> i64 {
        self.view.upvotes
    }

    async fn downvotes(&self) -> i64 {
        self.view.downvotes
    }

    /// The reader's own vote; null when not logged in.
    async fn my_vote(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vote>> {
        let Some(viewer) = self.viewer else {
            return Ok(None);
        };
        let vote = read::vote_of(&services(ctx).db, self.view.comment_id, viewer.user_id)
            .await
            .map_err(from_read)?;
        Ok(Some(vote.into()))
    }

    async fn posted_at(&self) -> DateTime<Utc> {
        self.view.posted_at
    }

    /// When its author last edited it.
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.view.edited_at
    }

    /// The replies to this comment the reader may see, a page at a time.
    /// Costs `limit` times its selection against the query's complexity
    /// budget, so deep pages of pages are refused up front.
    #[graphql(complexity = "limit.max(1) as usize * child_complexity")]
    async fn replies(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "CommentSort::Old")] sort: CommentSort,
        #[graphql(default = 5)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<CommentPage> {
        comment_page(
            services(ctx),
            self.view.problem_id,
            Some(self.view.comment_id),
            self.viewer,
            sort,
            limit,
            offset,
        )
        .await
    }
}

#[derive(Debug, Default)]
pub struct ForumQuery;

#[Object]
impl ForumQuery {
    /// A published problem's top-level comments, a page at a time (`limit`
    /// at most 100); each comment's `replies` continue the thread.
    /// NOT_FOUND for a problem the caller may not see.
    #[graphql(complexity = "limit.max(1) as usize * child_complexity")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        problem: String,
        #[graphql(default_with = "CommentSort::Top")] sort: CommentSort,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<CommentPage> {
        let s = services(ctx);
        let viewer = viewer(ctx);
        let problem = problem_id(s, &problem, viewer.as_ref()).await?;
        comment_page(s, problem, None, viewer, sort, limit, offset).await
    }

    /// One comment; null if there is none the caller may see.
    async fn comment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Comment>> {
        load(
            services(ctx),
            parse_id::<CommentId>(&id, "comment")?,
            viewer(ctx),
        )
        .await
    }
}

fn actor<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Actor> {
    request(ctx).actor()
}

#[derive(Debug, Default)]
pub struct ForumMutation;

#[Object]
impl ForumMutation {
    /// Comments on a published problem, or replies to `parentId` (a comment
    /// on the same problem that is neither deleted nor hidden). `body` is
    /// Markdown, at most 10 KiB. Rate limited per user.
    async fn post_comment(
        &self,
        ctx: &Context<'_>,
        problem: String,
        body: String,
        parent_id: Option<ID>,
        #[graphql(default = false)] spoiler: bool,
    ) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = actor(ctx)?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id::<CommentId>(p, "comment"))
            .transpose()?;
        domain::forum::validate_body(&body).map_err(|e| crate::error::from_domain(&e))?;
        s.limiters.check_comment(actor.user_id)?;
        let done = s
            .commands
            .post_comment(actor, &problem, parent, &body, spoiler)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, done.value, *actor).await
    }

    /// Your own comments only. `spoiler` keeps its value when left out.
    async fn edit_comment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        body: String,
        spoiler: Option<bool>,
    ) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = actor(ctx)?;
        let id = parse_id::<CommentId>(&id, "comment")?;
        domain::forum::validate_body(&body).map_err(|e| crate::error::from_domain(&e))?;
        s.limiters.check_comment(actor.user_id)?;
        let spoiler = match spoiler {
            Some(spoiler) => spoiler,
            None => read::comment_by_id(&s.db, id)
                .await
                .map_err(from_read)?
                .is_some_and(|c| c.spoiler),
        };
        let done = s
            .commands
            .edit_comment(actor, id, &body, spoiler)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, id, *actor).await
    }

    /// Your own comments only. It keeps its place as "[deleted]" while it
    /// has replies.
    async fn delete_comment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = actor(ctx)?;
        let id = parse_id::<CommentId>(&id, "comment")?;
        let done = s
            .commands
            .delete_comment(actor, id)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, id, *actor).await
    }

    /// Admins only: hides a comment from users, saying why. Its history
    /// stays in the event log.
    async fn hide_comment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let id = parse_id::<CommentId>(&id, "comment")?;
        let done = s
            .commands
            .hide_comment(actor, id, &reason)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, id, *actor).await
    }

    /// Admins only.
    async fn unhide_comment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let id = parse_id::<CommentId>(&id, "comment")?;
        let done = s
            .commands
            .unhide_comment(actor, id)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, id, *actor).await
    }

    /// One vote per user and comment: voting again replaces your vote, NONE
    /// takes it back. Not on your own comments.
    async fn vote_comment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        vote: Vote,
    ) -> async_graphql::Result<Comment> {
        let s = services(ctx);
        let actor = actor(ctx)?;
        let id = parse_id::<CommentId>(&id, "comment")?;
        s.limiters.check_vote(actor.user_id)?;
        // The reply shows the comment: not one on a problem the voter may not
        // see (a draft, or one archived since). Its other rules are the
        // aggregate's.
        if let Some(view) = read::comment_by_id(&s.db, id).await.map_err(from_read)?
            && projections::queries::problem_by_slug(
                &s.db,
                &view.problem_slug,
                is_admin(Some(actor)),
            )
            .await
            .map_err(from_read)?
            .is_none()
        {
            return Err(api_error(Code::NotFound, "comment not found"));
        }
        let done = s
            .commands
            .vote_comment(actor, id, vote.into())
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        read_back(s, id, *actor).await
    }
}

/// A new comment on a followed problem.
#[derive(SimpleObject, Debug)]
pub struct CommentAdded {
    /// INITIAL (no comment: the subscription is listening), CHANGED (a new
    /// comment), or RESYNC (comments were missed: query `comments(sort:
    /// NEW)` to catch up).
    pub reason: UpdateReason,
    pub problem_slug: String,
    pub comment: Option<Comment>,
}

#[derive(Debug, Default)]
pub struct ForumSubscription;

#[Subscription]
impl ForumSubscription {
    /// Each new comment or reply on a problem, once the read model shows it
    /// (a query made on hearing of it finds it). Starts with an INITIAL
    /// update that carries no comment. NOT_FOUND for a problem the caller
    /// may not see.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        problem: String,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<CommentAdded>>> {
        let s = services(ctx).clone();
        let session = session(ctx)?.clone();
        let actor = session.recheck(&s).await?;
        // Listen before reading: nothing published after the check is missed.
        let events = Box::pin(live::listen(s.live.events()));
        let view = problem_view(&s.db, &problem, actor.role == Role::Admin).await?;
        let (problem_id, slug) = (view.problem_id, view.slug);
        let initial = CommentAdded {
            reason: UpdateReason::Initial,
            problem_slug: slug.clone(),
            comment: None,
        };
        let rest = events.filter_map(move |heard| {
            let (s, slug) = (s.clone(), slug.clone());
            async move {
                let id = match heard {
                    Heard::Message(e) => match &e.event {
                        Event::Comment(CommentEvent::CommentPosted {
                            comment_id,
                            problem_id: p,
                            ..
                        }) if *p == problem_id => *comment_id,
                        _ => return None,
                    },
                    Heard::Lagged => {
                        return Some(Ok(CommentAdded {
                            reason: UpdateReason::Resync,
                            problem_slug: slug,
                            comment: None,
                        }));
                    }
                };
                match load(&s, id, Some(actor)).await {
                    Ok(Some(comment)) => Some(Ok(CommentAdded {
                        reason: UpdateReason::Changed,
                        problem_slug: slug,
                        comment: Some(comment),
                    })),
                    // Removed again before we read it.
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            }
        });
        Ok(until_expired(
            session,
            futures::stream::once(async move { Ok(initial) }).chain(rest),
        ))
    }
}
