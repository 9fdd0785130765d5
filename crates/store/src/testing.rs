//! The contract every [`EventStore`](crate::EventStore) backend must meet, and
//! helpers for tests that need a real database.
//!
//! Backends run the suite with [`contract_tests!`](crate::contract_tests),
//! giving it an async expression that makes a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::{AppendRequest, Cursor, Error, ExpectedVersion, NewEvent, SharedStore, subscribe};

/// A fresh PostgreSQL database for one test, or `None` when no server is
/// configured. Set `PYDOJO_TEST_DATABASE_URL` to a URL whose user may create
/// databases. Under `CI=true` a missing server is a failure, never a skip.
pub async fn postgres_test_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("PYDOJO_TEST_DATABASE_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but PYDOJO_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
            );
        }
        eprintln!("skipping: set PYDOJO_TEST_DATABASE_URL to run PostgreSQL tests");
        return None;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PYDOJO_TEST_DATABASE_URL: {e}"));
    let name = format!("pydojo_test_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL ends in /dbname");
    Some(format!("{base}/{name}"))
}

pub fn event(kind: &str, n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: kind.to_string(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: json!({}),
    }
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n).map(|i| event("Tested", i)).collect()
}

fn stream() -> String {
    format!("test-{}", Uuid::now_v7().simple())
}

pub async fn appends_and_reads_back_a_stream(store: SharedStore) {
    let s = stream();
    let batch = events(3);
    let appended = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(appended.stream_version, 3);
    let read = store.read_stream(&s, 1).await.unwrap();
    assert_eq!(read.len(), 3);
    for (i, (r, e)) in read.iter().zip(&batch).enumerate() {
        assert_eq!(
            (r.version, r.event_id, &r.data, &r.stream),
            (i as u64 + 1, e.event_id, &e.data, &s)
        );
    }
    assert_eq!(read[2].cursor, appended.last);
    let tail = store.read_stream(&s, 3).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert!(store.read_stream(&stream(), 1).await.unwrap().is_empty());
}

pub async fn rejects_a_stale_expected_version_with_a_typed_conflict(store: SharedStore) {
    let s = stream();
    store
        .append(&s, ExpectedVersion::NoStream, events(2))
        .await
        .unwrap();
    let err = store
        .append(&s, ExpectedVersion::Exact(1), events(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                actual: 2,
                expected: ExpectedVersion::Exact(1),
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .append(&s, ExpectedVersion::NoStream, events(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { actual: 2, .. }), "{err:?}");
    let err = store
        .append(&stream(), ExpectedVersion::Exact(4), events(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { actual: 0, .. }), "{err:?}");
    store
        .append(&s, ExpectedVersion::Exact(2), events(1))
        .await
        .unwrap();
    store
        .append(&s, ExpectedVersion::Any, events(1))
        .await
        .unwrap();
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 4);
}

pub async fn a_retried_append_is_not_a_duplicate(store: SharedStore) {
    let s = stream();
    let batch = events(2);
    let first = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    let again = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(first, again);
    let again_any = store
        .append(&s, ExpectedVersion::Any, batch.clone())
        .await
        .unwrap();
    assert_eq!(first, again_any);
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 2);
    // The same id in another stream is a caller bug, not a retry.
    let err = store
        .append(&stream(), ExpectedVersion::Any, vec![batch[0].clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::DuplicateEventId(id) if id == batch[0].event_id),
        "{err:?}"
    );
}

