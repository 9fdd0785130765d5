//! The playground's runner: any snippet, the user's own stdin, the native
//! sandbox of the service, fixed limits.

use std::time::Duration;

use futures::future::BoxFuture;
use graphql::{SnippetReport, SnippetRunner};
use std::sync::Arc;

use sandbox::{DynSandbox, ExitStatus, LimitKind, RunSpec, Sandbox};

/// Limits of a playground run.
#[derive(Debug, Clone, Copy)]
pub struct PlaygroundLimits {
    pub wall: Duration,
    pub memory_bytes: u64,
    pub output_bytes: u64,
}

pub struct SandboxPlayground {
    sandbox: Arc<dyn DynSandbox>,
    limits: PlaygroundLimits,
}

impl std::fmt::Debug for SandboxPlayground {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxPlayground")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SandboxPlayground {
    pub fn new(sandbox: Arc<dyn DynSandbox>, limits: PlaygroundLimits) -> Self {
        Self { sandbox, limits }
    }
}

fn limit_name(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Cpu => "cpu",
        LimitKind::Wall => "wall",
        LimitKind::Memory => "memory",
        LimitKind::Output => "output",
        LimitKind::Processes => "processes",
        LimitKind::FileSize => "file_size",
    }
}

impl SnippetRunner for SandboxPlayground {
    fn run(&self, code: String, stdin: String) -> BoxFuture<'_, Result<SnippetReport, String>> {
        Box::pin(async move {
            let limits = sandbox::Limits {
                cpu_time: self.limits.wall,
                wall_time: self.limits.wall,
                memory_bytes: self.limits.memory_bytes,
                output_bytes: self.limits.output_bytes,
                ..sandbox::Limits::default()
            };
            let spec = RunSpec::new(["python3", "-I", "-S", "main.py"])
                .file("main.py", code)
                .stdin(stdin)
                .limits(limits);
            let outcome = self.sandbox.run(spec).await.map_err(|e| e.to_string())?;
            let (exit_code, signal) = match outcome.exit {
                ExitStatus::Code(c) => (Some(c), None),
                ExitStatus::Signal(s) => (None, Some(s)),
            };
            Ok(SnippetReport {
                stdout: String::from_utf8_lossy(&outcome.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&outcome.stderr).into_owned(),
                stdout_truncated: outcome.stdout_truncated,
                stderr_truncated: outcome.stderr_truncated,
                exit_code,
                signal,
                cpu_ms: outcome.cpu_time.as_millis() as u32,
                wall_ms: outcome.wall_time.as_millis() as u32,
                memory_kb: outcome.peak_memory_bytes / 1024,
                limit_hit: outcome.limit_hit.map(|k| limit_name(k).to_string()),
            })
        })
    }
}
