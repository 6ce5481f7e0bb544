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
    /// No worker became free within the queue bound.
    #[error("every argon2 worker stayed busy for {0:?}")]
    Busy(std::time::Duration),
}

/// Hashes and verifies secrets on a fixed set of dedicated threads, at most
/// `permits` at once, so argon2's memory stays bounded by permits × its
/// memory cost. Dedicated threads matter: the allocator keeps a freed 19 MiB
/// argon2 block in the arena of the thread that used it, so running argon2
/// on an ever-changing set of blocking threads let resident memory grow to
/// gigabytes.
#[derive(Debug, Clone)]
pub struct SecretHasher {
    params: HashParams,
    pepper: Option<Pepper>,
    permits: Arc<Semaphore>,
    queue_timeout: std::time::Duration,
    workers: Arc<Workers>,
}

/// A server secret mixed into every hash (argon2's secret input), kept
/// outside the database: a stolen database alone cannot be attacked
/// offline. Never printed.
#[derive(Clone)]
pub struct Pepper(Arc<[u8]>);

impl Pepper {
    /// Shorter peppers are refused: they would add little.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < Self::MIN_LEN {
            return Err(format!(
                "the pepper must be at least {} bytes long",
                Self::MIN_LEN
            ));
        }
        Ok(Self(bytes.into()))
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(redacted)")
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The argon2 threads; they stop when the last hasher is dropped.
#[derive(Debug)]
struct Workers {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Workers {
    fn start(count: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for index in 0..count {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking job must not take the worker with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start an argon2 worker thread");
            }
        }
        Self { jobs }
    }
}

impl SecretHasher {
    /// At most `permits` computations at once, on as many dedicated threads;
    /// a call that cannot start within `queue_timeout` fails with
    /// [`HashError::Busy`] instead of queueing without limit.
    pub fn new(params: HashParams, permits: usize, queue_timeout: std::time::Duration) -> Self {
        let permits = permits.max(1);
        Self {
            params,
            pepper: None,
            permits: Arc::new(Semaphore::new(permits)),
            queue_timeout,
            workers: Arc::new(Workers::start(permits)),
        }
    }

    /// Mixes `pepper` into every hash and verification from now on. Keys
    /// hashed without it (or with another) no longer verify.
    pub fn with_pepper(mut self, pepper: Pepper) -> Self {
        self.pepper = Some(pepper);
        self
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: &Secret) -> Result<String, HashError> {
        let params = self.params;
        let pepper = self.pepper.clone();
        let secret = secret.clone();
        self.run_blocking(move || {
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt)?;
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
            let hasher = argon2_for(params, pepper.as_ref())?;
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
        let pepper = self.pepper.clone();
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
            let verifier = argon2_for(stored_params, pepper.as_ref())?;
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
        // One permit per worker thread, so a job never waits in the channel.
        let _permit = tokio::time::timeout(self.queue_timeout, self.permits.acquire())
            .await
            .map_err(|_| HashError::Busy(self.queue_timeout))?
            .map_err(|e| HashError::Worker(e.to_string()))?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.workers
            .jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| HashError::Worker("the argon2 workers stopped".to_owned()))?;
        result
            .await
            .map_err(|_| HashError::Worker("an argon2 job panicked".to_owned()))?
    }
}

fn argon2_for(params: HashParams, pepper: Option<&Pepper>) -> Result<Argon2<'_>, HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError::Argon2(e.to_string()))?;
    match pepper {
        Some(Pepper(secret)) => {
            Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, params)
                .map_err(|e| HashError::Argon2(e.to_string()))
        }
        None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_format::AccessKey;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify_only_their_secret() {
        let hasher = SecretHasher::new(HashParams::OWASP, 2, std::time::Duration::from_secs(5));
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
    async fn a_peppered_hash_verifies_only_with_the_same_pepper() {
        let timeout = std::time::Duration::from_secs(5);
        let pepper = |byte: u8| Pepper::new(vec![byte; 32]).expect("long enough");
        let peppered = SecretHasher::new(HashParams::OWASP, 1, timeout).with_pepper(pepper(1));
        let key = AccessKey::generate().expect("csprng");
        let stored = peppered.hash(key.secret()).await.expect("hash");
        assert!(
            peppered
                .verify(key.secret(), &stored)
                .await
                .expect("verify")
        );
        let plain = SecretHasher::new(HashParams::OWASP, 1, timeout);
        assert!(!plain.verify(key.secret(), &stored).await.expect("verify"));
        let other = SecretHasher::new(HashParams::OWASP, 1, timeout).with_pepper(pepper(2));
        assert!(!other.verify(key.secret(), &stored).await.expect("verify"));
        assert!(Pepper::new(vec![7; Pepper::MIN_LEN - 1]).is_err());
        assert!(
            !format!("{peppered:?}").contains("1, 1"),
            "the pepper is never printed"
        );
    }

    #[tokio::test]
    async fn refuses_stored_hashes_with_absurd_parameters() {
        let hasher = SecretHasher::new(HashParams::OWASP, 1, std::time::Duration::from_secs(5));
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
