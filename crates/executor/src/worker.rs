//! The executor worker (`pydojo executor`): takes judge jobs from the
//! JetStream jobs stream, judges them in its sandbox, and sends verdicts to
//! the results stream. Needs NATS and a sandbox, never the database.
//!
//! How a job is handled, and why:
//! * **Pull only what can run now.** The worker holds one permit per job
//!   slot (`concurrency`) and asks for as many messages as it has free
//!   slots, so nothing waits in a local buffer while its `ack_wait` runs
//!   out, and idle executors sharing the durable consumer get the rest.
//! * **In-progress acks** (`AckKind::Progress`) go out every third of
//!   `ack_wait` while a judgement runs, so a long judgement keeps its job,
//!   and a short `ack_wait` still notices a dead executor quickly: after a
//!   `kill -9` the job goes to another executor once `ack_wait` passes.
//! * **Result first, ack second.** The verdict is published (with
//!   `Nats-Msg-Id` = the submission id) and its `PubAck` awaited before the
//!   job is acked. A crash between the two re-runs the job; JetStream drops
//!   the second result, and the domain would refuse a second verdict anyway.
//! * **A job that keeps failing is not retried for ever**: from delivery
//!   `max_attempts + 1` on, the worker reports an `InternalError` verdict
//!   instead of judging it again.
//! * **Graceful stop**: stop pulling, give in-flight jobs `shutdown_grace`
//!   to finish, then nak what is left so another executor takes it at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use domain::submission::{TestOutcome, Verdict, VerdictKind};
use futures::StreamExt;
use sandbox::Sandbox;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::Judge;
use crate::nats::{self, Error, JudgeJob, JudgeResult, ProgressUpdate, Result, Topology};
use crate::queue::internal_error;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs judged at once.
    pub concurrency: usize,
    /// How long JetStream waits for an ack (or a progress ack) before it
    /// gives the job to another executor. Set on the shared durable consumer.
    pub ack_wait: Duration,
    /// On shutdown, how long in-flight jobs may run before they are nak'd.
    pub shutdown_grace: Duration,
    /// Deliveries judged before a job is given an `InternalError` verdict.
    pub max_attempts: u64,
    /// How long one pull request waits on the server for jobs.
    pub pull_wait: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            ack_wait: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(20),
            max_attempts: 5,
            pull_wait: Duration::from_secs(2),
        }
    }
}

/// What a worker has done, readable while it runs.
#[derive(Debug, Default)]
pub struct WorkerStats {
    judged: AtomicU64,
    released: AtomicU64,
}

impl WorkerStats {
    /// Jobs whose verdict reached the results stream and that were acked.
    pub fn judged(&self) -> u64 {
        self.judged.load(Ordering::SeqCst)
    }

    /// Jobs handed back (nak'd) unfinished, at shutdown or after a failure.
    pub fn released(&self) -> u64 {
        self.released.load(Ordering::SeqCst)
    }
}

/// One executor: a durable pull consumer on the jobs stream and a judge.
#[derive(Debug)]
pub struct Worker<S> {
    consumer: PullConsumer,
    shared: Arc<Shared<S>>,
    config: WorkerConfig,
}

#[derive(Debug)]
struct Shared<S> {
    client: async_nats::Client,
    js: jetstream::Context,
    topology: Topology,
    judge: Arc<Judge<S>>,
    stats: Arc<WorkerStats>,
    progress_ack_every: Duration,
    max_attempts: u64,
}

