//! A NATS JetStream server for tests, like `store::testing` gives
//! PostgreSQL databases.
//!
//! [`nats_test_server`] prefers a private `nats-server -js` per test (a random
//! port on 127.0.0.1, its storage in a fresh directory), so tests never see
//! each other's streams or consumers. Without the binary it falls back to
//! `PYDOJO_TEST_NATS_URL`; tests then keep apart through
//! [`TestNats::topology`], which gives every call its own names. With
//! neither, under `CI=true` it panics (a test that needs NATS fails in CI,
//! never skips); elsewhere it prints why and returns `None`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::nats::Topology;

/// A reachable NATS server; a private one stops when this is dropped.
#[derive(Debug)]
pub struct TestNats {
    pub url: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

impl TestNats {
    /// Stream, subject and consumer names no other test uses.
    pub fn topology(&self) -> Topology {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        Topology {
            jobs_stream: format!("T{id}_JOBS"),
            results_stream: format!("T{id}_RESULTS"),
            subject_prefix: format!("t{id}"),
            executor_consumer: format!("t{id}-executors"),
            results_consumer: format!("t{id}-results"),
            ..Topology::default()
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A NATS server with JetStream for one test, or `None` (outside CI) with
/// the reason printed.
pub fn nats_test_server() -> Option<TestNats> {
    let mut why = Vec::new();
    match nats_server_binary() {
        Some(binary) => match start_private(&binary) {
            Ok(server) => return Some(server),
            Err(e) => why.push(format!("{} did not start: {e}", binary.display())),
        },
        None => why.push("no nats-server binary on PATH or in /usr/sbin".to_string()),
    }
    if let Ok(url) = std::env::var("PYDOJO_TEST_NATS_URL") {
        return Some(TestNats {
            url,
            child: None,
            dir: None,
        });
    }
    why.push("PYDOJO_TEST_NATS_URL is not set".to_string());
    let why = why.join("; ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but no NATS server for the tests: {why}");
    }
    eprintln!("skipping: no NATS server for this test: {why}");
    None
}

fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// Starts `nats-server -js` on a port it picks itself (`-p -1`) and reads the
/// port from its log, so there is no window in which another process could
/// take a port chosen for it.
fn start_private(binary: &Path) -> Result<TestNats, String> {
    let dir = std::env::temp_dir().join(format!("pydojo-nats-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut child = Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let marker = "Listening for client connections on ";
        let mut sent = false;
        // Keep reading to the end, so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some((_, addr)) = line.split_once(marker) {
                let _ = tx.send(addr.trim().to_string());
                sent = true;
            }
        }
    });
    let mut server = TestNats {
        url: String::new(),
        child: Some(child),
        dir: Some(dir),
    };
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(addr) => {
            server.url = format!("nats://{addr}");
            Ok(server)
        }
        Err(_) => Err("it did not report a client port within 15 s".to_string()),
    }
}
