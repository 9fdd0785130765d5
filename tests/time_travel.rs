//! `asOf`: the leaderboard, a problem's ranking and stats, a profile and the
//! admin analytics as they stood at T, computed from the log, equal what the
//! live API answered at T; only admins may ask. Over HTTP, on SQLite and
//! PostgreSQL.

mod common;

use std::time::Duration;

use commands::{Commands, Passwords};
use common::*;
use domain::submission::{Verdict, VerdictKind};
use serde_json::{Value, json};

const STATS: &str = "query($t: DateTime, $from: NaiveDate, $to: NaiveDate) { \
    leaderboard(first: 10, asOf: $t) { entries { rank username score solved reachedAt cursor } hasNextPage } \
    problemRanking(slug: \"two-sum\", first: 10, asOf: $t) { entries { rank username runtimeMs memoryKb submissionId } } \
    profile(username: \"ada\", asOf: $t) { rank score solved submissions judged accepted acceptanceRate \
        currentStreak longestStreak activity { date submissions accepted } \
        recentSubmissions { id problemSlug verdict createdAt } } \
    problemStats(slug: \"two-sum\", asOf: $t) { submissions judged accepted attempters solvers \
        verdictMix { verdict count } runtimeMs { count min max p50 p90 } memoryKb { count p50 } } \
    analytics(from: $from, to: $to, asOf: $t) { days { date submissions judged accepted activeUsers playgroundRuns } \
        activeUsers verdictMix { verdict count } playground { runs users meanCpuMs limitsHit { limit count } } \
        problems { slug submissions accepted solvers runtimeMs { count p50 } } } }";

struct World {
    app: TestApp,
    commands: Commands,
    last: store::Cursor,
}

impl World {
    async fn submit(&mut self, token: &str, slug: &str, kind: Option<VerdictKind>, ms: u32) {
        let v = self
            .app
            .ok(Some(token), SUBMIT, json!({ "s": slug, "c": "print(1)" }))
            .await;
        let Some(kind) = kind else { return };
        let verdict = Verdict {
            kind,
            passed: 1,
            total: 1,
            runtime_ms: ms,
            memory_kb: 9_000 + u64::from(ms),
            tests: vec![],
            failed_example: None,
            message: None,
        };
        let id = v["submit"]["id"].as_str().unwrap().parse().unwrap();
        let done = self
            .commands
            .record_verdict(id, verdict, None)
            .await
            .unwrap();
        self.last = self.last.max(done.cursor);
    }

    /// Waits until the API's read models have applied every verdict recorded
    /// here (`/healthz` reports how far they are).
    async fn settled(&self) {
        for _ in 0..400 {
            let health: Value = self
                .app
                .client
                .get(format!("http://{}/healthz", self.app.addr))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let (tx, seq) = health["projectedTo"]
                .as_str()
                .and_then(|c| c.split_once(':'))
                .expect("healthz reports a cursor");
            let at = store::Cursor {
                tx: tx.parse().unwrap(),
                seq: seq.parse().unwrap(),
            };
            if at >= self.last {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the read models did not reach {} within 10 s", self.last);
    }
}

async fn as_of_answers_what_the_live_api_answered_then(backend: Backend) {
    let Some(app) =
        TestApp::spawn_with(backend, |a| a.judge = pydojo::config::JudgeMode::Off).await
    else {
        return;
    };
    let admin = app.admin("root").await;
    for (slug, difficulty) in [("two-sum", "EASY"), ("hard-sum", "HARD")] {
        app.publish_problem(&admin, slug, difficulty).await;
    }
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let store = pydojo::open_store(&app.storage).await.unwrap();
    let mut w = World {
        app,
        commands: Commands::new(store, Passwords::new()),
        last: store::Cursor::START,
    };
    w.submit(&ada, "two-sum", Some(VerdictKind::WrongAnswer), 5)
        .await;
    w.submit(&ada, "two-sum", Some(VerdictKind::Accepted), 30)
        .await;
    w.submit(&bob, "two-sum", Some(VerdictKind::Accepted), 25)
        .await;
    w.submit(&ada, "hard-sum", None, 0).await;
    w.settled().await;

    let today = chrono::Utc::now().date_naive();
    let range = |t: Value| json!({ "t": t, "from": today - chrono::Duration::days(2), "to": today + chrono::Duration::days(1) });
    let then = w.app.ok(Some(&admin), STATS, range(Value::Null)).await;
    let t = chrono::Utc::now();

    // After T: ada solves the hard one, bob gets a wrong answer and a new
    // user overtakes everyone on two-sum.
    let (cyd, _) = w.app.register("cyd").await;
    w.submit(&ada, "hard-sum", Some(VerdictKind::Accepted), 400)
        .await;
    w.submit(&bob, "two-sum", Some(VerdictKind::WrongAnswer), 3)
        .await;
    w.submit(&cyd, "two-sum", Some(VerdictKind::Accepted), 10)
        .await;
    w.settled().await;
    let now = w.app.ok(Some(&admin), STATS, range(Value::Null)).await;
    for field in [
        "leaderboard",
        "problemRanking",
        "profile",
        "problemStats",
        "analytics",
    ] {
        assert_ne!(now[field], then[field], "{field} changed after T");
    }

    let as_of = w.app.ok(Some(&admin), STATS, range(json!(t))).await;
    assert_eq!(
        as_of, then,
        "asOf T differs from what the API answered at T"
    );
    // Again, from the cache.
    let again = w.app.ok(Some(&admin), STATS, range(json!(t))).await;
    assert_eq!(again, then);

    // Only admins travel in time.
    let leaderboard = "query($t: DateTime) { leaderboard(asOf: $t) { hasNextPage } }";
    let v = w.app.gql(Some(&ada), leaderboard, json!({ "t": t })).await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let profile = "query($t: DateTime) { profile(username: \"ada\", asOf: $t) { score } }";
    let v = w.app.gql(Some(&bob), profile, json!({ "t": t })).await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = w.app.gql(None, profile, json!({ "t": t })).await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
    // Without asOf, anyone still gets the live answer.
    let v = w.app.ok(None, profile, json!({ "t": null })).await;
    assert_eq!(v["profile"]["score"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_answers_what_the_live_api_answered_then_on_sqlite() {
    as_of_answers_what_the_live_api_answered_then(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_answers_what_the_live_api_answered_then_on_postgres() {
    as_of_answers_what_the_live_api_answered_then(Backend::Postgres).await;
}