impl<S: Sandbox + Send + Sync + 'static> Worker<S> {
    /// Creates the streams and the shared durable consumer if needed.
    pub async fn new(
        client: async_nats::Client,
        topology: Topology,
        judge: Arc<Judge<S>>,
        config: WorkerConfig,
    ) -> Result<Self> {
        let js = jetstream::new(client.clone());
        let jobs = topology.jobs_stream(&js).await?;
        topology.results_stream(&js).await?;
        let consumer = topology
            .durable_consumer(&jobs, &topology.executor_consumer, config.ack_wait)
            .await?;
        // The consumer's own ack wait: another executor may have set it.
        let ack_wait = consumer.cached_info().config.ack_wait;
        Ok(Self {
            consumer,
            shared: Arc::new(Shared {
                client,
                js,
                topology,
                judge,
                stats: Arc::default(),
                progress_ack_every: (ack_wait / 3).max(Duration::from_millis(50)),
                max_attempts: config.max_attempts,
            }),
            config,
        })
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.stats.clone()
    }

    /// Judges jobs until `shutdown` completes, then stops pulling and lets
    /// in-flight jobs finish (or naks them after `shutdown_grace`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let (abort_tx, abort_rx) = watch::channel(false);
        let mut jobs = JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        tokio::pin!(shutdown);
        tracing::info!(
            concurrency = self.config.concurrency,
            consumer = %self.shared.topology.executor_consumer,
            "executor waiting for jobs"
        );
        'pull: loop {
            while let Some(done) = jobs.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a judge task panicked");
                }
            }
            let first = tokio::select! {
                () = &mut shutdown => break 'pull,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            let mut permits = vec![first];
            while let Ok(p) = slots.clone().try_acquire_owned() {
                permits.push(p);
            }
            let request = self
                .consumer
                .batch()
                .max_messages(permits.len())
                .expires(self.config.pull_wait)
                .messages();
            let pulled = tokio::select! {
                () = &mut shutdown => break 'pull,
                pulled = request => pulled,
            };
            let mut batch = match pulled {
                Ok(batch) => {
                    backoff = Duration::from_millis(200);
                    batch
                }
                Err(e) => {
                    let e = Error::Pull {
                        consumer: self.shared.topology.executor_consumer.clone(),
                        source: e.into(),
                    };
                    tracing::error!(code = e.code(), error = %e, "cannot pull jobs; retrying");
                    tokio::select! {
                        () = &mut shutdown => break 'pull,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    () = &mut shutdown => break 'pull,
                    next = batch.next() => next,
                };
                match next {
                    None => break,
                    Some(Ok(message)) => {
                        let permit = permits.pop().expect("no more messages than free slots");
                        jobs.spawn(handle(
                            self.shared.clone(),
                            message,
                            permit,
                            abort_rx.clone(),
                        ));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "pull request ended early");
                        break;
                    }
                }
            }
        }
        tracing::info!(in_flight = jobs.len(), "executor stopping: no new jobs");
        let finished = tokio::time::timeout(self.config.shutdown_grace, async {
            while jobs.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                in_flight = jobs.len(),
                "jobs still running after the grace period; handing them back"
            );
            let _ = abort_tx.send(true);
            while jobs.join_next().await.is_some() {}
        }
        tracing::info!("executor stopped");
    }
}

/// Judges one job and reports it. Never fails: every outcome ends in an
/// ack, a nak or a term, and otherwise JetStream redelivers after `ack_wait`.
#[tracing::instrument(skip_all, fields(submission_id, delivered))]
async fn handle<S: Sandbox + Send + Sync + 'static>(
    shared: Arc<Shared<S>>,
    message: jetstream::Message,
    _slot: OwnedSemaphorePermit,
    abort: watch::Receiver<bool>,
) {
    let delivered = message
        .info()
        .map(|i| u64::try_from(i.delivered).unwrap_or(1))
        .unwrap_or(1);
    tracing::Span::current().record("delivered", delivered);
    let job: JudgeJob = match nats::decode("job", &message.payload) {
        Ok(job) => job,
        Err(e) => {
            // Redelivering it would not make it readable.
            tracing::error!(code = e.code(), error = %e, "dropping a job that does not decode");
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::warn!(error = %e, "cannot terminate the bad job");
            }
            return;
        }
    };
    tracing::Span::current().record("submission_id", tracing::field::display(job.submission_id));
    let verdict = if delivered > shared.max_attempts {
        tracing::error!(
            attempts = delivered - 1,
            "giving up on a job that keeps failing"
        );
        internal_error(format!(
            "the judge failed {} times on this submission",
            delivered - 1
        ))
    } else if let Some(spec) = &job.spec {
        match judge(&shared, &message, &job, spec, abort).await {
            Some(verdict) => verdict,
            None => {
                release(&shared, &message, None).await;
                return;
            }
        }
    } else {
        internal_error(format!(
            "problem {} has no version {}",
            job.problem_id, job.problem_version
        ))
    };
    tracing::info!(
        kind = verdict.kind.as_str(),
        passed = verdict.passed,
        total = verdict.total,
        "judged"
    );
    let result = JudgeResult {
        submission_id: job.submission_id,
        verdict,
        expected_version: job.expected_version,
        rejudge_id: job.rejudge_id,
    };
    if let Err(e) = nats::publish_acked(
        &shared.js,
        shared.topology.results_subject(),
        &crate::queue::job_key(job.submission_id, job.rejudge_id),
        nats::encode(&result),
    )
    .await
    {
        tracing::error!(code = e.code(), error = %e, "cannot send the verdict; the job goes back");
        release(&shared, &message, Some(Duration::from_secs(1))).await;
        return;
    }
    match message.double_ack().await {
        Ok(()) => {}
        // The verdict is stored; a redelivery is judged again and dropped as a duplicate.
        Err(e) => tracing::warn!(error = %e, "the job's ack was not confirmed"),
    }
    shared.stats.judged.fetch_add(1, Ordering::SeqCst);
}

