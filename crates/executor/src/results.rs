//! The results consumer: takes verdicts from the JetStream results stream
//! and records them in the event log as `SubmissionJudged`. Runs in the API
//! nodes, which share one durable consumer, so each result is handled by
//! one node at a time.
//!
//! Exactly one `SubmissionJudged` per submission, however often a result
//! arrives (an executor that died after publishing, a redelivery, a repeat
//! past the duplicate window): the verdict is appended at the version the job
//! left the log with, and the domain refuses a second verdict. A refusal
//! because the submission is already judged is a duplicate: acked and
//! skipped. Store trouble is transient: the result is nak'd with a delay and
//! comes back. A result the domain rejects for any other reason can never
//! succeed and is terminated, loudly.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use commands::Commands;
use domain::DomainError;
use futures::StreamExt;

use crate::Step;
use crate::nats::{self, Error, JudgeResult, Result, Topology};

/// How long a result waits before it is tried again after a store failure.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// Results taken per pull once one has arrived.
const BATCH: usize = 64;

/// What the consumer has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultsStats {
    /// Verdicts appended to the log.
    pub recorded: u64,
    /// Verdicts for submissions that already had one: acked and skipped.
    pub duplicates: u64,
    /// Results handed back for a retry after a transient failure.
    pub retried: u64,
    /// Results that can never be recorded, terminated.
    pub rejected: u64,
}

/// Records verdicts from the results stream in the log.
#[derive(Debug)]
pub struct ResultsConsumer {
    commands: Commands,
    consumer: PullConsumer,
    name: String,
    stats: ResultsStats,
}

impl ResultsConsumer {
    /// Creates the results stream and the shared durable consumer if needed.
    pub async fn new(
        commands: Commands,
        js: &jetstream::Context,
        topology: &Topology,
        ack_wait: Duration,
    ) -> Result<Self> {
        let stream = topology.results_stream(js).await?;
        let consumer = topology
            .durable_consumer(&stream, &topology.results_consumer, ack_wait)
            .await?;
        Ok(Self {
            commands,
            consumer,
            name: topology.results_consumer.clone(),
            stats: ResultsStats::default(),
        })
    }

    pub fn stats(&self) -> ResultsStats {
        self.stats
    }

    /// Waits up to `wait` for a result, then handles it and whatever else is
    /// ready (up to a batch). `Idle` when nothing came.
    pub async fn step(&mut self, wait: Duration) -> Result<Step> {
        let mut handled = 0;
        let first = self
            .consumer
            .batch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| self.pull_error(e.into()))?;
        handled += self.handle_all(first).await?;
        if handled == 0 {
            return Ok(Step::Idle);
        }
        let rest = self
            .consumer
            .fetch()
            .max_messages(BATCH)
            .messages()
            .await
            .map_err(|e| self.pull_error(e.into()))?;
        handled += self.handle_all(rest).await?;
        Ok(Step::Processed(handled))
    }

    /// Runs until dropped; pull failures are retried with backoff.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.step(Duration::from_secs(5)).await {
                Ok(_) => backoff = Duration::from_millis(200),
                Err(e) => {
                    tracing::error!(code = e.code(), error = %e, "results consumer failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn pull_error(&self, source: async_nats::Error) -> Error {
        Error::Pull {
            consumer: self.name.clone(),
            source,
        }
    }

    async fn handle_all(
        &mut self,
        mut messages: impl futures::Stream<Item = Result<jetstream::Message, async_nats::Error>> + Unpin,
    ) -> Result<usize> {
        let mut handled = 0;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| self.pull_error(e))?;
            self.handle(&message).await?;
            handled += 1;
        }
        Ok(handled)
    }

    #[tracing::instrument(skip_all, fields(submission_id))]
    async fn handle(&mut self, message: &jetstream::Message) -> Result<()> {
        let result: JudgeResult = match nats::decode("result", &message.payload) {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(code = e.code(), error = %e, "dropping a result that does not decode");
                self.stats.rejected += 1;
                return reply(message, AckKind::Term).await;
            }
        };
        tracing::Span::current().record(
            "submission_id",
            tracing::field::display(result.submission_id),
        );
        let kind = result.verdict.kind;
        match self
            .commands
            .record_verdict_at(
                result.submission_id,
                result.verdict,
                result.rejudge_id,
                result.expected_version,
            )
            .await
        {
            Ok(_) => {
                self.stats.recorded += 1;
                tracing::info!(kind = kind.as_str(), "verdict recorded");
                reply(message, AckKind::Ack).await
            }
            Err(commands::Error::Domain(DomainError::InvalidState(_))) => {
                self.stats.duplicates += 1;
                tracing::debug!("duplicate verdict: the submission is already judged");
                reply(message, AckKind::Ack).await
            }
            Err(commands::Error::Domain(e)) => {
                self.stats.rejected += 1;
                tracing::error!(error = %e, "the domain refuses this verdict; dropping it");
                reply(message, AckKind::Term).await
            }
            Err(e) => {
                self.stats.retried += 1;
                tracing::warn!(error = %e, "cannot record the verdict now; it comes back");
                reply(message, AckKind::Nak(Some(RETRY_DELAY))).await
            }
        }
    }
}

async fn reply(message: &jetstream::Message, kind: AckKind) -> Result<()> {
    message.ack_with(kind).await.map_err(Error::Ack)
}
