//! Live subscriptions end to end: the real app on port 0, a real WebSocket
//! client in both protocols, and (where the machine has it) the real
//! embedded judge in the native sandbox.

mod common;

use common::ws::{Protocol, WsClient, forbidden_close};
use common::*;
use pydojo::config::JudgeMode;
use serde_json::{Value, json};

const SOLUTION: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

/// Right, but slow: it keeps the judge busy for about a second.
const SLOW_SOLUTION: &str = "import time\n\ndef two_sum(nums, target):\n    time.sleep(0.3)\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

const SUBMISSION_UPDATED: &str = "subscription($id: ID!) { submissionUpdated(id: $id) { submissionId status reason \
     progress { passed total test { index hidden verdict } } verdict { kind passed total } } }";

const LEADERBOARD_CHANGED: &str = "subscription($p: String) { leaderboardChanged(problem: $p, first: 5) { reason problemSlug position \
     leaderboard { rank username score } ranking { rank username } me { rank score } } }";

const EVENTS: &str = "subscription($after: String) { events(after: $after) { position type stream schemaVersion recordedAt data } }";

async fn app_without_judge() -> TestApp {
    without_judge(Backend::Sqlite).await.unwrap()
}

/// `None` when the backend is not available (never under CI=true).
async fn without_judge(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |args| args.judge = JudgeMode::Off).await
}

async fn publish_two_sum(app: &TestApp) -> String {
    let admin = app.admin("root").await;
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
    )
    .await;
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    admin
}

async fn submit(app: &TestApp, token: &str, code: &str) -> String {
    let v = app
        .ok(Some(token), SUBMIT, json!({ "s": "two-sum", "c": code }))
        .await;
    v["submit"]["id"].as_str().unwrap().to_string()
}

