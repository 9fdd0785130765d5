//! The live side of the API: what subscriptions hear, and from where.
//!
//! [`Live`] holds three bounded broadcasts (tokio `broadcast`, fixed
//! capacity) and a small cache of judgements in progress:
//! - `events`: every event of the log, published by [`follow`] only once the
//!   projections have applied it (it follows the runner's
//!   [`Progress`]), so a subscriber that hears of a change and then queries
//!   sees it. Every API node follows the shared log, so any node can serve
//!   any subscriber.
//! - `progress`: per-test progress of running judgements, reported by
//!   whoever judges: the embedded queue in process, or a bridge from the
//!   executors' core NATS subjects. Never persisted; the verdict itself
//!   comes through `events`.
//! - `leaderboard`: a new top of the global leaderboard or of one problem's
//!   ranking, computed once per change by [`follow`] and shared by every
//!   subscriber.
//!
//! A subscriber that falls more than the capacity behind loses the oldest
//! messages (`RecvError::Lagged`) and is resynced from the current state
//! instead, so memory stays bounded by the capacity whatever the clients do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::problem::ProblemEvent;
use domain::submission::{SubmissionEvent, TestOutcome, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::Stream;
use projections::{Progress, ReadDb, leaderboard, ranking};
use store::{Cursor, RecordedEvent, SharedStore};
use tokio::sync::{broadcast, watch};

/// How many entries a leaderboard update carries (the most a client may ask
/// for).
pub const TOP: i64 = crate::stats::MAX_FIRST as i64;

/// Judgements in progress remembered for late subscribers. Past this, new
/// ones are not remembered (their subscribers see QUEUED until the next test).
const MAX_RUNNING: usize = 4096;
/// A judgement not heard of for this long is over (a verdict whose progress
/// came late over NATS, an executor that died): forgotten when space is short.
const STALE: Duration = Duration::from_secs(300);

/// A running judgement's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeProgress {
    pub submission_id: SubmissionId,
    /// The test that just ended; `None` when the judge has only started.
    pub test: Option<TestOutcome>,
    /// Tests passed so far.
    pub passed: u32,
    /// Tests the problem has (examples and hidden).
    pub total: u32,
}

/// An event of the log, decoded, as the read models have applied it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub cursor: Cursor,
    pub stream: String,
    pub event_type: String,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub event: Event,
}

/// A new top of the global leaderboard (`problem: None`) or of a problem's
/// ranking.
#[derive(Debug, Clone)]
pub struct LeaderboardUpdate {
    /// Where in the log the change happened.
    pub cursor: Cursor,
    pub problem: Option<ProblemId>,
    pub leaderboard: Vec<leaderboard::LeaderboardEntry>,
    pub ranking: Vec<ranking::RankingEntry>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    events: broadcast::Sender<Arc<LiveEvent>>,
    progress: broadcast::Sender<JudgeProgress>,
    leaderboard: broadcast::Sender<Arc<LeaderboardUpdate>>,
    running: Mutex<HashMap<SubmissionId, (Instant, JudgeProgress)>>,
    /// How far `events` has been published. Moved before each publish, so
    /// whoever reads the log up to it and then listens misses nothing.
    position: watch::Sender<Cursor>,
}

/// The hub every subscription listens to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Live(Arc<Inner>);

impl Live {
    /// Channels holding at most `capacity` messages each (at least 1).
    pub fn new(capacity: usize, start: Cursor) -> Self {
        let capacity = capacity.max(1);
        Self(Arc::new(Inner {
            capacity,
            events: broadcast::channel(capacity).0,
            progress: broadcast::channel(capacity).0,
            leaderboard: broadcast::channel(capacity).0,
            running: Mutex::new(HashMap::new()),
            position: watch::channel(start).0,
        }))
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// Messages held for the slowest subscriber of each channel; never more
    /// than the capacity.
    pub fn buffered(&self) -> usize {
        self.0
            .events
            .len()
            .max(self.0.progress.len())
            .max(self.0.leaderboard.len())
    }

    /// Reports a judgement's progress. Never blocks: with nobody listening
    /// it only updates the cache.
    pub fn report_progress(&self, progress: JudgeProgress) {
        {
            let mut running = self.0.running.lock().expect("never poisoned");
            let now = Instant::now();
            if running.len() >= MAX_RUNNING && !running.contains_key(&progress.submission_id) {
                running.retain(|_, (heard, _)| now.duration_since(*heard) < STALE);
            }
            if running.len() < MAX_RUNNING || running.contains_key(&progress.submission_id) {
                running.insert(progress.submission_id, (now, progress.clone()));
            }
        }
        let _ = self.0.progress.send(progress);
    }

    /// The latest progress of a judgement still running.
    pub fn running(&self, id: SubmissionId) -> Option<JudgeProgress> {
        self.0
            .running
            .lock()
            .expect("never poisoned")
            .get(&id)
            .map(|(_, progress)| progress.clone())
    }

    pub fn position(&self) -> Cursor {
        *self.0.position.borrow()
    }

    pub(crate) fn events(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.0.events.subscribe()
    }

    pub(crate) fn progress(&self) -> broadcast::Receiver<JudgeProgress> {
        self.0.progress.subscribe()
    }

    pub(crate) fn leaderboard(&self) -> broadcast::Receiver<Arc<LeaderboardUpdate>> {
        self.0.leaderboard.subscribe()
    }

    fn publish(&self, event: LiveEvent) {
        if let Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) =
            &event.event
        {
            self.0
                .running
                .lock()
                .expect("never poisoned")
                .remove(submission_id);
        }
        self.0.position.send_replace(event.cursor);
        let _ = self.0.events.send(Arc::new(event));
    }
}

