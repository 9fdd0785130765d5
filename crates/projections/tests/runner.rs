//! The projection runner against real databases.

use std::sync::Arc;

use chrono::Utc;
use domain::UserId;
use domain::codec;
use domain::user::{Role, UserEvent};
use projections::{Error, ReadDb, Runner, Step, queries};
use store::{ExpectedVersion, NewEvent, SharedStore};

fn new_event(e: UserEvent) -> NewEvent {
    let enc = codec::encode(&e.into());
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: enc.event_type.into(),
        schema_version: enc.schema_version,
        data: enc.data,
        metadata: serde_json::json!({}),
    }
}

/// A user registered, then `edits` profile updates with bios "v1", "v2", …
async fn user_with_history(store: &SharedStore, edits: usize) -> UserId {
    let id = UserId::new();
    let stream = format!("user-{id}");
    let at = Utc::now();
    let registered = UserEvent::UserRegistered {
        user_id: id,
        username: format!("u{}", id.0.simple()),
        email: "u@example.org".into(),
        password_hash: "x".into(),
        role: Role::User,
        at,
    };
    store
        .append(
            &stream,
            ExpectedVersion::NoStream,
            vec![new_event(registered)],
        )
        .await
        .unwrap();
    for i in 1..=edits {
        let e = UserEvent::UserProfileUpdated {
            user_id: id,
            display_name: String::new(),
            bio: format!("v{i}"),
            at,
        };
        store
            .append(
                &stream,
                ExpectedVersion::Exact(i as u64),
                vec![new_event(e)],
            )
            .await
            .unwrap();
    }
    id
}

async fn sqlite() -> (SharedStore, ReadDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
        .await
        .unwrap();
    let db = ReadDb::open_sqlite(&dir.path().join("read.db"))
        .await
        .unwrap();
    (Arc::new(store), db, dir)
}

async fn postgres() -> Option<(SharedStore, ReadDb)> {
    let url = store::testing::postgres_test_database().await?;
    let store = store::PostgresStore::connect(&url, Default::default())
        .await
        .unwrap();
    let db = ReadDb::connect_postgres(&url, 4).await.unwrap();
    Some((Arc::new(store), db))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_run_when_a_checkpoint_is_past_the_end_of_the_log() {
    let (store, db, dir) = sqlite().await;
    user_with_history(&store, 3).await;
    let mut runner = Runner::new(db.clone(), store, projections::all(), 100)
        .await
        .unwrap();
    assert_eq!(runner.drain().await.unwrap(), 4);
    // The same read models against a log that lost its events.
    let empty: SharedStore = Arc::new(
        store::SqliteStore::open(&dir.path().join("other.db"), Default::default())
            .await
            .unwrap(),
    );
    let err = Runner::new(db, empty, projections::all(), 100)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AheadOfLog { .. }), "{err}");
}

/// Two API nodes share one read database. A runner that starts late must not
/// re-apply old events over newer rows nor move a checkpoint back.
async fn a_late_runner_never_moves_a_shared_read_model_back(store: SharedStore, db: ReadDb) {
    let id = user_with_history(&store, 6).await;
    let mut ahead = Runner::new(db.clone(), store.clone(), projections::all(), 100)
        .await
        .unwrap();
    let mut late = Runner::new(db.clone(), store.clone(), projections::all(), 2)
        .await
        .unwrap();
    ahead.drain().await.unwrap();
    let bio = || async { queries::user_by_id(&db, id).await.unwrap().unwrap().bio };
    assert_eq!(bio().await, "v6");
    // The late runner's first batch is the registration and "v1".
    assert!(matches!(late.step().await.unwrap(), Step::Processed(2)));
    assert_eq!(
        bio().await,
        "v6",
        "an old event was applied over a newer row"
    );
    let head = store.head().await.unwrap();
    let stored: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT name, tx, seq FROM projection_checkpoints")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (name, tx, seq) in stored {
        assert_eq!(
            store::Cursor {
                tx: tx as u64,
                seq: seq as u64
            },
            head,
            "checkpoint of {name} moved"
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_runner_never_moves_a_shared_read_model_back_on_sqlite() {
    let (store, db, _dir) = sqlite().await;
    a_late_runner_never_moves_a_shared_read_model_back(store, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_runner_never_moves_a_shared_read_model_back_on_postgres() {
    let Some((store, db)) = postgres().await else {
        return;
    };
    a_late_runner_never_moves_a_shared_read_model_back(store, db).await;
}
