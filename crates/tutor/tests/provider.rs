//! The online tutor against a fake OpenAI-compatible server (wiremock):
//! streaming, usage, retries of what is safe, clear errors, the guard.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tutor::{Provider, ProviderConfig, Tutor, TutorError};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn chunk(content: &str) -> String {
    let c = json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
        "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": null }]
    });
    format!("data: {c}\n\n")
}

fn sse(tokens: &[&str]) -> String {
    let mut body: String = tokens.iter().map(|t| chunk(t)).collect();
    let usage = json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
        "choices": [], "usage": { "prompt_tokens": 321, "completion_tokens": tokens.len(), "total_tokens": 321 + tokens.len() }
    });
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    body
}

fn streamed(tokens: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(sse(tokens))
}

fn tutor(server: &MockServer, tweak: impl FnOnce(&mut ProviderConfig)) -> Tutor {
    let mut config = ProviderConfig::new(
        format!("{}/v1", server.uri()),
        Some("test-key".into()),
        "fake-model",
    );
    config.backoff = Duration::from_millis(10);
    tweak(&mut config);
    Tutor::Online(Provider::new(config))
}

async fn ask(tutor: &Tutor) -> (Result<tutor::TutorReply, TutorError>, Vec<String>) {
    let mut pieces = Vec::new();
    let req = request(None, 0);
    let result = tutor.reply(&req, &mut |p| pieces.push(p.to_string())).await;
    (result, pieces)
}

#[tokio::test]
async fn a_reply_streams_piece_by_piece_with_its_usage_and_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer test-key"))
        .and(body_partial_json(
            json!({ "model": "fake-model", "stream": true }),
        ))
        .respond_with(streamed(&["What ", "have you ", "seen?"]))
        .expect(1)
        .mount(&server)
        .await;
    let (result, pieces) = ask(&tutor(&server, |_| {})).await;
    let reply = result.unwrap();
    assert_eq!(pieces, ["What ", "have you ", "seen?"]);
    assert_eq!(reply.text, "What have you seen?");
    assert_eq!(reply.model, "fake-model");
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (321, 3));
    assert!(!reply.replaced);
}

#[tokio::test]
async fn the_prompt_holds_the_statement_examples_code_and_hints_but_no_hidden_test() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(streamed(&["ok"]))
        .mount(&server)
        .await;
    let mut req = request(None, 1);
    req.code = Some("def two_sum(nums, target):\n    return []\n".into());
    tutor(&server, |_| {})
        .reply(&req, &mut |_| {})
        .await
        .unwrap();
    let sent: Vec<Request> = server.received_requests().await.unwrap();
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(
        body.contains("Never give a complete solution"),
        "system prompt"
    );
    assert!(body.contains("len(nums) <= 20000"), "statement");
    assert!(body.contains("[[2, 7, 11, 15], 9]"), "example");
    assert!(body.contains("return []"), "the learner's code");
    assert!(
        body.contains("What do you need to know"),
        "the hint already given"
    );
    assert!(!body.contains(HIDDEN_MARKER));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({ "error": { "message": "slow down", "type": "rate_limit_error" } }),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(streamed(&["fine"]))
        .mount(&server)
        .await;
    let started = Instant::now();
    let (result, _) = ask(&tutor(&server, |_| {})).await;
    assert_eq!(result.unwrap().text, "fine");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited as Retry-After said"
    );
}

#[tokio::test]
async fn a_429_that_asks_for_too_long_a_wait_is_a_clear_error_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_json(
                    json!({ "error": { "message": "slow down", "type": "rate_limit_error" } }),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (result, pieces) = ask(&tutor(&server, |_| {})).await;
    let err = result.unwrap_err();
    assert_eq!(err, TutorError::RateLimited(Some(Duration::from_secs(120))));
    assert_eq!(err.code(), "RATE_LIMITED");
    assert!(err.user_message().contains("Try again in 120 s"));
    assert!(pieces.is_empty());
}

