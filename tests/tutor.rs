//! The AI tutor end to end: the real app on port 0, a real WebSocket client,
//! and a fake OpenAI-compatible model server (a small axum server streaming
//! SSE chunks when the test says so, or wiremock for failures).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use commands::{Commands, Passwords};
use common::ws::{Protocol, WsClient};
use common::*;
use domain::submission::{FailedExample, TestOutcome, Verdict, VerdictKind};
use pydojo::config::JudgeMode;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ASK: &str = "mutation($s: String!, $m: String!, $c: String) { askTutor(problemSlug: $s, message: $m, code: $c) \
     { id status question } }";
const REPLY: &str = "subscription($id: ID!) { tutorReply(messageId: $id) { messageId reason phase delta text \
     message { id status reply model replaced hintsRevealed promptTokens completionTokens latencyMs } } }";
const CONVERSATION: &str = "query($s: String!) { tutorConversation(problemSlug: $s) { problemSlug mode model hintsRevealed \
     quota { dailyLimit usedToday remaining } \
     messages { id question status reply model replaced error { code message } } } }";
const USAGE: &str = "{ tutorUsage { date username problemSlug questions replies failures promptTokens completionTokens \
     meanLatencyMs maxLatencyMs } }";

const HINTS: [&str; 2] = [
    "What do you need to remember about the numbers already seen?",
    "A dictionary from value to index finds the partner in one pass.",
];

async fn spawn(
    backend: Backend,
    tweak: impl FnOnce(&mut pydojo::config::TutorArgs),
) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| {
        a.judge = JudgeMode::Off;
        tweak(&mut a.tutor);
    })
    .await
}

/// Publishes two-sum with graded hints; returns a user's token and id.
async fn setup(app: &TestApp) -> (String, String) {
    let admin = app.admin("root").await;
    let mut input = problem_input("Two Sum");
    input["hints"] = json!(HINTS);
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": input }),
    )
    .await;
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    app.register("ada").await
}

async fn ask(app: &TestApp, token: &str, message: &str, code: Option<&str>) -> Value {
    app.gql(
        Some(token),
        ASK,
        json!({ "s": "two-sum", "m": message, "c": code }),
    )
    .await
}

async fn ask_ok(app: &TestApp, token: &str, message: &str) -> String {
    let v = ask(
        app,
        token,
        message,
        Some("def two_sum(nums, target):\n    pass\n"),
    )
    .await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(v["data"]["askTutor"]["question"], message);
    v["data"]["askTutor"]["id"].as_str().unwrap().to_string()
}

/// Follows a reply to its end: every update, and the error that ended it.
async fn follow(ws: &mut WsClient, id: &str) -> (Vec<Value>, Option<Value>) {
    let sub = ws.subscribe(REPLY, json!({ "id": id })).await;
    let mut updates = vec![];
    while let Some(result) = ws.next(&sub).await {
        if let Some(errors) = result.get("errors").filter(|e| !e.is_null()) {
            let error = errors[0].clone();
            assert!(
                ws.next(&sub).await.is_none(),
                "an error ends the subscription"
            );
            return (updates, Some(error));
        }
        updates.push(result["data"]["tutorReply"].clone());
    }
    (updates, None)
}

async fn conversation(app: &TestApp, token: &str) -> Value {
    app.ok(Some(token), CONVERSATION, json!({ "s": "two-sum" }))
        .await["tutorConversation"]
        .clone()
}

fn sse_chunk(content: &str) -> String {
    let c = json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
        "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": null }]
    });
    format!("data: {c}\n\n")
}

fn sse_end(completion_tokens: usize) -> String {
    let usage = json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model", "choices": [],
        "usage": { "prompt_tokens": 321, "completion_tokens": completion_tokens, "total_tokens": 321 + completion_tokens }
    });
    format!("data: {usage}\n\ndata: [DONE]\n\n")
}

/// A model that streams one chunk each time the test sends it a token, and
/// ends the reply when the test drops the sender. Keeps the request bodies.
#[derive(Clone, Default)]
struct Gated {
    tokens: Arc<Mutex<Option<mpsc::UnboundedReceiver<String>>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn gated_completion(State(model): State<Gated>, body: String) -> Response {
    model.requests.lock().unwrap().push(body);
    let tokens = model
        .tokens
        .lock()
        .unwrap()
        .take()
        .expect("one completion per test");
    let chunks =
        futures::stream::unfold((tokens, 0usize, false), |(mut rx, n, ended)| async move {
            if ended {
                return None;
            }
            match rx.recv().await {
                Some(token) => Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(sse_chunk(&token))),
                    (rx, n + 1, false),
                )),
                None => Some((Ok(Bytes::from(sse_end(n))), (rx, n, true))),
            }
        });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(chunks))
        .unwrap()
}

