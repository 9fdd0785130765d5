//! The `forum` projection fed with real events through the event store and
//! the runner, on SQLite and PostgreSQL: threads, removed comments that keep
//! their place, moderation, votes, ordering, pages, sanitised HTML, and
//! re-applying or rebuilding giving the same rows.

mod common;

use chrono::{DateTime, Utc};
use common::{Db, dump_tables, live, new_event, on_both, reapply, rebuild, t};
use domain::forum::{CommentEvent, Vote};
use domain::{CommentId, ProblemId, UserId};
use projections::forum::{self, Audience, CommentSort, CommentView};
use projections::{Projection, ReadDb, Runner};
use store::{ExpectedVersion, SharedStore};

fn only_forum() -> Vec<Box<dyn Projection>> {
    vec![Box::new(forum::Forum)]
}

/// Writes comment events into a real store.
struct Log {
    store: SharedStore,
    problem: ProblemId,
    minute: std::sync::atomic::AtomicU32,
}

impl Log {
    async fn append(&self, id: CommentId, e: CommentEvent) {
        self.store
            .append(
                &domain::forum::stream(id),
                ExpectedVersion::Any,
                vec![new_event(e)],
            )
            .await
            .unwrap();
    }

    /// 2024-03-10 at 12:00 UTC, then a minute later at each call.
    fn tick(&self) -> DateTime<Utc> {
        let minute = self
            .minute
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        t(0, 12, minute)
    }

    async fn post(
        &self,
        author: UserId,
        parent: Option<(CommentId, u32)>,
        body: &str,
    ) -> CommentId {
        let id = CommentId::new();
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentPosted {
                comment_id: id,
                problem_id: self.problem,
                problem_slug: "two-sum".into(),
                parent_id: parent.map(|p| p.0),
                depth: parent.map_or(0, |p| p.1 + 1),
                author_id: author,
                author_name: "ada".into(),
                body: body.into(),
                spoiler: false,
                at,
            },
        )
        .await;
        id
    }

    async fn delete(&self, id: CommentId, by: UserId) {
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentDeleted {
                comment_id: id,
                problem_id: self.problem,
                by,
                at,
            },
        )
        .await;
    }

    async fn hide(&self, id: CommentId, reason: &str) {
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentHidden {
                comment_id: id,
                problem_id: self.problem,
                reason: reason.into(),
                by: UserId::new(),
                at,
            },
        )
        .await;
    }

    async fn unhide(&self, id: CommentId) {
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentUnhidden {
                comment_id: id,
                problem_id: self.problem,
                by: UserId::new(),
                at,
            },
        )
        .await;
    }

    async fn vote(&self, id: CommentId, voter: UserId, vote: Vote) {
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentVoted {
                comment_id: id,
                problem_id: self.problem,
                voter_id: voter,
                vote,
                at,
            },
        )
        .await;
    }

    async fn edit(&self, id: CommentId, by: UserId, body: &str, spoiler: bool) {
        let at = self.tick();
        self.append(
            id,
            CommentEvent::CommentEdited {
                comment_id: id,
                problem_id: self.problem,
                body: body.into(),
                spoiler,
                by,
                at,
            },
        )
        .await;
    }
}

async fn setup(db: &Db) -> (Log, ReadDb, Runner) {
    let (store, read, runner) = live(db, only_forum(), 5).await;
    let log = Log {
        store,
        problem: ProblemId::new(),
        minute: 0.into(),
    };
    (log, read, runner)
}

async fn list(
    read: &ReadDb,
    log: &Log,
    parent: Option<CommentId>,
    audience: Audience,
    sort: CommentSort,
) -> Vec<CommentView> {
    forum::comments(read, log.problem, parent, audience, sort, 100, 0)
        .await
        .unwrap()
}

fn ids(views: &[CommentView]) -> Vec<CommentId> {
    views.iter().map(|c| c.comment_id).collect()
}

