//! A streaming client for any OpenAI-compatible chat completions endpoint
//! (OpenAI, Ollama, vLLM), over async-openai.
//!
//! Failures and what is retried:
//! - 429: retried with exponential backoff, honouring `Retry-After` when it
//!   asks for no more than [`ProviderConfig::max_retry_after`]; a longer
//!   wait is reported at once, with how long.
//! - 5xx and connection errors: retried, but only before the reply starts.
//!   Once a token has been shown a retry would repeat or contradict it.
//! - No answer for [`ProviderConfig::timeout`] (for the first token, or
//!   between two tokens): a timeout, not retried (the provider is slow, and
//!   the user can ask again).
//!
//! The retries are a tower retry policy in async-openai's HTTP stack, so
//! they act on the response status before any of the stream is read.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest,
};
use futures::StreamExt;

use crate::TutorError;
use crate::context::Message;

/// How to reach the model.
#[derive(Clone)]
pub struct ProviderConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as a bearer token when present (a local Ollama needs none).
    pub api_key: Option<String>,
    pub model: String,
    /// Longest wait for the first token, and between two tokens.
    pub timeout: Duration,
    /// Retries of a 429, 5xx or connection error before the reply starts.
    pub max_retries: u32,
    /// The longest `Retry-After` waited for.
    pub max_retry_after: Duration,
    /// The first backoff; it doubles with each retry, up to 4 s.
    pub backoff: Duration,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("base_url", &redacted_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

/// A URL without the credentials it may carry (`https://user:key@host`).
impl ProviderConfig {
    /// The base URL with any credentials in it (`user:password@`) hidden:
    /// how it is logged and debug-printed.
    pub fn shown_url(&self) -> String {
        redacted_url(&self.base_url)
    }
}

fn redacted_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

impl ProviderConfig {
    /// Defaults for `base_url` and `model`: 30 s timeout, 2 retries,
    /// `Retry-After` up to 10 s.
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            model: model.into(),
            timeout: Duration::from_secs(30),
            max_retries: 2,
            max_retry_after: Duration::from_secs(10),
            backoff: Duration::from_millis(250),
            max_tokens: 800,
        }
    }
}

/// What a reply cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// One streamed completion: text pieces as they come, then the usage.
pub(crate) enum Piece {
    Text(String),
    Done(Usage),
}

/// Cheap to clone: clones share one HTTP client.
#[derive(Clone)]
pub struct Provider(std::sync::Arc<Inner>);

struct Inner {
    client: Client<OpenAIConfig>,
    config: ProviderConfig,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

/// A 429 whose Retry-After asks for longer than we wait.
#[derive(Debug, thiserror::Error)]
#[error("rate limited for {0:?}")]
struct RetryLater(Duration);

#[derive(Debug, Clone)]
struct RetryPolicy {
    attempts: u32,
    max_retries: u32,
    max_retry_after: Duration,
    backoff: Duration,
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

impl tower::retry::Policy<HttpRequestFactory, reqwest::Response, OpenAIError> for RetryPolicy {
    type Future = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    fn retry(
        &mut self,
        _request: &mut HttpRequestFactory,
        result: &mut Result<reqwest::Response, OpenAIError>,
    ) -> Option<Self::Future> {
        let (retryable, wait) = match result {
            Ok(r) if r.status().as_u16() == 429 => (true, retry_after(r)),
            Ok(r) if r.status().is_server_error() => (true, None),
            Ok(_) => return None,
            Err(OpenAIError::Reqwest(e)) => (e.is_connect(), None),
            Err(_) => return None,
        };
        if !retryable {
            return None;
        }
        let too_long = wait.is_some_and(|w| w > self.max_retry_after);
        if self.attempts >= self.max_retries || too_long {
            if let (Ok(r), Some(w)) = (&*result, wait)
                && r.status().as_u16() == 429
            {
                *result = Err(OpenAIError::Boxed(Box::new(RetryLater(w))));
            }
            return None;
        }
        let backoff = self
            .backoff
            .saturating_mul(2u32.saturating_pow(self.attempts))
            .min(Duration::from_secs(4));
        self.attempts += 1;
        let delay = wait.unwrap_or(backoff);
        tracing::warn!(
            attempt = self.attempts,
            ?delay,
            "tutor provider failed; retrying"
        );
        Some(Box::pin(tokio::time::sleep(delay)))
    }