async fn gated_model() -> (SocketAddr, Gated, mpsc::UnboundedSender<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let model = Gated::default();
    *model.tokens.lock().unwrap() = Some(rx);
    let router = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(gated_completion),
        )
        .with_state(model.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, model, tx)
}

#[tokio::test]
async fn a_streamed_reply_reaches_a_subscriber_token_by_token() {
    let (addr, model, tokens) = gated_model().await;
    let app = spawn(Backend::Sqlite, |t| {
        *t = tutor_args(Some(format!("http://{addr}/v1")))
    })
    .await
    .unwrap();
    let (token, _) = setup(&app).await;
    let learner_code = "def two_sum(nums, target):\n    return [0, 0]\n";
    let v = ask(&app, &token, "Why is my answer wrong?", Some(learner_code)).await;
    assert_eq!(v["data"]["askTutor"]["status"], "PENDING", "{v}");
    let id = v["data"]["askTutor"]["id"].as_str().unwrap().to_string();

    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &token).await;
    let sub = ws.subscribe(REPLY, json!({ "id": id })).await;
    let first = ws.data(&sub, "tutorReply").await;
    assert_eq!(first["reason"], "INITIAL");
    assert_eq!(first["phase"], "STREAMING");
    assert_eq!(first["text"], "");
    // The model writes each token only after the subscriber has the one
    // before: the reply reaches it as it is written, not at the end.
    let mut so_far = String::new();
    for piece in ["Look ", "at what ", "you have ", "already seen."] {
        tokens.send(piece.to_string()).unwrap();
        let update = ws.data(&sub, "tutorReply").await;
        so_far.push_str(piece);
        assert_eq!(update["phase"], "STREAMING", "{update}");
        assert_eq!(update["reason"], "CHANGED");
        assert_eq!(update["delta"], piece);
        assert_eq!(update["text"], so_far.as_str());
    }
    drop(tokens);
    let done = ws.data(&sub, "tutorReply").await;
    assert_eq!(done["phase"], "ANSWERED", "{done}");
    assert_eq!(done["text"], so_far.as_str());
    let message = &done["message"];
    assert_eq!(message["status"], "ANSWERED");
    assert_eq!(message["reply"], so_far.as_str());
    assert_eq!(message["model"], "fake-model");
    assert_eq!(message["replaced"], false);
    assert_eq!(message["promptTokens"], 321);
    assert_eq!(message["completionTokens"], 4);
    assert!(ws.next(&sub).await.is_none(), "ANSWERED is the last update");

    // The model saw the statement, the example and the learner's code, but
    // never a hidden test.
    let sent = model.requests.lock().unwrap()[0].clone();
    assert!(sent.contains("Why is my answer wrong?"));
    assert!(sent.contains("return [0, 0]"), "the learner's code");
    assert!(sent.contains("[[2, 7, 11, 15], 9]"), "the example");
    assert!(
        sent.contains("Never give a complete solution"),
        "the hint-only policy"
    );
    assert!(
        !sent.contains(HIDDEN_MARKER),
        "no hidden test reaches the model"
    );
    assert!(
        !sent.contains("[[3, 3], 6]"),
        "no hidden test reaches the model"
    );

    let c = conversation(&app, &token).await;
    assert_eq!(c["mode"], "ONLINE");
    assert_eq!(c["model"], "fake-model");
    assert_eq!(c["messages"].as_array().unwrap().len(), 1);
    assert_eq!(c["messages"][0]["reply"], so_far.as_str());
    assert_eq!(c["quota"]["usedToday"], 1);
    assert_eq!(c["quota"]["remaining"], 49);

    // Admins see the usage: per day, user and problem, tokens and latency.
    let admin = app.login("root", "admin password 123").await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let usage = app.ok(Some(&admin), USAGE, json!({})).await["tutorUsage"].clone();
    let row = &usage[0];
    assert_eq!(row["username"], "ada");
    assert_eq!(row["problemSlug"], "two-sum");
    assert_eq!(row["date"], chrono::Utc::now().date_naive().to_string());
    assert_eq!(
        (
            row["questions"].as_i64(),
            row["replies"].as_i64(),
            row["failures"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(
        (
            row["promptTokens"].as_i64(),
            row["completionTokens"].as_i64()
        ),
        (Some(321), Some(4))
    );
    assert!(row["meanLatencyMs"].as_f64().unwrap() >= 0.0);
    let forbidden = app.gql(Some(&token), USAGE, json!({})).await;
    assert_eq!(code(&forbidden), "FORBIDDEN");
}

/// Several API nodes on one PostgreSQL and one NATS: a reply written on
/// node A reaches a subscriber on node B token by token, relayed over core
/// NATS, and a subscriber on A still gets each token once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_a_reply_written_on_one_node_streams_to_a_subscriber_on_another() {
    pydojo::install_crypto_provider();
    let Some(nats) = executor::testing::nats_test_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(storage) = storage(Backend::Postgres, dir.path()).await else {
        return;
    };
    let (addr, _model, tokens) = gated_model().await;
    let topology = nats.topology();
    let node_args = || {
        let mut args = serve_args(storage.clone());
        args.judge = JudgeMode::Nats;
        args.nats = pydojo::config::NatsArgs {
            nats_jobs_stream: topology.jobs_stream.clone(),
            nats_results_stream: topology.results_stream.clone(),
            nats_subject_prefix: topology.subject_prefix.clone(),
            nats_executor_consumer: topology.executor_consumer.clone(),
            nats_results_consumer: topology.results_consumer.clone(),
            ..nats_args(&nats.url)
        };
        args.tutor = Box::new(tutor_args(Some(format!("http://{addr}/v1"))));
        args
    };
    let a = pydojo::App::build(node_args())
        .await
        .expect("node A starts");
    let a = TestApp::from_app(a, storage.clone(), dir);
    // Same log, read models, data directory (so the same JWT secret).
    let b = pydojo::App::build(node_args())
        .await
        .expect("node B starts");
    let b = TestApp::from_app(b, storage.clone(), tempfile::tempdir().unwrap());
    let (token, _) = setup(&a).await;
    let id = ask_ok(&a, &token, "Where do I start?").await;

    let mut on_b = WsClient::authenticated(&b, Protocol::TransportWs, &token).await;
    let sub_b = on_b.subscribe(REPLY, json!({ "id": id })).await;
    let first = on_b.data(&sub_b, "tutorReply").await;
    assert_eq!(first["reason"], "INITIAL", "{first}");
    assert_eq!(first["phase"], "STREAMING");
    assert_eq!(first["text"], "");
    let mut on_a = WsClient::authenticated(&a, Protocol::Legacy, &token).await;
    let sub_a = on_a.subscribe(REPLY, json!({ "id": id })).await;
    assert_eq!(on_a.data(&sub_a, "tutorReply").await["reason"], "INITIAL");

    // Each token is written only once both subscribers have the one before.
    let mut so_far = String::new();
    for piece in ["Think ", "about ", "what you ", "have seen."] {
        tokens.send(piece.to_string()).unwrap();
        so_far.push_str(piece);
        for (ws, sub) in [(&mut on_b, &sub_b), (&mut on_a, &sub_a)] {
            let update = ws.data(sub, "tutorReply").await;
            assert_eq!(update["phase"], "STREAMING", "{update}");
            assert_eq!(update["delta"], piece, "{update}");
            assert_eq!(update["text"], so_far.as_str(), "{update}");
        }
    }
    drop(tokens);
    for (ws, sub) in [(&mut on_b, &sub_b), (&mut on_a, &sub_a)] {
        let done = ws.data(sub, "tutorReply").await;
        assert_eq!(done["phase"], "ANSWERED", "{done}");
        assert_eq!(done["text"], so_far.as_str());
        assert_eq!(done["message"]["reply"], so_far.as_str());
        assert_eq!(done["message"]["model"], "fake-model");
        assert!(ws.next(sub).await.is_none(), "ANSWERED is the last update");
    }
}

async fn failing_model(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// Asks, follows the reply to its error, and checks the question is kept.
async fn fails_with(app: &TestApp, token: &str, expected_code: &str) -> Value {
    let id = ask_ok(app, token, "Can you help?").await;
    let mut ws = WsClient::authenticated(app, Protocol::TransportWs, token).await;
    let (updates, error) = follow(&mut ws, &id).await;
    assert!(
        updates
            .iter()
            .all(|u| u["phase"] == "STREAMING" && u["text"] == ""),
        "nothing was streamed: {updates:?}"
    );
    let error = error.expect("the reply ends in an error");
    assert_eq!(error["extensions"]["code"], expected_code, "{error}");
    assert_eq!(error["extensions"]["messageId"], id.as_str());
    let c = conversation(app, token).await;
    let kept = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .cloned()
        .expect("the question is kept");
    assert_eq!(kept["question"], "Can you help?");
    assert_eq!(kept["status"], "FAILED");
    assert_eq!(kept["error"]["code"], expected_code);
    assert_eq!(kept["error"]["message"], error["message"]);
    error
}

#[tokio::test]
async fn a_429_gives_a_clear_error_and_keeps_the_question() {
    let server = failing_model(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "120")
            .set_body_json(json!({ "error": { "message": "Rate limit reached for requests", "type": "requests" } })),
    )
    .await;
    let app = spawn(Backend::Sqlite, |t| {
        *t = tutor_args(Some(format!("{}/v1", server.uri())))
    })
    .await
    .unwrap();
    let (token, _) = setup(&app).await;
    let error = fails_with(&app, &token, "TUTOR_RATE_LIMITED").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("rate limiting"), "{message}");
    assert!(message.contains("Try again in 120 s"), "{message}");
    // A failed question does not block the next one.
    ask_ok(&app, &token, "And now?").await;
}

