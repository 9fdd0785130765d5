//! Rejudges: a later verdict for a submission replaces the earlier one in
//! every read model; re-applying the log changes nothing; a rebuild, big
//! batches and event-by-event application all give the same tables. Also:
//! deactivated users are not listed on the leaderboard and rankings. On
//! SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Utc};
use common::{Db, FED, Log, date, dump, on_both, reapply, rebuild, setup, t};
use domain::problem::Difficulty;
use domain::submission::VerdictKind;
use domain::user::UserEvent;
use domain::{ProblemId, SubmissionId, UserId};
use projections::replay::{self, Until};
use projections::{
    ReadDb, Runner, analytics, leaderboard, problem_stats, profiles, queries, ranking,
};
use store::ExpectedVersion;

/// The live runners here apply the log in batches of one.
const EVENT_BY_EVENT: usize = 1;

async fn ranked(read: &ReadDb, p: ProblemId) -> Vec<(UserId, SubmissionId, i64)> {
    ranking::problem_ranking(read, p, 50, None)
        .await
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .map(|e| (e.user_id, e.submission_id, e.runtime_ms))
        .collect()
}

async fn score(read: &ReadDb, user: UserId) -> Option<(i64, i64, DateTime<Utc>)> {
    leaderboard::standing(read, user)
        .await
        .unwrap()
        .map(|s| (s.score, s.solved, s.reached_at))
}

async fn an_accepted_submission_rejudged_wrong_leaves_the_ranking_and_the_score(db: Db) {
    let (log, read, mut runner) = setup(&db, EVENT_BY_EVENT).await;
    let p = log.problem(Difficulty::Medium).await;
    let q = log.problem(Difficulty::Easy).await;
    let [ada, bob] = log.users(["ada", "bob"]).await;
    let ada_p = log.solve(ada, p, t(0, 9, 0), 10, 1000).await;
    let ada_q = log.solve(ada, q, t(1, 9, 0), 10, 1000).await;
    // bob's best is his first run; his second, slower one is accepted too.
    let bob_best = log.solve(bob, p, t(0, 8, 0), 20, 1000).await;
    let bob_next = log.solve(bob, p, t(2, 8, 0), 30, 1000).await;
    runner.drain().await.unwrap();

    assert_eq!(
        ranked(&read, p).await,
        vec![(ada, ada_p.id, 10), (bob, bob_best.id, 20)]
    );
    assert_eq!(score(&read, ada).await, Some((3, 2, t(1, 9, 0))));
    assert_eq!(score(&read, bob).await, Some((2, 1, t(0, 8, 0))));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!((c.judged, c.accepted, c.solvers), (3, 3, 2));
    let day0 = profiles::activity(&read, ada, date(0), date(0))
        .await
        .unwrap();
    assert_eq!((day0[0].submissions, day0[0].accepted), (1, 1));

    log.rejudge(&ada_p, VerdictKind::WrongAnswer, 10, 1000)
        .await;
    log.rejudge(&bob_best, VerdictKind::TimeLimitExceeded, 2000, 1000)
        .await;
    runner.drain().await.unwrap();

    // ada leaves p's ranking; bob's next accepted run ranks instead.
    assert_eq!(ranked(&read, p).await, vec![(bob, bob_next.id, 30)]);
    let (runtimes, memory) = ranking::distributions(&read, p).await.unwrap();
    assert_eq!((runtimes.count(), runtimes.min()), (1, Some(30)));
    assert_eq!(memory.count(), 1);
    assert!(!ranking::is_best(&read, p, bob_best.id).await.unwrap());
    // ada keeps only the easy problem; bob keeps p, reached with his next run.
    assert_eq!(score(&read, ada).await, Some((1, 1, t(1, 9, 0))));
    assert_eq!(score(&read, bob).await, Some((2, 1, t(2, 8, 0))));
    assert!(
        leaderboard::is_solve(&read, bob, p, bob_next.id)
            .await
            .unwrap()
    );
    let board: Vec<UserId> = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap()
        .entries
        .iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(board, vec![bob, ada], "bob (2) is now ahead of ada (1)");
    // Attempts stay; acceptance follows the current verdicts.
    let stats = profiles::stats(&read, ada).await.unwrap();
    assert_eq!((stats.submissions, stats.judged, stats.accepted), (2, 2, 1));
    let day0 = profiles::activity(&read, ada, date(0), date(0))
        .await
        .unwrap();
    assert_eq!((day0[0].submissions, day0[0].accepted), (1, 0));
    let streaks = profiles::streaks(&read, ada, date(1)).await.unwrap();
    assert_eq!((streaks.current, streaks.longest), (1, 1));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!(
        (c.submissions, c.judged, c.accepted, c.attempters, c.solvers),
        (3, 3, 1, 2, 1)
    );
    assert_eq!(
        c.verdicts,
        vec![
            (VerdictKind::Accepted, 1),
            (VerdictKind::TimeLimitExceeded, 1),
            (VerdictKind::WrongAnswer, 1),
        ]
    );
    let days = analytics::days(&read, date(0), date(0)).await.unwrap();
    assert_eq!(
        (days[0].submissions, days[0].judged, days[0].accepted),
        (2, 2, 0)
    );
    assert_eq!(
        analytics::verdict_mix(&read, date(0), date(0))
            .await
            .unwrap(),
        vec![
            (VerdictKind::TimeLimitExceeded, 1),
            (VerdictKind::WrongAnswer, 1)
        ]
    );
    let view = queries::submission_by_id(&read, ada_p.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.verdict.unwrap().kind, VerdictKind::WrongAnswer);
    assert_eq!((view.problem_version, view.judged_version), (1, Some(2)));

    // ada's last solve taken back: she leaves the board.
    log.rejudge(&ada_q, VerdictKind::RuntimeError, 10, 1000)
        .await;
    runner.drain().await.unwrap();
    assert_eq!(score(&read, ada).await, None);
    assert!(ranked(&read, q).await.is_empty());
    assert_eq!(problem_stats::counts(&read, q).await.unwrap().solvers, 0);
}

