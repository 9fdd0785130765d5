//! Playground runs: a user runs any snippet on their own input. Nothing is
//! judged; each run is recorded (sizes and measurements, not the code) for
//! usage analytics.

use serde::{Deserialize, Serialize};

use crate::{DomainError, Timestamp, UserId};

pub const CODE_MAX_BYTES: usize = 64 * 1024;
pub const STDIN_MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaygroundEvent {
    PlaygroundRunCompleted {
        user_id: UserId,
        code_bytes: u32,
        stdin_bytes: u32,
        exit_code: Option<i32>,
        signal: Option<i32>,
        cpu_ms: u32,
        wall_ms: u32,
        memory_kb: u64,
        /// "cpu", "wall", "memory", "output", "processes", "file_size".
        limit_hit: Option<String>,
        at: Timestamp,
    },
}

/// Code and input a playground run accepts.
pub fn validate_snippet(code: &str, stdin: &str) -> Result<(), DomainError> {
    if code.trim().is_empty() {
        return Err(DomainError::invalid("code", "must not be empty"));
    }
    if code.len() > CODE_MAX_BYTES {
        return Err(DomainError::invalid(
            "code",
            format!("must be at most {CODE_MAX_BYTES} bytes"),
        ));
    }
    if code.contains('\0') {
        return Err(DomainError::invalid(
            "code",
            "must not contain NUL characters",
        ));
    }
    if stdin.len() > STDIN_MAX_BYTES {
        return Err(DomainError::invalid(
            "stdin",
            format!("must be at most {STDIN_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Each user's runs go to their own stream.
pub fn stream(user: UserId) -> String {
    format!("playground-{user}")
}