#[tokio::test]
async fn a_timeout_gives_a_clear_error_and_keeps_the_question() {
    let server = failing_model(
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/event-stream")
            .set_body_string(format!("{}{}", sse_chunk("late"), sse_end(1)))
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    let app = spawn(Backend::Sqlite, |t| {
        *t = tutor_args(Some(format!("{}/v1", server.uri())));
        t.tutor_timeout = Duration::from_millis(500);
    })
    .await
    .unwrap();
    let (token, _) = setup(&app).await;
    let started = std::time::Instant::now();
    let error = fails_with(&app, &token, "TUTOR_TIMEOUT").await;
    assert!(error["message"].as_str().unwrap().contains("took too long"));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failed at the timeout, not the reply"
    );
}

#[tokio::test]
async fn a_5xx_before_the_reply_starts_is_retried_and_the_answer_arrives() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(format!(
                    "{}{}",
                    sse_chunk("Try a smaller case."),
                    sse_end(1)
                )),
        )
        .mount(&server)
        .await;
    let app = spawn(Backend::Sqlite, |t| {
        *t = tutor_args(Some(format!("{}/v1", server.uri())))
    })
    .await
    .unwrap();
    let (token, _) = setup(&app).await;
    let id = ask_ok(&app, &token, "Hm?").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &token).await;
    let (updates, error) = follow(&mut ws, &id).await;
    assert!(error.is_none(), "{error:?}");
    let done = updates.last().unwrap();
    assert_eq!(done["message"]["reply"], "Try a smaller case.");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "one retry"
    );
}