async fn a_wrong_submission_rejudged_accepted_enters_the_ranking_and_the_score(db: Db) {
    let (log, read, mut runner) = setup(&db, EVENT_BY_EVENT).await;
    let p = log.problem(Difficulty::Hard).await;
    let [ada, cy] = log.users(["ada", "cy"]).await;
    log.solve(ada, p, t(0, 9, 0), 20, 1000).await;
    let wrong = log.submit(cy, p, t(0, 8, 0)).await;
    log.judge(&wrong, VerdictKind::WrongAnswer, 5, 500).await;
    runner.drain().await.unwrap();
    assert_eq!(score(&read, cy).await, None);
    assert_eq!(
        ranking::percentiles(&read, p, 20, 1000)
            .await
            .unwrap()
            .unwrap()
            .runtime,
        0.0
    );

    log.rejudge(&wrong, VerdictKind::Accepted, 5, 500).await;
    runner.drain().await.unwrap();
    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![cy, ada]);
    assert_eq!(score(&read, cy).await, Some((3, 1, t(0, 8, 0))));
    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(board.entries[0].user_id, cy, "same score, reached first");
    let stats = profiles::stats(&read, cy).await.unwrap();
    assert_eq!((stats.judged, stats.accepted), (1, 1));
    let c = problem_stats::counts(&read, p).await.unwrap();
    assert_eq!((c.judged, c.accepted, c.solvers), (2, 2, 2));
    assert_eq!(c.verdicts, vec![(VerdictKind::Accepted, 2)]);
    // The 20 ms run is now slower than nothing, the 5 ms one faster than half.
    let at_5 = ranking::percentiles(&read, p, 5, 500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_5.runtime, 50.0);
    let s = profiles::streaks(&read, cy, date(0)).await.unwrap();
    assert_eq!(s.current, 1);
}

