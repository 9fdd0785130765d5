//! The forum end to end: the real app on port 0, GraphQL over HTTP and a
//! real WebSocket client. Threads, editing and deleting one's own, admin
//! moderation, one vote per user, ordering and pages, spoilers, sanitised
//! Markdown, the size limit, the rate limit and the live subscription.

mod common;

use common::ws::{Protocol, WsClient};
use common::*;
use pydojo::config::JudgeMode;
use serde_json::{Value, json};

const POST: &str = "mutation($p: String!, $b: String!, $parent: ID, $s: Boolean! = false) { \
     postComment(problem: $p, body: $b, parentId: $parent, spoiler: $s) { id author depth parentId html markdown spoiler } }";
const EDIT: &str = "mutation($id: ID!, $b: String!) { editComment(id: $id, body: $b) { id html markdown editedAt } }";
const DELETE: &str = "mutation($id: ID!) { deleteComment(id: $id) { id deleted author html } }";
const HIDE: &str = "mutation($id: ID!, $r: String!) { hideComment(id: $id, reason: $r) { id hidden hiddenReason html } }";
const UNHIDE: &str = "mutation($id: ID!) { unhideComment(id: $id) { id hidden } }";
const VOTE: &str = "mutation($id: ID!, $v: Vote!) { voteComment(id: $id, vote: $v) { score upvotes downvotes myVote } }";
const THREAD: &str = "query($p: String!, $sort: CommentSort! = TOP) { comments(problem: $p, sort: $sort, limit: 5) { total hasMore items { \
     id author html deleted hidden depth replies(limit: 5) { total items { id author html deleted hidden parentId depth \
     replies(limit: 5) { total items { id author html parentId depth } } } } } } }";
const ONE: &str = "query($id: ID!) { comment(id: $id) { id author html markdown hidden hiddenReason deleted spoiler } }";

async fn app() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |a| a.judge = JudgeMode::Off)
        .await
        .unwrap()
}

/// An app with two published problems (`two-sum`, `fizz-buzz`), a draft
/// (`secret`), and the admin's token.
async fn forum_app(app: &TestApp) -> String {
    let admin = app.admin("root").await;
    app.publish_problem(&admin, "two-sum", "EASY").await;
    app.publish_problem(&admin, "fizz-buzz", "EASY").await;
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "secret", "i": problem_input("secret") }),
    )
    .await;
    admin
}

async fn post(
    app: &TestApp,
    token: &str,
    problem: &str,
    body: &str,
    parent: Option<&str>,
) -> Value {
    app.gql(
        Some(token),
        POST,
        json!({ "p": problem, "b": body, "parent": parent }),
    )
    .await
}

/// Posts and returns the new comment's id.
async fn posted(
    app: &TestApp,
    token: &str,
    problem: &str,
    body: &str,
    parent: Option<&str>,
) -> String {
    let v = post(app, token, problem, body, parent).await;
    assert!(v.get("errors").is_none(), "{v}");
    v["data"]["postComment"]["id"].as_str().unwrap().to_string()
}