/// A thread keeps removed comments in place while live replies hang below
/// them, and drops them once nothing live is left underneath.
async fn removed_comments_keep_their_place_while_they_have_live_replies(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let (ada, bob) = (UserId::new(), UserId::new());
    let root = log.post(ada, None, "root").await;
    let reply = log.post(bob, Some((root, 0)), "reply").await;
    let deep = log.post(ada, Some((reply, 1)), "deep").await;
    let lone = log.post(bob, None, "lone").await;
    runner.drain().await.unwrap();

    let top = list(&read, &log, None, Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&top), vec![root, lone]);
    assert_eq!(
        top[0].live_below, 2,
        "root has the reply and the deep reply below"
    );
    let replies = list(&read, &log, Some(root), Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&replies), vec![reply]);
    assert_eq!(replies[0].parent_id, Some(root));
    assert_eq!(replies[0].depth, 1);
    let deeper = list(&read, &log, Some(reply), Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&deeper), vec![deep]);

    // Deleting the root keeps it (a placeholder) above its live replies;
    // a lone comment just goes.
    log.delete(root, ada).await;
    log.delete(lone, bob).await;
    runner.drain().await.unwrap();
    let top = list(&read, &log, None, Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&top), vec![root]);
    assert!(top[0].deleted);
    assert_eq!(
        forum::count_comments(&read, log.problem, None, Audience::Users)
            .await
            .unwrap(),
        1
    );

    // Hiding the reply: the root still has the deep reply below.
    log.hide(reply, "rude").await;
    runner.drain().await.unwrap();
    let top = list(&read, &log, None, Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&top), vec![root]);
    assert_eq!(top[0].live_below, 1);
    let replies = list(&read, &log, Some(root), Audience::Users, CommentSort::Old).await;
    assert_eq!(
        ids(&replies),
        vec![reply],
        "a hidden comment above a live one stays"
    );
    assert!(replies[0].hidden);
    assert_eq!(replies[0].hidden_reason.as_deref(), Some("rude"));

    // Once the last live comment goes, the whole thread is gone for users,
    // while moderators still see the hidden comment (under a root that is
    // gone, so through the comment itself).
    log.delete(deep, ada).await;
    runner.drain().await.unwrap();
    assert!(
        list(&read, &log, None, Audience::Users, CommentSort::Old)
            .await
            .is_empty()
    );
    let hidden = forum::comment_by_id(&read, reply).await.unwrap().unwrap();
    assert!(hidden.hidden && !hidden.deleted);
    assert_eq!(hidden.body, "reply", "the text stays for moderators");

    // Unhiding brings the reply back, and with it its deleted parent.
    log.unhide(reply).await;
    runner.drain().await.unwrap();
    let top = list(&read, &log, None, Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&top), vec![root]);
    assert_eq!(top[0].live_below, 1);
    let replies = list(&read, &log, Some(root), Audience::Users, CommentSort::Old).await;
    assert!(!replies[0].hidden);
    assert_eq!(replies[0].hidden_reason, None);
}

async fn moderators_see_hidden_comments_and_users_do_not(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let ada = UserId::new();
    let kept = log.post(ada, None, "fine").await;
    let spam = log.post(ada, None, "buy now").await;
    log.hide(spam, "spam").await;
    runner.drain().await.unwrap();
    assert_eq!(
        ids(&list(&read, &log, None, Audience::Users, CommentSort::Old).await),
        vec![kept]
    );
    let seen = list(&read, &log, None, Audience::Moderators, CommentSort::Old).await;
    assert_eq!(ids(&seen), vec![kept, spam]);
    assert_eq!(seen[1].hidden_reason.as_deref(), Some("spam"));
    assert_eq!(
        forum::count_comments(&read, log.problem, None, Audience::Moderators)
            .await
            .unwrap(),
        2
    );
}

