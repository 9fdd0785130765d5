//! The distributed judge's shared ground: how to reach NATS, the JetStream
//! streams and consumers it uses, and the messages that cross them.
//!
//! Three parts speak through these types: the [`Outbox`](crate::Outbox) in
//! each API node (log -> jobs stream), the [`Worker`](crate::Worker) in each
//! executor (jobs stream -> sandbox -> results stream, plus live progress on
//! core NATS), and the [`ResultsConsumer`](crate::ResultsConsumer) in the API
//! nodes (results stream -> `SubmissionJudged` in the log).
//!
//! Key decisions:
//! * **Messages carry everything.** A [`JudgeJob`] holds the code, the
//!   problem spec at the submitted version (hidden tests included) and the
//!   submission stream's version, so executors need no database. It follows
//!   that the NATS server must be private to the deployment.
//! * **Both streams are work queues deduplicated on the submission id**
//!   (`Nats-Msg-Id`), with a generous window: an outbox replaying from an old
//!   checkpoint, two API nodes tailing the same log, or an executor
//!   re-publishing a result after a redelivery all collapse to one message.
//!   Past the window, the domain's one-verdict rule still holds.
//! * **Creation is idempotent** (`get_or_create`), so any part may start
//!   first, and every name is configurable through [`Topology`].

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use domain::problem::ProblemSpec;
use domain::submission::{TestOutcome, Verdict};
use domain::{ProblemId, RejudgeId, SubmissionId};
use serde::{Deserialize, Serialize};

use crate::QueueError;

/// Why the distributed judge could not do something. Each variant names the
/// step; [`Error::code`] gives a stable code for logs and alerts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The cause is left to the error chain (`{:#}`, anyhow's report):
    // these two happen at start-up, where the chain is printed.
    #[error("cannot reach NATS at {url} (is nats-server running, with -js, and is the URL right?)")]
    Connect {
        /// The URL with any credentials removed.
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("cannot set up JetStream {what} (JetStream must be enabled: nats-server -js)")]
    Setup {
        what: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("publishing to {subject} was not acknowledged by JetStream: {source}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("pulling from consumer {consumer}: {source}")]
    Pull {
        consumer: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("acknowledging a message: {0}")]
    Ack(#[source] async_nats::Error),
    #[error("a {what} message does not decode: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Error {
    /// A stable code for each kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Connect { .. } => "NATS_UNREACHABLE",
            Error::Setup { .. } => "JETSTREAM_SETUP",
            Error::Publish { .. } => "JETSTREAM_PUBLISH",
            Error::Pull { .. } => "JETSTREAM_PULL",
            Error::Ack(_) => "JETSTREAM_ACK",
            Error::Decode { .. } => "BAD_MESSAGE",
            Error::Queue(_) => "EVENT_LOG",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stream, subject and consumer names. The defaults suit one deployment per
/// NATS account; tests give each run its own prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The work-queue stream of judge jobs.
    pub jobs_stream: String,
    /// The work-queue stream of verdicts on their way back to the log.
    pub results_stream: String,
    /// Subjects are `<prefix>.jobs`, `<prefix>.results` and
    /// `<prefix>.progress.<submission id>`.
    pub subject_prefix: String,
    /// The durable pull consumer that executors share on the jobs stream.
    pub executor_consumer: String,
    /// The durable pull consumer that API nodes share on the results stream.
    pub results_consumer: String,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a repeat.
    pub duplicate_window: Duration,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            jobs_stream: "PYDOJO_JOBS".into(),
            results_stream: "PYDOJO_RESULTS".into(),
            subject_prefix: "pydojo".into(),
            executor_consumer: "pydojo-executors".into(),
            results_consumer: "pydojo-results".into(),
            duplicate_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl Topology {
    pub fn jobs_subject(&self) -> String {
        format!("{}.jobs", self.subject_prefix)
    }

    pub fn results_subject(&self) -> String {
        format!("{}.results", self.subject_prefix)
    }

    /// Where an executor announces each test's outcome as it happens.
    pub fn progress_subject(&self, submission: SubmissionId) -> String {
        format!("{}.progress.{submission}", self.subject_prefix)
    }

    /// Creates the jobs stream unless it exists.
    pub async fn jobs_stream(&self, js: &jetstream::Context) -> Result<stream::Stream> {
        self.work_queue(js, &self.jobs_stream, self.jobs_subject())
            .await
    }

    /// Creates the results stream unless it exists.
    pub async fn results_stream(&self, js: &jetstream::Context) -> Result<stream::Stream> {
        self.work_queue(js, &self.results_stream, self.results_subject())
            .await
    }

    async fn work_queue(
        &self,
        js: &jetstream::Context,
        name: &str,
        subject: String,
    ) -> Result<stream::Stream> {
        js.get_or_create_stream(stream::Config {
            name: name.to_string(),
            subjects: vec![subject],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: self.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Setup {
            what: format!("stream {name}"),
            source: e.into(),
        })
    }

    /// The durable pull consumer `name` on `stream` with explicit acks,
    /// created unless it exists. A consumer that exists with another
    /// `ack_wait` is updated to this one (the last to start wins).
    pub async fn durable_consumer(
        &self,
        stream: &stream::Stream,
        name: &str,
        ack_wait: Duration,
    ) -> Result<consumer::PullConsumer> {
        let config = consumer::pull::Config {
            durable_name: Some(name.to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            ..Default::default()
        };
        let setup = |e: async_nats::Error| Error::Setup {
            what: format!("consumer {name}"),
            source: e,
        };
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(name, config.clone())
            .await
            .map_err(|e| setup(e.into()))?;
        let current = consumer.cached_info().config.ack_wait;
        if current == ack_wait {
            return Ok(consumer);
        }
        match stream.update_consumer(config).await {
            Ok(updated) => {
                tracing::info!(consumer = name, from = ?current, to = ?ack_wait, "updated the consumer's ack wait");
                Ok(updated)
            }
            Err(e) => {
                tracing::warn!(consumer = name, ack_wait = ?current, error = %e, "cannot change the consumer's ack wait; keeping it");
                Ok(consumer)
            }
        }
    }
}

/// Connects to NATS, failing at once (within `timeout`) with a clear error
/// when the server cannot be reached. Once connected, the client reconnects
/// by itself after an outage. Credentials may be in the URL:
/// `nats://token@host:4222` or `nats://user:password@host:4222` (async-nats
/// itself ignores them there, so they are taken out and passed on).
pub async fn connect(
    url: &str,
    client_name: &str,
    timeout: Duration,
) -> Result<async_nats::Client> {
    let (credentials, address) = split_credentials(url);
    let options = match credentials {
        Some((user, Some(password))) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        Some((token, None)) => async_nats::ConnectOptions::with_token(token),
        None => async_nats::ConnectOptions::new(),
    };
    options
        .name(client_name)
        .connection_timeout(timeout)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        })
        .connect(address)
        .await
        .map_err(|source| Error::Connect {
            url: redact_url(url),
            source,
        })
}

type Credentials = (String, Option<String>);

/// Splits `scheme://user[:password]@host` into the credentials and the URL
/// without them.
fn split_credentials(url: &str) -> (Option<Credentials>, String) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let credentials = match userinfo.split_once(':') {
                Some((user, password)) => (user.to_string(), Some(password.to_string())),
                None => (userinfo.to_string(), None),
            };
            (Some(credentials), format!("{scheme}{host}"))
        }
        None => (None, url.to_string()),
    }
}

