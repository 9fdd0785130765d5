//! The distributed judge survives a dead executor: the real binary as
//! `pydojo serve --judge nats` and two `pydojo executor` processes against a
//! real `nats-server -js`. The first executor is killed with SIGKILL in the
//! middle of a judgement; JetStream gives the job to the second once the
//! ack wait passes, and the log ends up with exactly one `SubmissionJudged`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CREATE_PROBLEM, PUBLISH_PROBLEM, SUBMIT, graphql_url, post_graphql, problem_input};
use executor::nats::{ProgressUpdate, Topology};
use futures::StreamExt;
use serde_json::{Value, json};

/// Three tests of 1.5 s of wall time each (sleeping uses no CPU, and the
/// problem's wall limit is 3 × 5 s + 1 s): a run long enough to kill.
const SLOW_SOLUTION: &str = "import time\n\ndef two_sum(nums, target):\n    time.sleep(1.5)\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_flags(url: &str, topology: &Topology) -> Vec<String> {
    [
        ("--nats-url", url),
        ("--nats-jobs-stream", &topology.jobs_stream),
        ("--nats-results-stream", &topology.results_stream),
        ("--nats-subject-prefix", &topology.subject_prefix),
        ("--nats-executor-consumer", &topology.executor_consumer),
        ("--nats-results-consumer", &topology.results_consumer),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value.to_string()])
    .collect()
}

/// Starts the binary and returns it with the first line it printed.
fn start(args: &[String], log: &str) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pydojo"))
        .args(args)
        .env("RUST_LOG", log)
        .env("PYDOJO_AUTH_RATE_PER_MINUTE", "100000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pydojo starts");
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .expect("a start-up line")
        .unwrap();
    (Process(child), line)
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
    assert!(child.wait_with_output().unwrap().status.success());
}

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let v = post_graphql(client, url, token, query, variables)
        .await
        .unwrap();
    assert!(v.get("errors").is_none(), "unexpected errors: {v}");
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_judgement_leaves_exactly_one_verdict() {
    pydojo::install_crypto_provider();
    let Some(nats) = executor::testing::nats_test_server() else {
        return;
    };
    if common::native_sandbox().await.is_none() {
        return;
    }
    let topology = nats.topology();
    let flags = nats_flags(&nats.url, &topology);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();

    let mut serve = vec![
        "serve",
        "--judge",
        "nats",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    serve.extend(flags.iter().cloned());
    let (mut server, line) = start(&serve, "warn");
    let url = graphql_url(&line);
    let client = reqwest::Client::new();

    admin_create(dir.path());
    let login = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }";
    let admin = gql(
        &client,
        &url,
        None,
        login,
        json!({ "l": "root", "p": "admin password 123" }),
    )
    .await["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut input = problem_input("Two Sum");
    input["timeLimitMs"] = json!(5000);
    gql(
        &client,
        &url,
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": input }),
    )
    .await;
    gql(
        &client,
        &url,
        Some(&admin),
        PUBLISH_PROBLEM,
        json!({ "s": "two-sum" }),
    )
    .await;
    let token = gql(&client, &url, None, "mutation { register(username: \"ada\", email: \"ada@example.org\", password: \"correct horse battery\") { token } }", json!({})).await
        ["register"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut executor_args = vec!["executor", "--concurrency", "1", "--ack-wait", "2s"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    executor_args.extend(flags.iter().cloned());
    let (mut first, line) = start(&executor_args, "warn,executor=info");
    assert!(line.contains("executor judging jobs"), "{line}");

    // Watch per-test progress the way a live view would.
    let nats_client = async_nats::connect(&nats.url).await.unwrap();
    let mut progress = nats_client
        .subscribe(format!("{}.progress.>", topology.subject_prefix))
        .await
        .unwrap();
    nats_client.flush().await.unwrap();
    let id = gql(
        &client,
        &url,
        Some(&token),
        SUBMIT,
        json!({ "s": "two-sum", "c": SLOW_SOLUTION }),
    )
    .await["submit"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let submission_id: domain::SubmissionId = id.parse().unwrap();
    let next_progress = async |progress: &mut async_nats::Subscriber| -> ProgressUpdate {
        let message = tokio::time::timeout(Duration::from_secs(60), progress.next())
            .await
            .expect("progress within 60 s")
            .unwrap();
        let update: ProgressUpdate = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(update.submission_id, submission_id);
        update
    };

    // The executor says it started, then mid-run: the first test is done,
    // two more to go.
    let update = next_progress(&mut progress).await;
    assert_eq!((update.test, update.passed, update.total), (None, 0, 3));
    let update = next_progress(&mut progress).await;
    let test = update.test.expect("a test's outcome");
    assert_eq!((test.index, update.passed, update.total), (0, 1, 3));
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let killed_at = Instant::now();
    eprintln!("killed the first executor after test 0 of 3");

    let (_second, line) = start(&executor_args, "warn,executor=info");
    assert!(line.contains("executor judging jobs"), "{line}");
    // The second executor judges the job from the start once the ack wait
    // of the dead one has passed.
    let started = next_progress(&mut progress).await;
    assert_eq!(started.test, None, "the second executor says it started");
    let mut indexes = Vec::new();
    while indexes.len() < 3 {
        let test = next_progress(&mut progress).await.test.expect("a test");
        indexes.push(test.index);
    }
    assert_eq!(indexes, vec![0, 1, 2], "judged again from the first test");
    eprintln!(
        "the second executor finished {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    );

    let query = "query($id: ID!) { submission(id: $id) { status verdict { kind passed total } } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    let verdict = loop {
        let v = gql(&client, &url, Some(&token), query, json!({ "id": id })).await;
        if v["submission"]["status"] == "JUDGED" {
            break v["submission"]["verdict"].clone();
        }
        assert!(Instant::now() < deadline, "not judged within 60 s: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        verdict,
        json!({ "kind": "ACCEPTED", "passed": 3, "total": 3 })
    );

    // The jobs stream is empty (a work queue drops acked jobs) and nothing
    // waits for an ack.
    let js = async_nats::jetstream::new(nats_client.clone());
    let mut jobs = js.get_stream(&topology.jobs_stream).await.unwrap();
    assert_eq!(jobs.info().await.unwrap().state.messages, 0);
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = jobs
        .get_consumer(&topology.executor_consumer)
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    eprintln!(
        "jobs consumer: delivered {}, redelivered {}, ack pending {}",
        info.delivered.stream_sequence, info.num_redelivered, info.num_ack_pending
    );
    assert_eq!(info.num_ack_pending, 0);

    // Stop the API node and read the log itself.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let store: store::SharedStore = Arc::new(
        store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
            .await
            .unwrap(),
    );
    let events = store.read_all(store::Cursor::START, 100_000).await.unwrap();
    let judged: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "SubmissionJudged")
        .collect();
    eprintln!("SubmissionJudged events in the log: {}", judged.len());
    assert_eq!(judged.len(), 1, "exactly one verdict in the log");
    assert_eq!(judged[0].stream, format!("submission-{id}"));
    assert_eq!(
        judged[0].version, 2,
        "appended right after SubmissionCreated"
    );
    assert_eq!(judged[0].data["verdict"]["kind"], "Accepted");
}
