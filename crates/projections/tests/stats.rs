//! Rankings, leaderboard, profiles, problem stats and analytics, fed with
//! real events through the event store and the runner, on SQLite and
//! PostgreSQL. Times are set in the events, so day boundaries and tie-breaks
//! are exact.

mod common;

use common::{Db, date, dump_tables, on_both, reapply, rebuild, setup, t};
use domain::problem::Difficulty;
use domain::submission::VerdictKind;
use projections::{ReadDb, analytics, leaderboard, problem_stats, profiles, ranking};

async fn ranking_orders_best_runs_and_computes_percentiles(db: Db) {
    let (log, read, mut runner) = setup(&db, 7).await;
    let p = log.problem(Difficulty::Easy).await;
    let [ada, bob, cy, dee] = log.users(["ada", "bob", "cy", "dee"]).await;
    // ada: 20 ms first, then a better 10 ms run whose verdict comes later
    // than a worse third one's.
    log.solve(ada, p, t(0, 9, 0), 20, 9000).await;
    let better = log.submit(ada, p, t(0, 9, 5)).await;
    log.solve(ada, p, t(0, 9, 10), 40, 8000).await;
    log.judge(&better, VerdictKind::Accepted, 10, 9500).await;
    // bob and cy tie with ada on runtime; memory, then time, decide.
    log.solve(bob, p, t(0, 8, 0), 10, 9500).await;
    let cy_run = log.solve(cy, p, t(0, 7, 0), 10, 9400).await;
    // dee fails: never ranked, not in the distributions.
    let failed = log.submit(dee, p, t(0, 6, 0)).await;
    log.judge(&failed, VerdictKind::WrongAnswer, 5, 100).await;
    runner.drain().await.unwrap();

    let page = ranking::problem_ranking(&read, p, 10, None)
        .await
        .unwrap()
        .unwrap();
    let order: Vec<_> = page
        .entries
        .iter()
        .map(|e| (e.rank, e.username.as_str(), e.runtime_ms, e.memory_kb))
        .collect();
    assert_eq!(
        order,
        vec![
            (1, "cy", 10, 9400),
            (2, "bob", 10, 9500),
            (3, "ada", 10, 9500)
        ],
        "runtime, then memory, then submission time (bob at 08:00 before ada at 09:05)"
    );
    assert_eq!(page.entries[0].submission_id, cy_run.id);
    assert_eq!(page.entries[2].submitted_at, t(0, 9, 5));
    assert!(!page.has_next_page);

    // Pages continue after a cursor, with global ranks.
    let first = ranking::problem_ranking(&read, p, 2, None)
        .await
        .unwrap()
        .unwrap();
    assert!(first.has_next_page);
    let rest = ranking::problem_ranking(&read, p, 2, Some(&first.entries[1].cursor))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.entries.len(), 1);
    assert_eq!(
        (rest.entries[0].rank, rest.entries[0].username.as_str()),
        (3, "ada")
    );
    assert!(!rest.has_next_page);
    assert!(
        ranking::problem_ranking(&read, p, 2, Some("nonsense"))
            .await
            .unwrap()
            .is_err()
    );

    // Accepted runtimes: 20, 40, 10, 10, 10 (five submissions, ada's three
    // included). A 10 ms run is faster than the two slower ones: 2/5.
    let at_10 = ranking::percentiles(&read, p, 10, 9500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((at_10.runtime, at_10.memory), (40.0, 0.0));
    // Memory: 9000, 8000, 9500, 9500, 9400; 9000 is below 3 of 5.
    let at_9000 = ranking::percentiles(&read, p, 20, 9000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((at_9000.runtime, at_9000.memory), (20.0, 60.0));
    let slowest = ranking::percentiles(&read, p, 40, 8000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((slowest.runtime, slowest.memory), (0.0, 80.0));
    let other = log.problem(Difficulty::Hard).await;
    runner.drain().await.unwrap();
    assert_eq!(
        ranking::percentiles(&read, other, 10, 10).await.unwrap(),
        None
    );

    let (runtime, memory) = ranking::distributions(&read, p).await.unwrap();
    assert_eq!(
        (runtime.count(), runtime.min(), runtime.max()),
        (5, Some(10), Some(40))
    );
    assert_eq!(runtime.percentile(50.0), Some(10));
    assert_eq!(
        (memory.count(), memory.min(), memory.max()),
        (5, Some(8000), Some(9500))
    );
}

async fn leaderboard_weighs_difficulty_and_breaks_ties_by_who_got_there_first(db: Db) {
    let (log, read, mut runner) = setup(&db, 7).await;
    let easy = log.problem(Difficulty::Easy).await;
    let medium = log.problem(Difficulty::Medium).await;
    let hard = log.problem(Difficulty::Hard).await;
    let [ada, bob, cy, dee] = log.users(["ada", "bob", "cy", "dee"]).await;
    // ada: hard (3) reached on day 0 at 12:00.
    log.solve(ada, hard, t(0, 12, 0), 50, 1).await;
    // bob: easy + medium = 3, reached on day 0 at 11:00: ahead of ada.
    log.solve(bob, easy, t(0, 10, 0), 50, 1).await;
    log.solve(bob, medium, t(0, 11, 0), 50, 1).await;
    // bob solves easy again later: no change to the score or when it was reached.
    log.solve(bob, easy, t(1, 10, 0), 40, 1).await;
    // cy: medium + easy = 3, the easy one submitted first but judged last;
    // reached at 13:00 whatever order the verdicts came in.
    let cy_easy = log.submit(cy, easy, t(0, 9, 0)).await;
    log.solve(cy, medium, t(0, 13, 0), 50, 1).await;
    log.judge(&cy_easy, VerdictKind::Accepted, 50, 1).await;
    // dee: only failures and a judge failure: not on the board.
    let s = log.submit(dee, hard, t(0, 8, 0)).await;
    log.judge(&s, VerdictKind::TimeLimitExceeded, 2000, 1).await;
    runner.drain().await.unwrap();

    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    let rows: Vec<_> = board
        .entries
        .iter()
        .map(|e| (e.rank, e.username.as_str(), e.score, e.solved, e.reached_at))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "bob", 3, 2, t(0, 11, 0)),
            (2, "ada", 3, 1, t(0, 12, 0)),
            (3, "cy", 3, 2, t(0, 13, 0)),
        ]
    );
    let bob_row = &board.entries[0];
    assert_eq!((bob_row.easy, bob_row.medium, bob_row.hard), (1, 1, 0));
    let cy_standing = leaderboard::standing(&read, cy).await.unwrap().unwrap();
    assert_eq!((cy_standing.rank, cy_standing.score), (3, 3));
    assert_eq!(leaderboard::standing(&read, dee).await.unwrap(), None);

    // Paging: the second page starts at rank 2.
    let first = leaderboard::leaderboard(&read, 1, None)
        .await
        .unwrap()
        .unwrap();
    let next = leaderboard::leaderboard(&read, 5, Some(&first.entries[0].cursor))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next.entries.iter().map(|e| e.rank).collect::<Vec<_>>(),
        vec![2, 3]
    );

    // Making the easy problem hard rescores its solvers: bob and cy now 5,
    // bob first (11:00 before 13:00); ada stays at 3.
    log.edit(easy, Difficulty::Hard, 2).await;
    runner.drain().await.unwrap();
    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    let rows: Vec<_> = board
        .entries
        .iter()
        .map(|e| (e.username.as_str(), e.score, e.hard))
        .collect();
    assert_eq!(rows, vec![("bob", 5, 1), ("cy", 5, 1), ("ada", 3, 1)]);
}

