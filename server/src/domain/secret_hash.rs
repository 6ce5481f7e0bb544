//! argon2id hashing of key secrets, off the async runtime and bounded.
//!
//! Secrets are stored only as argon2id PHC strings
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). Verification recomputes the hash
//! and compares it in constant time inside `argon2`; nothing here compares
//! secret bytes with `==`.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;

use super::key_format::Secret;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's recommended minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// Stored hashes asking for more than this are refused unverified, so a
    /// tampered row cannot make one verification allocate gigabytes.
    const MAX: Self = Self {
        memory_kib: 1 << 20,
        iterations: 64,
        parallelism: 16,
    };

    /// Checks the parameters are at least OWASP's floor and at most the cap.
    pub fn validate(self) -> Result<Self, String> {
        if self.memory_kib < Self::OWASP.memory_kib
            || self.iterations < Self::OWASP.iterations
            || self.parallelism < Self::OWASP.parallelism
        {
            return Err(format!(
                "argon2 parameters m={},t={},p={} are below the OWASP floor m={},t={},p={}",
                self.memory_kib,
                self.iterations,
                self.parallelism,
                Self::OWASP.memory_kib,
                Self::OWASP.iterations,
                Self::OWASP.parallelism
            ));
        }
        if !self.within_max() {
            return Err(format!(
                "argon2 parameters exceed the maximum m={},t={},p={}",
                Self::MAX.memory_kib,
                Self::MAX.iterations,
                Self::MAX.parallelism
            ));
        }
        Ok(self)
    }

    fn within_max(self) -> bool {
        self.memory_kib <= Self::MAX.memory_kib
            && self.iterations <= Self::MAX.iterations
            && self.parallelism <= Self::MAX.parallelism
    }
}

/// Why hashing or verification could not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the stored hash is not a usable argon2id hash: {0}")]
    UnusableStoredHash(&'static str),
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the OS random number generator failed: {0}")]
    Random(#[from] getrandom::Error),
    #[error("the hashing worker stopped: {0}")]
    Worker(String),
}

/// Hashes and verifies secrets on blocking threads, at most `permits` at once
/// so that argon2's memory (permits × memory_kib) stays bounded.
#[derive(Debug, Clone)]
pub struct SecretHasher {
    params: HashParams,
    permits: Arc<Semaphore>,
}

impl SecretHasher {
    pub fn new(params: HashParams, permits: usize) -> Self {
        Self {
            params,
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: &Secret) -> Result<String, HashError> {
        let params = self.params;
        let secret = secret.clone();
        self.run_blocking(move || {
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt)?;
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
            let hasher = argon2_for(params)?;
            let hash = hasher
                .hash_password(secret.expose_bytes(), &salt)
                .map_err(|e| HashError::Argon2(e.to_string()))?;
            Ok(hash.to_string())
        })
        .await
    }

    /// Whether `secret` matches the stored PHC string.
    pub async fn verify(&self, secret: &Secret, stored: &str) -> Result<bool, HashError> {
        let secret = secret.clone();
        let stored = stored.to_owned();
        self.run_blocking(move || {
            let hash = PasswordHash::new(&stored)
                .map_err(|_| HashError::UnusableStoredHash("not a PHC string"))?;
            if hash.algorithm.as_str() != "argon2id" {
                return Err(HashError::UnusableStoredHash("not argon2id"));
            }
            let params = Params::try_from(&hash)
                .map_err(|_| HashError::UnusableStoredHash("bad parameters"))?;
            let stored_params = HashParams {
                memory_kib: params.m_cost(),
                iterations: params.t_cost(),
                parallelism: params.p_cost(),
            };
            if !stored_params.within_max() {
                return Err(HashError::UnusableStoredHash(
                    "parameters above the maximum",
                ));
            }
            let verifier = argon2_for(stored_params)?;
            Ok(verifier
                .verify_password(secret.expose_bytes(), &hash)
                .is_ok())
        })
        .await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Worker(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Worker(e.to_string()))?
    }
}

fn argon2_for(params: HashParams) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_format::AccessKey;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify_only_their_secret() {
        let hasher = SecretHasher::new(HashParams::OWASP, 2);
        let key = AccessKey::generate().expect("csprng");
        let other = AccessKey::generate().expect("csprng");
        let first = hasher.hash(key.secret()).await.expect("hash");
        let second = hasher.hash(key.secret()).await.expect("hash");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "salts must differ");
        assert!(hasher.verify(key.secret(), &first).await.expect("verify"));
        assert!(!hasher.verify(other.secret(), &first).await.expect("verify"));
    }

    #[tokio::test]
    async fn refuses_stored_hashes_with_absurd_parameters() {
        let hasher = SecretHasher::new(HashParams::OWASP, 1);
        let key = AccessKey::generate().expect("csprng");
        let hash = hasher.hash(key.secret()).await.expect("hash");
        let tampered = hash.replace("m=19456", "m=4000000");
        assert!(matches!(
            hasher.verify(key.secret(), &tampered).await,
            Err(HashError::UnusableStoredHash(_))
        ));
    }

    #[test]
    fn parameters_below_the_owasp_floor_are_refused() {
        assert!(HashParams::OWASP.validate().is_ok());
        let weak = HashParams {
            memory_kib: 4096,
            ..HashParams::OWASP
        };
        assert!(weak.validate().is_err());
    }
}
