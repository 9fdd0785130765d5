//! `replay`: a rebuilt projection equals the live one, row for row, on
//! SQLite and PostgreSQL; a swap while events keep coming and the live runner
//! keeps running loses nothing; a snapshot `--until` a position equals the
//! live models as they were then.

mod common;

use std::time::Duration;

use common::{Db, Dump, FED, Log, assert_checkpoints_at, dump, on_both, rebuild, t};
use domain::problem::Difficulty;
use domain::submission::VerdictKind;
use domain::{ProblemId, UserId};
use projections::replay::{self, Until};
use projections::{ReadDb, Runner};
use store::SharedStore;

/// `n` rounds of varied activity by `users` on `problems`.
async fn activity(log: &Log, users: &[UserId], problems: &[ProblemId], n: u32) {
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::TimeLimitExceeded,
        VerdictKind::Accepted,
        VerdictKind::InternalError,
    ];
    for i in 0..n {
        let (user, problem) = (
            users[i as usize % users.len()],
            problems[(i as usize / 2) % problems.len()],
        );
        let s = log.submit(user, problem, t(i as i64 % 5, i % 24, 0)).await;
        if i % 6 != 5 {
            let kind = kinds[i as usize % kinds.len()];
            log.judge(&s, kind, 10 + i % 7, 1000 + u64::from(i % 5))
                .await;
        }
        if i % 4 == 0 {
            let limit = (i % 8 == 0).then_some("cpu");
            log.playground(user, t(i as i64 % 3, 1, 0), limit).await;
        }
    }
}

/// The whole log, through every projection, into an empty database.
async fn full_rebuild(db: &Db, store: &SharedStore) -> Dump {
    let fresh = rebuild(db, "rebuilt", store, projections::all(), 500).await;
    dump(&fresh, &[]).await
}

async fn a_log(db: &Db) -> (Log, Vec<UserId>, Vec<ProblemId>) {
    let log = Log::new(db.store().await);
    let users = log.users(["ada", "bob", "cy"]).await.to_vec();
    let problems = vec![
        log.problem(Difficulty::Easy).await,
        log.problem(Difficulty::Medium).await,
        log.problem(Difficulty::Hard).await,
    ];
    activity(&log, &users, &problems, 40).await;
    (log, users, problems)
}

async fn replay_rebuilds_projections_equal_to_the_live_ones(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live_at = db.live();
    let live = live_at.open().await.unwrap();
    let mut runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 7)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    let expected = dump(&live, &[]).await;
    // This log feeds the eight projections below; others (forum, tutor,
    // rejudge runs) stay empty here.
    let fed: Vec<String> = dump(&live, &FED)
        .await
        .into_iter()
        .map(|(table, _)| table)
        .collect();
    let empty: Vec<&String> = expected
        .iter()
        .filter(|(table, rows)| fed.contains(table) && rows.is_empty())
        .map(|(table, _)| table)
        .collect();
    assert!(empty.is_empty(), "tables without rows: {empty:?}");

    // Damage the live rows, so only a real swap can bring them back.
    for table in ["leaderboard", "users", "analytics_days", "profile_stats"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&live.pool)
            .await
            .unwrap();
    }
    let all = replay::select(&[]).unwrap();
    let mut seen = 0;
    let done = replay::replay(&live_at, &log.store, &all, &mut |d, _| seen = d)
        .await
        .unwrap();
    let head = log.store.head().await.unwrap();
    assert_eq!((done.end, done.events, seen), (head, seen, seen));
    assert!(done.events > 50, "{done:?}");
    assert_eq!(dump(&live, &[]).await, expected, "a full replay differs");
    assert_checkpoints_at(&live, head).await;

    // One projection alone: only its tables are replaced.
    sqlx::query("DELETE FROM leaderboard_solves")
        .execute(&live.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM profile_days")
        .execute(&live.pool)
        .await
        .unwrap();
    let one = replay::select(&["leaderboard".into()]).unwrap();
    replay::replay(&live_at, &log.store, &one, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        dump(&live, &["leaderboard"]).await,
        expected
            .iter()
            .filter(|(t, _)| t.starts_with("leaderboard"))
            .cloned()
            .collect::<Dump>(),
        "the replayed leaderboard differs"
    );
    let profile_days = dump(&live, &["profiles"]).await;
    assert!(
        profile_days
            .iter()
            .any(|(t, rows)| t == "profile_days" && rows.is_empty()),
        "a replay of the leaderboard touched profiles"
    );

    // The live runner carries on from the swapped checkpoints: nothing
    // applied twice, nothing missed.
    activity(&log, &users, &problems, 12).await;
    runner.drain().await.unwrap();
    sqlx::query("DELETE FROM profile_days")
        .execute(&live.pool)
        .await
        .unwrap();
    replay::replay(
        &live_at,
        &log.store,
        &replay::select(&["profiles".into()]).unwrap(),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(dump(&live, &[]).await, full_rebuild(&db, &log.store).await);
}

async fn a_replay_while_events_keep_coming_loses_nothing(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live_at = db.live();
    let live = live_at.open().await.unwrap();
    let runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 5)
        .await
        .unwrap();
    let progress = runner.progress();
    let running = tokio::spawn(runner.run());
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn({
        let log = log.clone();
        let (users, problems) = (users.clone(), problems.clone());
        async move {
            let mut rounds = 0;
            while stop.try_recv().is_err() {
                activity(&log, &users, &problems, 3).await;
                rounds += 1;
            }
            rounds
        }
    });
    // Replays of everything and of one projection, while both run.
    let all = replay::select(&[]).unwrap();
    let first = replay::replay(&live_at, &log.store, &all, &mut |_, _| {})
        .await
        .unwrap();
    let ranking = replay::select(&["ranking".into()]).unwrap();
    replay::replay(&live_at, &log.store, &ranking, &mut |_, _| {})
        .await
        .unwrap();
    stop_tx.send(()).unwrap();
    let rounds = writer.await.unwrap();
    assert!(rounds > 0, "the writer appended during the replays");
    let head = log.store.head().await.unwrap();
    assert!(
        head > first.end,
        "events were appended after the first swap"
    );
    assert!(progress.wait_for(head, Duration::from_secs(30)).await);
    running.abort();
    assert_eq!(
        dump(&live, &[]).await,
        full_rebuild(&db, &log.store).await,
        "live after swaps differs from a full rebuild"
    );
}

async fn a_snapshot_until_a_position_equals_the_live_models_then(db: Db) {
    let (log, users, problems) = a_log(&db).await;
    let live = db.live().open().await.unwrap();
    let mut runner = Runner::new(live.clone(), log.store.clone(), projections::all(), 9)
        .await
        .unwrap();
    runner.drain().await.unwrap();
    let then = dump(&live, &[]).await;
    let position = log.store.head().await.unwrap();
    activity(&log, &users, &problems, 10).await;

    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("then.db");
    let all = replay::select(&[]).unwrap();
    let built = replay::snapshot(
        &output,
        &log.store,
        &all,
        Until::Position(position),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(built.end, position);
    let snapshot = ReadDb::open_sqlite(&output).await.unwrap();
    assert_eq!(dump(&snapshot, &[]).await, then);
    snapshot.pool.close().await;

    // Never over an existing file.
    let again = replay::snapshot(
        &output,
        &log.store,
        &all,
        Until::Position(position),
        &mut |_, _| {},
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), "OUTPUT_EXISTS");
}

on_both!(
    replay_rebuilds_projections_equal_to_the_live_ones,
    a_replay_while_events_keep_coming_loses_nothing,
    a_snapshot_until_a_position_equals_the_live_models_then,
);