#[tokio::test]
async fn the_guard_replaces_a_full_solution_with_a_hint() {
    let solution = [
        "Here it is:\n",
        "```python\n",
        "def two_sum(nums, target):\n",
        "    seen = {}\n",
        "    for i, x in enumerate(nums):\n",
        "        if target - x in seen:\n",
        "            return [seen[target - x], i]\n",
        "        seen[x] = i\n",
        "```\n",
    ];
    let body: String =
        solution.iter().map(|t| sse_chunk(t)).collect::<String>() + &sse_end(solution.len());
    let server = failing_model(
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/event-stream")
            .set_body_string(body),
    )
    .await;
    let app = spawn(Backend::Sqlite, |t| {
        *t = tutor_args(Some(format!("{}/v1", server.uri())))
    })
    .await
    .unwrap();
    let (token, _) = setup(&app).await;
    let id = ask_ok(&app, &token, "Just give me the code").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &token).await;
    let (updates, error) = follow(&mut ws, &id).await;
    assert!(error.is_none(), "{error:?}");
    for u in &updates {
        assert!(
            !u["text"].as_str().unwrap().contains("seen = {}"),
            "no code was streamed: {u}"
        );
    }
    let done = updates.last().unwrap();
    assert_eq!(done["phase"], "ANSWERED");
    let message = &done["message"];
    assert_eq!(message["replaced"], true);
    let reply = message["reply"].as_str().unwrap();
    assert!(!reply.contains("def two_sum"), "{reply}");
    assert!(
        reply.contains(&format!("Hint 1 of 2: {}", HINTS[0])),
        "{reply}"
    );
    assert_eq!(message["hintsRevealed"], 1);
    let c = conversation(&app, &token).await;
    assert_eq!(c["messages"][0]["replaced"], true);
    assert_eq!(c["hintsRevealed"], 1);
}

