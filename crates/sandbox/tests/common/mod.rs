//! Shared setup of the integration tests: a real sandbox of either backend
//! on this host, or, outside CI, a skip with the reason printed.
//!
//! Each test file writes its tests once as `async fn name(backend: Backend)`
//! and lists them in [`backend_tests!`], which makes a `native::name`, a
//! `native_cold::name` and a `docker::name` test of each. `native` runs
//! take a sandbox from the warm pool (the helper waits for it to fill);
//! `native_cold` has no pool, so every run is launched cold.
#![allow(dead_code)]

use std::time::Duration;

use sandbox::{
    DockerConfig, DockerSandbox, Limits, NativeConfig, NativeSandbox, RunOutcome, RunSpec, Sandbox,
    Session, Stream,
};

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Native, runs taken from a filled warm pool.
    Native,
    /// Native without a pool: every run launched cold.
    NativeCold,
    Docker,
}

impl Backend {
    /// The module the test of this backend lives in (`native::…`).
    pub fn module(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::NativeCold => "native_cold",
            Backend::Docker => "docker",
        }
    }
}

/// Makes a `native`, a `native_cold` and a `docker` module with one
/// `#[tokio::test]` per listed `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod native {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Native).await
                }
            )*
        }
        mod native_cold {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::NativeCold).await
                }
            )*
        }
        mod docker {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Docker).await
                }
            )*
        }
    };
}

/// A checked sandbox of either backend.
#[derive(Debug)]
pub enum TestSandbox {
    Native(Box<NativeSandbox>),
    Docker(DockerSandbox),
}

impl TestSandbox {
    pub async fn spawn_session(&self, spec: RunSpec) -> sandbox::Result<Session> {
        match self {
            TestSandbox::Native(sb) => sb.spawn_session(spec).await,
            TestSandbox::Docker(sb) => sb.spawn_session(spec).await,
        }
    }

    pub async fn run_streaming(
        &self,
        spec: RunSpec,
        sink: impl FnMut(Stream, &[u8]) + Send,
    ) -> sandbox::Result<RunOutcome> {
        match self {
            TestSandbox::Native(sb) => sb.run_streaming(spec, sink).await,
            TestSandbox::Docker(sb) => sb.run_streaming(spec, sink).await,
        }
    }

    pub fn native(&self) -> Option<&NativeSandbox> {
        match self {
            TestSandbox::Native(sb) => Some(sb),
            TestSandbox::Docker(_) => None,
        }
    }

    pub fn docker(&self) -> Option<&DockerSandbox> {
        match self {
            TestSandbox::Docker(sb) => Some(sb),
            TestSandbox::Native(_) => None,
        }
    }
}

impl Sandbox for TestSandbox {
    async fn spawn(&self, spec: RunSpec) -> sandbox::Result<Session> {
        self.spawn_session(spec).await
    }
}

/// The Docker configuration of the tests: the default one, with the image
/// from `PYDOJO_SANDBOX_IMAGE` when set.
pub fn docker_config() -> DockerConfig {
    let mut config = DockerConfig::default();
    if let Ok(image) = std::env::var("PYDOJO_SANDBOX_IMAGE") {
        config.image = image;
    }
    config
}

/// The sandbox, checked. With `CI=true` a missing prerequisite fails the
/// test; otherwise the test is skipped with the reason printed.
pub async fn sandbox(backend: Backend) -> Option<TestSandbox> {
    let ready = match backend {
        Backend::Native | Backend::NativeCold => {
            let config = NativeConfig {
                pool_size: if backend == Backend::Native { 2 } else { 0 },
                ..NativeConfig::default()
            };
            match NativeSandbox::new(config) {
                Ok(sb) => match sb.check().await {
                    Ok(()) => {
                        sb.pool_filled().await;
                        Ok(TestSandbox::Native(Box::new(sb)))
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Backend::Docker => match DockerSandbox::new(docker_config()).await {
            Ok(sb) => sb.check().await.map(|()| TestSandbox::Docker(sb)),
            Err(e) => Err(e),
        },
    };
    match ready {
        Ok(sandbox) => Some(sandbox),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "{} sandbox prerequisites missing (CI=true, so this fails): {e}",
                backend.module()
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: {} sandbox prerequisites missing: {e}",
                backend.module()
            );
            None
        }
    }
}

/// `python3 -I -S main.py` with `code` as main.py.
pub fn python(code: &str) -> RunSpec {
    RunSpec::new(["python3", "-I", "-S", "main.py"]).file("main.py", code)
}

pub fn limits() -> Limits {
    Limits::default()
}

pub fn tight(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

pub async fn run(sandbox: &TestSandbox, spec: RunSpec) -> RunOutcome {
    sandbox.run(spec).await.expect("the sandbox itself works")
}

pub fn stdout(outcome: &RunOutcome) -> String {
    String::from_utf8_lossy(&outcome.stdout).into_owned()
}

pub fn stderr(outcome: &RunOutcome) -> String {
    String::from_utf8_lossy(&outcome.stderr).into_owned()
}

/// Asserts the run ended normally with code 0, showing stderr otherwise.
pub fn assert_ok(outcome: &RunOutcome) {
    assert!(
        outcome.exit.success() && outcome.limit_hit.is_none(),
        "run failed: {:?} limit {:?}\nstdout: {}\nstderr: {}",
        outcome.exit,
        outcome.limit_hit,
        stdout(outcome),
        stderr(outcome)
    );
}

pub const SECOND: Duration = Duration::from_secs(1);
