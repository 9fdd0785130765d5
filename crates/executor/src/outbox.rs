//! The outbox by log tailing: follows the event log from a checkpoint and
//! publishes a [`JudgeJob`] to the JetStream jobs stream for every
//! submission. Runs in the API nodes (`pydojo serve --judge nats`).
//!
//! The log *is* the outbox. A command never "appends, then publishes" (a
//! crash between the two would lose the job); it only appends, and this
//! tailer publishes from the log afterwards. The checkpoint moves only after
//! JetStream has acknowledged the job (`PubAck`), so a crash at any point
//! re-publishes at most the jobs since the last save, and JetStream drops
//! those repeats by `Nats-Msg-Id` (the submission id). A repeat older than
//! the duplicate window would be judged again and its verdict refused by
//! the domain, so the log still gets exactly one `SubmissionJudged`.

use async_nats::jetstream;
use commands::Commands;
use store::{RecordedEvent, SharedStore, Subscription};

use crate::follow::{self, Follow};
use crate::nats::{self, JudgeJob, Result, Topology};
use crate::queue::{is_job, pending_job};
use crate::{FileCheckpoint, QueueError, Step};

/// What the outbox has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Jobs JetStream stored.
    pub published: u64,
    /// Jobs JetStream acknowledged as duplicates of one it already had.
    pub duplicates: u64,
    /// Submissions already judged when the outbox reached them (a replay).
    pub already_judged: u64,
}

/// Publishes a judge job for every `SubmissionCreated` in the log.
#[derive(Debug)]
pub struct Outbox {
    commands: Commands,
    js: jetstream::Context,
    topology: Topology,
    subscription: Subscription,
    checkpoint: FileCheckpoint,
    stats: OutboxStats,
}

impl Outbox {
    /// Creates the jobs stream if needed and starts after the checkpoint.
    pub async fn new(
        store: SharedStore,
        commands: Commands,
        js: jetstream::Context,
        topology: Topology,
        checkpoint: FileCheckpoint,
    ) -> Result<Self> {
        topology.jobs_stream(&js).await?;
        let start = checkpoint.load()?;
        Ok(Self {
            commands,
            js,
            topology,
            subscription: store::subscribe(store, start, 100),
            checkpoint,
            stats: OutboxStats::default(),
        })
    }

    pub fn stats(&self) -> OutboxStats {
        self.stats
    }

    /// Publishes what is in the log now (one batch); `Idle` when caught up.
    pub async fn step(&mut self) -> Result<Step> {
        follow::step(self).await
    }

    /// Steps until caught up with the log as it is now.
    pub async fn drain(&mut self) -> Result<usize> {
        follow::drain(self).await
    }

    /// Runs until dropped; failures (NATS down, store errors) are retried
    /// with backoff from the same place, never skipped.
    pub async fn run(self) {
        follow::run(self).await
    }
}

impl Follow for Outbox {
    type Error = nats::Error;

    fn subscription(&mut self) -> &mut Subscription {
        &mut self.subscription
    }

    fn read_failed(e: store::Error) -> nats::Error {
        QueueError::from(e).into()
    }

    fn log_retry(e: &nats::Error) {
        tracing::error!(code = e.code(), error = %e, "judge outbox failed; retrying");
    }

    async fn process(&mut self, batch: &[RecordedEvent]) -> Result<()> {
        for recorded in batch {
            if is_job(&recorded.event_type) {
                self.publish(recorded).await?;
                // Saved after each job, once JetStream holds it.
                self.checkpoint.save(recorded.cursor)?;
            }
        }
        if let Some(last) = batch.last() {
            self.checkpoint.save(last.cursor)?;
        }
        Ok(())
    }
}

impl Outbox {
    #[tracing::instrument(skip_all, fields(submission_id))]
    async fn publish(&mut self, recorded: &RecordedEvent) -> Result<()> {
        if !is_job(&recorded.event_type) {
            return Ok(());
        }
        let Some(pending) = pending_job(&self.commands, recorded).await? else {
            self.stats.already_judged += 1;
            return Ok(());
        };
        let key = pending.key();
        let job = JudgeJob {
            submission_id: pending.submission_id,
            problem_id: pending.problem_id,
            problem_version: pending.problem_version,
            code: pending.code,
            spec: pending.spec,
            expected_version: recorded.version,
            rejudge_id: pending.rejudge_id,
        };
        let duplicate = nats::publish_acked(
            &self.js,
            self.topology.jobs_subject(),
            &key,
            nats::encode(&job),
        )
        .await?;
        if duplicate {
            self.stats.duplicates += 1;
            tracing::debug!("job already in the stream");
        } else {
            self.stats.published += 1;
            tracing::info!("job published");
        }
        Ok(())
    }
}