#[tokio::test]
async fn the_daily_quota_bites() {
    let app = spawn(Backend::Sqlite, |t| t.tutor_daily_quota = 2)
        .await
        .unwrap();
    let (token, _) = setup(&app).await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &token).await;
    for question in ["First?", "Second?"] {
        let id = ask_ok(&app, &token, question).await;
        let (updates, error) = follow(&mut ws, &id).await;
        assert!(error.is_none());
        assert_eq!(updates.last().unwrap()["phase"], "ANSWERED");
    }
    let third = ask(&app, &token, "Third?", None).await;
    assert_eq!(code(&third), "RATE_LIMITED", "{third}");
    assert!(
        third["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("daily limit")
    );
    let c = conversation(&app, &token).await;
    assert_eq!(
        c["messages"].as_array().unwrap().len(),
        2,
        "the refused question is not recorded"
    );
    assert_eq!(
        c["quota"],
        json!({ "dailyLimit": 2, "usedToday": 2, "remaining": 0 })
    );
    // Another user has their own quota.
    let (other, _) = app.register("bob").await;
    ask_ok(&app, &other, "Mine?").await;
}

/// Records a verdict for a submission made over HTTP, as the judge does.
async fn judge(app: &TestApp, submission: &str, verdict: Verdict) {
    let store = pydojo::open_store(&app.storage).await.unwrap();
    Commands::new(store, Passwords::new())
        .record_verdict(submission.parse().unwrap(), verdict, None)
        .await
        .unwrap();
}

async fn offline_tutor_reads_the_verdict_and_reveals_hints_one_at_a_time(backend: Backend) {
    let Some(app) = spawn(backend, |_| {}).await else {
        return;
    };
    let (token, _) = setup(&app).await;
    let code = "def two_sum(nums, target):\n    return [1, 0]\n";
    let submitted = app
        .ok(Some(&token), SUBMIT, json!({ "s": "two-sum", "c": code }))
        .await;
    let submission = submitted["submit"]["id"].as_str().unwrap();
    judge(
        &app,
        submission,
        Verdict {
            kind: VerdictKind::WrongAnswer,
            passed: 0,
            total: 3,
            runtime_ms: 12,
            memory_kb: 9000,
            tests: vec![TestOutcome {
                index: 0,
                hidden: false,
                verdict: VerdictKind::WrongAnswer,
                runtime_ms: 12,
                memory_kb: 9000,
            }],
            failed_example: Some(FailedExample {
                index: 0,
                input: "[[2, 7, 11, 15], 9]".into(),
                expected: "[0, 1]".into(),
                actual: "[1, 0]".into(),
            }),
            message: None,
        },
    )
    .await;
    let mut ws = WsClient::authenticated(&app, Protocol::Legacy, &token).await;
    let mut replies = vec![];
    for question in ["What is wrong?", "More?", "And more?"] {
        let v = ask(&app, &token, question, None).await;
        let id = v["data"]["askTutor"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string();
        let (updates, error) = follow(&mut ws, &id).await;
        assert!(error.is_none(), "{error:?}");
        let done = updates.last().unwrap().clone();
        assert_eq!(done["phase"], "ANSWERED");
        assert_eq!(done["message"]["model"], "offline");
        replies.push(done["message"]["reply"].as_str().unwrap().to_string());
    }
    assert!(
        replies[0].contains("Wrong answer on example 1"),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains("right elements in the wrong order"),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains(&format!("Hint 1 of 2: {}", HINTS[0])),
        "{}",
        replies[0]
    );
    assert!(!replies[0].contains(HINTS[1]), "one level at a time");
    assert!(
        replies[1].contains(&format!("Hint 2 of 2: {}", HINTS[1])),
        "{}",
        replies[1]
    );
    assert!(
        replies[2].contains("You have all 2 hints"),
        "{}",
        replies[2]
    );
    for r in &replies {
        assert!(!r.contains(HIDDEN_MARKER) && !r.contains("[[3, 3], 6]"));
    }
    let c = conversation(&app, &token).await;
    assert_eq!(c["mode"], "OFFLINE");
    assert_eq!(c["model"], "offline");
    assert_eq!(c["hintsRevealed"], 2);
    assert_eq!(c["messages"].as_array().unwrap().len(), 3);

    let admin = app.login("root", "admin password 123").await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let usage = app.ok(Some(&admin), USAGE, json!({})).await["tutorUsage"].clone();
    assert_eq!(usage.as_array().unwrap().len(), 1, "{usage}");
    assert_eq!(usage[0]["username"], "ada");
    assert_eq!(usage[0]["questions"], 3);
    assert_eq!(usage[0]["replies"], 3);
    assert_eq!(usage[0]["failures"], 0);
    assert_eq!(
        usage[0]["promptTokens"], 0,
        "the offline engine uses no tokens"
    );

    // Someone else's message is not theirs to follow.
    let (other, _) = app.register("eve").await;
    let id = c["messages"][0]["id"].as_str().unwrap();
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &other).await;
    let sub = ws.subscribe(REPLY, json!({ "id": id })).await;
    assert_eq!(ws.refused(&sub).await, "NOT_FOUND");
}

