//! Leaderboard, problem ranking, percentiles, profiles, problem stats and
//! admin analytics end to end: users submit over HTTP, verdicts are recorded
//! through the domain (as the judge does) on the same event log, and the
//! GraphQL queries answer from the projections, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use commands::{Actor, Commands, Passwords};
use common::*;
use domain::submission::{Verdict, VerdictKind};
use serde_json::{Value, json};

struct Judge {
    commands: Commands,
    last: store::Cursor,
}

impl Judge {
    async fn new(app: &TestApp) -> Self {
        let store = pydojo::open_store(&app.storage).await.unwrap();
        Self {
            commands: Commands::new(store, Passwords::new()),
            last: store::Cursor::START,
        }
    }

    /// Records a verdict for a submission made over HTTP.
    async fn verdict(&mut self, id: &str, kind: VerdictKind, runtime_ms: u32, memory_kb: u64) {
        let verdict = Verdict {
            kind,
            passed: u32::from(kind == VerdictKind::Accepted) * 3,
            total: 3,
            runtime_ms,
            memory_kb,
            tests: vec![],
            failed_example: None,
            message: None,
        };
        let done = self
            .commands
            .record_verdict(id.parse().unwrap(), verdict, None)
            .await
            .unwrap();
        self.last = self.last.max(done.cursor);
    }

    async fn playground_run(&mut self, user: &str) {
        let actor = Actor {
            user_id: user.parse().unwrap(),
            role: domain::user::Role::User,
        };
        let event = domain::playground::PlaygroundEvent::PlaygroundRunCompleted {
            user_id: actor.user_id,
            code_bytes: 20,
            stdin_bytes: 3,
            exit_code: None,
            signal: Some(9),
            cpu_ms: 10_000,
            wall_ms: 10_050,
            memory_kb: 9_000,
            limit_hit: Some("cpu".into()),
            at: chrono::Utc::now(),
        };
        let done = self
            .commands
            .record_playground_run(&actor, event)
            .await
            .unwrap();
        self.last = self.last.max(done.cursor);
    }

