//! `forum`: every problem's threaded comments, their votes, and the queries
//! over them. Owns `forum_comments` and `forum_votes`.
//!
//! The Markdown body is rendered to HTML here, once per post or edit, and
//! sanitised ([`render`]): raw HTML in a comment is shown as text, and what
//! pulldown-cmark produces goes through ammonia with a short list of URL
//! schemes. Changing the policy means a replay of this projection, which
//! re-renders every comment from the log.
//!
//! Idempotent: a post inserts only once; deletion, hiding and unhiding move
//! the counters of the comments above only when the comment's own row
//! changed from live to removed or back; a vote sets the voter's row and
//! recounts the comment's score from the rows.

use chrono::{DateTime, Utc};
use domain::forum::{CommentEvent, Vote};
use domain::{CommentId, Event, ProblemId, UserId};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::queries::parse;
use crate::{Envelope, Projection, ReadDb, Result, from_micros, micros};

#[derive(Debug)]
pub struct Forum;

impl Projection for Forum {
    fn name(&self) -> &'static str {
        "forum"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["forum_comments", "forum_votes"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::Comment(event) = &envelope.event else {
                return Ok(());
            };
            apply(conn, event).await
        })
    }
}

#[tracing::instrument(skip_all, fields(comment_id = %commented(event)))]
async fn apply(conn: &mut AnyConnection, event: &CommentEvent) -> Result<()> {
    match event {
        CommentEvent::CommentPosted {
            comment_id,
            problem_id,
            problem_slug,
            parent_id,
            depth,
            author_id,
            author_name,
            body,
            spoiler,
            at,
        } => {
            let inserted = sqlx::query(
                "INSERT INTO forum_comments (comment_id, problem_id, problem_slug, parent_id, parent_key, depth, \
                 author_id, author_name, body, html, spoiler, deleted, hidden, hidden_reason, score, upvotes, \
                 downvotes, live_below, posted_at, edited_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, NULL, 0, 0, 0, 0, $12, NULL) \
                 ON CONFLICT (comment_id) DO NOTHING",
            )
            .bind(comment_id.to_string())
            .bind(problem_id.to_string())
            .bind(problem_slug)
            .bind(parent_id.map(|p| p.to_string()))
            .bind(parent_id.map(|p| p.to_string()).unwrap_or_default())
            .bind(i64::from(*depth))
            .bind(author_id.to_string())
            .bind(author_name)
            .bind(body)
            .bind(render(body))
            .bind(i64::from(*spoiler))
            .bind(micros(*at))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                add_live_above(conn, *comment_id, 1).await?;
            }
        }
        CommentEvent::CommentEdited {
            comment_id,
            body,
            spoiler,
            at,
            ..
        } => {
            sqlx::query(
                "UPDATE forum_comments SET body = $2, html = $3, spoiler = $4, edited_at = $5 WHERE comment_id = $1",
            )
            .bind(comment_id.to_string())
            .bind(body)
            .bind(render(body))
            .bind(i64::from(*spoiler))
            .bind(micros(*at))
            .execute(conn)
            .await?;
        }
        CommentEvent::CommentDeleted { comment_id, .. } => {
            set_removed(
                conn,
                *comment_id,
                "UPDATE forum_comments SET deleted = 1 WHERE comment_id = $1 AND deleted = 0",
            )
            .await?;
        }
        CommentEvent::CommentHidden {
            comment_id, reason, ..
        } => {
            let was_live = is_live(conn, *comment_id).await?;
            sqlx::query(
                "UPDATE forum_comments SET hidden = 1, hidden_reason = $2 WHERE comment_id = $1",
            )
            .bind(comment_id.to_string())
            .bind(reason)
            .execute(&mut *conn)
            .await?;
            if was_live == Some(true) {
                add_live_above(conn, *comment_id, -1).await?;
            }
        }
        CommentEvent::CommentUnhidden { comment_id, .. } => {
            let was_live = is_live(conn, *comment_id).await?;
            sqlx::query(
                "UPDATE forum_comments SET hidden = 0, hidden_reason = NULL WHERE comment_id = $1",
            )
            .bind(comment_id.to_string())
            .execute(&mut *conn)
            .await?;
            if was_live == Some(false) && is_live(conn, *comment_id).await? == Some(true) {
                add_live_above(conn, *comment_id, 1).await?;
            }
        }
        CommentEvent::CommentVoted {
            comment_id,
            voter_id,
            vote,
            ..
        } => {
            match vote {
                Vote::None => {
                    sqlx::query("DELETE FROM forum_votes WHERE comment_id = $1 AND user_id = $2")
                        .bind(comment_id.to_string())
                        .bind(voter_id.to_string())
                        .execute(&mut *conn)
                        .await?;
                }
                Vote::Up | Vote::Down => {
                    sqlx::query(
                        "INSERT INTO forum_votes (comment_id, user_id, vote) VALUES ($1, $2, $3) \
                         ON CONFLICT (comment_id, user_id) DO UPDATE SET vote = excluded.vote",
                    )
                    .bind(comment_id.to_string())
                    .bind(voter_id.to_string())
                    .bind(vote.value())
                    .execute(&mut *conn)
                    .await?;
                }
            }
            // Recounted from the rows, so applying a vote twice changes nothing.
            sqlx::query(
                "UPDATE forum_comments SET \
                 upvotes = (SELECT COUNT(*) FROM forum_votes WHERE comment_id = $1 AND vote = 1), \
                 downvotes = (SELECT COUNT(*) FROM forum_votes WHERE comment_id = $1 AND vote = -1) \
                 WHERE comment_id = $1",
            )
            .bind(comment_id.to_string())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE forum_comments SET score = upvotes - downvotes WHERE comment_id = $1",
            )
            .bind(comment_id.to_string())
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// The comment an event is about.
fn commented(event: &CommentEvent) -> CommentId {
    match event {
        CommentEvent::CommentPosted { comment_id, .. }
        | CommentEvent::CommentEdited { comment_id, .. }
        | CommentEvent::CommentDeleted { comment_id, .. }
        | CommentEvent::CommentHidden { comment_id, .. }
        | CommentEvent::CommentUnhidden { comment_id, .. }
        | CommentEvent::CommentVoted { comment_id, .. } => *comment_id,
    }
}

/// Whether the comment is neither deleted nor hidden; `None` if unknown.
async fn is_live(conn: &mut AnyConnection, id: CommentId) -> Result<Option<bool>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT deleted, hidden FROM forum_comments WHERE comment_id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(deleted, hidden)| deleted == 0 && hidden == 0))
}