#[tokio::test]
async fn the_offline_tutor_works_through_the_same_api_on_sqlite() {
    offline_tutor_reads_the_verdict_and_reveals_hints_one_at_a_time(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_offline_tutor_works_through_the_same_api_on_postgres() {
    offline_tutor_reads_the_verdict_and_reveals_hints_one_at_a_time(Backend::Postgres).await;
}

#[tokio::test]
async fn questions_need_a_login_a_published_problem_and_a_message() {
    let app = spawn(Backend::Sqlite, |_| {}).await.unwrap();
    let (token, _) = setup(&app).await;
    let anonymous = app
        .gql(None, ASK, json!({ "s": "two-sum", "m": "hi", "c": null }))
        .await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    let unknown = app
        .gql(
            Some(&token),
            ASK,
            json!({ "s": "nope", "m": "hi", "c": null }),
        )
        .await;
    assert_eq!(code(&unknown), "NOT_FOUND");
    let empty = ask(&app, &token, "   ", None).await;
    assert_eq!(code(&empty), "BAD_USER_INPUT");
    let long = ask(&app, &token, &"x".repeat(4001), None).await;
    assert_eq!(code(&long), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn questions_racing_for_the_last_unit_of_the_quota_get_it_once() {
    let app = spawn(Backend::Sqlite, |t| t.tutor_daily_quota = 1)
        .await
        .unwrap();
    let (token, _) = setup(&app).await;
    let admin = app.admin("root2").await;
    for slug in ["p-one", "p-two", "p-three", "p-four"] {
        app.publish_problem(&admin, slug, "EASY").await;
    }
    // Different problems: the conversations do not contend, only the quota.
    let asks = ["p-one", "p-two", "p-three", "p-four"].map(|slug| {
        let (app, token) = (&app, token.clone());
        async move {
            app.gql(
                Some(&token),
                ASK,
                json!({ "s": slug, "m": "Where do I start?", "c": null }),
            )
            .await
        }
    });
    let results = futures::future::join_all(asks).await;
    let ok = results.iter().filter(|v| v.get("errors").is_none()).count();
    assert_eq!(
        ok, 1,
        "exactly one question gets the last unit: {results:?}"
    );
    for v in results.iter().filter(|v| v.get("errors").is_some()) {
        assert!(
            ["RATE_LIMITED", "CONFLICT"].contains(&code(v)),
            "a coded refusal: {v}"
        );
    }
}

#[tokio::test]
async fn nobody_follows_or_reads_another_users_tutor_reply() {
    let app = spawn(Backend::Sqlite, |_| {}).await.unwrap();
    let (token, _) = setup(&app).await;
    let id = ask_ok(&app, &token, "My private question?").await;
    let (eve, _) = app.register("eve").await;
    let mut ws = WsClient::authenticated(&app, Protocol::TransportWs, &eve).await;
    let (updates, error) = follow(&mut ws, &id).await;
    assert!(updates.is_empty(), "{updates:?}");
    let error = error.expect("refused");
    assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{error}");
    let c = app
        .ok(Some(&eve), CONVERSATION, json!({ "s": "two-sum" }))
        .await;
    assert_eq!(c["tutorConversation"]["messages"], json!([]));
}