async fn profiles_count_streaks_across_utc_days(db: Db) {
    let (log, read, mut runner) = setup(&db, 7).await;
    let p = log.problem(Difficulty::Easy).await;
    let q = log.problem(Difficulty::Medium).await;
    let ada = log.user("ada").await;
    // Day 0 at 23:59 and day 1 at 00:01 are two days, two minutes apart.
    log.solve(ada, p, t(0, 23, 59), 10, 1).await;
    log.solve(ada, p, t(1, 0, 1), 10, 1).await;
    // Day 2: a wrong answer only; the streak breaks.
    let wrong = log.submit(ada, q, t(2, 10, 0)).await;
    log.judge(&wrong, VerdictKind::WrongAnswer, 10, 1).await;
    // Days 3, 4, 5 accepted: the longest run; day 5 also has a judge failure
    // and a submission still queued.
    for d in 3..=5 {
        log.solve(ada, q, t(d, 12, 0), 10, 1).await;
    }
    let broken = log.submit(ada, q, t(5, 13, 0)).await;
    log.judge(&broken, VerdictKind::InternalError, 0, 0).await;
    let queued = log.submit(ada, q, t(5, 14, 0)).await;
    runner.drain().await.unwrap();

    // Submissions: 2 + 1 + 3 + 2 = 8; judged without the judge failure and
    // the queued one: 6; accepted: 5.
    let stats = profiles::stats(&read, ada).await.unwrap();
    assert_eq!((stats.submissions, stats.judged, stats.accepted), (8, 6, 5));
    assert!((stats.acceptance_rate().unwrap() - 100.0 * 5.0 / 6.0).abs() < 1e-9);

    let days = profiles::activity(&read, ada, date(0), date(10))
        .await
        .unwrap();
    let heat: Vec<_> = days
        .iter()
        .map(|d| (d.date, d.submissions, d.accepted))
        .collect();
    assert_eq!(
        heat,
        vec![
            (date(0), 1, 1),
            (date(1), 1, 1),
            (date(2), 1, 0),
            (date(3), 1, 1),
            (date(4), 1, 1),
            (date(5), 3, 1),
        ]
    );
    // As of day 5 or 6 the 3-day run is current; as of day 7 it is over.
    let s = profiles::streaks(&read, ada, date(6)).await.unwrap();
    assert_eq!((s.current, s.longest), (3, 3));
    assert_eq!(
        profiles::streaks(&read, ada, date(7))
            .await
            .unwrap()
            .current,
        0
    );
    // As of day 1 only the first two days count.
    let s = profiles::streaks(&read, ada, date(1)).await.unwrap();
    assert_eq!((s.current, s.longest), (2, 2));

    let recent = profiles::recent(&read, ada, 3).await.unwrap();
    assert_eq!(recent[0].submission_id, queued.id);
    assert_eq!(recent[0].verdict, None);
    assert_eq!(recent[1].submission_id, broken.id);
    assert_eq!(recent[1].verdict, Some(VerdictKind::InternalError));
    assert_eq!(recent.len(), 3);

    let standing = leaderboard::standing(&read, ada).await.unwrap().unwrap();
    assert_eq!((standing.easy, standing.medium, standing.score), (1, 1, 3));
}