/// `url` without its user information, so a password or token in it is
/// never logged.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = match rest.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => rest.to_string(),
    };
    if scheme.is_empty() {
        rest
    } else {
        format!("{scheme}://{rest}")
    }
}

/// One submission to judge: everything an executor needs, so it needs no
/// database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeJob {
    pub submission_id: SubmissionId,
    pub problem_id: ProblemId,
    pub problem_version: u32,
    pub code: String,
    /// The problem as it stood at `problem_version`, hidden tests included.
    /// `None` when the log holds no such version (the executor then reports
    /// an internal error rather than judge against another version).
    pub spec: Option<ProblemSpec>,
    /// The submission stream's version when the job left the log: the
    /// verdict is appended right after it.
    pub expected_version: u64,
    /// The rejudge this judgement answers; absent for a first judgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejudge_id: Option<RejudgeId>,
}

/// An executor's verdict on its way back to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeResult {
    pub submission_id: SubmissionId,
    pub verdict: Verdict,
    pub expected_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejudge_id: Option<RejudgeId>,
}

/// A test's outcome as soon as it is known, on core NATS (no persistence:
/// a listener that misses one still gets the verdict through the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressUpdate {
    pub submission_id: SubmissionId,
    /// The test that just ended; `None` in the first message of a
    /// judgement, sent when an executor starts on it.
    #[serde(default)]
    pub test: Option<TestOutcome>,
    /// Tests passed so far.
    pub passed: u32,
    /// Tests the problem has (examples and hidden).
    pub total: u32,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_vec(value).expect("judge messages serialise")
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode { what, source })
}

/// Publishes `payload` to a JetStream subject with `Nats-Msg-Id` set, and
/// waits for the stream's acknowledgement. Returns whether JetStream dropped
/// it as a duplicate.
pub(crate) async fn publish_acked(
    js: &jetstream::Context,
    subject: String,
    msg_id: &str,
    payload: Vec<u8>,
) -> Result<bool> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id);
    let failed = |e: async_nats::Error, subject: &str| Error::Publish {
        subject: subject.to_string(),
        source: e,
    };
    let ack = js
        .publish_with_headers(subject.clone(), headers, payload.into())
        .await
        .map_err(|e| failed(e.into(), &subject))?
        .await
        .map_err(|e| failed(e.into(), &subject))?;
    Ok(ack.duplicate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("nats://user:secret@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(redact_url("nats://nats:4222"), "nats://nats:4222");
        assert_eq!(redact_url("token@host:4222"), "***@host:4222");
    }

    #[test]
    fn takes_credentials_out_of_urls() {
        assert_eq!(
            split_credentials("nats://user:p@ss@nats:4222"),
            (
                Some(("user".into(), Some("p@ss".into()))),
                "nats://nats:4222".into()
            )
        );
        assert_eq!(
            split_credentials("nats://s3cret@nats:4222"),
            (Some(("s3cret".into(), None)), "nats://nats:4222".into())
        );
        assert_eq!(
            split_credentials("nats://nats:4222"),
            (None, "nats://nats:4222".into())
        );
    }
}
