//! The event store contract on SQLite.

use std::sync::Arc;

use store::SharedStore;
use store::sqlite::{SqliteOptions, SqliteStore};

async fn fresh() -> Option<SharedStore> {
    // The directory must outlive the test; the OS cleans the temp dir.
    let dir = tempfile::tempdir().unwrap().keep();
    let store = SqliteStore::open(&dir.join("events.db"), SqliteOptions::default())
        .await
        .unwrap();
    Some(Arc::new(store))
}

store::contract_tests!(fresh());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_reader_never_skips_or_duplicates_under_concurrent_writers() {
    let store = fresh().await.unwrap();
    store::testing::a_catch_up_reader_never_skips_or_duplicates_under_concurrent_writers(
        store, 8, 200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store: SharedStore = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    store
        .append(
            "s-1",
            store::ExpectedVersion::NoStream,
            vec![store::testing::event("T", 1)],
        )
        .await
        .unwrap();
    drop(store);
    let store: SharedStore = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(store.read_stream("s-1", 1).await.unwrap().len(), 1);
    let err = store
        .append(
            "s-1",
            store::ExpectedVersion::NoStream,
            vec![store::testing::event("T", 2)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, store::Error::Conflict { actual: 1, .. }));
}
