//! The embedded job queue: follows the event log from a checkpoint and
//! judges every submission, in process.
//!
//! Nothing is pushed anywhere after an append, so nothing can be lost
//! between "recorded" and "queued": the log *is* the queue. The checkpoint
//! only saves re-reading; correctness comes from the domain's rule that a
//! submission gets exactly one verdict. A job interrupted by a crash is
//! judged again after the restart, and a second verdict for an already judged
//! submission is refused and skipped. Submissions of one batch are judged
//! concurrently (one per CPU by default); the checkpoint moves past a batch
//! once all of it is judged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use commands::Commands;
use domain::codec::{self, Event};
use domain::submission::{SubmissionEvent, TestOutcome, Verdict, VerdictKind};
use sandbox::Sandbox;
use store::{Cursor, RecordedEvent, SharedStore, Subscription};

use crate::Judge;
use crate::follow::{self, Follow};
use crate::nats::ProgressUpdate;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Command(#[from] commands::Error),
    #[error("stored event at {0} does not decode: {1}")]
    Decode(Cursor, domain::codec::CodecError),
    #[error("judge checkpoint {path}: {source}")]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What one step did, so tests drain instead of sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Processed(usize),
    Idle,
}

/// A cursor kept in a file, replaced atomically (write aside, then rename).
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    path: PathBuf,
}

impl FileCheckpoint {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    fn err(&self, source: std::io::Error) -> QueueError {
        QueueError::Checkpoint {
            path: self.path.clone(),
            source,
        }
    }

    pub fn load(&self) -> Result<Cursor, QueueError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let bad = || {
                    self.err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not a cursor: {text:?}"),
                    ))
                };
                let (tx, seq) = text.trim().split_once(':').ok_or_else(bad)?;
                Ok(Cursor {
                    tx: tx.parse().map_err(|_| bad())?,
                    seq: seq.parse().map_err(|_| bad())?,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::START),
            Err(e) => Err(self.err(e)),
        }
    }

    pub fn save(&self, cursor: Cursor) -> Result<(), QueueError> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, cursor.to_string()).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

/// Where progress goes. Called from the judging task, so it must not block
/// (a bounded broadcast's `send` is the intended target).
pub type ProgressSink = Arc<dyn Fn(ProgressUpdate) + Send + Sync>;

/// Judges submissions as they appear in the log.
pub struct EmbeddedQueue<S> {
    commands: Commands,
    judge: Arc<Judge<S>>,
    subscription: Subscription,
    checkpoint: FileCheckpoint,
    concurrency: usize,
    progress: Option<ProgressSink>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for EmbeddedQueue<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueue")
            .field("judge", &self.judge)
            .field("subscription", &self.subscription)
            .field("checkpoint", &self.checkpoint)
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Sandbox + Send + Sync + 'static> EmbeddedQueue<S> {
    pub fn new(
        store: SharedStore,
        commands: Commands,
        judge: Arc<Judge<S>>,
        checkpoint: FileCheckpoint,
    ) -> Result<Self, QueueError> {
        let start = checkpoint.load()?;
        Ok(Self {
            commands,
            judge,
            subscription: store::subscribe(store, start, 100),
            checkpoint,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: None,
        })
    }

    /// Announces each judgement's start and each test's outcome to `sink`.
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Judges up to `n` submissions at once (default: one per CPU).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Judges what is in the log now (one batch); `Idle` when caught up.
    pub async fn step(&mut self) -> Result<Step, QueueError> {
        follow::step(self).await
    }

    /// Steps until caught up with the log as it is now.
    pub async fn drain(&mut self) -> Result<usize, QueueError> {
        follow::drain(self).await
    }

    /// Runs until dropped; failures are retried with backoff, never skipped.
    pub async fn run(self) {
        follow::run(self).await
    }
}

