//! The event store contract on PostgreSQL (needs PYDOJO_TEST_DATABASE_URL).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use store::SharedStore;
use store::postgres::{PostgresOptions, PostgresStore};

async fn fresh_with(options: PostgresOptions) -> Option<(SharedStore, PostgresStore)> {
    let url = store::testing::postgres_test_database().await?;
    let store = PostgresStore::connect(&url, options).await.unwrap();
    Some((Arc::new(store.clone()), store))
}

store::contract_tests!(async { fresh_with(PostgresOptions::default()).await.map(|(s, _)| s) });

/// 8 writers hold their transactions open for random times up to 20 ms, so
/// sequence order and commit order disagree all the time. Beside the real
/// catch-up reader runs a naive `seq > checkpoint` poller, to show the hazard
/// is real here: it is expected to miss events, and the real reader must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_reader_never_skips_or_duplicates_under_concurrent_writers() {
    let options = PostgresOptions {
        max_connections: 20,
        hold_open_for_tests: Some(Duration::from_millis(20)),
    };
    let Some((store, pg)) = fresh_with(options).await else {
        return;
    };
    let pool = pg.pool().clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let naive = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut checkpoint, mut seen) = (0i64, HashSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rows: Vec<(i64, uuid::Uuid)> = sqlx::query_as(
                    "SELECT seq, event_id FROM events WHERE seq > $1 ORDER BY seq LIMIT 100",
                )
                .bind(checkpoint)
                .fetch_all(&pool)
                .await
                .unwrap();
                for (seq, id) in rows {
                    checkpoint = seq;
                    seen.insert(id);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let all: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM events")
                .fetch_all(&pool)
                .await
                .unwrap();
            all.iter().filter(|id| !seen.contains(id)).count()
        })
    };
    store::testing::a_catch_up_reader_never_skips_or_duplicates_under_concurrent_writers(
        store, 8, 60,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let naive_skipped = naive.await.unwrap();
    eprintln!("naive seq > checkpoint poller over the same writes: {naive_skipped} skipped");
}