async fn problem_stats_and_analytics_count_what_happened(db: Db) {
    let (log, read, mut runner) = setup(&db, 7).await;
    let p = log.problem(Difficulty::Easy).await;
    let [ada, bob, cy] = log.users(["ada", "bob", "cy"]).await;
    let s = log.submit(ada, p, t(0, 9, 0)).await;
    log.judge(&s, VerdictKind::WrongAnswer, 10, 1).await;
    log.solve(ada, p, t(0, 10, 0), 12, 100).await;
    log.solve(ada, p, t(1, 10, 0), 14, 100).await;
    let s = log.submit(bob, p, t(1, 11, 0)).await;
    log.judge(&s, VerdictKind::RuntimeError, 10, 1).await;
    let s = log.submit(bob, p, t(1, 12, 0)).await;
    log.judge(&s, VerdictKind::InternalError, 0, 0).await;
    log.playground(cy, t(1, 8, 0), None).await;
    log.playground(cy, t(1, 9, 0), Some("cpu")).await;
    log.playground(ada, t(2, 9, 0), Some("cpu")).await;
    runner.drain().await.unwrap();

    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!(
        (c.submissions, c.judged, c.accepted, c.attempters, c.solvers),
        (5, 4, 2, 2, 1)
    );
    assert_eq!(c.acceptance_rate(), Some(50.0));
    assert_eq!(
        c.verdicts,
        vec![
            (VerdictKind::Accepted, 2),
            (VerdictKind::InternalError, 1),
            (VerdictKind::RuntimeError, 1),
            (VerdictKind::WrongAnswer, 1),
        ]
    );

    let days = analytics::days(&read, date(-1), date(2)).await.unwrap();
    let rows: Vec<_> = days
        .iter()
        .map(|d| {
            (
                d.date,
                d.submissions,
                d.judged,
                d.accepted,
                d.active_users,
                d.playground_runs,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(-1), 0, 0, 0, 0, 0),
            (date(0), 2, 2, 1, 1, 0),
            (date(1), 3, 2, 1, 3, 2),
            (date(2), 0, 0, 0, 1, 1),
        ]
    );
    assert_eq!(
        analytics::active_users(&read, date(0), date(2))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        analytics::active_users(&read, date(2), date(2))
            .await
            .unwrap(),
        1
    );
    let mix = analytics::verdict_mix(&read, date(1), date(1))
        .await
        .unwrap();
    assert_eq!(
        mix,
        vec![
            (VerdictKind::Accepted, 1),
            (VerdictKind::InternalError, 1),
            (VerdictKind::RuntimeError, 1),
        ]
    );
    let pg = analytics::playground(&read, date(0), date(2))
        .await
        .unwrap();
    assert_eq!((pg.runs, pg.users), (3, 2));
    assert_eq!(pg.mean_cpu_ms, Some(30.0));
    assert_eq!(pg.limits_hit, vec![("cpu".to_string(), 2)]);
}