/// Runs `update` (which removes the comment, changing a row only the first
/// time) and, if the comment was live, tells the comments above.
async fn set_removed(conn: &mut AnyConnection, id: CommentId, update: &'static str) -> Result<()> {
    let was_live = is_live(conn, id).await?;
    let changed = sqlx::query(update)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if changed == 1 && was_live == Some(true) {
        add_live_above(conn, id, -1).await?;
    }
    Ok(())
}

/// Adds `delta` to `live_below` of every comment above `id` in its thread.
async fn add_live_above(conn: &mut AnyConnection, id: CommentId, delta: i64) -> Result<()> {
    sqlx::query(
        "WITH RECURSIVE above(id) AS ( \
           SELECT parent_id FROM forum_comments WHERE comment_id = $1 \
           UNION ALL \
           SELECT c.parent_id FROM forum_comments c JOIN above a ON c.comment_id = a.id \
         ) \
         UPDATE forum_comments SET live_below = live_below + $2 \
         WHERE comment_id IN (SELECT id FROM above WHERE id IS NOT NULL)",
    )
    .bind(id.to_string())
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

/// Markdown to HTML that is safe to put in a page: raw HTML in the source
/// becomes visible text, and the result is sanitised by ammonia (no
/// scripts, event handlers or styles; links only to http, https and
/// mailto, marked `nofollow`).
pub fn render(markdown: &str) -> String {
    use pulldown_cmark::{Event as Md, Options, Parser, Tag, TagEnd};
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    // Raw HTML becomes text; a block of it reads as a paragraph.
    let events = Parser::new_ext(markdown, options).map(|e| match e {
        Md::Html(raw) | Md::InlineHtml(raw) => Md::Text(raw),
        Md::Start(Tag::HtmlBlock) => Md::Start(Tag::Paragraph),
        Md::End(TagEnd::HtmlBlock) => Md::End(TagEnd::Paragraph),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("nofollow noopener noreferrer"))
        .clean(&html)
        .to_string()
}

/// A comment as the read model holds it. What a reader may see of it is the
/// API's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentView {
    pub comment_id: CommentId,
    pub problem_id: ProblemId,
    pub problem_slug: String,
    pub parent_id: Option<CommentId>,
    pub depth: u32,
    pub author_id: UserId,
    pub author_name: String,
    /// The Markdown source.
    pub body: String,
    /// Rendered and sanitised.
    pub html: String,
    pub spoiler: bool,
    pub deleted: bool,
    pub hidden: bool,
    pub hidden_reason: Option<String>,
    pub score: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    /// Live comments anywhere below this one.
    pub live_below: i64,
    pub posted_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentSort {
    /// Highest score first; ties newest first.
    Top,
    /// Newest first.
    New,
    /// Oldest first (the order of a conversation).
    Old,
}

/// Which comments a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Live comments, and removed ones that still have live replies (as
    /// placeholders).
    Users,
    /// Hidden comments too, with their text.
    Moderators,
}

// Every column of `forum_comments`, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "comment_id, problem_id, problem_slug, parent_id, depth, author_id, author_name, body, html, \
         spoiler, deleted, hidden, hidden_reason, score, upvotes, downvotes, live_below, posted_at, edited_at"
    };
}

