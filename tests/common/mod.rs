//! Starts the real app on port 0 with a fresh data directory (or a fresh
//! PostgreSQL database) and talks to it over HTTP like a client would.
#![allow(dead_code)]

pub mod ws;

use std::net::SocketAddr;

use pydojo::config::{Durability, Secret, ServeArgs, StorageArgs, StoreBackend};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub storage: StorageArgs,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn serve_args(storage: StorageArgs) -> ServeArgs {
    ServeArgs {
        storage,
        sandbox: native_sandbox_args(),
        bind: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: None,
        token_ttl_hours: 24,
        body_limit_bytes: 256 * 1024,
        auth_rate_per_minute: 10_000,
        submit_rate_per_minute: 10_000,
        consistency_timeout_ms: 10_000,
        live_capacity: 256,
        tutor: Box::new(tutor_args(None)),
        judge: pydojo::config::JudgeMode::Embedded,
        demo: false,
        demo_problems: "problems".into(),
        nats: nats_args("nats://127.0.0.1:4222"),
        playground_rate_per_minute: 10_000,
        comment_rate_per_minute: 10_000,
        playground_wall_ms: 10_000,
        playground_memory_mb: 128,
        playground_output_bytes: 1024 * 1024,
    }
}

/// NATS settings with the defaults `pydojo serve` uses.
pub fn nats_args(url: &str) -> pydojo::config::NatsArgs {
    pydojo::config::NatsArgs {
        nats_url: url.parse().unwrap(),
        nats_jobs_stream: "PYDOJO_JOBS".into(),
        nats_results_stream: "PYDOJO_RESULTS".into(),
        nats_subject_prefix: "pydojo".into(),
        nats_executor_consumer: "pydojo-executors".into(),
        nats_results_consumer: "pydojo-results".into(),
        nats_duplicate_window: std::time::Duration::from_secs(24 * 3600),
        nats_connect_timeout: std::time::Duration::from_secs(5),
    }
}

pub async fn storage(backend: Backend, dir: &std::path::Path) -> Option<StorageArgs> {
    let mut storage = StorageArgs {
        data_dir: dir.to_path_buf(),
        store: StoreBackend::Sqlite,
        database_url: None,
        read_database_url: None,
        sqlite_durability: Durability::Full,
        pg_max_connections: 8,
    };
    if backend == Backend::Postgres {
        let url = store::testing::postgres_test_database().await?;
        storage.store = StoreBackend::Postgres;
        storage.database_url = Some(url.parse::<Secret>().unwrap());
    }
    Some(storage)
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::Sqlite, |_| {}).await.unwrap()
    }

    /// `None` when the backend is not available (never under CI=true).
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServeArgs)) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(backend, dir.path()).await?;
        let mut args = serve_args(storage.clone());
        tweak(&mut args);
        let app = pydojo::App::build(args).await.expect("app starts");
        Some(Self::from_app(app, storage, dir))
    }

    /// Runs an app built by the test itself.
    pub fn from_app(app: pydojo::App, storage: StorageArgs, dir: tempfile::TempDir) -> Self {
        let addr = app.addr();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            addr,
            client: reqwest::Client::new(),
            storage,
            dir,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// Posts a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        resp.json().await.expect("JSON response")
    }

    /// Like `gql` but panics on errors and returns `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let v = self.gql(token, query, variables).await;
        assert!(v.get("errors").is_none(), "unexpected errors: {v}");
        v["data"].clone()
    }

    pub async fn register(&self, username: &str) -> (String, String) {
        let d = self
            .ok(
                None,
                "mutation($u: String!, $e: String!) { register(username: $u, email: $e, password: \"correct horse battery\") { token user { id } } }",
                json!({ "u": username, "e": format!("{username}@example.org") }),
            )
            .await;
        (
            d["register"]["token"].as_str().unwrap().to_string(),
            d["register"]["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        self.gql(
            None,
            "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token user { username role } } }",
            json!({ "l": login, "p": password }),
        )
        .await
    }

    /// Creates an admin the way an operator does (`pydojo admin create`) and logs in.
    pub async fn admin(&self, username: &str) -> String {
        let password = "admin password 123".to_string();
        pydojo::create_admin(
            &self.storage,
            username,
            &format!("{username}@example.org"),
            Some(password.clone()),
        )
        .await
        .expect("admin created");
        let v = self.login(username, &password).await;
        v["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("admin login: {v}"))
            .to_string()
    }

    /// Creates and publishes `problem_input(slug)` with `difficulty`
    /// (`EASY`, `MEDIUM`, `HARD`), as `admin`.
    pub async fn publish_problem(&self, admin: &str, slug: &str, difficulty: &str) {
        let mut input = problem_input(slug);
        input["difficulty"] = json!(difficulty);
        self.ok(
            Some(admin),
            CREATE_PROBLEM,
            json!({ "s": slug, "i": input }),
        )
        .await;
        self.ok(Some(admin), PUBLISH_PROBLEM, json!({ "s": slug }))
            .await;
    }
}

pub fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a coded error, got {v}"))
}