/// What a subscriber gets from a bounded channel.
#[derive(Debug)]
pub enum Heard<T> {
    Message(T),
    /// Messages were lost: resync from the current state.
    Lagged,
}

/// A broadcast receiver as a stream that says when it lagged rather than
/// erroring, and ends when the sender is gone.
pub fn listen<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
) -> impl Stream<Item = Heard<T>> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(message) => Some((Heard::Message(message), rx)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // What is still buffered is older than the state the
                // subscriber is about to be resynced with: drop it too.
                let mut dropped = 0;
                while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {
                    dropped += 1;
                }
                tracing::debug!(missed, dropped, "a live subscriber lagged; resyncing it");
                Some((Heard::Lagged, rx))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

/// Decodes a stored event for the live feed.
pub(crate) fn decode(recorded: &RecordedEvent) -> Result<LiveEvent, domain::codec::CodecError> {
    let event = domain::codec::decode(
        &recorded.event_type,
        recorded.schema_version,
        recorded.data.clone(),
    )?;
    Ok(LiveEvent {
        cursor: recorded.cursor,
        stream: recorded.stream.clone(),
        event_type: recorded.event_type.clone(),
        schema_version: recorded.schema_version,
        recorded_at: recorded.recorded_at,
        event,
    })
}

/// Publishes the log to `live` as the projections apply it, and the
/// leaderboards as they change. Runs until the projection runner is gone.
pub async fn follow(live: Live, store: SharedStore, db: ReadDb, mut progress: Progress) {
    let mut cursor = live.position();
    let mut global = None;
    let mut backoff = Duration::from_millis(100);
    while let Some(target) = progress.advanced_past(cursor).await {
        match catch_up(&live, &store, &db, cursor, target, &mut global).await {
            Ok(reached) => {
                cursor = reached;
                backoff = Duration::from_millis(100);
            }
            Err((reached, e)) => {
                cursor = reached;
                tracing::error!(error = %e, "the live feed cannot follow the log; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    tracing::info!("the projections stopped; so does the live feed");
}

type Failed = (Cursor, Box<dyn std::error::Error + Send + Sync>);

/// Publishes the events after `from` up to `target`, then the leaderboards
/// they changed. Returns how far it got, also on failure.
#[tracing::instrument(skip_all, fields(%from, %target))]
async fn catch_up(
    live: &Live,
    store: &SharedStore,
    db: &ReadDb,
    from: Cursor,
    target: Cursor,
    global: &mut Option<Vec<leaderboard::LeaderboardEntry>>,
) -> Result<Cursor, Failed> {
    let mut cursor = from;
    let mut changes = Changes::default();
    while cursor < target {
        let batch = store
            .read_all(cursor, 500)
            .await
            .map_err(|e| (cursor, e.into()))?;
        let mut progressed = false;
        for recorded in batch.iter().take_while(|r| r.cursor <= target) {
            match decode(recorded) {
                Ok(event) => {
                    changes.note(&event.event);
                    live.publish(event);
                }
                // The projections stall on such an event, so this is unreachable
                // in practice; skip it rather than stall the feed as well.
                Err(e) => {
                    tracing::error!(cursor = %recorded.cursor, error = %e, "an event does not decode; not published")
                }
            }
            cursor = recorded.cursor;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    if live.0.leaderboard.receiver_count() > 0 {
        changes
            .publish(live, db, cursor, global)
            .await
            .map_err(|e| (cursor, e.into()))?;
    } else {
        // Nobody listens; the next listener starts from the current state.
        *global = None;
    }
    Ok(cursor)
}

/// What a stretch of the log may have changed on the leaderboards.
#[derive(Debug, Default)]
struct Changes {
    /// Accepted submissions: (user, problem, submission).
    accepted: Vec<(UserId, ProblemId, SubmissionId)>,
    /// A problem's difficulty, hence solvers' scores, may have changed.
    edited: bool,
}

impl Changes {
    fn note(&mut self, event: &Event) {
        match event {
            Event::Submission(SubmissionEvent::SubmissionJudged {
                submission_id,
                user_id,
                problem_id,
                verdict,
                ..
            }) if verdict.kind == VerdictKind::Accepted => {
                self.accepted.push((*user_id, *problem_id, *submission_id));
            }
            Event::Problem(ProblemEvent::ProblemEdited { .. }) => self.edited = true,
            _ => {}
        }
    }

    async fn publish(
        self,
        live: &Live,
        db: &ReadDb,
        cursor: Cursor,
        global: &mut Option<Vec<leaderboard::LeaderboardEntry>>,
    ) -> projections::Result<()> {
        if self.accepted.is_empty() && !self.edited {
            return Ok(());
        }
        let mut solved = false;
        let mut problems: Vec<ProblemId> = Vec::new();
        for (user, problem, submission) in &self.accepted {
            solved |= leaderboard::is_solve(db, *user, *problem, *submission).await?;
            if !problems.contains(problem) && ranking::is_best(db, *problem, *submission).await? {
                problems.push(*problem);
            }
        }
        let top = leaderboard::leaderboard(db, TOP, None)
            .await?
            .expect("no cursor, so never a bad one")
            .entries;
        // A first solve always moves someone, if only below the top; an edit
        // matters only when the order or scores it shows changed.
        if solved || global.as_ref() != Some(&top) {
            *global = Some(top.clone());
            let _ = live.0.leaderboard.send(Arc::new(LeaderboardUpdate {
                cursor,
                problem: None,
                leaderboard: top,
                ranking: vec![],
            }));
        }
        for problem in problems {
            let entries = ranking::problem_ranking(db, problem, TOP, None)
                .await?
                .expect("no cursor, so never a bad one")
                .entries;
            let _ = live.0.leaderboard.send(Arc::new(LeaderboardUpdate {
                cursor,
                problem: Some(problem),
                leaderboard: vec![],
                ranking: entries,
            }));
        }
        Ok(())
    }
}

/// An event's data for the admin feed, without secrets: hidden tests (in
/// problem events) become their count, password hashes are dropped.
pub fn redacted_data(event: &Event) -> serde_json::Value {
    let mut data = domain::codec::encode(event).data;
    redact(&mut data);
    data
}

fn redact(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            map.remove("password_hash");
            if let Some(hidden) = map.remove("hidden_tests") {
                let count = hidden.as_array().map_or(0, Vec::len);
                map.insert("hidden_test_count".into(), count.into());
            }
            map.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn progress(id: SubmissionId, passed: u32) -> JudgeProgress {
        JudgeProgress {
            submission_id: id,
            test: None,
            passed,
            total: 1000,
        }
    }

    #[tokio::test]
    async fn a_lagging_listener_is_told_to_resync_and_the_buffer_stays_at_capacity() {
        let live = Live::new(4, Cursor::START);
        let id = SubmissionId::new();
        let mut heard = Box::pin(listen(live.progress()));
        for passed in 1..=1000 {
            live.report_progress(progress(id, passed));
            assert!(live.buffered() <= 4, "at most the capacity is held");
        }
        assert!(matches!(heard.next().await, Some(Heard::Lagged)));
        // The current state is there to resync from; what was buffered is
        // older than it and dropped, and later messages come through.
        assert_eq!(live.running(id).map(|p| p.passed), Some(1000));
        assert_eq!(live.buffered(), 0);
        live.report_progress(progress(id, 1001));
        match heard.next().await {
            Some(Heard::Message(p)) => assert_eq!(p.passed, 1001),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn hidden_tests_and_password_hashes_are_redacted() {
        let mut data = serde_json::json!({
            "spec": { "title": "t", "hidden_tests": [{ "input": "secret" }, { "input": "s2" }] },
            "password_hash": "$argon2id$...",
        });
        redact(&mut data);
        let text = data.to_string();
        assert!(
            !text.contains("secret") && !text.contains("argon2"),
            "{text}"
        );
        assert_eq!(data["spec"]["hidden_test_count"], 2);
    }
}