async fn deactivated_users_leave_the_leaderboard_and_rankings_until_reactivated(db: Db) {
    let (log, read, mut runner) = setup(&db, EVENT_BY_EVENT).await;
    let p = log.problem(Difficulty::Easy).await;
    let [ada, bob] = log.users(["ada", "bob"]).await;
    log.solve(ada, p, t(0, 9, 0), 10, 1000).await;
    log.solve(bob, p, t(0, 10, 0), 20, 1000).await;
    let deactivated = UserEvent::UserDeactivated {
        user_id: ada,
        by: log.admin,
        reason: "spam".into(),
        session_epoch: 1,
        at: t(1, 0, 0),
    };
    log.append(&format!("user-{ada}"), ExpectedVersion::Any, deactivated)
        .await;
    runner.drain().await.unwrap();

    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![bob]);
    let page = ranking::problem_ranking(&read, p, 10, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.entries[0].rank, 1, "ranks skip the deactivated");
    let board = leaderboard::leaderboard(&read, 10, None)
        .await
        .unwrap()
        .unwrap();
    let ranks: Vec<_> = board.entries.iter().map(|e| (e.user_id, e.rank)).collect();
    assert_eq!(ranks, vec![(bob, 1)]);
    assert_eq!(score(&read, ada).await, None);
    assert_eq!(
        leaderboard::standing(&read, bob)
            .await
            .unwrap()
            .unwrap()
            .rank,
        1
    );

    let reactivated = UserEvent::UserReactivated {
        user_id: ada,
        by: log.admin,
        at: t(2, 0, 0),
    };
    log.append(&format!("user-{ada}"), ExpectedVersion::Any, reactivated)
        .await;
    runner.drain().await.unwrap();
    let order: Vec<UserId> = ranked(&read, p).await.iter().map(|r| r.0).collect();
    assert_eq!(order, vec![ada, bob]);
    assert_eq!(
        leaderboard::standing(&read, bob)
            .await
            .unwrap()
            .unwrap()
            .rank,
        2
    );
}

/// A pseudo-random but fixed history: submissions judged, rejudged (some
/// twice, some back and forth), difficulty edits, playground runs.
async fn a_history_with_rejudges(log: &Log, runner: &mut Runner) {
    let problems = [
        log.problem(Difficulty::Easy).await,
        log.problem(Difficulty::Medium).await,
        log.problem(Difficulty::Hard).await,
    ];
    let users = log.users(["ada", "bob", "cy", "dee", "eve"]).await;
    let kinds = [
        VerdictKind::Accepted,
        VerdictKind::WrongAnswer,
        VerdictKind::Accepted,
        VerdictKind::InternalError,
        VerdictKind::TimeLimitExceeded,
        VerdictKind::Accepted,
    ];
    let mut subs = vec![];
    let mut x: u64 = 7;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    for i in 0..60u32 {
        let user = users[next(users.len() as u64) as usize];
        let problem = problems[next(3) as usize];
        let s = log
            .submit(
                user,
                problem,
                t(next(4) as i64, 8 + next(10) as u32, i % 60),
            )
            .await;
        if next(6) > 0 {
            let kind = kinds[next(kinds.len() as u64) as usize];
            log.judge(&s, kind, 10 + next(5) as u32, 1000 + next(3))
                .await;
            subs.push(s);
        }
        if i % 9 == 0 {
            log.playground(user, t(next(4) as i64, 7, 0), None).await;
        }
        if i == 25 {
            log.edit(problems[0], Difficulty::Hard, 2).await;
        }
        if i % 20 == 10 {
            runner.drain().await.unwrap();
        }
    }
    for round in 0..3 {
        for (j, s) in subs.iter().enumerate() {
            if next(3) == 0 {
                let kind = kinds[(j + round) % kinds.len()];
                log.rejudge(s, kind, 10 + next(5) as u32, 1000 + next(3))
                    .await;
            }
        }
        runner.drain().await.unwrap();
    }
    log.edit(problems[0], Difficulty::Medium, 3).await;
}

