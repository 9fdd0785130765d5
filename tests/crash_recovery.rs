//! `kill -9` the real binary while submissions are in flight; after a restart
//! every acknowledged write is there exactly once and the read models match
//! the log.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{
    CREATE_PROBLEM, PUBLISH_PROBLEM, SUBMIT, code, graphql_url, post_graphql, problem_input,
};
use serde_json::json;

struct Server {
    child: Child,
    url: String,
}

fn start(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydojo"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("PYDOJO_AUTH_RATE_PER_MINUTE", "100000")
        .env("PYDOJO_SUBMIT_RATE_PER_MINUTE", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pydojo starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a start-up line").unwrap();
    Server {
        child,
        url: graphql_url(&line),
    }
}

fn admin_create(dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydojo"))
        .args([
            "admin",
            "create",
            "--username",
            "root",
            "--email",
            "root@example.org",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"admin password 123\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("created admin root") && !stdout.contains("password"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = start(dir.path());
    admin_create(dir.path()); // while the server runs, as an operator would
    let login = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }";
    let v = post_graphql(
        &client,
        &server.url,
        None,
        login,
        json!({ "l": "root", "p": "admin password 123" }),
    )
    .await
    .unwrap();
    let admin = v["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    let v = post_graphql(&client, &server.url, None, "mutation { register(username: \"ada\", email: \"ada@example.org\", password: \"correct horse battery\") { token } }", json!({})).await.unwrap();
    let token = v["data"]["register"]["token"].as_str().unwrap().to_string();
    post_graphql(
        &client,
        &server.url,
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
    )
    .await
    .unwrap();
    post_graphql(
        &client,
        &server.url,
        Some(&admin),
        PUBLISH_PROBLEM,
        json!({ "s": "two-sum" }),
    )
    .await
    .unwrap();

    // 60 submissions in flight; kill -9 once some have been acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (client, url, token, acknowledged, done) = (
            client.clone(),
            server.url.clone(),
            token.clone(),
            acknowledged.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let code_text = format!("def two_sum(nums, target):\n    return [{i}]\n");
            let reply = post_graphql(
                &client,
                &url,
                Some(&token),
                SUBMIT,
                json!({ "s": "two-sum", "c": code_text }),
            )
            .await;
            if let Some(id) = reply
                .ok()
                .and_then(|v| v["data"]["submit"]["id"].as_str().map(str::to_string))
            {
                acknowledged.lock().unwrap().push(id);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    while acknowledged.lock().unwrap().len() < 10 {
        tokio::task::yield_now().await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 10);

    let server = start(dir.path());
    let _guard = KillOnDrop(server.child);
    // The signing secret persisted, so the old token still works.
    let v = post_graphql(
        &client,
        &server.url,
        Some(&token),
        "{ me { username } }",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(v["data"]["me"]["username"], "ada", "{v}");
    let v = post_graphql(
        &client,
        &server.url,
        Some(&token),
        "{ mySubmissions(limit: 100) { id } }",
        json!({}),
    )
    .await
    .unwrap();
    let listed: Vec<String> = v["data"]["mySubmissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::HashSet<_> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "no duplicates in the read model"
    );
    for id in &acknowledged {
        assert!(unique.contains(id), "acknowledged submission {id} lost");
    }
    // The read model holds exactly what the log holds.
    let store = store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
        .await
        .unwrap();
    let store: store::SharedStore = Arc::new(store);
    let events = store.read_all(store::Cursor::START, 100_000).await.unwrap();
    let in_log = events
        .iter()
        .filter(|e| e.event_type == "SubmissionCreated")
        .count();
    eprintln!(
        "acknowledged before kill: {}, in the log: {in_log}, in the read model: {}",
        acknowledged.len(),
        listed.len()
    );
    assert_eq!(listed.len(), in_log);
    let v = post_graphql(
        &client,
        &server.url,
        None,
        "{ problems { slug status } }",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        v["data"]["problems"],
        json!([{ "slug": "two-sum", "status": "PUBLISHED" }])
    );
    // Usernames stay reserved across the restart.
    let v = post_graphql(&client, &server.url, None, "mutation { register(username: \"ada\", email: \"other@example.org\", password: \"correct horse battery\") { token } }", json!({})).await.unwrap();
    assert_eq!(code(&v), "CONFLICT");

    // `pydojo replay` rebuilds every read model while the server runs and
    // swaps them in; the server then answers exactly as before.
    let out = Command::new(env!("CARGO_BIN_EXE_pydojo"))
        .args(["replay", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("replayed users, problems, submissions")
            && stdout.contains("folded in memory")
            && stdout.contains("swapped in at"),
        "{stdout}"
    );
    assert!(stderr.contains("events/s overall"), "{stderr}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".replay-"))
        .collect();
    assert!(leftovers.is_empty(), "shadow files left: {leftovers:?}");
    let v = post_graphql(
        &client,
        &server.url,
        Some(&token),
        "{ mySubmissions(limit: 100) { id } }",
        json!({}),
    )
    .await
    .unwrap();
    let after: std::collections::HashSet<String> = v["data"]["mySubmissions"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        after,
        unique.into_iter().cloned().collect(),
        "the replay changed the submissions"
    );
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