/// Follows a submission until its verdict; returns every update.
async fn follow_to_verdict(ws: &mut WsClient, id: &str) -> Vec<Value> {
    let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
    let mut updates = vec![];
    while let Some(result) = ws.next(&sub).await {
        assert!(result.get("errors").is_none(), "{result}");
        updates.push(result["data"]["submissionUpdated"].clone());
    }
    updates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitter_sees_queued_running_with_progress_and_the_verdict() {
    if native_sandbox().await.is_none() {
        return;
    }
    let app = TestApp::spawn().await;
    publish_two_sum(&app).await;
    let (token, _) = app.register("ada").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &token).await;

    // Keep the judge busy so that the next submission has to wait its turn:
    // the queue takes the log batch by batch.
    let blocker = submit(&app, &token, SLOW_SOLUTION).await;
    let blocking = ws
        .subscribe(SUBMISSION_UPDATED, json!({ "id": blocker }))
        .await;
    loop {
        let update = ws.data(&blocking, "submissionUpdated").await;
        if update["status"] == "RUNNING" {
            break;
        }
        assert_eq!(update["status"], "QUEUED", "{update}");
    }
    let id = submit(&app, &token, SOLUTION).await;
    let updates = follow_to_verdict(&mut ws, &id).await;

    let statuses: Vec<&str> = updates
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "QUEUED", "{updates:?}");
    assert_eq!(updates[0]["reason"], "INITIAL");
    assert_eq!(*statuses.last().unwrap(), "JUDGED", "{updates:?}");
    let running: Vec<&Value> = updates
        .iter()
        .filter(|u| u["status"] == "RUNNING")
        .collect();
    assert!(
        statuses[1..statuses.len() - 1]
            .iter()
            .all(|s| *s == "RUNNING"),
        "queued, then running, then judged: {statuses:?}"
    );
    // Every test's outcome, in order, with the count passed so far.
    let tested: Vec<(u64, u64, u64)> = running
        .iter()
        .filter(|u| !u["progress"]["test"].is_null())
        .map(|u| {
            let p = &u["progress"];
            (
                p["test"]["index"].as_u64().unwrap(),
                p["passed"].as_u64().unwrap(),
                p["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tested, vec![(0, 1, 3), (1, 2, 3), (2, 3, 3)], "{updates:?}");
    let hidden: Vec<bool> = running
        .iter()
        .filter(|u| !u["progress"]["test"].is_null())
        .map(|u| u["progress"]["test"]["hidden"].as_bool().unwrap())
        .collect();
    assert_eq!(hidden, vec![false, true, true]);
    let verdict = &updates.last().unwrap()["verdict"];
    assert_eq!(verdict["kind"], "ACCEPTED", "{verdict}");
    assert_eq!(
        (verdict["passed"].as_u64(), verdict["total"].as_u64()),
        (Some(3), Some(3))
    );
    let text = serde_json::to_string(&updates).unwrap();
    assert!(!text.contains(HIDDEN_MARKER), "{text}");

    // Subscribing after the verdict gives it at once, and completes.
    let again = follow_to_verdict(&mut ws, &id).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["status"], "JUDGED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaderboard_subscriber_sees_the_new_rank_after_another_users_accepted_submission() {
    if native_sandbox().await.is_none() {
        return;
    }
    let app = TestApp::spawn().await;
    publish_two_sum(&app).await;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;

    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &bob).await;
    let global = ws.subscribe(LEADERBOARD_CHANGED, json!({})).await;
    let ranking = ws
        .subscribe(LEADERBOARD_CHANGED, json!({ "p": "two-sum" }))
        .await;
    let initial = ws.data(&global, "leaderboardChanged").await;
    assert_eq!(initial["reason"], "INITIAL");
    assert_eq!(initial["leaderboard"], json!([]));
    assert_eq!(initial["me"], Value::Null);
    let initial = ws.data(&ranking, "leaderboardChanged").await;
    assert_eq!(initial["problemSlug"], "two-sum");
    assert_eq!(initial["ranking"], json!([]));

    // Ada solves it: bob sees her at the top.
    submit(&app, &ada, SOLUTION).await;
    let update = ws.data(&global, "leaderboardChanged").await;
    assert_eq!(update["reason"], "CHANGED");
    assert_eq!(
        update["leaderboard"],
        json!([{ "rank": 1, "username": "ada", "score": 1 }])
    );
    assert_eq!(update["me"], Value::Null);
    let update = ws.data(&ranking, "leaderboardChanged").await;
    assert_eq!(update["ranking"], json!([{ "rank": 1, "username": "ada" }]));

    // Then bob: second, and his own rank says so.
    submit(&app, &bob, SOLUTION).await;
    let update = ws.data(&global, "leaderboardChanged").await;
    assert_eq!(update["leaderboard"][1]["username"], "bob", "{update}");
    assert_eq!(update["me"], json!({ "rank": 2, "score": 1 }));
    // A wrong answer moves nothing and announces nothing; the next accepted
    // one is the next update.
    submit(
        &app,
        &ada,
        "def two_sum(nums, target):\n    return [0, 0]\n",
    )
    .await;
    let (carol, _) = app.register("carol").await;
    submit(&app, &carol, SOLUTION).await;
    let update = ws.data(&global, "leaderboardChanged").await;
    assert_eq!(update["leaderboard"][2]["username"], "carol", "{update}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocols_work_and_bad_tokens_are_refused_with_a_code() {
    let app = app_without_judge().await;
    let admin = publish_two_sum(&app).await;
    let (ada, _) = app.register("ada").await;
    let id = submit(&app, &ada, SOLUTION).await;

    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        // Either payload shape works.
        for payload in [
            json!({ "authorization": format!("Bearer {ada}") }),
            json!({ "token": ada }),
        ] {
            let mut ws = WsClient::connect(&app, protocol).await;
            ws.init(payload).await.unwrap();
            let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
            let update = ws.data(&sub, "submissionUpdated").await;
            assert_eq!(update["status"], "QUEUED", "{protocol:?}: {update}");
            assert_eq!(update["reason"], "INITIAL");
        }

        let forged = format!("{}x", &ada[..ada.len() - 1]);
        for payload in [
            json!({}),
            json!({ "token": "not a jwt" }),
            json!({ "token": forged }),
        ] {
            let mut ws = WsClient::connect(&app, protocol).await;
            let refusal = ws.init(payload.clone()).await.unwrap_err();
            assert_eq!(
                refusal.code, "UNAUTHENTICATED",
                "{protocol:?} {payload}: {refusal:?}"
            );
            assert_eq!(refusal.close_code, Some(forbidden_close()), "{refusal:?}");
        }

        // Bob may not follow ada's submission; nobody may follow a made-up one.
        let (bob, _) = app
            .register(&format!("bob-{protocol:?}").to_lowercase())
            .await;
        let mut ws = WsClient::authenticated(&app, protocol, &bob).await;
        let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
        assert_eq!(ws.refused(&sub).await, "FORBIDDEN");
        let sub = ws
            .subscribe(
                SUBMISSION_UPDATED,
                json!({ "id": "0190b6a0-0000-7000-8000-000000000000" }),
            )
            .await;
        assert_eq!(ws.refused(&sub).await, "NOT_FOUND");
        // Requests the library itself rejects carry a code too: a query
        // that does not parse, a field that does not exist, a variable of
        // the wrong type.
        for (query, variables) in [
            ("subscription {", json!({})),
            ("subscription { noSuchField }", json!({})),
            (SUBMISSION_UPDATED, json!({ "id": 42.5 })),
        ] {
            let sub = ws.subscribe(query, variables).await;
            assert_eq!(ws.refused(&sub).await, "BAD_USER_INPUT", "{query}");
        }
        // Admins may follow anyone's.
        let mut ws = WsClient::authenticated(&app, protocol, &admin).await;
        let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
        assert_eq!(ws.data(&sub, "submissionUpdated").await["status"], "QUEUED");
    }

    // A session that ends (deactivation) no longer opens connections.
    app.ok(
        Some(&admin),
        "mutation { deactivateUser(username: \"ada\") { active } }",
        json!({}),
    )
    .await;
    let mut ws = WsClient::connect(&app, Protocol::TransportWs).await;
    let refusal = ws
        .init(json!({ "authorization": format!("Bearer {ada}") }))
        .await
        .unwrap_err();
    assert_eq!(refusal.code, "UNAUTHENTICATED", "{refusal:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_is_for_admins_only_and_redacts_hidden_tests_on_sqlite() {
    the_event_feed_is_for_admins_only_and_redacts_hidden_tests(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_is_for_admins_only_and_redacts_hidden_tests_on_postgres() {
    the_event_feed_is_for_admins_only_and_redacts_hidden_tests(Backend::Postgres).await;
}

async fn the_event_feed_is_for_admins_only_and_redacts_hidden_tests(backend: Backend) {
    let Some(app) = without_judge(backend).await else {
        return;
    };
    let admin = publish_two_sum(&app).await;
    let (ada, _) = app.register("ada").await;

    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &ada).await;
    let sub = ws.subscribe(EVENTS, json!({})).await;
    assert_eq!(ws.refused(&sub).await, "FORBIDDEN");

    // From the start of the log: what happened before, then what happens.
    let mut ws = WsClient::authenticated(&app, Protocol::Legacy, &admin).await;
    let feed = ws.subscribe(EVENTS, json!({ "after": "0:0" })).await;
    let mut seen: Vec<Value> = vec![];
    while !seen.iter().any(|e| e["type"] == "ProblemPublished") {
        seen.push(ws.data(&feed, "events").await);
    }
    let id = submit(&app, &ada, SOLUTION).await;
    loop {
        let event = ws.data(&feed, "events").await;
        seen.push(event.clone());
        if event["type"] == "SubmissionCreated" {
            assert_eq!(event["data"]["submission_id"], id.as_str());
            break;
        }
    }
    let positions: Vec<&str> = seen
        .iter()
        .map(|e| e["position"].as_str().unwrap())
        .collect();
    let mut unique = positions.clone();
    unique.dedup();
    assert_eq!(positions, unique, "each event once");

    let created = seen
        .iter()
        .find(|e| e["type"] == "ProblemCreated")
        .expect("the problem's creation is in the feed");
    assert_eq!(
        created["stream"].as_str().unwrap().split('-').next(),
        Some("problem")
    );
    let text = serde_json::to_string(&seen).unwrap();
    assert!(
        !text.contains(HIDDEN_MARKER),
        "hidden tests never leave: {text}"
    );
    assert!(!text.contains("[1, 5, 9, 4]"), "{text}");
    assert!(!text.contains("argon2"), "nor password hashes: {text}");
    assert!(text.contains("hidden_test_count"), "{text}");
    assert!(seen.iter().any(|e| e["type"] == "UserRegistered"));

    // A bad position is a coded error.
    let sub = ws.subscribe(EVENTS, json!({ "after": "yesterday" })).await;
    assert_eq!(ws.refused(&sub).await, "BAD_USER_INPUT");
}

/// Runs on one thread, so the flood below happens while the server cannot
/// send anything: the subscriber's buffer overflows for certain.
#[tokio::test(flavor = "current_thread")]
async fn a_lagging_subscriber_is_resynced_with_the_current_state_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(Backend::Sqlite, dir.path()).await.unwrap();
    let mut args = serve_args(storage.clone());
    args.judge = JudgeMode::Off;
    args.live_capacity = 8;
    let built = pydojo::App::build(args).await.unwrap();
    let live = built.live();
    let app = TestApp::from_app(built, storage, dir);
    publish_two_sum(&app).await;
    let (ada, _) = app.register("ada").await;
    let id = submit(&app, &ada, SOLUTION).await;

    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &ada).await;
    let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
    assert_eq!(ws.data(&sub, "submissionUpdated").await["status"], "QUEUED");

    // A judge reporting far faster than this client is served.
    let submission_id: domain::SubmissionId = id.parse().unwrap();
    for passed in 1..=1000 {
        live.report_progress(graphql::JudgeProgress {
            submission_id,
            test: None,
            passed,
            total: 1000,
        });
        assert!(
            live.buffered() <= live.capacity(),
            "bounded by the capacity"
        );
    }
    let update = ws.data(&sub, "submissionUpdated").await;
    assert_eq!(update["reason"], "RESYNC", "{update}");
    assert_eq!(update["status"], "RUNNING");
    assert_eq!(
        update["progress"]["passed"], 1000,
        "the current state: {update}"
    );
    assert_eq!(
        live.buffered(),
        0,
        "nothing is kept for a resynced subscriber"
    );

    // And it carries on live from there.
    live.report_progress(graphql::JudgeProgress {
        submission_id,
        test: None,
        passed: 1000,
        total: 1000,
    });
    let update = ws.data(&sub, "submissionUpdated").await;
    assert_eq!(update["reason"], "CHANGED", "{update}");
}

/// Distributed: the API node judges nothing itself; an executor publishes
/// progress on core NATS and the API node relays it to the subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_a_submitter_sees_progress_published_by_an_executor() {
    pydojo::install_crypto_provider();
    let Some(nats) = executor::testing::nats_test_server() else {
        return;
    };
    let Some(sandbox) = native_sandbox().await else {
        return;
    };
    let topology = nats.topology();
    let app = TestApp::spawn_with(Backend::Sqlite, |args| {
        args.judge = JudgeMode::Nats;
        args.nats = pydojo::config::NatsArgs {
            nats_jobs_stream: topology.jobs_stream.clone(),
            nats_results_stream: topology.results_stream.clone(),
            nats_subject_prefix: topology.subject_prefix.clone(),
            nats_executor_consumer: topology.executor_consumer.clone(),
            nats_results_consumer: topology.results_consumer.clone(),
            ..nats_args(&nats.url)
        };
    })
    .await
    .unwrap();
    publish_two_sum(&app).await;
    let (token, _) = app.register("ada").await;
    // Subscribed while no executor runs: the submission waits, queued.
    let id = submit(&app, &token, SOLUTION).await;
    let mut ws = WsClient::authenticated(&app, Protocol::Legacy, &token).await;
    let sub = ws.subscribe(SUBMISSION_UPDATED, json!({ "id": id })).await;
    let first = ws.data(&sub, "submissionUpdated").await;
    assert_eq!(first["status"], "QUEUED", "{first}");

    let client = executor::nats::connect(
        &nats.url,
        "test-executor",
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let worker = executor::Worker::new(
        client,
        topology,
        std::sync::Arc::new(executor::Judge::new(sandbox)),
        executor::WorkerConfig::default(),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let executor = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    let mut updates = vec![first];
    while let Some(result) = ws.next(&sub).await {
        assert!(result.get("errors").is_none(), "{result}");
        updates.push(result["data"]["submissionUpdated"].clone());
    }
    let _ = stop.send(());
    executor.await.unwrap();
    let passed: Vec<u64> = updates
        .iter()
        .filter(|u| u["status"] == "RUNNING")
        .map(|u| u["progress"]["passed"].as_u64().unwrap())
        .collect();
    assert_eq!(
        passed,
        vec![0, 1, 2, 3],
        "RUNNING when the executor starts, then every test's progress: {updates:?}"
    );
    let started = updates.iter().find(|u| u["status"] == "RUNNING").unwrap();
    assert!(started["progress"]["test"].is_null(), "{started}");
    let last = updates.last().unwrap();
    assert_eq!(last["status"], "JUDGED");
    assert_eq!(last["verdict"]["kind"], "ACCEPTED");
}