async fn votes_count_once_per_user_and_order_the_top_listing(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let author = UserId::new();
    let voters: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    let a = log.post(author, None, "a").await;
    let b = log.post(author, None, "b").await;
    let c = log.post(author, None, "c").await;
    // a: +1 +1 (the second voter changes their mind twice) -1 = 1
    log.vote(a, voters[0], Vote::Up).await;
    log.vote(a, voters[1], Vote::Down).await;
    log.vote(a, voters[1], Vote::Up).await;
    log.vote(a, voters[2], Vote::Down).await;
    // b: +1 +1 +1, then one taken back = 2
    for v in &voters[..3] {
        log.vote(b, *v, Vote::Up).await;
    }
    log.vote(b, voters[2], Vote::None).await;
    // c: -1
    log.vote(c, voters[3], Vote::Down).await;
    runner.drain().await.unwrap();

    let top = list(&read, &log, None, Audience::Users, CommentSort::Top).await;
    assert_eq!(ids(&top), vec![b, a, c]);
    let scores: Vec<(i64, i64, i64)> = top
        .iter()
        .map(|v| (v.score, v.upvotes, v.downvotes))
        .collect();
    assert_eq!(scores, vec![(2, 2, 0), (1, 2, 1), (-1, 0, 1)]);
    assert_eq!(forum::vote_of(&read, a, voters[1]).await.unwrap(), Vote::Up);
    assert_eq!(
        forum::vote_of(&read, b, voters[2]).await.unwrap(),
        Vote::None
    );

    let new = list(&read, &log, None, Audience::Users, CommentSort::New).await;
    assert_eq!(ids(&new), vec![c, b, a]);
    let old = list(&read, &log, None, Audience::Users, CommentSort::Old).await;
    assert_eq!(ids(&old), vec![a, b, c]);

    // Pages.
    let page = |offset| {
        forum::comments(
            &read,
            log.problem,
            None,
            Audience::Users,
            CommentSort::Top,
            2,
            offset,
        )
    };
    assert_eq!(ids(&page(0).await.unwrap()), vec![b, a]);
    assert_eq!(ids(&page(2).await.unwrap()), vec![c]);
    assert!(page(3).await.unwrap().is_empty());
    // Another problem's comments are not listed.
    let other = forum::comments(
        &read,
        ProblemId::new(),
        None,
        Audience::Users,
        CommentSort::Top,
        10,
        0,
    )
    .await
    .unwrap();
    assert!(other.is_empty());
}

async fn markdown_is_rendered_and_sanitised_in_the_read_model(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let ada = UserId::new();
    let id = log
        .post(
            ada,
            None,
            "**bold** and `code`\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))",
        )
        .await;
    runner.drain().await.unwrap();
    let view = forum::comment_by_id(&read, id).await.unwrap().unwrap();
    assert!(view.html.contains("<strong>bold</strong>"), "{}", view.html);
    assert!(view.html.contains("<code>code</code>"), "{}", view.html);
    for bad in ["<script", "<img", "onerror=\"", "javascript:"] {
        assert!(!view.html.contains(bad), "{bad} in {}", view.html);
    }
    assert!(
        view.html.contains("&lt;script&gt;"),
        "raw HTML is shown as text: {}",
        view.html
    );
    assert!(
        view.body.contains("<script>"),
        "the source is kept as written"
    );

    log.edit(id, ada, "now <b>plain</b> _text_", true).await;
    runner.drain().await.unwrap();
    let view = forum::comment_by_id(&read, id).await.unwrap().unwrap();
    assert_eq!(
        view.html,
        "<p>now &lt;b&gt;plain&lt;/b&gt; <em>text</em></p>\n"
    );
    assert!(view.spoiler);
    assert!(view.edited_at.is_some());
}

async fn dump(db: &ReadDb) -> common::Dump {
    dump_tables(db, forum::Forum.tables()).await
}

async fn reapplying_or_rebuilding_gives_the_same_rows(db: Db) {
    let (log, read, mut runner) = setup(&db).await;
    let (ada, bob) = (UserId::new(), UserId::new());
    let root = log.post(ada, None, "root").await;
    let reply = log.post(bob, Some((root, 0)), "reply").await;
    log.vote(root, bob, Vote::Up).await;
    runner.drain().await.unwrap();
    let deep = log.post(ada, Some((reply, 1)), "deep").await;
    log.vote(reply, ada, Vote::Down).await;
    log.vote(reply, ada, Vote::Up).await;
    log.edit(deep, ada, "deeper", true).await;
    log.delete(root, ada).await;
    log.hide(reply, "spoils it").await;
    log.unhide(reply).await;
    log.hide(reply, "really spoils it").await;
    log.post(bob, None, "another").await;
    runner.drain().await.unwrap();
    let live = dump(&read).await;
    assert!(live.iter().all(|(_, rows)| !rows.is_empty()), "{live:?}");

    assert!(reapply(&read, &log.store, only_forum(), 3).await > 0);
    assert_eq!(
        dump(&read).await,
        live,
        "re-applying events changed the rows"
    );

    let rebuilt = rebuild(&db, "rebuilt", &log.store, only_forum(), 1000).await;
    assert_eq!(dump(&rebuilt).await, live, "a rebuild differs");
}