impl<S: Sandbox + Send + Sync + 'static> Follow for EmbeddedQueue<S> {
    type Error = QueueError;

    fn subscription(&mut self) -> &mut Subscription {
        &mut self.subscription
    }

    fn read_failed(e: store::Error) -> QueueError {
        e.into()
    }

    fn log_retry(e: &QueueError) {
        tracing::error!(error = %e, "judge queue failed; retrying");
    }

    /// Judges the batch's submissions, up to `concurrency` at once, then
    /// saves the checkpoint past the batch. A failure saves nothing: the
    /// batch is read again, and the submissions it already judged are
    /// skipped (each has its verdict).
    async fn process(&mut self, batch: &[RecordedEvent]) -> Result<(), QueueError> {
        let mut running = tokio::task::JoinSet::new();
        let mut outcome = Ok(());
        let mut collect = |joined: Result<Result<(), QueueError>, tokio::task::JoinError>| {
            match joined {
                Ok(result) => {
                    if outcome.is_ok() {
                        outcome = result;
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {} // cancelled: only on shutdown
            }
        };
        for recorded in batch.iter().filter(|r| is_job(&r.event_type)) {
            while running.len() >= self.concurrency {
                if let Some(joined) = running.join_next().await {
                    collect(joined);
                }
            }
            let (commands, judge) = (self.commands.clone(), self.judge.clone());
            let (recorded, progress) = (recorded.clone(), self.progress.clone());
            running.spawn(async move { judge_one(&commands, &judge, &recorded, progress).await });
        }
        while let Some(joined) = running.join_next().await {
            collect(joined);
        }
        outcome?;
        if let Some(last) = batch.last() {
            self.checkpoint.save(last.cursor)?;
        }
        Ok(())
    }
}

/// Whether events of this type ask for a judgement: a new submission, or a
/// rejudge of one.
pub(crate) fn is_job(event_type: &str) -> bool {
    matches!(
        event_type,
        "SubmissionCreated" | "SubmissionRejudgeRequested"
    )
}

/// A submission still waiting for a verdict, read from its
/// `SubmissionCreated` or `SubmissionRejudgeRequested` event, with the
/// problem as it stood at the version to judge against (`None` if that
/// version is unknown).
#[derive(Debug)]
pub(crate) struct PendingJob {
    pub submission_id: domain::SubmissionId,
    pub problem_id: domain::ProblemId,
    pub problem_version: u32,
    pub code: String,
    pub spec: Option<domain::problem::ProblemSpec>,
    /// The rejudge this judgement answers; `None` for the first one.
    pub rejudge_id: Option<domain::RejudgeId>,
}

impl PendingJob {
    /// One key per judgement: the submission id for its first, the
    /// submission and rejudge ids for a rejudge. JetStream drops a repeat
    /// of the same key.
    pub(crate) fn key(&self) -> String {
        job_key(self.submission_id, self.rejudge_id)
    }
}

pub(crate) fn job_key(
    submission_id: domain::SubmissionId,
    rejudge_id: Option<domain::RejudgeId>,
) -> String {
    match rejudge_id {
        None => submission_id.to_string(),
        Some(r) => format!("{submission_id}.rejudge.{r}"),
    }
}

/// The job `recorded` asks for: `None` when it is not a submission or the
/// submission already has its verdict (judged before a restart, or by
/// another judge). Records the submission id on the current span.
pub(crate) async fn pending_job(
    commands: &Commands,
    recorded: &RecordedEvent,
) -> Result<Option<PendingJob>, QueueError> {
    let event = codec::decode(
        &recorded.event_type,
        recorded.schema_version,
        recorded.data.clone(),
    )
    .map_err(|e| QueueError::Decode(recorded.cursor, e))?;
    let (submission_id, rejudge_id, problem_version) = match event {
        Event::Submission(SubmissionEvent::SubmissionCreated {
            submission_id,
            problem_version,
            ..
        }) => (submission_id, None, problem_version),
        Event::Submission(SubmissionEvent::SubmissionRejudgeRequested {
            submission_id,
            rejudge_id,
            problem_version,
            ..
        }) => (submission_id, Some(rejudge_id), problem_version),
        _ => return Ok(None),
    };
    tracing::Span::current().record("submission_id", tracing::field::display(submission_id));
    // The submission's stream says whether this judgement is still awaited:
    // not if it was judged before a restart or by another judge, nor if a
    // newer rejudge superseded this one.
    let Some(state) = commands
        .submission(submission_id)
        .await?
        .filter(|s| s.awaiting() == Some(rejudge_id))
    else {
        return Ok(None);
    };
    let spec = commands
        .problem_spec_at(state.problem_id, problem_version)
        .await?;
    Ok(Some(PendingJob {
        submission_id,
        problem_id: state.problem_id,
        problem_version,
        code: state.code,
        spec,
        rejudge_id,
    }))
}

#[tracing::instrument(skip_all, fields(submission_id))]
async fn judge_one<S: Sandbox>(
    commands: &Commands,
    judge: &Judge<S>,
    recorded: &RecordedEvent,
    progress: Option<ProgressSink>,
) -> Result<(), QueueError> {
    let Some(job) = pending_job(commands, recorded).await? else {
        return Ok(());
    };
    let verdict = match (&job.spec, progress) {
        (Some(spec), Some(sink)) => {
            let submission_id = job.submission_id;
            let total =
                u32::try_from(spec.examples.len() + spec.hidden_tests.len()).unwrap_or(u32::MAX);
            // The first message says the judge took it, as over NATS.
            sink(ProgressUpdate {
                submission_id,
                test: None,
                passed: 0,
                total,
            });
            let mut passed = 0;
            judge
                .judge_with_progress(spec, &job.code, |test: &TestOutcome| {
                    if test.verdict == VerdictKind::Accepted {
                        passed += 1;
                    }
                    sink(ProgressUpdate {
                        submission_id,
                        test: Some(test.clone()),
                        passed,
                        total,
                    });
                })
                .await
        }
        (Some(spec), None) => judge.judge(spec, &job.code).await,
        (None, _) => internal_error(format!(
            "problem {} has no version {}",
            job.problem_id, job.problem_version
        )),
    };
    tracing::info!(
        kind = verdict.kind.as_str(),
        passed = verdict.passed,
        total = verdict.total,
        "judged"
    );
    match commands
        .record_verdict(job.submission_id, verdict, job.rejudge_id)
        .await
    {
        Ok(_) => Ok(()),
        // Someone (another executor, a run before a crash) got there first.
        Err(commands::Error::Domain(domain::DomainError::InvalidState(_))) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn internal_error(message: String) -> Verdict {
    Verdict {
        kind: VerdictKind::InternalError,
        passed: 0,
        total: 0,
        runtime_ms: 0,
        memory_kb: 0,
        tests: vec![],
        failed_example: None,
        message: Some(message),
    }
}