pub async fn a_multi_stream_append_is_all_or_nothing(store: SharedStore) {
    let (a, b, taken) = (stream(), stream(), stream());
    store
        .append(&taken, ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    let err = store
        .append_many(vec![
            AppendRequest {
                stream: a.clone(),
                expected: ExpectedVersion::NoStream,
                events: events(1),
            },
            AppendRequest {
                stream: taken.clone(),
                expected: ExpectedVersion::NoStream,
                events: events(1),
            },
            AppendRequest {
                stream: b.clone(),
                expected: ExpectedVersion::NoStream,
                events: events(1),
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { stream, .. } if *stream == taken),
        "{err:?}"
    );
    assert!(
        store.read_stream(&a, 1).await.unwrap().is_empty(),
        "nothing half-written"
    );
    assert!(
        store.read_stream(&b, 1).await.unwrap().is_empty(),
        "nothing half-written"
    );
    let ok = store
        .append_many(vec![
            AppendRequest {
                stream: a.clone(),
                expected: ExpectedVersion::NoStream,
                events: events(1),
            },
            AppendRequest {
                stream: b.clone(),
                expected: ExpectedVersion::NoStream,
                events: events(2),
            },
        ])
        .await
        .unwrap();
    assert_eq!(ok.stream_version, 2);
    assert_eq!(store.read_stream(&a, 1).await.unwrap().len(), 1);
}

pub async fn rejects_malformed_appends(store: SharedStore) {
    assert!(matches!(
        store.append_many(vec![]).await,
        Err(Error::InvalidAppend(_))
    ));
    assert!(matches!(
        store.append(&stream(), ExpectedVersion::Any, vec![]).await,
        Err(Error::InvalidAppend(_))
    ));
    assert!(matches!(
        store.append("", ExpectedVersion::Any, events(1)).await,
        Err(Error::InvalidAppend(_))
    ));
    let s = stream();
    let twice = vec![
        AppendRequest {
            stream: s.clone(),
            expected: ExpectedVersion::Any,
            events: events(1),
        },
        AppendRequest {
            stream: s.clone(),
            expected: ExpectedVersion::Any,
            events: events(1),
        },
    ];
    assert!(matches!(
        store.append_many(twice).await,
        Err(Error::InvalidAppend(_))
    ));
    assert!(store.read_stream(&s, 1).await.unwrap().is_empty());
}

pub async fn reads_the_whole_log_in_order_from_any_cursor(store: SharedStore) {
    let (a, b) = (stream(), stream());
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = if i % 2 == 0 { &a } else { &b };
        let e = events(2);
        ids.extend(e.iter().map(|e| e.event_id));
        store.append(s, ExpectedVersion::Any, e).await.unwrap();
    }
    let all = store.read_all(Cursor::START, 1000).await.unwrap();
    let ours: Vec<_> = all
        .iter()
        .filter(|e| e.stream == a || e.stream == b)
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        ours, ids,
        "log order is append order for sequential appends"
    );
    assert!(
        all.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "cursors strictly increase"
    );
    // Paging from each cursor gives the rest.
    let page = store.read_all(Cursor::START, 3).await.unwrap();
    assert_eq!(page.len(), 3);
    let rest = store.read_all(page[2].cursor, 1000).await.unwrap();
    assert_eq!(rest.len(), all.len() - 3);
    assert_eq!(rest[0].event_id, all[3].event_id);
    assert!(
        store
            .read_all(all.last().unwrap().cursor, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_large_batch_lands_whole_and_in_order(store: SharedStore) {
    let s = stream();
    let batch = events(1234);
    let appended = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(appended.stream_version, 1234);
    let read = store.read_stream(&s, 1).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        batch.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(read.last().unwrap().cursor, appended.last);
    assert!(
        read.windows(2)
            .all(|w| w[0].cursor < w[1].cursor && w[0].version + 1 == w[1].version)
    );
    assert_eq!(store.head().await.unwrap(), appended.last);
    // A retry of the whole batch is still not a duplicate.
    assert_eq!(
        store
            .append(&s, ExpectedVersion::NoStream, batch)
            .await
            .unwrap(),
        appended
    );
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 1234);
}

pub async fn head_is_the_newest_event(store: SharedStore) {
    let before = store.head().await.unwrap();
    let appended = store
        .append(&stream(), ExpectedVersion::Any, events(3))
        .await
        .unwrap();
    let head = store.head().await.unwrap();
    assert!(head > before);
    assert_eq!(head, appended.last);
}

pub async fn exactly_one_of_two_racing_writers_wins(store: SharedStore) {
    let s = stream();
    store
        .append(&s, ExpectedVersion::NoStream, events(1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, s) = (store.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            store.append(&s, ExpectedVersion::Exact(1), events(1)).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 2);
}

pub async fn a_subscriber_sees_events_appended_after_it_started(store: SharedStore) {
    let head = store
        .read_all(Cursor::START, usize::MAX >> 1)
        .await
        .unwrap()
        .last()
        .map_or(Cursor::START, |e| e.cursor);
    let mut sub = subscribe(store.clone(), head, 100);
    let s = stream();
    let writer = {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
                store
                    .append(&s, ExpectedVersion::Any, events(1))
                    .await
                    .unwrap();
            }
        })
    };
    let mut seen = 0;
    while seen < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(10), sub.next_batch())
            .await
            .expect("woken within 10 s")
            .unwrap();
        seen += batch.iter().filter(|e| e.stream == s).count();
    }
    writer.await.unwrap();
    assert_eq!(seen, 3);
}

