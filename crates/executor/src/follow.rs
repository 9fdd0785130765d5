//! Following the event log in batches from a checkpoint, for the two
//! followers of this crate (the embedded queue and the NATS outbox): one
//! step, draining, and running for good with retries from the same place.
//! What a batch means is each follower's own [`Follow::process`].

use std::future::Future;
use std::time::Duration;

use store::{RecordedEvent, Subscription};

use crate::Step;

pub(crate) trait Follow: Send {
    type Error: Send;
    fn subscription(&mut self) -> &mut Subscription;
    /// A failure to read the log, as this follower's error.
    fn read_failed(e: store::Error) -> Self::Error;
    /// Handles one batch; on failure the batch is read again.
    fn process(
        &mut self,
        batch: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Logs a failure that [`run`] is about to retry.
    fn log_retry(e: &Self::Error);
}

/// Handles what is in the log now (one batch); `Idle` when caught up.
pub(crate) async fn step<F: Follow>(f: &mut F) -> Result<Step, F::Error> {
    let before = f.subscription().cursor();
    let batch = f
        .subscription()
        .try_next_batch()
        .await
        .map_err(F::read_failed)?;
    if batch.is_empty() {
        return Ok(Step::Idle);
    }
    if let Err(e) = f.process(&batch).await {
        f.subscription().seek(before);
        return Err(e);
    }
    Ok(Step::Processed(batch.len()))
}

/// Steps until caught up with the log as it is now: up to its head at the
/// call, waiting for events that are committed but not yet readable (see
/// `Subscription::head`).
pub(crate) async fn drain<F: Follow>(f: &mut F) -> Result<usize, F::Error> {
    let head = f.subscription().head().await.map_err(F::read_failed)?;
    let mut total = 0;
    loop {
        match step(f).await? {
            Step::Processed(n) => total += n,
            Step::Idle if f.subscription().cursor() >= head => return Ok(total),
            Step::Idle => tokio::time::sleep(store::HELD_BACK_POLL).await,
        }
    }
}

/// Runs until dropped; a failing batch is retried with backoff from the
/// same place, never skipped.
pub(crate) async fn run<F: Follow>(mut f: F) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let before = f.subscription().cursor();
        let result = match f.subscription().next_batch().await {
            Ok(batch) => f.process(&batch).await,
            Err(e) => Err(F::read_failed(e)),
        };
        match result {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                F::log_retry(&e);
                f.subscription().seek(before);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