    fn clone_request(&mut self, request: &HttpRequestFactory) -> Option<HttpRequestFactory> {
        Some(request.clone())
    }
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Self {
        let mut openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.clone().unwrap_or_default());
        if config.api_key.is_none() {
            // OpenAIConfig::new() would otherwise pick up OPENAI_API_KEY on
            // its own; the key comes only from our configuration.
            openai = openai.with_api_key("");
        }
        let policy = RetryPolicy {
            attempts: 0,
            max_retries: config.max_retries,
            max_retry_after: config.max_retry_after,
            backoff: config.backoff,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .unwrap_or_default();
        let service = tower::ServiceBuilder::new()
            .retry(policy)
            .service(ReqwestService::new(http));
        let client = Client::with_config(openai).with_http_service(service);
        Self(std::sync::Arc::new(Inner { client, config }))
    }

    pub fn model(&self) -> &str {
        &self.0.config.model
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.0.config
    }

    /// Streams a completion of `messages`; `on_piece` gets each text piece
    /// and then the usage. Returns once the stream ends.
    pub(crate) async fn stream(
        &self,
        messages: Vec<Message>,
        mut on_piece: impl FnMut(Piece) -> std::ops::ControlFlow<()>,
    ) -> Result<(), TutorError> {
        let request = CreateChatCompletionRequest {
            model: self.0.config.model.clone(),
            messages: messages.into_iter().map(to_openai).collect(),
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                ..Default::default()
            }),
            max_completion_tokens: Some(self.0.config.max_tokens),
            temperature: Some(0.3),
            ..Default::default()
        };
        let timeout = self.0.config.timeout;
        let mut stream = match tokio::time::timeout(
            timeout,
            self.0.client.chat().create_stream(request),
        )
        .await
        {
            Err(_) => return Err(TutorError::Timeout(timeout)),
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(stream)) => stream,
        };
        let mut usage = Usage::default();
        loop {
            let chunk = match tokio::time::timeout(timeout, stream.next()).await {
                Err(_) => return Err(TutorError::Timeout(timeout)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(classify(e)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if let Some(u) = &chunk.usage {
                usage = Usage {
                    prompt_tokens: u.prompt_tokens,
                    completion_tokens: u.completion_tokens,
                };
            }
            for choice in chunk.choices {
                if let Some(text) = choice.delta.content
                    && !text.is_empty()
                    && on_piece(Piece::Text(text)).is_break()
                {
                    // The caller has what it needs (a guarded reply):
                    // dropping the stream closes the connection.
                    return Ok(());
                }
            }
        }
        let _ = on_piece(Piece::Done(usage));
        Ok(())
    }
}

fn to_openai((role, text): Message) -> ChatCompletionRequestMessage {
    match role {
        "system" => ChatCompletionRequestSystemMessage::from(text).into(),
        "assistant" => ChatCompletionRequestAssistantMessage::from(text).into(),
        _ => ChatCompletionRequestUserMessage::from(text).into(),
    }
}

fn classify(e: OpenAIError) -> TutorError {
    match e {
        OpenAIError::Boxed(inner) => match inner.downcast::<RetryLater>() {
            Ok(later) => TutorError::RateLimited(Some(later.0)),
            Err(other) => TutorError::Provider(other.to_string()),
        },
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            match status {
                429 => TutorError::RateLimited(None),
                500..=599 => TutorError::Unavailable(format!("HTTP {status}")),
                _ => TutorError::Provider(format!("HTTP {status}: {}", api.api_error.message)),
            }
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => TutorError::Timeout(Duration::ZERO),
        OpenAIError::Reqwest(e) if e.is_connect() => TutorError::Unavailable(e.to_string()),
        // The connection broke mid-reply: not retried (part of it was shown).
        OpenAIError::StreamError(e) => TutorError::Unavailable(e.to_string()),
        other => TutorError::Provider(other.to_string()),
    }
}
