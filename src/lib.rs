//! The `pydojo` binary's library: configuration, wiring and start-up.
//!
//! `main.rs` only parses the command line; everything it runs lives here so
//! that end-to-end tests can start the real app in-process on port 0.

pub mod bench;
pub mod bench_live;
pub mod config;
pub mod demo;
pub mod playground;
pub mod problems;
pub mod replay;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use commands::{Commands, Passwords};
use projections::{ReadDb, Runner};
use store::SharedStore;
use store::postgres::{PostgresOptions, PostgresStore};
use store::sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;

use crate::config::{
    Durability, ExecutorArgs, JudgeMode, NatsArgs, SandboxArgs, ServeArgs, StorageArgs,
    StoreBackend,
};

/// Chooses rustls's crypto backend for the process. rustls panics on first
/// use (async-nats over TLS) when it cannot tell which backend to use; this
/// settles it once. Call it first thing in `main` and in test setup.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed.
    let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
}

/// Creates the data directory, readable by its owner only.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data directory is readable by other users");
    }
    Ok(())
}

/// Opens the configured event store.
pub async fn open_store(args: &StorageArgs) -> anyhow::Result<SharedStore> {
    match args.store {
        StoreBackend::Sqlite => {
            ensure_data_dir(&args.data_dir)?;
            let path = args.data_dir.join("events.db");
            let durability = match args.sqlite_durability {
                Durability::Full => store::sqlite::Durability::Full,
                Durability::Normal => store::sqlite::Durability::Normal,
            };
            let store = SqliteStore::open(
                &path,
                SqliteOptions {
                    durability,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("cannot open the event log {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreBackend::Postgres => {
            let Some(url) = &args.database_url else {
                bail!("--store postgres needs --database-url (or PYDOJO_DATABASE_URL)");
            };
            let options = PostgresOptions {
                max_connections: args.pg_max_connections,
                ..Default::default()
            };
            let store = PostgresStore::connect(url.expose(), options)
                .await
                .context("cannot open the PostgreSQL event store at --database-url")?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens the read model database.
pub async fn open_read_db(args: &StorageArgs) -> anyhow::Result<ReadDb> {
    let url = args.read_database_url.as_ref().or(match args.store {
        StoreBackend::Postgres => args.database_url.as_ref(),
        StoreBackend::Sqlite => None,
    });
    match url {
        Some(url) => ReadDb::connect_postgres(url.expose(), args.pg_max_connections)
            .await
            .context("cannot open the PostgreSQL read database"),
        None => {
            ensure_data_dir(&args.data_dir)?;
            let path = args.data_dir.join("read.db");
            ReadDb::open_sqlite(&path)
                .await
                .with_context(|| format!("cannot open the read database {}", path.display()))
        }
    }
}

/// The JWT secret from config, else from `<data-dir>/jwt-secret`, generated
/// (mode 0600) on first start. There is no built-in default.
pub fn load_jwt_secret(args: &ServeArgs) -> anyhow::Result<graphql::auth::Secret> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(s) = &args.jwt_secret {
        return graphql::auth::Secret::new(s.expose().as_bytes().to_vec())
            .map_err(anyhow::Error::msg);
    }
    ensure_data_dir(&args.storage.data_dir)?;
    let path = args.storage.data_dir.join("jwt-secret");
    if !path.exists() {
        // Write a complete file aside, then link it into place: a crash or a
        // second process starting at the same time never sees a partial one.
        let generated = graphql::auth::Secret::generate();
        let tmp = args
            .storage
            .data_dir
            .join(format!(".jwt-secret.{}", uuid::Uuid::new_v4().simple()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(generated.expose())?;
        file.sync_all()?;
        drop(file);
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => tracing::info!(path = %path.display(), "generated a new JWT signing secret"),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    graphql::auth::Secret::new(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A running platform: the API and the projections.
#[derive(Debug)]
pub struct App {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    projections: tokio::task::JoinHandle<()>,
    housekeeping: tokio::task::JoinHandle<()>,
    judge: Vec<tokio::task::JoinHandle<()>>,
    live_feed: tokio::task::JoinHandle<()>,
    live: graphql::Live,
    store: SharedStore,
    progress: projections::Progress,
}

impl App {
    /// Opens storage, catches the read models up, binds the listener.
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let store = open_store(&args.storage).await?;
        let db = open_read_db(&args.storage).await?;
        let secret = load_jwt_secret(&args)?;
        let mut runner = Runner::new(db.clone(), store.clone(), projections::all(), 1000).await?;
        let caught_up = runner
            .drain()
            .await
            .context("cannot bring the read models up to date")?;
        tracing::info!(events = caught_up, "read models caught up with the log");
        let progress = runner.progress();
        let live = graphql::Live::new(args.live_capacity, progress.current());
        let limits = graphql::RateLimits {
            auth_per_minute: args.auth_rate_per_minute,
            submit_per_minute: args.submit_rate_per_minute,
            playground_per_minute: args.playground_rate_per_minute,
            comment_per_minute: args.comment_rate_per_minute,
        };
        let limiters = Arc::new(graphql::Limiters::new(limits));
        let commands = Commands::new(store.clone(), Passwords::new());
        // One sandbox, set up and self-checked once, serves the judge and the
        // playground. Without it the server still runs and says why.
        let sandbox = match sandbox(&args.sandbox).await {
            Ok(sandbox) => Some(sandbox),
            Err(e) => {
                tracing::error!(
                    "the sandbox is unavailable: the playground is off and an embedded judge cannot run: {e:#}"
                );
                None
            }
        };
        // Under NATS, replies being written are relayed to every API node.
        let mut tutor_hub = graphql::TutorHub::default();
        let judge = match (args.judge, &sandbox) {
            (JudgeMode::Embedded, Some(sandbox)) => match start_embedded_judge(
                &args.storage,
                store.clone(),
                commands.clone(),
                sandbox.clone(),
                live.clone(),
            ) {
                Ok(task) => vec![task],
                Err(e) => {
                    tracing::error!("the judge is unavailable, submissions stay queued: {e:#}");
                    vec![]
                }
            },
            (JudgeMode::Embedded, None) => {
                tracing::error!("no sandbox, so no embedded judge: submissions stay queued");
                vec![]
            }
            // Asked for on purpose, so a NATS server that cannot be reached
            // stops the start with the reason rather than queue silently.
            (JudgeMode::Nats, _) => {
                let (tasks, hub) = start_nats_judge(
                    &args.storage,
                    &args.nats,
                    store.clone(),
                    commands.clone(),
                    live.clone(),
                )
                .await?;
                tutor_hub = hub;
                tasks
            }
            (JudgeMode::Off, _) => vec![],
        };
        let packages: Option<Arc<dyn graphql::PackageImporter>> = sandbox.clone().map(|sandbox| {
            Arc::new(problems::UploadedPackages::new(commands.clone(), sandbox))
                as Arc<dyn graphql::PackageImporter>
        });
        let playground: Option<Arc<dyn graphql::SnippetRunner>> = sandbox.map(|sandbox| {
            let limits = playground::PlaygroundLimits {
                wall: Duration::from_millis(args.playground_wall_ms),
                memory_bytes: args.playground_memory_mb * 1024 * 1024,
                output_bytes: args.playground_output_bytes,
            };
            Arc::new(playground::SandboxPlayground::new(sandbox, limits))
                as Arc<dyn graphql::SnippetRunner>
        });
        let app_store = store.clone();
        let live_feed = tokio::spawn(graphql::live::follow(
            live.clone(),
            store.clone(),
            db.clone(),
            progress.clone(),
        ));
        let tutor = match args.tutor.provider() {
            Some(config) => {
                tracing::info!(
                    base_url = %config.shown_url(),
                    model = %config.model,
                    key = config.api_key.is_some(),
                    "the tutor asks a model at an OpenAI-compatible endpoint"
                );
                tutor::Tutor::Online(tutor::Provider::new(config))
            }
            None => {
                tracing::info!(
                    "the tutor is offline (no --tutor-base-url or OPENAI_API_KEY): the built-in hint engine answers"
                );
                tutor::Tutor::Offline
            }
        };
        let services = graphql::Services {
            tutor: graphql::TutorService::new(tutor, args.tutor.tutor_daily_quota)
                .with_hub(tutor_hub),
            time_travel: Arc::new(graphql::TimeTravel::new(store.clone(), 4)),
            playground,
            packages,
            live: live.clone(),
            commands,
            db,
            progress: progress.clone(),
            keys: graphql::auth::Keys::new(
                &secret,
                Duration::from_secs(args.token_ttl_hours.max(1) * 3600),
            ),
            limiters: limiters.clone(),
            consistency_timeout: Duration::from_millis(args.consistency_timeout_ms),
        };
        let listener = TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let router = graphql::router(services, args.body_limit_bytes);
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await
        });
        let projections = tokio::spawn(runner.run());
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiters.shrink();
            }
        });
        Ok(Self {
            addr,
            server,
            projections,
            housekeeping,
            judge,
            live_feed,
            live,
            store: app_store,
            progress,
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hub subscriptions listen to (tests use it to check its bounds).
    pub fn live(&self) -> graphql::Live {
        self.live.clone()
    }

    /// The event log this app appends to and follows; benchmarks append
    /// through it so the projections hear of each append at once.
    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    /// How far the projections have applied the log.
    pub fn progress(&self) -> projections::Progress {
        self.progress.clone()
    }

    /// Runs until Ctrl-C or SIGTERM, or until a part fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            projections,
            housekeeping,
            judge,
            live_feed,
            ..
        } = self;
        let result = tokio::select! {
            r = server => r.context("the API task panicked")?.context("the API server failed"),
            r = projections => { r.context("the projection runner panicked")?; bail!("the projection runner stopped") }
        };
        housekeeping.abort();
        live_feed.abort();
        // Safe at any point: the outbox's checkpoint moves only after a
        // PubAck, and an unacked result or job comes back from JetStream.
        for task in judge {
            task.abort();
        }
        result
    }
}

/// The sandbox that judges and runs playground snippets, set up and
/// self-checked; `pydojo serve`, `pydojo executor` and `pydojo bench judge`
/// all get theirs here. With `auto`, Docker when it is ready, else native.
pub async fn sandbox(args: &SandboxArgs) -> anyhow::Result<Arc<dyn sandbox::DynSandbox>> {
    Ok(sandbox_named(args).await?.0)
}

/// [`sandbox`] with the name of the backend it picked (`native`, `docker`).
pub async fn sandbox_named(
    args: &SandboxArgs,
) -> anyhow::Result<(Arc<dyn sandbox::DynSandbox>, &'static str)> {
    let (sandbox, name) = Box::pin(sandbox::select(
        args.backend,
        sandbox::NativeConfig::default(),
        args.docker_config(),
    ))
    .await
    .with_context(|| format!("no usable sandbox (--sandbox {:?})", args.backend))?;
    tracing::info!(backend = name, "sandbox ready");
    Ok((sandbox, name))
}

/// Connects to NATS for `client_name`, with the URL's credentials kept out
/// of any error.
async fn connect_nats(args: &NatsArgs, client_name: &str) -> anyhow::Result<async_nats::Client> {
    executor::nats::connect(
        args.nats_url.expose(),
        client_name,
        args.nats_connect_timeout,
    )
    .await
    .map_err(anyhow::Error::from)
}

/// Starts the API node's half of the distributed judge: the outbox that
/// publishes jobs from the log (checkpoint in `<data-dir>/nats-outbox.checkpoint`)
/// and the consumer that records verdicts. Also relays the tutor's replies
/// between API nodes, through the hub it returns.
async fn start_nats_judge(
    storage: &StorageArgs,
    nats: &NatsArgs,
    store: SharedStore,
    commands: Commands,
    live: graphql::Live,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, graphql::TutorHub)> {
    ensure_data_dir(&storage.data_dir)?;
    let client = connect_nats(nats, "pydojo-api").await?;
    let progress = client
        .subscribe(format!("{}.progress.*", nats.nats_subject_prefix))
        .await
        .context("cannot subscribe to the executors' progress on NATS")?;
    let (tutor_hub, tutor_tasks) = relay_tutor(&client, &nats.nats_subject_prefix).await?;
    let js = async_nats::jetstream::new(client);
    let topology = nats.topology();
    let checkpoint =
        executor::FileCheckpoint::new(&storage.data_dir.join("nats-outbox.checkpoint"));
    let outbox = executor::Outbox::new(
        store,
        commands.clone(),
        js.clone(),
        topology.clone(),
        checkpoint,
    )
    .await
    .context("cannot start the judge outbox")?;
    let results = executor::ResultsConsumer::new(commands, &js, &topology, Duration::from_secs(30))
        .await
        .context("cannot start the results consumer")?;
    tracing::info!(
        url = %executor::nats::redact_url(nats.nats_url.expose()),
        jobs = %topology.jobs_stream,
        results = %topology.results_stream,
        "judging through NATS JetStream: run `pydojo executor` to judge"
    );
    let mut tasks = vec![
        tokio::spawn(outbox.run()),
        tokio::spawn(results.run()),
        tokio::spawn(relay_progress(progress, live)),
    ];
    tasks.extend(tutor_tasks);
    Ok((tasks, tutor_hub))
}

/// A tutor reply's progress between API nodes, on core NATS at
/// `<prefix>.tutor.<message id>`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TutorWire {
    /// The node writing the reply, so it ignores its own messages.
    node: uuid::Uuid,
    #[serde(flatten)]
    signal: TutorWireSignal,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
enum TutorWireSignal {
    Started,
    Piece(String),
    Finished,
}

/// Signals waiting to be published; more are dropped (best effort).
const TUTOR_RELAY_BUFFER: usize = 4096;

/// Hands this node's reply signals to a publishing task, in order, without
/// blocking the tutor.
#[derive(Debug)]
struct NatsTutorRelay(tokio::sync::mpsc::Sender<(domain::tutor::MessageId, graphql::TutorSignal)>);

impl graphql::TutorRelay for NatsTutorRelay {
    fn send(&self, message_id: domain::tutor::MessageId, signal: &graphql::TutorSignal) {
        if self.0.try_send((message_id, signal.clone())).is_err() {
            tracing::debug!(%message_id, "the tutor relay is behind: a piece is not relayed");
        }
    }
}

/// Relays the tutor replies written on this node to the other API nodes, and
/// theirs to this node's subscribers: the hub to serve from and the tasks.
async fn relay_tutor(
    client: &async_nats::Client,
    prefix: &str,
) -> anyhow::Result<(graphql::TutorHub, Vec<tokio::task::JoinHandle<()>>)> {
    use futures::StreamExt;
    let node = uuid::Uuid::new_v4();
    let mut heard = client
        .subscribe(format!("{prefix}.tutor.*"))
        .await
        .context("cannot subscribe to the tutor's replies on NATS")?;
    // Subscribed at the server before this node answers anyone.
    client
        .flush()
        .await
        .context("cannot subscribe to the tutor's replies on NATS")?;
    let (tx, mut outgoing) = tokio::sync::mpsc::channel(TUTOR_RELAY_BUFFER);
    let hub = graphql::TutorHub::relayed(Arc::new(NatsTutorRelay(tx)));
    let publisher = {
        let (client, prefix) = (client.clone(), prefix.to_string());
        tokio::spawn(async move {
            while let Some((id, signal)) = outgoing.recv().await {
                let signal = match signal {
                    graphql::TutorSignal::Started => TutorWireSignal::Started,
                    graphql::TutorSignal::Piece(text) => TutorWireSignal::Piece(text),
                    graphql::TutorSignal::Finished => TutorWireSignal::Finished,
                };
                let payload = serde_json::to_vec(&TutorWire { node, signal })
                    .expect("a tutor signal serializes");
                if let Err(e) = client
                    .publish(format!("{prefix}.tutor.{id}"), payload.into())
                    .await
                {
                    tracing::debug!(message_id = %id, error = %e, "cannot relay a tutor reply piece");
                }
            }
        })
    };
    let listener = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(30));
            loop {
                let message = tokio::select! {
                    message = heard.next() => match message {
                        Some(message) => message,
                        None => break,
                    },
                    _ = sweep.tick() => {
                        hub.forget_silent();
                        continue;
                    }
                };
                let id = message
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|id| id.parse::<domain::tutor::MessageId>().ok());
                let wire = serde_json::from_slice::<TutorWire>(&message.payload);
                match (id, wire) {
                    (Some(_), Ok(wire)) if wire.node == node => {}
                    (Some(id), Ok(wire)) => hub.hear(
                        id,
                        match wire.signal {
                            TutorWireSignal::Started => graphql::TutorSignal::Started,
                            TutorWireSignal::Piece(text) => graphql::TutorSignal::Piece(text),
                            TutorWireSignal::Finished => graphql::TutorSignal::Finished,
                        },
                    ),
                    _ => {
                        tracing::debug!(subject = %message.subject, "ignoring a tutor message that does not decode")
                    }
                }
            }
        })
    };
    Ok((hub, vec![publisher, listener]))
}