/// Runs the judge, sending progress acks and per-test progress while it
/// runs. `None` when told to abort (shutdown past its grace period).
async fn judge<S: Sandbox + Send + Sync + 'static>(
    shared: &Shared<S>,
    message: &jetstream::Message,
    job: &JudgeJob,
    spec: &domain::problem::ProblemSpec,
    mut abort: watch::Receiver<bool>,
) -> Option<Verdict> {
    let total = u32::try_from(spec.examples.len() + spec.hidden_tests.len()).unwrap_or(u32::MAX);
    let (tx, mut outcomes) = mpsc::unbounded_channel::<TestOutcome>();
    let judging = shared
        .judge
        .judge_with_progress(spec, &job.code, move |t: &TestOutcome| {
            let _ = tx.send(t.clone());
        });
    tokio::pin!(judging);
    let every = shared.progress_ack_every;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passed = 0;
    publish_progress(
        shared,
        &ProgressUpdate {
            submission_id: job.submission_id,
            test: None,
            passed,
            total,
        },
    )
    .await;
    let verdict = loop {
        tokio::select! {
            verdict = &mut judging => break verdict,
            Some(test) = outcomes.recv() => {
                announce(shared, job, &test, &mut passed, total).await;
            }
            _ = heartbeat.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "cannot send an in-progress ack");
                }
            }
            true = stopped(&mut abort) => return None,
        }
    };
    while let Ok(test) = outcomes.try_recv() {
        announce(shared, job, &test, &mut passed, total).await;
    }
    Some(verdict)
}

/// Whether the worker asks in-flight jobs to stop (false if it is gone).
async fn stopped(abort: &mut watch::Receiver<bool>) -> bool {
    abort.wait_for(|stop| *stop).await.is_ok()
}

/// Publishes one test's outcome on core NATS, best effort: progress is for
/// live display, and the verdict travels through JetStream regardless.
async fn announce<S>(
    shared: &Shared<S>,
    job: &JudgeJob,
    test: &TestOutcome,
    passed: &mut u32,
    total: u32,
) {
    if test.verdict == VerdictKind::Accepted {
        *passed += 1;
    }
    let update = ProgressUpdate {
        submission_id: job.submission_id,
        test: Some(test.clone()),
        passed: *passed,
        total,
    };
    publish_progress(shared, &update).await;
}

async fn publish_progress<S>(shared: &Shared<S>, update: &ProgressUpdate) {
    let subject = shared.topology.progress_subject(update.submission_id);
    if let Err(e) = shared
        .client
        .publish(subject, nats::encode(update).into())
        .await
    {
        tracing::debug!(error = %e, "cannot publish progress");
    }
}

/// Hands the job back so another executor (or this one, later) takes it.
async fn release<S>(shared: &Shared<S>, message: &jetstream::Message, delay: Option<Duration>) {
    shared.stats.released.fetch_add(1, Ordering::SeqCst);
    if let Err(e) = message.ack_with(AckKind::Nak(delay)).await {
        // It comes back anyway once ack_wait passes.
        tracing::warn!(error = %e, "cannot nak the job");
    }
}
