//! Time travel: the read models as they stood at a past moment, for the
//! `asOf` argument (admins only).
//!
//! A model of time T is the log replayed up to T into a scratch SQLite
//! database in memory, by the same projection code as the live models, and
//! the same queries run against it. That costs a replay of the log up to T
//! per uncached T (about as long as `pydojo replay --until T`), so the few
//! most recently used models are kept. Only moments safely in the past are
//! kept: a model of "just now" could still miss an event recorded at T that
//! is not readable yet.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use projections::ReadDb;
use projections::replay::{self, Until};
use store::SharedStore;
use tokio::sync::{Mutex, OnceCell};

/// How long after T the log is taken to be complete up to T.
const SETTLED: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

type Slot = Arc<OnceCell<ReadDb>>;

/// Models of the past, built on demand and kept in a small LRU cache.
#[derive(Debug)]
pub struct TimeTravel {
    store: SharedStore,
    capacity: usize,
    /// Most recently used last. A slot is shared while it is being built, so
    /// concurrent requests for the same T replay once.
    cache: Mutex<VecDeque<(DateTime<Utc>, Slot)>>,
}

impl TimeTravel {
    /// Keeps at most `capacity` models (each holds a whole read model in
    /// memory as it stood then).
    pub fn new(store: SharedStore, capacity: usize) -> Self {
        Self {
            store,
            capacity: capacity.max(1),
            cache: Mutex::new(VecDeque::new()),
        }
    }

    /// The read models as they stood at `at` (to the microsecond, as the log
    /// records time).
    #[tracing::instrument(skip(self))]
    pub async fn model(&self, at: DateTime<Utc>) -> projections::Result<ReadDb> {
        let at = projections::from_micros(projections::micros(at));
        if at > Utc::now() - SETTLED {
            return replay::in_memory(&self.store, Until::Time(at)).await;
        }
        let slot = {
            let mut cache = self.cache.lock().await;
            let slot = match cache.iter().position(|(t, _)| *t == at) {
                Some(i) => cache.remove(i).expect("found").1,
                None => Slot::default(),
            };
            cache.push_back((at, slot.clone()));
            while cache.len() > self.capacity {
                cache.pop_front();
            }
            slot
        };
        slot.get_or_try_init(|| replay::in_memory(&self.store, Until::Time(at)))
            .await
            .cloned()
    }
}