fn field(v: &Value) -> &str {
    v["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_form_a_thread_and_a_deleted_comment_keeps_its_place_while_it_has_replies_on_sqlite()
 {
    threads(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_form_a_thread_and_a_deleted_comment_keeps_its_place_while_it_has_replies_on_postgres()
 {
    threads(Backend::Postgres).await;
}

async fn threads(backend: Backend) {
    // `None` without PostgreSQL (never under CI=true, where that fails).
    let Some(app) = TestApp::spawn_with(backend, |a| a.judge = JudgeMode::Off).await else {
        return;
    };
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;

    let root = posted(&app, &ada, "two-sum", "Use a **hash map**.", None).await;
    let reply = posted(&app, &bob, "two-sum", "Why not sort?", Some(&root)).await;
    let answer = posted(
        &app,
        &ada,
        "two-sum",
        "Sorting loses the indices.",
        Some(&reply),
    )
    .await;
    let lone = posted(&app, &bob, "two-sum", "First!", None).await;
    let other = posted(&app, &bob, "fizz-buzz", "Elsewhere", None).await;

    let d = app
        .ok(Some(&bob), THREAD, json!({ "p": "two-sum", "sort": "OLD" }))
        .await;
    let top = &d["comments"];
    assert_eq!(top["total"], 2, "{top}");
    assert_eq!(top["items"][0]["id"], root.as_str());
    assert_eq!(top["items"][0]["author"], "ada");
    assert_eq!(top["items"][0]["depth"], 0);
    assert_eq!(
        top["items"][0]["html"],
        "<p>Use a <strong>hash map</strong>.</p>\n"
    );
    assert_eq!(top["items"][1]["id"], lone.as_str());
    let replies = &top["items"][0]["replies"];
    assert_eq!(replies["total"], 1);
    assert_eq!(replies["items"][0]["id"], reply.as_str());
    assert_eq!(replies["items"][0]["parentId"], root.as_str());
    assert_eq!(replies["items"][0]["depth"], 1);
    let deeper = &replies["items"][0]["replies"];
    assert_eq!(deeper["items"][0]["id"], answer.as_str());
    assert_eq!(deeper["items"][0]["depth"], 2);
    assert_eq!(deeper["items"][0]["author"], "ada");

    // Replies that cannot be: to a comment on another problem, to no
    // comment, or on a problem that is not there or not published.
    let v = post(&app, &ada, "two-sum", "hi", Some(&other)).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(field(&v), "parentId");
    let v = post(
        &app,
        &ada,
        "two-sum",
        "hi",
        Some("0190a000-0000-7000-8000-000000000000"),
    )
    .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    let v = post(&app, &ada, "two-sum", "hi", Some("not-an-id")).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    for problem in ["no-such-problem", "secret"] {
        let v = post(&app, &ada, problem, "hi", None).await;
        assert_eq!(code(&v), "NOT_FOUND", "{problem}: {v}");
        let v = app.gql(Some(&ada), THREAD, json!({ "p": problem })).await;
        assert_eq!(code(&v), "NOT_FOUND", "{problem}: {v}");
    }

    // The root is deleted: it stays, as "[deleted]", above its replies.
    let d = app.ok(Some(&ada), DELETE, json!({ "id": root })).await;
    assert_eq!(
        d["deleteComment"],
        json!({ "id": root, "deleted": true, "author": null, "html": "[deleted]" })
    );
    // A comment with no replies just goes.
    app.ok(Some(&bob), DELETE, json!({ "id": lone })).await;
    let d = app
        .ok(Some(&bob), THREAD, json!({ "p": "two-sum", "sort": "OLD" }))
        .await;
    let top = &d["comments"];
    assert_eq!(top["total"], 1, "{top}");
    assert_eq!(top["items"][0]["id"], root.as_str());
    assert_eq!(top["items"][0]["html"], "[deleted]");
    assert_eq!(top["items"][0]["author"], Value::Null);
    assert_eq!(top["items"][0]["replies"]["items"][0]["id"], reply.as_str());
    let text = top.to_string();
    assert!(
        !text.contains("hash map"),
        "the deleted text is gone: {text}"
    );

    // No replies to a deleted comment, and no second deletion.
    let v = post(&app, &bob, "two-sum", "hi", Some(&root)).await;
    assert_eq!(code(&v), "CONFLICT", "{v}");
    let v = app.gql(Some(&ada), DELETE, json!({ "id": root })).await;
    assert_eq!(code(&v), "CONFLICT", "{v}");

    // Once its replies are gone too, so is the thread.
    app.ok(Some(&ada), DELETE, json!({ "id": answer })).await;
    app.ok(Some(&bob), DELETE, json!({ "id": reply })).await;
    let d = app.ok(None, THREAD, json!({ "p": "two-sum" })).await;
    assert_eq!(d["comments"]["total"], 0, "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_author_edits_or_deletes_a_comment() {
    let app = app().await;
    let admin = forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let id = posted(&app, &ada, "two-sum", "first *draft*", None).await;

    for token in [&bob, &admin] {
        let v = app
            .gql(Some(token), EDIT, json!({ "id": id, "b": "mine now" }))
            .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        let v = app.gql(Some(token), DELETE, json!({ "id": id })).await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
    }
    let v = app
        .gql(None, EDIT, json!({ "id": id, "b": "anonymous" }))
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
    let v = app
        .gql(
            Some(&ada),
            EDIT,
            json!({ "id": "0190a000-0000-7000-8000-000000000000", "b": "x" }),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");

    let d = app
        .ok(
            Some(&ada),
            EDIT,
            json!({ "id": id, "b": "second **draft**" }),
        )
        .await;
    assert_eq!(
        d["editComment"]["html"],
        "<p>second <strong>draft</strong></p>\n"
    );
    assert_eq!(d["editComment"]["markdown"], "second **draft**");
    assert!(d["editComment"]["editedAt"].is_string());
    let v = app
        .gql(Some(&ada), EDIT, json!({ "id": id, "b": "  " }))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");

    // The source goes back to its author only (and admins).
    let d = app.ok(Some(&bob), ONE, json!({ "id": id })).await;
    assert_eq!(d["comment"]["markdown"], Value::Null);
    assert_eq!(
        d["comment"]["html"],
        "<p>second <strong>draft</strong></p>\n"
    );
    let d = app.ok(Some(&ada), ONE, json!({ "id": id })).await;
    assert_eq!(d["comment"]["markdown"], "second **draft**");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_hide_a_comment_with_a_reason_and_its_events_stay_in_the_log() {
    let app = app().await;
    let admin = forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let spam = posted(&app, &ada, "two-sum", "BUY CHEAP PILLS", None).await;
    let fine = posted(&app, &bob, "two-sum", "A fine remark", None).await;

    let v = app
        .gql(Some(&bob), HIDE, json!({ "id": spam, "r": "spam" }))
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = app
        .gql(Some(&admin), HIDE, json!({ "id": spam, "r": "  " }))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(field(&v), "reason");
    let d = app
        .ok(Some(&admin), HIDE, json!({ "id": spam, "r": "spam" }))
        .await;
    assert_eq!(
        d["hideComment"],
        json!({ "id": spam, "hidden": true, "hiddenReason": "spam", "html": "<p>BUY CHEAP PILLS</p>\n" })
    );
    let v = app
        .gql(Some(&admin), HIDE, json!({ "id": spam, "r": "again" }))
        .await;
    assert_eq!(code(&v), "CONFLICT", "{v}");

    // Users no longer see it; its author sees that it is hidden, and why.
    for token in [Some(bob.as_str()), None] {
        let d = app.ok(token, THREAD, json!({ "p": "two-sum" })).await;
        assert_eq!(d["comments"]["total"], 1, "{d}");
        assert_eq!(d["comments"]["items"][0]["id"], fine.as_str());
        assert!(!d.to_string().contains("PILLS"), "{d}");
        let d = app.ok(token, ONE, json!({ "id": spam })).await;
        assert_eq!(d["comment"], Value::Null);
    }
    let d = app.ok(Some(&ada), ONE, json!({ "id": spam })).await;
    assert_eq!(d["comment"]["hidden"], true);
    assert_eq!(d["comment"]["hiddenReason"], "spam");
    assert_eq!(d["comment"]["html"], "[hidden by a moderator]");
    let v = app
        .gql(Some(&ada), EDIT, json!({ "id": spam, "b": "sorry" }))
        .await;
    assert_eq!(
        code(&v),
        "CONFLICT",
        "a hidden comment cannot be edited: {v}"
    );
    let v = app
        .gql(Some(&bob), VOTE, json!({ "id": spam, "v": "UP" }))
        .await;
    assert_eq!(code(&v), "CONFLICT", "{v}");
    let v = post(&app, &bob, "two-sum", "re", Some(&spam)).await;
    assert_eq!(code(&v), "CONFLICT", "{v}");

    // Admins still see it in the listing, with its text.
    let d = app
        .ok(Some(&admin), THREAD, json!({ "p": "two-sum" }))
        .await;
    assert_eq!(d["comments"]["total"], 2, "{d}");

    // The log keeps the comment's text and the moderation, in order.
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &admin).await;
    let feed = ws
        .subscribe(
            "subscription { events(after: \"0:0\") { type stream data } }",
            json!({}),
        )
        .await;
    let stream = format!("comment-{spam}");
    let mut seen = vec![];
    while seen.last().map(String::as_str) != Some("CommentHidden") {
        let e = ws.data(&feed, "events").await;
        if e["stream"] == stream.as_str() {
            if e["type"] == "CommentPosted" {
                assert_eq!(e["data"]["body"], "BUY CHEAP PILLS");
            }
            if e["type"] == "CommentHidden" {
                assert_eq!(e["data"]["reason"], "spam");
            }
            seen.push(e["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, vec!["CommentPosted", "CommentHidden"]);

    // Unhiding brings it back.
    app.ok(Some(&admin), UNHIDE, json!({ "id": spam })).await;
    let d = app.ok(Some(&bob), THREAD, json!({ "p": "two-sum" })).await;
    assert_eq!(d["comments"]["total"], 2, "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_has_one_vote_per_comment_and_voting_again_replaces_it() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let (cy, _) = app.register("cyra").await;
    let id = posted(&app, &ada, "two-sum", "Vote for me", None).await;
    let vote = |token: String, v: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.ok(Some(&token), VOTE, json!({ "id": id, "v": v }))
                .await["voteComment"]
                .clone()
        }
    };

    let tally = |s: i64, u: i64, d: i64, mine: &str| json!({ "score": s, "upvotes": u, "downvotes": d, "myVote": mine });
    assert_eq!(vote(bob.clone(), "UP").await, tally(1, 1, 0, "UP"));
    assert_eq!(
        vote(bob.clone(), "UP").await,
        tally(1, 1, 0, "UP"),
        "a repeated vote adds nothing"
    );
    assert_eq!(
        vote(bob.clone(), "DOWN").await,
        tally(-1, 0, 1, "DOWN"),
        "a new vote replaces the old one"
    );
    assert_eq!(vote(cy.clone(), "DOWN").await, tally(-2, 0, 2, "DOWN"));
    assert_eq!(vote(bob.clone(), "NONE").await, tally(-1, 0, 1, "NONE"));
    assert_eq!(vote(bob.clone(), "UP").await, tally(0, 1, 1, "UP"));

    let v = app
        .gql(Some(&ada), VOTE, json!({ "id": id, "v": "UP" }))
        .await;
    assert_eq!(code(&v), "CONFLICT", "no votes on one's own comment: {v}");
    let v = app.gql(None, VOTE, json!({ "id": id, "v": "UP" })).await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
    let v = app
        .gql(
            Some(&bob),
            VOTE,
            json!({ "id": "0190a000-0000-7000-8000-000000000000", "v": "UP" }),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    let d = app
        .ok(
            None,
            "query($id: ID!) { comment(id: $id) { score myVote } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(d["comment"], json!({ "score": 0, "myVote": null }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_sort_by_top_or_new_and_come_in_pages() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let voters = [
        app.register("bob").await.0,
        app.register("cyra").await.0,
        app.register("dee").await.0,
    ];
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(posted(&app, &ada, "two-sum", &format!("comment {i}"), None).await);
    }
    // Scores: #3 gets 3, #1 gets 2, #4 gets -1, the rest 0.
    for (comment, ups) in [(3, 3), (1, 2)] {
        for voter in &voters[..ups] {
            app.ok(Some(voter), VOTE, json!({ "id": ids[comment], "v": "UP" }))
                .await;
        }
    }
    app.ok(Some(&voters[0]), VOTE, json!({ "id": ids[4], "v": "DOWN" }))
        .await;

    let list = |sort: &'static str, limit: i64, offset: i64| {
        let app = &app;
        async move {
            let d = app
                .ok(
                    None,
                    "query($s: CommentSort, $l: Int, $o: Int) { comments(problem: \"two-sum\", sort: $s, limit: $l, offset: $o) { total hasMore items { id score } } }",
                    json!({ "s": sort, "l": limit, "o": offset }),
                )
                .await;
            d["comments"].clone()
        }
    };
    let order = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let by =
        |indices: &[usize]| -> Vec<String> { indices.iter().map(|&i| ids[i].clone()).collect() };

    let top = list("TOP", 50, 0).await;
    // Ties (0) newest first.
    assert_eq!(order(&top), by(&[3, 1, 2, 0, 4]), "{top}");
    assert_eq!(top["total"], 5);
    let new = list("NEW", 50, 0).await;
    assert_eq!(order(&new), by(&[4, 3, 2, 1, 0]));
    let old = list("OLD", 50, 0).await;
    assert_eq!(order(&old), by(&[0, 1, 2, 3, 4]));

    let first = list("TOP", 2, 0).await;
    assert_eq!(order(&first), by(&[3, 1]));
    assert_eq!(first["hasMore"], true);
    let second = list("TOP", 2, 2).await;
    assert_eq!(order(&second), by(&[2, 0]));
    let last = list("TOP", 2, 4).await;
    assert_eq!(order(&last), by(&[4]));
    assert_eq!(last["hasMore"], false);
    assert_eq!(last["total"], 5);

    for (limit, offset) in [(0, 0), (101, 0), (10, -1)] {
        let v = app
            .gql(
                None,
                "query($l: Int, $o: Int) { comments(problem: \"two-sum\", limit: $l, offset: $o) { total } }",
                json!({ "l": limit, "o": offset }),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoiler_is_hidden_until_the_reader_asks_to_see_it() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let v = app
        .gql(
            Some(&ada),
            POST,
            json!({ "p": "two-sum", "b": "The answer is **a dict**", "s": true }),
        )
        .await;
    let id = v["data"]["postComment"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["postComment"]["spoiler"], true);
    assert_eq!(v["data"]["postComment"]["html"], Value::Null);

    let q = "query { comments(problem: \"two-sum\") { items { id spoiler html revealed: html(reveal: true) } } }";
    let d = app.ok(Some(&bob), q, json!({})).await;
    let c = &d["comments"]["items"][0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["spoiler"], true);
    assert_eq!(c["html"], Value::Null, "hidden until asked for");
    assert_eq!(
        c["revealed"],
        "<p>The answer is <strong>a dict</strong></p>\n"
    );

    // The author can take the flag off.
    app.ok(
        Some(&ada),
        "mutation($id: ID!) { editComment(id: $id, body: \"The answer is **a dict**\", spoiler: false) { id } }",
        json!({ "id": id }),
    )
    .await;
    let d = app.ok(Some(&bob), q, json!({})).await;
    assert_eq!(
        d["comments"]["items"][0]["html"],
        "<p>The answer is <strong>a dict</strong></p>\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_a_comment_never_comes_back_as_markup() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &bob).await;
    let sub = ws
        .subscribe(
            "subscription { commentAdded(problem: \"two-sum\") { reason comment { html markdown author } } }",
            json!({}),
        )
        .await;
    assert_eq!(ws.data(&sub, "commentAdded").await["reason"], "INITIAL");

    let evil = "Nice <script>alert('xss')</script>\n\n<img src=x onerror=alert(1)>\n\n\
                [click me](javascript:alert(2)) <a href=\"https://example.org\" onclick=\"steal()\">x</a>\n\n\
                <iframe src=\"https://evil.example\"></iframe>";
    let id = posted(&app, &ada, "two-sum", evil, None).await;
    let reply = posted(
        &app,
        &bob,
        "two-sum",
        "<script>document.cookie</script>",
        Some(&id),
    )
    .await;

    let heard = ws.data(&sub, "commentAdded").await;
    let listing = app
        .ok(
            Some(&bob),
            "query { comments(problem: \"two-sum\") { items { html markdown replies { items { html } } } } }",
            json!({}),
        )
        .await;
    let one = app.ok(Some(&bob), ONE, json!({ "id": id })).await;
    let anonymous = app.ok(None, ONE, json!({ "id": reply })).await;
    for seen in [&heard, &listing, &one, &anonymous] {
        let text = seen.to_string().to_lowercase();
        assert!(!text.contains("<script"), "a script came back: {text}");
        let mut html = vec![];
        html_fields(seen, &mut html);
        assert!(!html.is_empty(), "{seen}");
        for h in html {
            assert_only_safe_markup(&h);
        }
    }
    let html = listing["comments"]["items"][0]["html"].as_str().unwrap();
    assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
    assert_eq!(listing["comments"]["items"][0]["markdown"], Value::Null);
    assert_eq!(
        listing["comments"]["items"][0]["replies"]["items"][0]["html"],
        "<p>&lt;script&gt;document.cookie&lt;/script&gt;</p>\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_10_kib_is_refused_and_nothing_is_written() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let v = post(&app, &ada, "two-sum", &"x".repeat(10 * 1024 + 1), None).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(field(&v), "body");
    let v = post(&app, &ada, "two-sum", "", None).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    let d = app
        .ok(
            None,
            "{ comments(problem: \"two-sum\") { total } }",
            json!({}),
        )
        .await;
    assert_eq!(d["comments"]["total"], 0);
    // Exactly 10 KiB is fine.
    posted(&app, &ada, "two-sum", &"x".repeat(10 * 1024), None).await;
    let d = app
        .ok(
            None,
            "{ comments(problem: \"two-sum\") { total } }",
            json!({}),
        )
        .await;
    assert_eq!(d["comments"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_is_rate_limited_per_user_and_deactivated_users_cannot_post() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.judge = JudgeMode::Off;
        a.comment_rate_per_minute = 3;
    })
    .await
    .unwrap();
    let admin = forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let first = posted(&app, &ada, "two-sum", "one", None).await;
    posted(&app, &ada, "two-sum", "two", None).await;
    app.ok(Some(&ada), EDIT, json!({ "id": first, "b": "one, edited" }))
        .await;
    let v = post(&app, &ada, "two-sum", "four", None).await;
    assert_eq!(code(&v), "RATE_LIMITED", "{v}");
    let v = app
        .gql(Some(&ada), EDIT, json!({ "id": first, "b": "again" }))
        .await;
    assert_eq!(code(&v), "RATE_LIMITED", "{v}");
    // Others are not held back by ada.
    posted(&app, &bob, "two-sum", "bob's", None).await;
    let d = app
        .ok(
            None,
            "{ comments(problem: \"two-sum\") { total } }",
            json!({}),
        )
        .await;
    assert_eq!(d["comments"]["total"], 3);

    app.ok(
        Some(&admin),
        "mutation { deactivateUser(username: \"bob\", reason: \"spam\") { active } }",
        json!({}),
    )
    .await;
    let v = post(&app, &bob, "two-sum", "still here?", None).await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
    let d = app
        .ok(
            None,
            "{ comments(problem: \"two-sum\") { total } }",
            json!({}),
        )
        .await;
    assert_eq!(d["comments"]["total"], 3, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_are_rate_limited_and_deep_pages_of_pages_are_refused_up_front() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.judge = JudgeMode::Off;
        a.comment_rate_per_minute = 1;
    })
    .await
    .unwrap();
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let id = posted(&app, &ada, "two-sum", "one", None).await;
    // Six votes a minute for each comment a minute: flipping a vote up and
    // down cannot append events without bound.
    for i in 0..6 {
        let vote = if i % 2 == 0 { "UP" } else { "DOWN" };
        app.ok(Some(&bob), VOTE, json!({ "id": id, "v": vote }))
            .await;
    }
    let v = app
        .gql(Some(&bob), VOTE, json!({ "id": id, "v": "UP" }))
        .await;
    assert_eq!(code(&v), "RATE_LIMITED", "{v}");

    // Each page costs its limit times its selection: pages of pages of
    // pages of 100 are over the complexity budget before any SQL runs.
    let deep = "{ comments(problem: \"two-sum\", limit: 100) { items { id replies(limit: 100) { items { id replies(limit: 100) { items { id } } } } } } }";
    let v = app.gql(None, deep, json!({})).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{v}"
    );
    // The usual shape still fits.
    let usual =
        "{ comments(problem: \"two-sum\") { items { id html replies { items { id html } } } } }";
    app.ok(None, usual, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_hears_of_each_new_comment_on_the_problem_once_it_can_be_read() {
    let app = app().await;
    forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &bob).await;
    let sub = ws
        .subscribe(
            "subscription($p: String!) { commentAdded(problem: $p) { reason problemSlug comment { id author html parentId } } }",
            json!({ "p": "two-sum" }),
        )
        .await;
    let initial = ws.data(&sub, "commentAdded").await;
    assert_eq!(
        initial,
        json!({ "reason": "INITIAL", "problemSlug": "two-sum", "comment": null })
    );

    // A comment on another problem is not heard; this one and its reply are.
    posted(&app, &ada, "fizz-buzz", "elsewhere", None).await;
    let id = posted(&app, &ada, "two-sum", "Hello *forum*", None).await;
    let heard = ws.data(&sub, "commentAdded").await;
    assert_eq!(heard["reason"], "CHANGED");
    assert_eq!(
        heard["comment"],
        json!({ "id": id, "author": "ada", "html": "<p>Hello <em>forum</em></p>\n", "parentId": null })
    );
    // What was heard can be read at once.
    let d = app.ok(Some(&bob), ONE, json!({ "id": id })).await;
    assert_eq!(d["comment"]["author"], "ada");

    let reply = posted(&app, &bob, "two-sum", "Hi!", Some(&id)).await;
    let heard = ws.data(&sub, "commentAdded").await;
    assert_eq!(heard["comment"]["id"], reply.as_str());
    assert_eq!(heard["comment"]["parentId"], id.as_str());

    // Unknown and draft problems cannot be followed.
    for problem in ["no-such-problem", "secret"] {
        let refused = ws
            .subscribe(
                "subscription($p: String!) { commentAdded(problem: $p) { reason } }",
                json!({ "p": problem }),
            )
            .await;
        assert_eq!(ws.refused(&refused).await, "NOT_FOUND");
    }
}

/// Every `html` string in a response.
fn html_fields(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("html", Value::String(h)) => out.push(h.clone()),
                    _ => html_fields(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| html_fields(v, out)),
        _ => {}
    }
}

/// Each real tag in `html` is one Markdown produces, and carries no event
/// handler, style or script URL; anything else must have been escaped.
fn assert_only_safe_markup(html: &str) {
    const ALLOWED: &[&str] = &[
        "p",
        "a",
        "strong",
        "em",
        "code",
        "pre",
        "ul",
        "ol",
        "li",
        "blockquote",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "del",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    ];
    for (i, _) in html.match_indices('<') {
        let tag = &html[i + 1..i + html[i..].find('>').expect("tags close")];
        let tag = tag.trim_start_matches('/').to_lowercase();
        let name = tag.split_whitespace().next().unwrap_or_default();
        assert!(ALLOWED.contains(&name), "<{tag}> in {html}");
        // Attribute names, skipping quoted values.
        let (mut names, mut current, mut quoted) = (vec![], String::new(), false);
        for c in tag.chars().skip(name.len()) {
            match c {
                '"' => quoted = !quoted,
                _ if quoted => {}
                '=' => names.push(std::mem::take(&mut current)),
                c if c.is_whitespace() => current.clear(),
                c => current.push(c),
            }
        }
        for attr in names {
            assert!(
                attr == "href" || attr == "rel",
                "attribute {attr} in {html}"
            );
        }
        assert!(!tag.contains("javascript:"), "{html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_on_a_problem_archived_since_cannot_be_voted_on_or_read_back() {
    let app = app().await;
    let admin = forum_app(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let id = posted(&app, &ada, "two-sum", "A secret approach", None).await;
    app.ok(
        Some(&admin),
        "mutation { archiveProblem(slug: \"two-sum\") { status } }",
        json!({}),
    )
    .await;
    let v = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { voteComment(id: $id, vote: UP) { html author score } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    assert!(!v.to_string().contains("secret approach"), "{v}");
    let d = app
        .ok(
            Some(&bob),
            "query($id: ID!) { comment(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(d["comment"], Value::Null);
}
