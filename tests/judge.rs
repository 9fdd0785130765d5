//! The judge end to end: submissions over HTTP are judged by the embedded
//! queue in the real sandbox, and verdicts come back through the API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const SOLUTION: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

/// Polls a submission until it is judged, as a client without a subscription
/// would (live subscriptions come with the read-side issue). Bounded.
async fn verdict(app: &TestApp, token: &str, id: &str) -> Value {
    let query = "query($id: ID!) { submission(id: $id) { status verdict { kind passed total runtimeMs memoryKb message \
                 failedExample { index input expected actual } tests { index hidden verdict } } } }";
    for _ in 0..600 {
        let v = app.ok(Some(token), query, json!({ "id": id })).await;
        if v["submission"]["status"] == "JUDGED" {
            return v["submission"]["verdict"].clone();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_judged_in_the_sandbox_and_verdicts_reach_the_api() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
    )
    .await;
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    let (token, _) = app.register("ada").await;

    let id = submit(&app, &token, SOLUTION).await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "ACCEPTED", "{v}");
    assert_eq!(
        (v["passed"].as_u64(), v["total"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(
        v["memoryKb"].as_u64().unwrap() > 0,
        "memory is measured: {v}"
    );

    // Wrong on the visible example: the example is shown.
    let id = submit(
        &app,
        &token,
        "def two_sum(nums, target):\n    return [0, 0]\n",
    )
    .await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "WRONG_ANSWER", "{v}");
    assert_eq!(v["failedExample"]["input"], "[[2, 7, 11, 15], 9]");
    assert_eq!(
        v["failedExample"]["actual"]
            .as_str()
            .unwrap()
            .replace(' ', ""),
        "[0,0]"
    );

    // Right on the example, wrong on a hidden test: nothing of it is shown.
    let id = submit(
        &app,
        &token,
        "def two_sum(nums, target):\n    return [0, 1]\n",
    )
    .await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "WRONG_ANSWER", "{v}");
    assert_eq!(v["failedExample"], Value::Null);
    assert_eq!(v["passed"], 2);
    let text = v.to_string();
    assert!(
        !text.contains(HIDDEN_MARKER) && !text.contains("[1, 5, 9, 4]") && !text.contains("[2, 3]"),
        "{text}"
    );

    let id = submit(&app, &token, "def two_sum(nums, target):\n    return [\n").await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "COMPILE_ERROR", "{v}");
    assert!(v["message"].as_str().unwrap().contains("line"), "{v}");

    let id = submit(
        &app,
        &token,
        "def two_sum(nums, target):\n    raise ValueError('boom')\n",
    )
    .await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "RUNTIME_ERROR", "{v}");
    assert!(v["message"].as_str().unwrap().contains("boom"), "{v}");

    let id = submit(
        &app,
        &token,
        "def two_sum(nums, target):\n    while True:\n        pass\n",
    )
    .await;
    let v = verdict(&app, &token, &id).await;
    assert_eq!(v["kind"], "TIME_LIMIT_EXCEEDED", "{v}");
}

/// The queue is the log: a submission made while no judge runs is judged
/// when one starts, and a restarted queue never judges anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_submissions_survive_a_restart_and_get_exactly_one_verdict() {
    let Some(sandbox) = native_sandbox().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store: store::SharedStore = Arc::new(
        store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
            .await
            .unwrap(),
    );
    let cmds = commands::Commands::new(store.clone(), commands::Passwords::fast_for_tests());
    let admin_id = cmds
        .register(
            "root",
            "root@example.org",
            "admin password 1",
            domain::user::Role::Admin,
        )
        .await
        .unwrap()
        .value;
    let admin = commands::Actor {
        user_id: admin_id,
        role: domain::user::Role::Admin,
    };
    let user = commands::Actor {
        user_id: cmds
            .register(
                "ada",
                "ada@example.org",
                "user password 1",
                domain::user::Role::User,
            )
            .await
            .unwrap()
            .value,
        role: domain::user::Role::User,
    };
    let input: Value = problem_input("Two Sum");
    let spec = spec_from(&input);
    cmds.create_problem(&admin, "two-sum", spec).await.unwrap();
    cmds.publish_problem(&admin, "two-sum").await.unwrap();
    let first = cmds.submit(&user, "two-sum", SOLUTION).await.unwrap().value;

    let judge = Arc::new(executor::Judge::new(sandbox));
    let checkpoint = executor::FileCheckpoint::new(&dir.path().join("judge.checkpoint"));
    let mut queue = executor::EmbeddedQueue::new(
        store.clone(),
        cmds.clone(),
        judge.clone(),
        checkpoint.clone(),
    )
    .unwrap();
    queue.drain().await.unwrap();
    drop(queue);
    let second = cmds
        .submit(
            &user,
            "two-sum",
            "def two_sum(nums, target):\n    return [0, 0]\n",
        )
        .await
        .unwrap()
        .value;

    // A new queue (a restart) picks up from its checkpoint.
    let mut queue = executor::EmbeddedQueue::new(
        store.clone(),
        cmds.clone(),
        judge.clone(),
        checkpoint.clone(),
    )
    .unwrap();
    queue.drain().await.unwrap();
    // And one that starts from scratch judges nothing twice.
    let mut fresh = executor::EmbeddedQueue::new(
        store.clone(),
        cmds.clone(),
        judge,
        executor::FileCheckpoint::new(&dir.path().join("other.checkpoint")),
    )
    .unwrap();
    fresh.drain().await.unwrap();

    for (id, kind) in [
        (first, domain::submission::VerdictKind::Accepted),
        (second, domain::submission::VerdictKind::WrongAnswer),
    ] {
        let stream = store
            .read_stream(&format!("submission-{id}"), 1)
            .await
            .unwrap();
        let judged = stream
            .iter()
            .filter(|e| e.event_type == "SubmissionJudged")
            .count();
        assert_eq!(judged, 1, "exactly one verdict for {id}");
        assert_eq!(
            cmds.submission(id)
                .await
                .unwrap()
                .unwrap()
                .verdict
                .unwrap()
                .kind,
            kind
        );
    }
}

fn spec_from(input: &Value) -> domain::problem::ProblemSpec {
    use domain::problem::*;
    let tests = |v: &Value| -> Vec<TestCase> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| TestCase {
                input: t["input"].as_str().unwrap().into(),
                expected: t["expected"].as_str().unwrap().into(),
                explanation: t["explanation"].as_str().map(Into::into),
            })
            .collect()
    };
    ProblemSpec {
        title: input["title"].as_str().unwrap().into(),
        statement: input["statement"].as_str().unwrap().into(),
        difficulty: Difficulty::Easy,
        tags: vec![],
        kind: ProblemKind::Function {
            entry_point: "two_sum".into(),
            params: vec!["nums".into(), "target".into()],
        },
        template: input["template"].as_str().unwrap().into(),
        examples: tests(&input["examples"]),
        hidden_tests: tests(&input["hiddenTests"]),
        limits: Limits {
            time_limit_ms: 1000,
            memory_limit_mb: 128,
        },
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}
