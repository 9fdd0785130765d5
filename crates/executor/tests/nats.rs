//! The distributed judge against a real NATS JetStream server (a private
//! `nats-server -js` per test, see `executor::testing`), the real native
//! sandbox and a real SQLite event log. Without NATS or the sandbox these
//! tests print why and return, except under `CI=true`, where they fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use commands::{Actor, Commands, Passwords};
use domain::problem::{Checker, Difficulty, Limits, ProblemKind, ProblemSpec, TestCase};
use domain::submission::VerdictKind;
use domain::user::Role;
use executor::nats::{JudgeJob, JudgeResult, ProgressUpdate, Topology};
use executor::testing::{TestNats, nats_test_server};
use executor::{
    FileCheckpoint, Judge, Outbox, ResultsConsumer, Step, Worker, WorkerConfig, WorkerStats,
};
use futures::StreamExt;
use sandbox::NativeSandbox;
use store::SharedStore;
use tokio::sync::watch;

type SharedJudge = Arc<Judge<Arc<NativeSandbox>>>;

async fn judge() -> Option<SharedJudge> {
    let ready = match NativeSandbox::with_defaults() {
        Ok(sandbox) => sandbox.check().await.map(|()| sandbox),
        Err(e) => Err(e),
    };
    match ready {
        Ok(sandbox) => Some(Arc::new(Judge::new(Arc::new(sandbox)))),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("sandbox prerequisites missing (CI=true, so this fails): {e}")
        }
        Err(e) => {
            eprintln!("skipping: sandbox prerequisites missing: {e}");
            None
        }
    }
}

fn case(input: &str, expected: &str) -> TestCase {
    TestCase {
        input: input.into(),
        expected: expected.into(),
        explanation: None,
    }
}

/// `add(a, b)`: one example and two hidden tests.
fn add_problem() -> ProblemSpec {
    ProblemSpec {
        title: "Add".into(),
        statement: "Add two numbers.".into(),
        difficulty: Difficulty::Easy,
        tags: vec![],
        kind: ProblemKind::Function {
            entry_point: "add".into(),
            params: vec!["a".into(), "b".into()],
        },
        template: "def add(a, b):\n    pass\n".into(),
        examples: vec![case("[1, 2]", "3")],
        hidden_tests: vec![case("[10, 20]", "30"), case("[-4, 4]", "0")],
        limits: Limits {
            time_limit_ms: 2000,
            memory_limit_mb: 64,
        },
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

/// A right answer that takes `sleep` seconds of wall time per test.
fn slow_right(sleep: f64) -> String {
    format!("import time\ndef add(a, b):\n    time.sleep({sleep})\n    return a + b\n")
}

const WRONG: &str = "def add(a, b):\n    return a - b\n";

/// A log with a published problem and a user who may submit.
struct World {
    store: SharedStore,
    commands: Commands,
    admin: Actor,
    user: Actor,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(
            store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
                .await
                .unwrap(),
        );
        let commands = Commands::new(store.clone(), Passwords::fast_for_tests());
        let admin = Actor {
            user_id: commands
                .register("root", "root@example.org", "admin password 1", Role::Admin)
                .await
                .unwrap()
                .value,
            role: Role::Admin,
        };
        let user = Actor {
            user_id: commands
                .register("ada", "ada@example.org", "user password 1", Role::User)
                .await
                .unwrap()
                .value,
            role: Role::User,
        };
        commands
            .create_problem(&admin, "add", add_problem())
            .await
            .unwrap();
        commands.publish_problem(&admin, "add").await.unwrap();
        Self {
            store,
            commands,
            admin,
            user,
            dir,
        }
    }

    async fn submit(&self, code: &str) -> domain::SubmissionId {
        self.commands
            .submit(&self.user, "add", code)
            .await
            .unwrap()
            .value
    }

    async fn outbox(&self, js: &jetstream::Context, topology: &Topology, name: &str) -> Outbox {
        Outbox::new(
            self.store.clone(),
            self.commands.clone(),
            js.clone(),
            topology.clone(),
            FileCheckpoint::new(&self.dir.path().join(name)),
        )
        .await
        .unwrap()
    }

    /// How many `SubmissionJudged` events the log holds for `id`.
    async fn judged_events(&self, id: domain::SubmissionId) -> usize {
        self.store
            .read_stream(&commands::submission_stream(id), 1)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "SubmissionJudged")
            .count()
    }

    async fn verdict(&self, id: domain::SubmissionId) -> VerdictKind {
        self.commands
            .submission(id)
            .await
            .unwrap()
            .unwrap()
            .verdict
            .unwrap_or_else(|| panic!("{id} has no verdict"))
            .kind
    }
}