#[test]
fn render_turns_markdown_into_safe_html() {
    assert_eq!(
        forum::render("# Hi\n\n*x*"),
        "<h1>Hi</h1>\n<p><em>x</em></p>\n"
    );
    let html = forum::render("<script>alert(1)</script>");
    assert!(!html.contains("<script"), "{html}");
    let html = forum::render("[a](https://example.org) [b](javascript:alert(1))");
    assert!(html.contains("href=\"https://example.org\""), "{html}");
    assert!(
        html.contains("rel=\"nofollow noopener noreferrer\""),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    let html = forum::render("<a href=\"https://x.org\" onclick=\"steal()\">x</a>");
    assert!(
        !html.contains("<a href=\"https://x.org\" onclick"),
        "{html}"
    );
    assert!(
        html.starts_with("<p>&lt;a ") && !html.contains("<a "),
        "raw HTML is text, never a tag: {html}"
    );
    let html = forum::render("```python\nprint('<b>')\n```");
    assert!(
        html.contains("print(&#39;&lt;b&gt;&#39;)") || html.contains("print('&lt;b&gt;')"),
        "{html}"
    );
}

on_both!(
    removed_comments_keep_their_place_while_they_have_live_replies,
    moderators_see_hidden_comments_and_users_do_not,
    votes_count_once_per_user_and_order_the_top_listing,
    markdown_is_rendered_and_sanitised_in_the_read_model,
    reapplying_or_rebuilding_gives_the_same_rows,
);

#[test]
fn render_keeps_no_script_url_or_handler_whatever_the_markdown_trick() {
    let payloads = [
        "![x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
        "[x]: javascript:alert(1)\n\n[link][x]",
        "[x](vbscript:msgbox(1))",
        "![a\" onerror=\"alert(1)](https://x.org/a.png)",
        "[a](https://x.org \"t\" onmouseover=\"alert(1)\")",
        "<img src=x onerror=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
        "| a |\n|:-|\n| <iframe src=javascript:alert(1)> |",
        "- [x] <details open ontoggle=alert(1)>",
        "`<script>`",
        "<!-- --><script>alert(1)</script>",
    ];
    for md in payloads {
        let html = forum::render(md).to_ascii_lowercase();
        for bad in [
            "<script",
            "javascript:",
            "vbscript:",
            "data:",
            " on",
            "<iframe",
            "<svg",
            "<math",
            "<img src=\"x\"",
            "<details",
            "style=",
        ] {
            let tags_only: String = {
                // Look at markup only (text between tags is escaped
                // already), and at attribute names, not their quoted values
                // (except URLs, which are checked for schemes).
                let mut out = String::new();
                let (mut in_tag, mut in_value) = (false, false);
                let mut value = String::new();
                for c in html.chars() {
                    if in_tag && c == '"' {
                        in_value = !in_value;
                        if !in_value {
                            let scheme = value.split(':').next().unwrap_or("");
                            if value.contains(':') && !scheme.contains('/') {
                                out.push_str(scheme);
                                out.push(':');
                            }
                            value.clear();
                        }
                        continue;
                    }
                    if in_value {
                        value.push(c);
                        continue;
                    }
                    if c == '<' {
                        in_tag = true;
                    }
                    if in_tag {
                        out.push(c);
                    }
                    if c == '>' {
                        in_tag = false;
                    }
                }
                out
            };
            assert!(!tags_only.contains(bad), "{md:?} gave {html:?}");
        }
    }
}