/// `writers` tasks append concurrently (on PostgreSQL with transactions held
/// open for random short times, see `hold_open_for_tests`) while a catch-up
/// reader follows the log. The reader must see every event exactly once.
pub async fn a_catch_up_reader_never_skips_or_duplicates_under_concurrent_writers(
    store: SharedStore,
    writers: usize,
    per_writer: usize,
) {
    let start = store
        .read_all(Cursor::START, usize::MAX >> 1)
        .await
        .unwrap()
        .last()
        .map_or(Cursor::START, |e| e.cursor);
    let tag = Uuid::now_v7().simple().to_string();
    let reader = {
        let (store, tag) = (store.clone(), tag.clone());
        let expected = writers * per_writer;
        tokio::spawn(async move {
            let mut sub = subscribe(store, start, 7).with_poll_interval(Duration::from_millis(20));
            let mut seen = Vec::new();
            let mut last = start;
            while seen.len() < expected {
                let batch = tokio::time::timeout(Duration::from_secs(30), sub.next_batch())
                    .await
                    .expect("reader stalled")
                    .unwrap();
                for e in batch {
                    assert!(e.cursor > last, "cursor went backwards");
                    last = e.cursor;
                    if e.stream.starts_with(&tag) {
                        seen.push(e.event_id);
                    }
                }
            }
            seen
        })
    };
    let mut tasks = Vec::new();
    let appended = Arc::new(std::sync::Mutex::new(Vec::new()));
    for w in 0..writers {
        let (store, tag, appended) = (store.clone(), tag.clone(), appended.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let e = event("Raced", i);
                let id = e.event_id;
                store
                    .append(
                        &format!("{tag}-{w}-{}", i % 3),
                        ExpectedVersion::Any,
                        vec![e],
                    )
                    .await
                    .unwrap();
                appended.lock().unwrap().push(id);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("reader finished")
        .unwrap();
    let unique: HashSet<_> = seen.iter().collect();
    let written: HashSet<_> = appended
        .lock()
        .unwrap()
        .iter()
        .copied()
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let duplicated = seen.len() - unique.len();
    let skipped = written.iter().filter(|id| !unique.contains(id)).count();
    eprintln!(
        "catch-up reader on {}: {} written, {} read, {skipped} skipped, {duplicated} duplicated",
        store.backend(),
        written.len(),
        seen.len()
    );
    assert_eq!((skipped, duplicated), (0, 0));
    // Nothing more arrives afterwards either.
    let after = store.read_all(start, usize::MAX >> 1).await.unwrap();
    assert_eq!(
        after.iter().filter(|e| e.stream.starts_with(&tag)).count(),
        writers * per_writer
    );
}

/// Generates one `#[tokio::test]` per contract case. `$make` is an async
/// expression giving `Option<SharedStore>` (`None` skips, outside CI).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@cases $make;
            appends_and_reads_back_a_stream,
            rejects_a_stale_expected_version_with_a_typed_conflict,
            a_retried_append_is_not_a_duplicate,
            a_multi_stream_append_is_all_or_nothing,
            rejects_malformed_appends,
            reads_the_whole_log_in_order_from_any_cursor,
            exactly_one_of_two_racing_writers_wins,
            a_large_batch_lands_whole_and_in_order,
            head_is_the_newest_event,
            a_subscriber_sees_events_appended_after_it_started,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(store) = $make.await {
                    $crate::testing::$case(store).await;
                }
            }
        )*
    };
}