async fn connect(nats: &TestNats) -> (async_nats::Client, jetstream::Context) {
    executor::nats::connect(&nats.url, "test", Duration::from_secs(5))
        .await
        .map(|client| (client.clone(), jetstream::new(client)))
        .unwrap()
}

/// Starts a worker; stop it through the returned sender.
async fn spawn_worker(
    client: &async_nats::Client,
    topology: &Topology,
    judge: SharedJudge,
    config: WorkerConfig,
) -> (
    Arc<WorkerStats>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let worker = Worker::new(client.clone(), topology.clone(), judge, config)
        .await
        .unwrap();
    let stats = worker.stats();
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    (stats, stop, task)
}

/// Records verdicts until `want` have been recorded; waits on NATS, not on
/// a timer, and gives up after `limit`.
async fn record_until(results: &mut ResultsConsumer, want: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while results.stats().recorded < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} verdicts within {limit:?}: {:?}",
            results.stats().recorded,
            results.stats()
        );
        results.step(Duration::from_secs(1)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_share_the_jobs_and_each_submission_is_judged_exactly_once() {
    let Some(nats) = nats_test_server() else {
        return;
    };
    let Some(judge) = judge().await else {
        return;
    };
    let world = World::new().await;
    let (client, js) = connect(&nats).await;
    let topology = nats.topology();

    let mut expected = Vec::new();
    for i in 0..8 {
        let (code, kind) = if i % 2 == 0 {
            (slow_right(0.1), VerdictKind::Accepted)
        } else {
            (WRONG.to_string(), VerdictKind::WrongAnswer)
        };
        expected.push((world.submit(&code).await, kind));
    }
    let mut outbox = world.outbox(&js, &topology, "outbox.checkpoint").await;
    outbox.drain().await.unwrap();
    assert_eq!(outbox.stats().published, 8);

    let config = WorkerConfig {
        concurrency: 1,
        ack_wait: Duration::from_secs(10),
        ..Default::default()
    };
    let (a, stop_a, task_a) = spawn_worker(&client, &topology, judge.clone(), config.clone()).await;
    let (b, stop_b, task_b) = spawn_worker(&client, &topology, judge.clone(), config).await;
    let mut results = ResultsConsumer::new(
        world.commands.clone(),
        &js,
        &topology,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    record_until(&mut results, 8, Duration::from_secs(120)).await;
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
    task_a.await.unwrap();
    task_b.await.unwrap();

    eprintln!(
        "executor a judged {}, executor b judged {}",
        a.judged(),
        b.judged()
    );
    assert_eq!(a.judged() + b.judged(), 8, "every job judged once");
    assert!(a.judged() > 0 && b.judged() > 0, "both executors took jobs");
    for (id, kind) in &expected {
        assert_eq!(world.judged_events(*id).await, 1, "one verdict for {id}");
        assert_eq!(world.verdict(*id).await, *kind, "verdict for {id}");
    }

    // A verdict arriving again past the duplicate window (another message
    // id) is acked and skipped: still one SubmissionJudged.
    let (id, _) = expected[0];
    let again = JudgeResult {
        submission_id: id,
        verdict: executor_verdict(&world, id).await,
        expected_version: 1,
        rejudge_id: None,
    };
    js.publish(
        topology.results_subject(),
        serde_json::to_vec(&again).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    assert_eq!(
        results.step(Duration::from_secs(5)).await.unwrap(),
        Step::Processed(1)
    );
    assert_eq!(results.stats().duplicates, 1);
    assert_eq!(world.judged_events(id).await, 1);
}

async fn executor_verdict(world: &World, id: domain::SubmissionId) -> domain::submission::Verdict {
    world
        .commands
        .submission(id)
        .await
        .unwrap()
        .unwrap()
        .verdict
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_replaying_from_an_old_checkpoint_publishes_each_job_once() {
    let Some(nats) = nats_test_server() else {
        return;
    };
    let world = World::new().await;
    let (_client, js) = connect(&nats).await;
    let topology = nats.topology();
    let first = world.submit(WRONG).await;
    world.submit(WRONG).await;
    world.submit(WRONG).await;

    let mut outbox = world.outbox(&js, &topology, "outbox.checkpoint").await;
    outbox.drain().await.unwrap();
    assert_eq!(outbox.stats().published, 3);

    // A restart from scratch (a lost checkpoint): JetStream drops the repeats.
    let mut replay = world.outbox(&js, &topology, "lost.checkpoint").await;
    replay.drain().await.unwrap();
    assert_eq!(
        (replay.stats().published, replay.stats().duplicates),
        (0, 3)
    );

    // The first outbox goes on from its checkpoint: only the new job.
    world.submit(WRONG).await;
    let mut restarted = world.outbox(&js, &topology, "outbox.checkpoint").await;
    restarted.drain().await.unwrap();
    assert_eq!(
        (restarted.stats().published, restarted.stats().duplicates),
        (1, 0)
    );

    let mut stream = js.get_stream(&topology.jobs_stream).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 4);

    // A job carries what an executor needs: code, the spec with its hidden
    // tests, and where the verdict goes in the submission's stream.
    let consumer = topology
        .durable_consumer(&stream, "inspect", Duration::from_secs(30))
        .await
        .unwrap();
    let message = consumer
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    let job: JudgeJob = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(job.submission_id, first);
    assert_eq!(job.code, WRONG);
    assert_eq!(job.spec, Some(add_problem()));
    assert_eq!(job.expected_version, 1);
    assert_eq!(
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string()),
        Some(first.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judgement_longer_than_ack_wait_keeps_its_job_and_streams_progress() {
    let Some(nats) = nats_test_server() else {
        return;
    };
    let Some(judge) = judge().await else {
        return;
    };
    let world = World::new().await;
    let (client, js) = connect(&nats).await;
    let topology = nats.topology();
    // Three tests of 0.8 s each: well past an ack wait of 1 s.
    let id = world.submit(&slow_right(0.8)).await;
    let mut progress = client
        .subscribe(topology.progress_subject(id))
        .await
        .unwrap();
    client.flush().await.unwrap();
    world
        .outbox(&js, &topology, "outbox.checkpoint")
        .await
        .drain()
        .await
        .unwrap();

    let config = WorkerConfig {
        concurrency: 1,
        ack_wait: Duration::from_secs(1),
        ..Default::default()
    };
    let (a, stop_a, task_a) = spawn_worker(&client, &topology, judge.clone(), config.clone()).await;
    let (b, stop_b, task_b) = spawn_worker(&client, &topology, judge, config).await;
    let mut results = ResultsConsumer::new(
        world.commands.clone(),
        &js,
        &topology,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    record_until(&mut results, 1, Duration::from_secs(60)).await;
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
    task_a.await.unwrap();
    task_b.await.unwrap();

    // Without in-progress acks the job would have gone to the idle executor
    // after 1 s and been judged twice.
    assert_eq!(a.judged() + b.judged(), 1);
    assert_eq!(results.stats().duplicates, 0);
    assert_eq!(world.verdict(id).await, VerdictKind::Accepted);
    assert_eq!(world.judged_events(id).await, 1);

    let mut next = async || -> ProgressUpdate {
        let message = tokio::time::timeout(Duration::from_secs(5), progress.next())
            .await
            .expect("a progress message when the judge starts and per test")
            .unwrap();
        let update: ProgressUpdate = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(update.submission_id, id);
        update
    };
    let started = next().await;
    assert_eq!(
        (started.test, started.passed, started.total),
        (None, 0, 3),
        "the first message says the judge started"
    );
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let update = next().await;
        let test = update.test.expect("then one per test");
        seen.push((test.index, test.hidden, update.passed, update.total));
    }
    assert_eq!(
        seen,
        vec![(0, false, 1, 3), (1, true, 2, 3), (2, true, 3, 3)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_executor_hands_back_a_job_it_cannot_finish() {
    let Some(nats) = nats_test_server() else {
        return;
    };
    let Some(judge) = judge().await else {
        return;
    };
    let world = World::new().await;
    let (client, js) = connect(&nats).await;
    let topology = nats.topology();
    let id = world.submit(&slow_right(1.0)).await;
    let mut progress = client
        .subscribe(topology.progress_subject(id))
        .await
        .unwrap();
    client.flush().await.unwrap();
    world
        .outbox(&js, &topology, "outbox.checkpoint")
        .await
        .drain()
        .await
        .unwrap();

    // Long ack wait: only a nak can bring the job back quickly.
    let config = WorkerConfig {
        concurrency: 1,
        ack_wait: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(100),
        ..Default::default()
    };
    let (a, stop_a, task_a) = spawn_worker(&client, &topology, judge.clone(), config.clone()).await;
    // Mid-run: the first test has finished.
    tokio::time::timeout(Duration::from_secs(30), progress.next())
        .await
        .expect("the first test finishes")
        .unwrap();
    stop_a.send(true).unwrap();
    task_a.await.unwrap();
    assert_eq!((a.judged(), a.released()), (0, 1));

    let (b, stop_b, task_b) = spawn_worker(&client, &topology, judge, config).await;
    let mut results = ResultsConsumer::new(
        world.commands.clone(),
        &js,
        &topology,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    // Well inside the 60 s ack wait.
    record_until(&mut results, 1, Duration::from_secs(30)).await;
    stop_b.send(true).unwrap();
    task_b.await.unwrap();
    assert_eq!(b.judged(), 1);
    assert_eq!(world.judged_events(id).await, 1);
    assert_eq!(world.verdict(id).await, VerdictKind::Accepted);
}

#[tokio::test]
async fn an_unreachable_nats_server_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let e = executor::nats::connect(
        "nats://user:hunter2@127.0.0.1:1",
        "test",
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "NATS_UNREACHABLE");
    let text = e.to_string();
    assert!(
        text.contains("cannot reach NATS at nats://***@127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejudge_travels_over_nats_and_each_submission_gets_one_new_verdict() {
    let Some(nats) = nats_test_server() else {
        return;
    };
    let Some(judge) = judge().await else {
        return;
    };
    let world = World::new().await;
    let (client, js) = connect(&nats).await;
    let topology = nats.topology();
    let right = world.submit(&slow_right(0.0)).await;
    let wrong = world.submit(WRONG).await;

    let mut outbox = world.outbox(&js, &topology, "outbox.checkpoint").await;
    outbox.drain().await.unwrap();
    let config = WorkerConfig {
        concurrency: 1,
        ack_wait: Duration::from_secs(10),
        ..Default::default()
    };
    let (_, stop, task) = spawn_worker(&client, &topology, judge, config).await;
    let mut results = ResultsConsumer::new(
        world.commands.clone(),
        &js,
        &topology,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    record_until(&mut results, 2, Duration::from_secs(60)).await;
    assert_eq!(world.verdict(wrong).await, VerdictKind::WrongAnswer);

    // New tests on which `a - b` is right: every b is 0.
    let mut spec = add_problem();
    spec.examples = vec![case("[1, 0]", "1")];
    spec.hidden_tests = vec![case("[5, 0]", "5"), case("[-3, 0]", "-3")];
    world
        .commands
        .edit_problem(&world.admin, "add", spec)
        .await
        .unwrap();
    let started = world
        .commands
        .start_rejudge(
            &world.admin,
            "add",
            domain::rejudge::RejudgeScope::All,
            vec![right, wrong],
        )
        .await
        .unwrap()
        .value;
    assert_eq!((started.total, started.skipped), (2, 0));

    outbox.drain().await.unwrap();
    assert_eq!(
        outbox.stats().published,
        4,
        "a rejudge is a new job under its own message id: {:?}",
        outbox.stats()
    );
    record_until(&mut results, 4, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    task.await.unwrap();

    assert_eq!(world.verdict(wrong).await, VerdictKind::Accepted);
    assert_eq!(world.verdict(right).await, VerdictKind::Accepted);
    for id in [right, wrong] {
        assert_eq!(world.judged_events(id).await, 2, "one verdict per job");
        let state = world.commands.submission(id).await.unwrap().unwrap();
        assert_eq!(state.awaiting(), None, "nothing left to judge");
    }
    let last = world
        .store
        .read_stream(&commands::submission_stream(wrong), 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.event_type, "SubmissionJudged");
    assert_eq!(last.data["rejudge_id"], started.rejudge_id.to_string());
    assert_eq!(last.data["problem_version"], 2);

    // An outbox replaying the log from the start publishes no job twice.
    let mut again = world.outbox(&js, &topology, "fresh.checkpoint").await;
    again.drain().await.unwrap();
    assert_eq!(again.stats().published, 0, "{:?}", again.stats());
}