/// Passes the executors' per-test progress (core NATS, so every API node
/// hears all of it) to this node's subscribers.
async fn relay_progress(mut messages: async_nats::Subscriber, live: graphql::Live) {
    use futures::StreamExt;
    while let Some(message) = messages.next().await {
        match serde_json::from_slice::<executor::nats::ProgressUpdate>(&message.payload) {
            Ok(update) => live.report_progress(tested(update)),
            Err(e) => {
                tracing::debug!(subject = %message.subject, error = %e, "ignoring a progress message that does not decode")
            }
        }
    }
}

fn tested(update: executor::nats::ProgressUpdate) -> graphql::JudgeProgress {
    graphql::JudgeProgress {
        submission_id: update.submission_id,
        test: update.test,
        passed: update.passed,
        total: update.total,
    }
}

/// `pydojo executor`: judges jobs from JetStream in this machine's sandbox
/// until SIGTERM or Ctrl-C, then stops pulling and lets running jobs finish
/// (handing back those still running after the grace period).
pub async fn run_executor(args: ExecutorArgs) -> anyhow::Result<()> {
    let sandbox = sandbox(&args.sandbox).await?;
    let client = connect_nats(&args.nats, "pydojo-executor").await?;
    let concurrency = args.concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let config = executor::WorkerConfig {
        concurrency,
        ack_wait: args.ack_wait,
        shutdown_grace: args.shutdown_grace,
        max_attempts: args.max_attempts,
        ..Default::default()
    };
    let worker = executor::Worker::new(
        client.clone(),
        args.nats.topology(),
        Arc::new(executor::Judge::new(sandbox)),
        config,
    )
    .await
    .context("cannot start the executor")?;
    println!(
        "PyDojo executor judging jobs from {} ({concurrency} at a time)",
        executor::nats::redact_url(args.nats.nats_url.expose())
    );
    worker.run(shutdown_signal()).await;
    // Deliver the last acks and verdicts before the connection goes.
    if let Err(e) = client.flush().await {
        tracing::warn!(error = %e, "cannot flush the NATS connection");
    }
    Ok(())
}

