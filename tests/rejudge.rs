//! Rejudge end to end: a problem's tests get stricter, an admin rejudges its
//! accepted submissions through the API, the embedded judge judges them
//! again in the real sandbox, and rankings, leaderboard and profiles follow
//! the new verdicts. Progress is followed over a real WebSocket.

mod common;

use std::time::Duration;

use common::ws::{Protocol, WsClient};
use common::*;
use serde_json::{Value, json};

const RIGHT: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";
/// Passes weak tests whose answer is always the first two indices.
const LUCKY: &str = "def two_sum(nums, target):\n    return [0, 1]\n";

const REJUDGE: &str = "mutation($s: String!, $scope: RejudgeScope!) { rejudgeProblem(slug: $s, scope: $scope) { \
     skipped rejudge { id problem problemVersion scope total judged changed nowFailing nowPassing finishedAt } } }";
const PROGRESS: &str = "subscription($id: ID!) { rejudgeProgress(id: $id) { total judged changed nowFailing nowPassing finishedAt } }";
const RANKING: &str =
    "{ problemRanking(slug: \"two-sum\", first: 10) { entries { rank username } } }";
const LEADERBOARD: &str = "{ leaderboard(first: 10) { entries { username score solved } } }";

/// Tests every answer of which is `[0, 1]`: too weak to tell LUCKY apart.
fn weak_problem() -> Value {
    let mut input = problem_input("Two Sum");
    input["hiddenTests"] = json!([{ "input": "[[3, 3], 6]", "expected": "[0, 1]" }]);
    input
}

