//! The projection runner against real databases.

mod common;

use chrono::Utc;
use common::{Db, Log, assert_checkpoints_at, new_event, on_both, sqlite};
use domain::UserId;
use domain::user::UserEvent;
use projections::{Error, Runner, Step, queries};
use store::{ExpectedVersion, SharedStore};

/// A user registered, then `edits` profile updates with bios "v1", "v2", …
async fn user_with_history(store: &SharedStore, edits: usize) -> UserId {
    let log = Log::new(store.clone());
    let id = log.user("ada").await;
    for i in 1..=edits {
        let e = UserEvent::UserProfileUpdated {
            user_id: id,
            display_name: String::new(),
            bio: format!("v{i}"),
            at: Utc::now(),
        };
        log.append(&format!("user-{id}"), ExpectedVersion::Exact(i as u64), e)
            .await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_run_when_a_checkpoint_is_past_the_end_of_the_log() {
    let db = sqlite().await;
    let (store, read) = (db.store().await, db.read("live").await);
    user_with_history(&store, 3).await;
    let mut runner = Runner::new(read.clone(), store, projections::all(), 100)
        .await
        .unwrap();
    assert_eq!(runner.drain().await.unwrap(), 4);
    // The same read models against a log that lost its events.
    let other = sqlite().await;
    let err = Runner::new(read, other.store().await, projections::all(), 100)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AheadOfLog { .. }), "{err}");
}

/// Two API nodes share one read database. A runner that starts late must not
/// re-apply old events over newer rows nor move a checkpoint back.
async fn a_late_runner_never_moves_a_shared_read_model_back(db: Db) {
    let (store, read) = (db.store().await, db.read("live").await);
    let id = user_with_history(&store, 6).await;
    let mut ahead = Runner::new(read.clone(), store.clone(), projections::all(), 100)
        .await
        .unwrap();
    let mut late = Runner::new(read.clone(), store.clone(), projections::all(), 2)
        .await
        .unwrap();
    ahead.drain().await.unwrap();
    let bio = || async { queries::user_by_id(&read, id).await.unwrap().unwrap().bio };
    assert_eq!(bio().await, "v6");
    // The late runner's first batch is the registration and "v1".
    assert!(matches!(late.step().await.unwrap(), Step::Processed(2)));
    assert_eq!(
        bio().await,
        "v6",
        "an old event was applied over a newer row"
    );
    // No checkpoint moved back.
    assert_checkpoints_at(&read, store.head().await.unwrap()).await;
    late.drain().await.unwrap();
    assert_eq!(bio().await, "v6");
    // New events are applied once, by whichever runner gets there first.
    let e = UserEvent::UserProfileUpdated {
        user_id: id,
        display_name: String::new(),
        bio: "v7".into(),
        at: Utc::now(),
    };
    store
        .append(
            &format!("user-{id}"),
            ExpectedVersion::Exact(7),
            vec![new_event(e)],
        )
        .await
        .unwrap();
    late.drain().await.unwrap();
    ahead.drain().await.unwrap();
    assert_eq!(bio().await, "v7");
}

on_both!(a_late_runner_never_moves_a_shared_read_model_back);