#[tokio::test]
async fn a_429_without_retry_after_is_retried_with_backoff_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({ "error": { "message": "slow down", "type": "rate_limit_error" } }),
        ))
        .expect(3)
        .mount(&server)
        .await;
    let (result, _) = ask(&tutor(&server, |c| c.max_retries = 2)).await;
    assert_eq!(result.unwrap_err(), TutorError::RateLimited(None));
}

#[tokio::test]
async fn a_5xx_before_the_reply_starts_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(streamed(&["back"]))
        .mount(&server)
        .await;
    let (result, _) = ask(&tutor(&server, |c| c.max_retries = 2)).await;
    assert_eq!(result.unwrap().text, "back");
}

#[tokio::test]
async fn a_5xx_that_persists_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(2)
        .mount(&server)
        .await;
    let (result, _) = ask(&tutor(&server, |c| c.max_retries = 1)).await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "UNAVAILABLE");
    assert!(
        !err.user_message().contains("boom"),
        "provider detail stays in the log"
    );
}

#[tokio::test]
async fn a_provider_that_does_not_answer_in_time_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(streamed(&["late"]).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let (result, _) = ask(&tutor(&server, |c| c.timeout = Duration::from_millis(300))).await;
    assert_eq!(result.unwrap_err().code(), "TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up at the timeout"
    );
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    // A port that was free a moment ago (wiremock keeps its servers running
    // in a pool, so a dropped MockServer still answers).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ProviderConfig::new(format!("http://127.0.0.1:{port}/v1"), None, "m");
    config.backoff = Duration::from_millis(10);
    let (result, _) = ask(&Tutor::Online(Provider::new(config))).await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "UNAVAILABLE", "{err:?}");
}

#[tokio::test]
async fn a_reply_with_a_full_solution_is_replaced_by_the_next_hint() {
    let server = MockServer::start().await;
    let tokens = [
        "Sure, here it is:\n",
        "```python\n",
        "def two_sum(nums, target):\n",
        "    seen = {}\n",
        "    for i, x in enumerate(nums):\n",
        "        if target - x in seen:\n",
        "            return [seen[target - x], i]\n",
        "        seen[x] = i\n",
        "```\n",
    ];
    Mock::given(method("POST"))
        .respond_with(streamed(&tokens))
        .mount(&server)
        .await;
    let (result, pieces) = ask(&tutor(&server, |_| {})).await;
    let reply = result.unwrap();
    assert!(reply.replaced);
    assert!(!reply.text.contains("seen = {}"), "{}", reply.text);
    assert!(reply.text.contains("Hint 1 of 3"), "{}", reply.text);
    assert_eq!(reply.hints_revealed, 1);
    let shown = pieces.concat();
    assert_eq!(shown, "Sure, here it is:\n", "no code reached the learner");
}

#[tokio::test]
async fn a_provider_that_ignores_max_tokens_cannot_make_the_reply_unbounded() {
    let server = MockServer::start().await;
    let word = "blah ".repeat(200);
    let tokens: Vec<&str> = std::iter::repeat_n(word.as_str(), 200).collect();
    Mock::given(method("POST"))
        .respond_with(streamed(&tokens))
        .mount(&server)
        .await;
    let (result, pieces) = ask(&tutor(&server, |_| {})).await;
    let reply = result.unwrap();
    assert!(
        reply.text.len() <= tutor::REPLY_MAX_BYTES,
        "{} bytes kept",
        reply.text.len()
    );
    assert!(pieces.concat().len() <= tutor::REPLY_MAX_BYTES);
    assert!(!reply.text.is_empty());
}

#[test]
fn neither_the_key_nor_credentials_in_the_url_are_ever_printed() {
    let config = ProviderConfig::new(
        "https://bob:url-secret@llm.example.org/v1",
        Some("sk-key-secret".into()),
        "m",
    );
    let shown = format!("{config:?} {:?}", Provider::new(config.clone()));
    assert!(!shown.contains("key-secret"), "{shown}");
    assert!(!shown.contains("url-secret"), "{shown}");
    assert!(shown.contains("llm.example.org/v1"), "{shown}");
}