async fn verdict(app: &TestApp, token: &str, id: &str) -> Value {
    let query = "query($id: ID!) { submission(id: $id) { status problemVersion verdict { kind passed total problemVersion } } }";
    for _ in 0..600 {
        let v = app.ok(Some(token), query, json!({ "id": id })).await;
        if v["submission"]["status"] == "JUDGED" {
            return v["submission"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("submission {id} was not judged within 30 s");
}

async fn submit(app: &TestApp, token: &str, code: &str) -> String {
    let v = app
        .ok(Some(token), SUBMIT, json!({ "s": "two-sum", "c": code }))
        .await;
    v["submit"]["id"].as_str().unwrap().to_string()
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["username"].as_str().unwrap().to_string())
        .collect()
}

async fn stricter_tests_knock_a_lucky_submission_out_of_the_rankings(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |_| {}).await else {
        return;
    };
    let admin = app.admin("root").await;
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": weak_problem() }),
    )
    .await;
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let lucky = submit(&app, &ada, LUCKY).await;
    let right = submit(&app, &bob, RIGHT).await;
    // A wrong one, to show a rejudge of accepted ones leaves it alone.
    let wrong = submit(&app, &bob, "def two_sum(nums, target):\n    return []\n").await;
    for (token, id, kind) in [
        (&ada, &lucky, "ACCEPTED"),
        (&bob, &right, "ACCEPTED"),
        (&bob, &wrong, "WRONG_ANSWER"),
    ] {
        let s = verdict(&app, token, id).await;
        assert_eq!(s["verdict"]["kind"], kind, "{s}");
    }
    let ranking = app.ok(Some(&ada), RANKING, json!({})).await;
    let mut ranked = names(&ranking, "problemRanking");
    ranked.sort();
    assert_eq!(ranked, ["ada", "bob"]);

    // Only admins rejudge; an unknown problem is not found.
    let v = app
        .gql(
            Some(&ada),
            REJUDGE,
            json!({ "s": "two-sum", "scope": "ALL" }),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = app
        .gql(
            Some(&admin),
            REJUDGE,
            json!({ "s": "nope", "scope": "ALL" }),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");

    // The tests get the case LUCKY fails: version 2.
    let mut stricter = weak_problem();
    stricter["hiddenTests"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "input": "[[1, 5, 9, 4], 13]", "expected": "[2, 3]" }));
    let v = app
        .ok(
            Some(&admin),
            "mutation($s: String!, $i: ProblemInput!) { updateProblem(slug: $s, input: $i) { version } }",
            json!({ "s": "two-sum", "i": stricter }),
        )
        .await;
    assert_eq!(v["updateProblem"]["version"], 2);

    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &admin).await;
    let started = app
        .ok(
            Some(&admin),
            REJUDGE,
            json!({ "s": "two-sum", "scope": "ACCEPTED" }),
        )
        .await["rejudgeProblem"]
        .clone();
    let rejudge = &started["rejudge"];
    assert_eq!(rejudge["total"], 2, "the two accepted ones: {started}");
    assert_eq!(started["skipped"], 1, "the wrong one is outside the scope");
    assert_eq!(rejudge["problemVersion"], 2);
    assert_eq!(rejudge["scope"], "ACCEPTED");

    // Progress, live, until the last new verdict lands.
    let sub = ws.subscribe(PROGRESS, json!({ "id": rejudge["id"] })).await;
    let mut updates = vec![];
    while let Some(result) = ws.next(&sub).await {
        assert!(result.get("errors").is_none(), "{result}");
        updates.push(result["data"]["rejudgeProgress"].clone());
    }
    let last = updates.last().expect("at least the current state");
    assert!(!last["finishedAt"].is_null(), "{updates:?}");
    assert_eq!(
        (
            &last["judged"],
            &last["changed"],
            &last["nowFailing"],
            &last["nowPassing"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0)),
        "{updates:?}"
    );
    let judged: Vec<i64> = updates
        .iter()
        .map(|u| u["judged"].as_i64().unwrap())
        .collect();
    assert!(
        judged.windows(2).all(|w| w[0] <= w[1]),
        "progress only moves forward: {judged:?}"
    );

    let s = verdict(&app, &ada, &lucky).await;
    assert_eq!(s["verdict"]["kind"], "WRONG_ANSWER", "{s}");
    assert_eq!(s["verdict"]["total"], 3, "judged against version 2: {s}");
    assert_eq!(s["verdict"]["problemVersion"], 2, "{s}");
    assert_eq!(s["problemVersion"], 1, "submitted for version 1: {s}");
    let s = verdict(&app, &bob, &right).await;
    assert_eq!(s["verdict"]["kind"], "ACCEPTED", "{s}");
    assert_eq!(s["verdict"]["total"], 3, "{s}");
    let s = verdict(&app, &bob, &wrong).await;
    assert_eq!(s["verdict"]["total"], 2, "not rejudged: {s}");
    assert_eq!(s["verdict"]["problemVersion"], 1, "{s}");

    // The rankings follow the new verdicts.
    let ranking = app.ok(Some(&ada), RANKING, json!({})).await;
    assert_eq!(names(&ranking, "problemRanking"), ["bob"]);
    let board = app.ok(Some(&ada), LEADERBOARD, json!({})).await;
    let entries = board["leaderboard"]["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["username"] != "ada" || e["solved"] == 0),
        "ada solved nothing now: {board}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["username"] == "bob" && e["solved"] == 1),
        "{board}"
    );
    let profile = app
        .ok(
            Some(&ada),
            "{ profile(username: \"ada\") { solved } }",
            json!({}),
        )
        .await;
    assert_eq!(profile["profile"]["solved"], 0, "{profile}");

    // The rejudge is listed with the problem, finished.
    let list = app
        .ok(
            Some(&admin),
            "{ rejudges(problem: \"two-sum\") { id judged total finishedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(list["rejudges"][0]["id"], rejudge["id"]);
    assert_eq!(list["rejudges"][0]["judged"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_tests_knock_a_lucky_submission_out_of_the_rankings_on_sqlite() {
    stricter_tests_knock_a_lucky_submission_out_of_the_rankings(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_tests_knock_a_lucky_submission_out_of_the_rankings_on_postgres() {
    stricter_tests_knock_a_lucky_submission_out_of_the_rankings(Backend::Postgres).await;
}