/// The whole log through every projection into `target` (and `lanes`).
async fn rebuild_all(
    target: &ReadDb,
    lanes: &[ReadDb],
    store: &store::SharedStore,
    limits: replay::Limits,
) -> replay::Built {
    replay::rebuild_with(
        target,
        lanes,
        store,
        &projections::all(),
        Until::End,
        limits,
        &mut |_, _| {},
    )
    .await
    .unwrap()
}

/// The projections with an in-memory fold, in application order.
const FOLDED: [&str; 6] = [
    "submissions",
    "ranking",
    "leaderboard",
    "profiles",
    "problem_stats",
    "analytics",
];

/// Event by event (the live runner here applies batches of one), in big
/// batches, through a replay, and with the whole log applied again over the
/// same rows: the same tables every time.
async fn replay_and_batches_equal_event_by_event_after_rejudges(db: Db) {
    let (log, read, mut runner) = setup(&db, EVENT_BY_EVENT).await;
    a_history_with_rejudges(&log, &mut runner).await;
    runner.drain().await.unwrap();
    let live = dump(&read, &FED).await;
    for (table, rows) in &live {
        assert!(!rows.is_empty(), "{table} has rows");
    }

    let batched = rebuild(&db, "batched", &log.store, projections::all(), 10_000).await;
    assert_eq!(
        dump(&batched, &FED).await,
        live,
        "one big batch differs from event by event"
    );

    let rebuilt = db.read("rebuilt").await;
    let built = rebuild_all(&rebuilt, &[], &log.store, replay::Limits::default()).await;
    assert_eq!(built.folded, FOLDED, "the heavy projections fold in memory");
    assert_eq!(
        dump(&rebuilt, &FED).await,
        live,
        "a replay differs from the live models"
    );

    // Folds that outgrow their budget part-way write what they hold, and
    // the rest of the log is applied page by page on top.
    for (page, fold_rows) in [(7, 40), (1, 0), (50, 400)] {
        let rebuilt = db.read(&format!("budget{page}")).await;
        let built = rebuild_all(
            &rebuilt,
            &[],
            &log.store,
            replay::Limits { page, fold_rows },
        )
        .await;
        assert_eq!(built.folded, FOLDED);
        assert_eq!(
            dump(&rebuilt, &FED).await,
            live,
            "a replay over its fold budget (pages of {page}, {fold_rows} rows) differs"
        );
    }

    // Written over lanes in parallel: each projection lands whole in one
    // database, and each equals the live one.
    let (target, lane) = (db.read("target").await, db.read("lane").await);
    let built = rebuild_all(
        &target,
        std::slice::from_ref(&lane),
        &log.store,
        replay::Limits::default(),
    )
    .await;
    let lanes: Vec<usize> = FOLDED.iter().map(|p| built.lane(p)).collect();
    assert!(lanes.contains(&0) && lanes.contains(&1), "{lanes:?}");
    for name in FED {
        let holder = if built.lane(name) == 0 {
            &target
        } else {
            &lane
        };
        assert_eq!(
            dump(holder, &[name]).await,
            dump(&read, &[name]).await,
            "{name}, written to lane {}, differs",
            built.lane(name)
        );
    }

    // Tables that already hold rows are never folded over.
    let built = rebuild_all(&rebuilt, &[], &log.store, replay::Limits::default()).await;
    assert!(built.folded.is_empty(), "{:?}", built.folded);
    assert_eq!(
        dump(&rebuilt, &FED).await,
        live,
        "a second rebuild changed rows"
    );

    // The whole log again, over the same rows, in batches of 4.
    assert!(reapply(&read, &log.store, projections::all(), 4).await > 0);
    assert_eq!(
        dump(&read, &FED).await,
        live,
        "re-applying the log changed the read models"
    );
}

on_both!(
    an_accepted_submission_rejudged_wrong_leaves_the_ranking_and_the_score,
    a_wrong_submission_rejudged_accepted_enters_the_ranking_and_the_score,
    replay_and_batches_equal_event_by_event_after_rejudges,
    deactivated_users_leave_the_leaderboard_and_rankings_until_reactivated,
);