    /// Waits, as a client can, until the server's read models have applied
    /// everything recorded here (`/healthz` reports how far they are).
    async fn settled(&self, app: &TestApp) {
        for _ in 0..400 {
            let health: Value = app
                .client
                .get(format!("http://{}/healthz", app.addr))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let (tx, seq) = health["projectedTo"]
                .as_str()
                .and_then(|c| c.split_once(':'))
                .expect("healthz reports a cursor");
            let at = store::Cursor {
                tx: tx.parse().unwrap(),
                seq: seq.parse().unwrap(),
            };
            if at >= self.last {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the read models did not reach {} within 10 s", self.last);
    }
}

async fn submit(app: &TestApp, token: &str, slug: &str) -> (String, String) {
    let v = app
        .ok(
            Some(token),
            "mutation($s: String!) { submit(problemSlug: $s, code: \"print(1)\") { id createdAt } }",
            json!({ "s": slug }),
        )
        .await;
    (
        v["submit"]["id"].as_str().unwrap().to_string(),
        v["submit"]["createdAt"].as_str().unwrap().to_string(),
    )
}

const LEADERBOARD: &str = "query($f: Int!, $a: String) { leaderboard(first: $f, after: $a) { \
    entries { rank username score solved easySolved mediumSolved hardSolved cursor } endCursor hasNextPage } }";

async fn rankings_profiles_stats_and_analytics_answer_over_graphql(backend: Backend) {
    let Some(app) =
        TestApp::spawn_with(backend, |a| a.judge = pydojo::config::JudgeMode::Off).await
    else {
        return;
    };
    let admin = app.admin("root").await;
    for (slug, difficulty) in [("two-sum", "EASY"), ("hard-sum", "HARD")] {
        app.publish_problem(&admin, slug, difficulty).await;
    }
    let (ada, ada_id) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let (cy, _) = app.register("cyd").await;
    let mut judge = Judge::new(&app).await;

    // ada: a wrong answer, then accepted in 30 ms. bob: two-sum in 25 ms and
    // the hard one. cy: two-sum in 20 ms, last of all.
    let (ada_wrong, day) = submit(&app, &ada, "two-sum").await;
    judge
        .verdict(&ada_wrong, VerdictKind::WrongAnswer, 5, 100)
        .await;
    let (ada_ok, _) = submit(&app, &ada, "two-sum").await;
    judge
        .verdict(&ada_ok, VerdictKind::Accepted, 30, 9_000)
        .await;
    let (bob_easy, _) = submit(&app, &bob, "two-sum").await;
    judge
        .verdict(&bob_easy, VerdictKind::Accepted, 25, 9_500)
        .await;
    let (bob_hard, _) = submit(&app, &bob, "hard-sum").await;
    judge
        .verdict(&bob_hard, VerdictKind::Accepted, 400, 20_000)
        .await;
    let (cy_ok, _) = submit(&app, &cy, "two-sum").await;
    judge
        .verdict(&cy_ok, VerdictKind::Accepted, 20, 9_200)
        .await;
    judge.playground_run(&ada_id).await;
    judge.settled(&app).await;

    // Leaderboard: bob 1 + 3; ada and cy 1 each, ada first to get there.
    let board = app.ok(None, LEADERBOARD, json!({ "f": 10 })).await["leaderboard"].clone();
    let rows: Vec<(u64, &str, u64)> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_u64().unwrap(),
                e["username"].as_str().unwrap(),
                e["score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(1, "bob", 4), (2, "ada", 1), (3, "cyd", 1)]);
    assert_eq!(board["entries"][0]["hardSolved"], 1);
    assert_eq!(board["hasNextPage"], false);
    let page = app.ok(None, LEADERBOARD, json!({ "f": 1 })).await["leaderboard"].clone();
    assert_eq!(page["hasNextPage"], true);
    let next = app
        .ok(None, LEADERBOARD, json!({ "f": 1, "a": page["endCursor"] }))
        .await["leaderboard"]
        .clone();
    assert_eq!(next["entries"][0]["username"], "ada");
    assert_eq!(next["entries"][0]["rank"], 2);

    // Ranking of two-sum: cy 20 ms, bob 25 ms, ada 30 ms.
    let ranking = app
        .ok(
            None,
            "{ problemRanking(slug: \"two-sum\", first: 10) { entries { rank username runtimeMs memoryKb submissionId } hasNextPage } }",
            json!({}),
        )
        .await["problemRanking"]
        .clone();
    let order: Vec<(&str, u64)> = ranking["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap(),
                e["runtimeMs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(order, vec![("cyd", 20), ("bob", 25), ("ada", 30)]);
    assert_eq!(ranking["entries"][0]["submissionId"], cy_ok.as_str());

    // Percentiles on the verdict: cy's 20 ms beats 2 of the 3 accepted runs.
    let verdict = |token: String, id: String| {
        let app = &app;
        async move {
            app.ok(
                Some(&token),
                "query($id: ID!) { submission(id: $id) { verdict { kind runtimePercentile memoryPercentile } } }",
                json!({ "id": id }),
            )
            .await["submission"]["verdict"]
                .clone()
        }
    };
    let v = verdict(cy.clone(), cy_ok.clone()).await;
    assert!(
        (v["runtimePercentile"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9,
        "{v}"
    );
    // Memory: 9000 (ada), 9500 (bob), 9200 (cy): one of three is larger.
    assert!(
        (v["memoryPercentile"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9,
        "{v}"
    );
    let v = verdict(ada.clone(), ada_ok.clone()).await;
    assert_eq!(v["runtimePercentile"].as_f64(), Some(0.0));
    let v = verdict(ada.clone(), ada_wrong.clone()).await;
    assert_eq!(v["kind"], "WRONG_ANSWER");
    assert_eq!(v["runtimePercentile"], Value::Null);

    // ada's profile.
    let date = &day[..10];
    let profile = app
        .ok(
            None,
            "query($d: NaiveDate!) { profile(username: \"ada\") { username rank score solved easySolved submissions judged \
             accepted acceptanceRate currentStreak longestStreak activity(from: $d, to: $d) { date submissions accepted } \
             recentSubmissions(limit: 5) { id problemSlug verdict } } }",
            json!({ "d": date }),
        )
        .await["profile"]
        .clone();
    assert_eq!(profile["rank"], 2);
    assert_eq!(
        (
            &profile["score"],
            &profile["solved"],
            &profile["easySolved"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(
        (
            &profile["submissions"],
            &profile["judged"],
            &profile["accepted"]
        ),
        (&json!(2), &json!(2), &json!(1))
    );
    assert_eq!(profile["acceptanceRate"].as_f64(), Some(50.0));
    assert_eq!(profile["longestStreak"], 1);
    assert_eq!(profile["currentStreak"], 1);
    assert_eq!(
        profile["activity"],
        json!([{ "date": date, "submissions": 2, "accepted": 1 }])
    );
    assert_eq!(profile["recentSubmissions"][0]["id"], ada_ok.as_str());
    assert_eq!(profile["recentSubmissions"][0]["verdict"], "ACCEPTED");
    assert_eq!(profile["recentSubmissions"][1]["verdict"], "WRONG_ANSWER");

    // two-sum's stats.
    let stats = app
        .ok(
            None,
            "{ problemStats(slug: \"two-sum\", buckets: 2) { submissions judged accepted acceptanceRate attempters solvers \
             verdictMix { verdict count } runtimeMs { count min max p50 histogram { low high count } } memoryKb { count max } } }",
            json!({}),
        )
        .await["problemStats"]
        .clone();
    assert_eq!(
        (&stats["submissions"], &stats["judged"], &stats["accepted"]),
        (&json!(4), &json!(4), &json!(3))
    );
    assert_eq!(stats["acceptanceRate"].as_f64(), Some(75.0));
    assert_eq!(
        (&stats["attempters"], &stats["solvers"]),
        (&json!(3), &json!(3))
    );
    assert_eq!(
        stats["verdictMix"],
        json!([{ "verdict": "ACCEPTED", "count": 3 }, { "verdict": "WRONG_ANSWER", "count": 1 }])
    );
    assert_eq!(
        stats["runtimeMs"],
        json!({ "count": 3, "min": 20, "max": 30, "p50": 25,
                "histogram": [{ "low": 20, "high": 25, "count": 2 }, { "low": 26, "high": 31, "count": 1 }] })
    );
    assert_eq!(stats["memoryKb"], json!({ "count": 3, "max": 9500 }));

    // Admin analytics for the day everything happened.
    let analytics_query = "query($d: NaiveDate!) { analytics(from: $d, to: $d) { days { date submissions judged accepted \
        activeUsers playgroundRuns } activeUsers verdictMix { verdict count } playground { runs users limitsHit { limit count } } \
        problems { slug difficulty submissions accepted runtimeMs { count min max mean } memoryKb { max } } } }";
    let analytics = app
        .ok(Some(&admin), analytics_query, json!({ "d": date }))
        .await["analytics"]
        .clone();
    assert_eq!(
        analytics["days"],
        json!([{ "date": date, "submissions": 5, "judged": 5, "accepted": 4, "activeUsers": 3, "playgroundRuns": 1 }])
    );
    assert_eq!(analytics["activeUsers"], 3);
    assert_eq!(
        analytics["verdictMix"],
        json!([{ "verdict": "ACCEPTED", "count": 4 }, { "verdict": "WRONG_ANSWER", "count": 1 }])
    );
    assert_eq!(
        analytics["playground"],
        json!({ "runs": 1, "users": 1, "limitsHit": [{ "limit": "cpu", "count": 1 }] })
    );
    assert_eq!(
        analytics["problems"],
        json!([
            { "slug": "two-sum", "difficulty": "EASY", "submissions": 4, "accepted": 3,
              "runtimeMs": { "count": 3, "min": 20, "max": 30, "mean": 25.0 }, "memoryKb": { "max": 9500 } },
            { "slug": "hard-sum", "difficulty": "HARD", "submissions": 1, "accepted": 1,
              "runtimeMs": { "count": 1, "min": 400, "max": 400, "mean": 400.0 }, "memoryKb": { "max": 20000 } },
        ])
    );

    // Coded errors.
    let as_user = app
        .gql(Some(&ada), analytics_query, json!({ "d": date }))
        .await;
    assert_eq!(code(&as_user), "FORBIDDEN", "{as_user}");
    let anonymous = app.gql(None, analytics_query, json!({ "d": date })).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    let missing = app
        .gql(
            None,
            "{ problemRanking(slug: \"nope\") { hasNextPage } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    let missing = app
        .gql(
            None,
            "{ profile(username: \"nobody\") { score } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    let missing = app
        .gql(
            None,
            "{ problemStats(slug: \"nope\") { solvers } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    for (query, vars) in [
        (LEADERBOARD, json!({ "f": 0 })),
        (LEADERBOARD, json!({ "f": 5, "a": "not-a-cursor" })),
        (
            "{ analytics(from: \"2024-01-01\", to: \"2025-06-01\") { activeUsers } }",
            json!({}),
        ),
        (
            "{ problemStats(slug: \"two-sum\", buckets: 0) { solvers } }",
            json!({}),
        ),
    ] {
        let token = query.contains("analytics").then_some(admin.as_str());
        let v = app.gql(token, query, vars).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{query}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rankings_profiles_stats_and_analytics_answer_over_graphql_on_sqlite() {
    rankings_profiles_stats_and_analytics_answer_over_graphql(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rankings_profiles_stats_and_analytics_answer_over_graphql_on_postgres() {
    rankings_profiles_stats_and_analytics_answer_over_graphql(Backend::Postgres).await;
}

/// The admin analytics include the tutor: questions, replies, failures,
/// users and problems over the range (here the offline tutor, which needs
/// no model endpoint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_analytics_count_tutor_use() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.judge = pydojo::config::JudgeMode::Off
    })
    .await
    .unwrap();
    let admin = app.admin("root").await;
    app.publish_problem(&admin, "two-sum", "EASY").await;
    let (ada, _) = app.register("ada").await;
    let ask = "mutation($m: String!) { askTutor(problemSlug: \"two-sum\", message: $m) { id } }";
    for message in ["Where do I start?", "And then?"] {
        let asked = app.ok(Some(&ada), ask, json!({ "m": message })).await;
        assert!(asked["askTutor"]["id"].is_string(), "{asked}");
        // One question at a time: wait for the answer before the next.
        let mut answered = false;
        for _ in 0..200 {
            let c = app
                .ok(
                    Some(&ada),
                    "{ tutorConversation(problemSlug: \"two-sum\") { messages { status } } }",
                    json!({}),
                )
                .await;
            let messages = c["tutorConversation"]["messages"].as_array().unwrap();
            if messages.iter().all(|m| m["status"] == "ANSWERED") {
                answered = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(answered, "the offline tutor answers within 5 s");
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let query = "query($d: NaiveDate!) { analytics(from: $d, to: $d) { tutor { questions replies failures users problems \
                 completionTokens maxLatencyMs } } }";
    let v = app.ok(Some(&admin), query, json!({ "d": today })).await;
    let tutor = &v["analytics"]["tutor"];
    assert_eq!(
        (
            &tutor["questions"],
            &tutor["replies"],
            &tutor["failures"],
            &tutor["users"],
            &tutor["problems"]
        ),
        (&json!(2), &json!(2), &json!(0), &json!(1), &json!(1)),
        "{v}"
    );
    // A day without questions counts none.
    let v = app
        .ok(Some(&admin), query, json!({ "d": "2024-01-01" }))
        .await;
    assert_eq!(v["analytics"]["tutor"]["questions"], 0, "{v}");
}
