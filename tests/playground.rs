//! The playground: any snippet on the user's own input, in the real sandbox.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;

const RUN: &str = "mutation($c: String!, $i: String!) { run(code: $c, stdin: $i) { stdout stderr stdoutTruncated exitCode signal cpuMs wallMs memoryKb limitHit } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_snippets_on_the_users_input_within_limits_and_records_each_run() {
    if native_sandbox().await.is_none() {
        return;
    }
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.playground_wall_ms = 1500;
        a.playground_memory_mb = 64;
        a.playground_output_bytes = 10_000;
    })
    .await
    else {
        return;
    };
    let (token, user_id) = app.register("ada").await;
    let run = |code: &str, stdin: &str| app.ok(Some(&token), RUN, json!({ "c": code, "i": stdin }));

    let v = run(
        "import sys\nname = input()\nprint(name[::-1])\nprint('to stderr', file=sys.stderr)",
        "abc\n",
    )
    .await;
    assert_eq!(v["run"]["stdout"], "cba\n");
    assert_eq!(v["run"]["stderr"], "to stderr\n");
    assert_eq!(v["run"]["exitCode"], 0);
    assert_eq!(v["run"]["limitHit"], json!(null));
    assert!(v["run"]["memoryKb"].as_u64().unwrap() > 0, "{v}");

    let v = run("def f():\n    raise ValueError('boom')\nf()", "").await;
    assert_eq!(v["run"]["exitCode"], 1);
    assert!(
        v["run"]["stderr"]
            .as_str()
            .unwrap()
            .contains("ValueError: boom"),
        "{v}"
    );

    let v = run("while True:\n    pass", "").await;
    let hit = v["run"]["limitHit"].as_str().unwrap_or_default();
    assert!(hit == "CPU" || hit == "WALL", "{v}");
    let v = run("import time\ntime.sleep(60)", "").await;
    assert_eq!(v["run"]["limitHit"], "WALL", "{v}");
    let v = run("x = bytearray(300 * 1024 * 1024)", "").await;
    assert_eq!(v["run"]["limitHit"], "MEMORY", "{v}");
    let v = run("while True:\n    print('x' * 100)", "").await;
    assert_eq!(v["run"]["limitHit"], "OUTPUT", "{v}");
    assert_eq!(v["run"]["stdoutTruncated"], true);
    assert!(v["run"]["stdout"].as_str().unwrap().len() <= 10_000);

    // Each run is an event (sizes and measurements, not the code).
    let store: store::SharedStore = Arc::new(
        store::SqliteStore::open(&app.dir.path().join("events.db"), Default::default())
            .await
            .unwrap(),
    );
    let runs = store
        .read_stream(&format!("playground-{user_id}"), 1)
        .await
        .unwrap();
    assert_eq!(runs.len(), 6);
    assert!(
        runs.iter()
            .all(|e| e.event_type == "PlaygroundRunCompleted" && e.data.get("code").is_none())
    );
    assert_eq!(runs[0].data["exit_code"], 0);
    assert_eq!(runs[3].data["limit_hit"], "wall");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_runs_need_a_login_valid_input_and_respect_the_rate_limit() {
    let Some(app) =
        TestApp::spawn_with(Backend::Sqlite, |a| a.playground_rate_per_minute = 2).await
    else {
        return;
    };
    let v = app
        .gql(None, RUN, json!({ "c": "print(1)", "i": "" }))
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    let (token, _) = app.register("ada").await;
    let v = app
        .gql(Some(&token), RUN, json!({ "c": "   ", "i": "" }))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    let v = app
        .gql(
            Some(&token),
            RUN,
            json!({ "c": "print(1)", "i": "x".repeat(1024 * 1024 + 1) }),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    if native_sandbox().await.is_none() {
        return;
    }
    for _ in 0..2 {
        app.ok(Some(&token), RUN, json!({ "c": "print(1)", "i": "" }))
            .await;
    }
    let v = app
        .gql(Some(&token), RUN, json!({ "c": "print(1)", "i": "" }))
        .await;
    assert_eq!(code(&v), "RATE_LIMITED");
}
