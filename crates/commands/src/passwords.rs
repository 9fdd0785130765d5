//! Argon2id password hashing, off the async runtime.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::Arc;

use argon2::{Argon2, Params};
use tokio::sync::Semaphore;

use crate::{Error, Result};

/// Hashes and verifies passwords on the blocking pool (each hash takes tens of
/// milliseconds by design).
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    /// A real hash of nothing anyone knows, verified against when a login
    /// names no user, so that such a login costs as much as a wrong password.
    decoy: String,
    /// Each hash holds 19 MiB for tens of milliseconds: a burst of logins
    /// must queue, not take the blocking pool's 512 threads and gigabytes.
    permits: Arc<Semaphore>,
}

impl Passwords {
    /// Argon2id with the OWASP-recommended defaults (19 MiB, 2 passes).
    pub fn new() -> Self {
        Self::with_params(Params::default())
    }

    /// Cheap parameters for tests and benchmarks that create many users.
    pub fn fast_for_tests() -> Self {
        Self::with_params(Params::new(1024, 1, 1, None).expect("valid argon2 params"))
    }

    fn with_params(params: Params) -> Self {
        let decoy = Argon2::from(params.clone())
            .hash_password(uuid::Uuid::new_v4().as_bytes())
            .expect("argon2 hashes")
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            params,
            decoy,
            permits: Arc::new(Semaphore::new(cpus * 2)),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let (params, password) = (self.params.clone(), password.to_string());
        tokio::task::spawn_blocking(move || {
            Argon2::from(params)
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
        })
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
        .map_err(|e| Error::Internal(format!("hashing failed: {e}")))
    }

    pub async fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (password, hash) = (password.to_string(), hash.to_string());
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Spends the time a real verification would.
    pub async fn burn(&self, password: &str) {
        let _ = self.verify(password, &self.decoy.clone()).await;
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}
