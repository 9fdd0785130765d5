//! A live, catch-up subscription to the whole log.

use std::time::Duration;

use crate::{Cursor, RecordedEvent, Result, SharedStore};

/// Reads the log in batches from a cursor, then waits for more.
///
/// It is a pull loop rather than a push channel on purpose: a slow consumer
/// only falls behind in the log (which is on disk), it never buffers events in
/// memory, and a restart resumes from whatever cursor the consumer saved.
#[derive(Debug)]
pub struct Subscription {
    store: SharedStore,
    cursor: Cursor,
    batch: usize,
    changes: tokio::sync::watch::Receiver<u64>,
    poll: Duration,
}

/// Subscribes to every event after `after`.
pub fn subscribe(store: SharedStore, after: Cursor, batch: usize) -> Subscription {
    let changes = store.changes();
    Subscription {
        store,
        cursor: after,
        batch: batch.max(1),
        changes,
        poll: Duration::from_millis(500),
    }
}

/// How often a drain looks again for events that are committed but held
/// back (PostgreSQL, behind an older open transaction).
pub const HELD_BACK_POLL: Duration = Duration::from_millis(5);

impl Subscription {
    /// The cursor of the last event handed out.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// How long to wait for a wake-up before looking again anyway (a writer in
    /// another process may not be able to wake us).
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The next batch: waits until at least one event is there.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>> {
        loop {
            // Mark the current change as seen before reading, so an append that
            // lands during the read still wakes the next wait.
            self.changes.borrow_and_update();
            let events = self.store.read_all(self.cursor, self.batch).await?;
            if let Some(last) = events.last() {
                self.cursor = last.cursor;
                return Ok(events);
            }
            if let Ok(Err(_closed)) = tokio::time::timeout(self.poll, self.changes.changed()).await
            {
                // The store's writer is gone; nothing will wake us, so poll.
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    /// The last event committed to the log now. On PostgreSQL it can be
    /// ahead of what is readable for a moment: events are held back while
    /// an older transaction that may still append before them is open.
    pub async fn head(&self) -> Result<Cursor> {
        self.store.head().await
    }

    /// Moves the subscription back (or forward) to `cursor`, e.g. to retry a
    /// batch whose processing failed.
    pub fn seek(&mut self, cursor: Cursor) {
        self.cursor = cursor;
    }

    /// The next batch if one is there now, without waiting.
    pub async fn try_next_batch(&mut self) -> Result<Vec<RecordedEvent>> {
        let events = self.store.read_all(self.cursor, self.batch).await?;
        if let Some(last) = events.last() {
            self.cursor = last.cursor;
        }
        Ok(events)
    }
}