/// Every row of every table the new projections own, sorted.
async fn dump(db: &ReadDb) -> common::Dump {
    let tables = [
        "ranking_submissions",
        "ranking_best",
        "ranking_runtimes",
        "ranking_memory",
        "leaderboard_problems",
        "leaderboard_submissions",
        "leaderboard_solves",
        "leaderboard",
        "profile_submissions",
        "profile_stats",
        "profile_days",
        "problem_stats_submissions",
        "problem_stats",
        "problem_stats_users",
        "problem_stats_verdicts",
        "analytics_submissions",
        "analytics_days",
        "analytics_day_users",
        "analytics_day_verdicts",
        "analytics_playground_runs",
    ];
    dump_tables(db, &tables).await
}

/// Applying the whole log again over the same rows changes nothing, and a
/// rebuild into an empty database equals the live read models.
async fn reapplying_or_rebuilding_gives_the_same_read_models(db: Db) {
    let (log, read, mut runner) = setup(&db, 7).await;
    let p = log.problem(Difficulty::Medium).await;
    let q = log.problem(Difficulty::Hard).await;
    let [ada, bob] = log.users(["ada", "bob"]).await;
    for (i, (user, problem, kind)) in [
        (ada, p, VerdictKind::Accepted),
        (bob, p, VerdictKind::WrongAnswer),
        (bob, p, VerdictKind::Accepted),
        (ada, q, VerdictKind::InternalError),
        (ada, q, VerdictKind::Accepted),
        (bob, q, VerdictKind::TimeLimitExceeded),
    ]
    .into_iter()
    .enumerate()
    {
        let s = log
            .submit(user, problem, t(i as i64 / 2, 10, i as u32))
            .await;
        log.judge(&s, kind, 10 + i as u32, 1000 + i as u64).await;
        if i == 2 {
            // Live projection part-way, so batches split differently.
            runner.drain().await.unwrap();
        }
    }
    log.playground(ada, t(0, 1, 0), Some("memory")).await;
    log.edit(p, Difficulty::Easy, 2).await;
    let _queued = log.submit(bob, q, t(3, 1, 0)).await;
    runner.drain().await.unwrap();
    let live = dump(&read).await;
    assert!(
        live.iter().all(|(_, rows)| !rows.is_empty()),
        "every table has rows: {live:?}"
    );

    // Re-run every projection from checkpoint 0 over the same rows.
    assert!(reapply(&read, &log.store, projections::all(), 3).await > 0);
    assert_eq!(
        dump(&read).await,
        live,
        "re-applying events changed the read models"
    );

    // Rebuild from the log into an empty database, in one large batch.
    let rebuilt = rebuild(&db, "rebuilt", &log.store, projections::all(), 1000).await;
    assert_eq!(
        dump(&rebuilt).await,
        live,
        "a rebuild differs from the live read models"
    );
}

on_both!(
    ranking_orders_best_runs_and_computes_percentiles,
    leaderboard_weighs_difficulty_and_breaks_ties_by_who_got_there_first,
    profiles_count_streaks_across_utc_days,
    problem_stats_and_analytics_count_what_happened,
    reapplying_or_rebuilding_gives_the_same_read_models,
);