pub const HIDDEN_MARKER: &str = "HIDDEN-7f3a9c";

pub fn problem_input(title: &str) -> Value {
    json!({
        "title": title,
        "statement": "Given a list of numbers and a target, return the indices of two numbers adding up to it.",
        "difficulty": "EASY",
        "tags": ["arrays", "hash-map"],
        "kind": "FUNCTION",
        "entryPoint": "two_sum",
        "params": ["nums", "target"],
        "template": "def two_sum(nums, target):\n    pass\n",
        "examples": [{ "input": "[[2, 7, 11, 15], 9]", "expected": "[0, 1]", "explanation": "2 + 7 = 9" }],
        "hiddenTests": [
            { "input": "[[3, 3], 6]", "expected": "[0, 1]", "explanation": HIDDEN_MARKER },
            { "input": "[[1, 5, 9, 4], 13]", "expected": format!("[2, 3]") }
        ],
        "timeLimitMs": 1000,
        "memoryLimitMb": 128,
        "checker": { "kind": "EXACT" }
    })
}

pub const CREATE_PROBLEM: &str = "mutation($s: String!, $i: ProblemInput!) { createProblem(slug: $s, input: $i) { slug status version } }";
pub const PUBLISH_PROBLEM: &str =
    "mutation($s: String!) { publishProblem(slug: $s) { slug status version } }";
pub const SUBMIT: &str = "mutation($s: String!, $c: String!) { submit(problemSlug: $s, code: $c) { id status problemVersion } }";

/// `--sandbox native`: the end-to-end tests here use the native backend;
/// the sandbox and judge suites run on both backends.
pub fn native_sandbox_args() -> pydojo::config::SandboxArgs {
    pydojo::config::SandboxArgs {
        backend: sandbox::BackendChoice::Native,
        docker_image: sandbox::DEFAULT_IMAGE.into(),
        docker_pool_size: 0,
        docker_socket: "/var/run/docker.sock".into(),
    }
}

/// The native sandbox, or `None` (with the reason printed) where this machine
/// cannot run it. Under CI=true a missing sandbox is a failure, never a skip.
pub async fn native_sandbox() -> Option<std::sync::Arc<dyn sandbox::DynSandbox>> {
    match pydojo::sandbox(&native_sandbox_args()).await {
        Ok(s) => Some(s),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but the sandbox is unavailable: {e:#}")
        }
        Err(e) => {
            eprintln!("skipping: {e:#}");
            None
        }
    }
}

/// The GraphQL URL of a `pydojo serve` started as a process, from the
/// first line it prints ("PyDojo listening on http://ADDR …").
pub fn graphql_url(startup_line: &str) -> String {
    let addr = startup_line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected start-up line: {startup_line}"));
    format!("http://{addr}/graphql")
}

/// A GraphQL request to a server started as a process; the whole reply.
pub async fn post_graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> reqwest::Result<Value> {
    let mut req = client
        .post(url)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await?.json().await
}

/// The tutor's settings: `base_url` for a (fake) model, else offline. Never
/// the environment's API key.
pub fn tutor_args(base_url: Option<String>) -> pydojo::config::TutorArgs {
    pydojo::config::TutorArgs {
        openai_api_key: base_url.as_ref().map(|_| "test-key".parse().unwrap()),
        tutor_base_url: base_url,
        tutor_model: "fake-model".into(),
        tutor_daily_quota: 50,
        tutor_timeout: std::time::Duration::from_secs(30),
    }
}