fn comment(row: &AnyRow) -> Result<CommentView> {
    Ok(CommentView {
        comment_id: parse("comment_id", &row.try_get::<String, _>("comment_id")?)?,
        problem_id: parse("problem_id", &row.try_get::<String, _>("problem_id")?)?,
        problem_slug: row.try_get("problem_slug")?,
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")?
            .map(|p| parse("parent_id", &p))
            .transpose()?,
        depth: row.try_get::<i64, _>("depth")? as u32,
        author_id: parse("author_id", &row.try_get::<String, _>("author_id")?)?,
        author_name: row.try_get("author_name")?,
        body: row.try_get("body")?,
        html: row.try_get("html")?,
        spoiler: row.try_get::<i64, _>("spoiler")? != 0,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        hidden: row.try_get::<i64, _>("hidden")? != 0,
        hidden_reason: row.try_get("hidden_reason")?,
        score: row.try_get("score")?,
        upvotes: row.try_get("upvotes")?,
        downvotes: row.try_get("downvotes")?,
        live_below: row.try_get("live_below")?,
        posted_at: from_micros(row.try_get("posted_at")?),
        edited_at: row.try_get::<Option<i64>, _>("edited_at")?.map(from_micros),
    })
}

/// One comment, whatever its state.
pub async fn comment_by_id(db: &ReadDb, id: CommentId) -> Result<Option<CommentView>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM forum_comments WHERE comment_id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(comment).transpose()
}

// The listing's visibility rule, in SQL: `$3` is 1 for moderators.
macro_rules! listing {
    ($order:literal) => {
        concat!(
            "SELECT ",
            columns!(),
            " FROM forum_comments WHERE problem_id = $1 AND parent_key = $2 \
             AND ((deleted = 0 AND (hidden = 0 OR $3 = 1)) OR live_below > 0) ORDER BY ",
            $order,
            " LIMIT $4 OFFSET $5"
        )
    };
}

/// A page of the top-level comments of a problem (`parent: None`) or of the
/// replies to one comment, as `audience` may see them.
pub async fn comments(
    db: &ReadDb,
    problem: ProblemId,
    parent: Option<CommentId>,
    audience: Audience,
    sort: CommentSort,
    limit: i64,
    offset: i64,
) -> Result<Vec<CommentView>> {
    let sql = match sort {
        CommentSort::Top => listing!("score DESC, posted_at DESC, comment_id DESC"),
        CommentSort::New => listing!("posted_at DESC, comment_id DESC"),
        CommentSort::Old => listing!("posted_at, comment_id"),
    };
    let rows = sqlx::query(sql)
        .bind(problem.to_string())
        .bind(parent.map(|p| p.to_string()).unwrap_or_default())
        .bind(i64::from(audience == Audience::Moderators))
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(comment).collect()
}

/// How many comments [`comments`] would list over all pages.
pub async fn count_comments(
    db: &ReadDb,
    problem: ProblemId,
    parent: Option<CommentId>,
    audience: Audience,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM forum_comments WHERE problem_id = $1 AND parent_key = $2 \
         AND ((deleted = 0 AND (hidden = 0 OR $3 = 1)) OR live_below > 0)",
    )
    .bind(problem.to_string())
    .bind(parent.map(|p| p.to_string()).unwrap_or_default())
    .bind(i64::from(audience == Audience::Moderators))
    .fetch_one(&db.pool)
    .await?)
}

/// The reader's vote on a comment, if any.
pub async fn vote_of(db: &ReadDb, comment: CommentId, user: UserId) -> Result<Vote> {
    let vote: Option<i64> =
        sqlx::query_scalar("SELECT vote FROM forum_votes WHERE comment_id = $1 AND user_id = $2")
            .bind(comment.to_string())
            .bind(user.to_string())
            .fetch_optional(&db.pool)
            .await?;
    Ok(match vote {
        Some(1) => Vote::Up,
        Some(-1) => Vote::Down,
        _ => Vote::None,
    })
}