/// Starts the in-process judge: it follows the log from its checkpoint in
/// `<data-dir>/judge.checkpoint`, so queued submissions survive a restart.
fn start_embedded_judge(
    storage: &StorageArgs,
    store: SharedStore,
    commands: Commands,
    sandbox: Arc<dyn sandbox::DynSandbox>,
    live: graphql::Live,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    ensure_data_dir(&storage.data_dir)?;
    let checkpoint = executor::FileCheckpoint::new(&storage.data_dir.join("judge.checkpoint"));
    let queue = executor::EmbeddedQueue::new(
        store,
        commands,
        Arc::new(executor::Judge::new(sandbox)),
        checkpoint,
    )?
    .with_progress(Arc::new(move |update| live.report_progress(tested(update))));
    tracing::info!("judging submissions in this process");
    Ok(tokio::spawn(queue.run()))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// `pydojo admin create`: registers an admin straight into the log.
pub async fn create_admin(
    storage: &StorageArgs,
    username: &str,
    email: &str,
    password: Option<String>,
) -> anyhow::Result<(domain::UserId, Option<String>)> {
    let store = open_store(storage).await?;
    let commands = Commands::new(store, Passwords::new());
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (generate_password(), true),
    };
    let done = commands
        .register(username, email, &password, domain::user::Role::Admin)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the admin: {e}"))?;
    Ok((done.value, generated.then_some(password)))
}

/// 24 characters from an unambiguous alphabet: about 137 bits.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
