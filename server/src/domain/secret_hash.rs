//! argon2id hashing of key secrets, off the async runtime and bounded, and
//! the fingerprint that keeps wrong secrets away from argon2.
//!
//! Secrets are stored only as argon2id PHC strings
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), beside a 64-bit
//! [`Fingerprint`]. Verification compares fingerprints in constant time and
//! runs argon2 only on a match; argon2 compares its hash in constant time
//! itself. Nothing here compares secret bytes with `==`.

use std::{
    fmt,
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use blake2::{
    Blake2b512,
    digest::{Digest as _, Mac as _},
};
use tokio::sync::Semaphore;

use super::key_format::{KeyId, Secret};

mod fingerprint;
mod load;
mod params;
mod pepper;

pub use fingerprint::Fingerprint;
use fingerprint::{FINGERPRINT_KEY_WITHOUT_PEPPER, FingerprintMac, fingerprint_mac};
pub use load::Argon2Load;
use load::Load;
pub use params::{HashParams, HashParamsError};
pub use pepper::{Pepper, PepperTooShort};

/// The log target of a debug event per argon2 verification run, e.g.
/// `RUST_LOG=info,accesskey::argon2=debug` to count them.
pub const ARGON2_LOG_TARGET: &str = "accesskey::argon2";

/// Why hashing or verification could not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the stored hash is not a usable argon2id hash: {0}")]
    UnusableStoredHash(&'static str),
    #[error("argon2 failed")]
    Argon2(#[from] argon2::Error),
    #[error("argon2 could not encode its hash")]
    Encoding(#[from] argon2::password_hash::Error),
    #[error("the OS random number generator failed")]
    Random(#[from] getrandom::Error),
    /// The worker threads are gone (the server is stopping), or a job
    /// panicked on one.
    #[error("the argon2 workers {0}")]
    Worker(WorkerFault),
    /// No worker became free within the queue bound.
    #[error("every argon2 worker stayed busy for {0:?}")]
    Busy(std::time::Duration),
}

/// What happened to the argon2 worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerFault {
    /// They stopped taking jobs.
    Stopped,
    /// The job panicked on its thread.
    Panicked,
}

impl std::fmt::Display for WorkerFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Stopped => "stopped",
            Self::Panicked => "lost a job that panicked",
        })
    }
}

/// Hashes and verifies secrets on a fixed set of dedicated threads, at most
/// `permits` at once, so argon2's memory stays bounded by permits × its
/// memory cost. Dedicated threads matter: the allocator keeps a freed 19 MiB
/// argon2 block in the arena of the thread that used it, so running argon2
/// on an ever-changing set of blocking threads let resident memory grow to
/// gigabytes.
#[derive(Clone)]
pub struct SecretHasher {
    params: HashParams,
    pepper: Option<Pepper>,
    fingerprint_mac: FingerprintMac,
    permits: Arc<Semaphore>,
    queue_timeout: std::time::Duration,
    workers: Arc<Workers>,
    worker_count: usize,
    load: Arc<Load>,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher")
            .field("params", &self.params)
            .field("pepper", &self.pepper)
            .field("permits", &self.permits)
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
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
            fingerprint_mac: fingerprint_mac(FINGERPRINT_KEY_WITHOUT_PEPPER),
            permits: Arc::new(Semaphore::new(permits)),
            queue_timeout,
            workers: Arc::new(Workers::start(permits)),
            worker_count: permits,
            load: Arc::new(Load::default()),
        }
    }

    /// Mixes `pepper` into every hash, verification and fingerprint from
    /// now on. Keys hashed without it (or with another) no longer verify.
    pub fn with_pepper(mut self, pepper: Pepper) -> Self {
        // A BLAKE2b key is at most 64 bytes; a pepper may be longer.
        let key = Blake2b512::new_with_prefix(b"accesskey pepper for fingerprints")
            .chain_update(&pepper.0)
            .finalize();
        self.fingerprint_mac = fingerprint_mac(&key);
        self.pepper = Some(pepper);
        self
    }

    /// The fingerprint of `secret` for key `key_id`: cheap (one BLAKE2b).
    pub fn fingerprint(&self, key_id: &KeyId, secret: &Secret) -> Fingerprint {
        let mut mac = self.fingerprint_mac.clone();
        // Key ids have a fixed length, so the concatenation is unambiguous.
        mac.update(key_id.as_str().as_bytes());
        mac.update(secret.expose_bytes());
        Fingerprint(mac.finalize().into_bytes().into())
    }

    /// How many argon2 verifications this hasher (and its clones) ran.
    pub fn verifications(&self) -> u64 {
        self.load.verifications.load(Ordering::Relaxed)
    }

    /// What the workers are doing and have done.
    pub fn load(&self) -> Argon2Load {
        let running = self
            .worker_count
            .saturating_sub(self.permits.available_permits());
        self.load.snapshot(running as u64, self.worker_count as u64)
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: &Secret) -> Result<String, HashError> {
        let params = self.params;
        let pepper = self.pepper.clone();
        let secret = secret.clone();
        let load = Arc::clone(&self.load);
        self.run_blocking(move || {
            load.hashes.fetch_add(1, Ordering::Relaxed);
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt)?;
            let salt = SaltString::encode_b64(&salt)?;
            let hasher = argon2_for(params, pepper.as_ref())?;
            let hash = hasher.hash_password(secret.expose_bytes(), &salt)?;
            Ok(hash.to_string())
        })
        .await
    }

    /// Whether `secret` matches the stored PHC string.
    pub async fn verify(&self, secret: &Secret, stored: &str) -> Result<bool, HashError> {
        self.verify_then(secret, stored, || {}).await
    }

    /// [`verify`](Self::verify), running `on_match` on the worker thread
    /// when the secret matches, even if the caller stopped waiting while
    /// argon2 ran: that run is paid for, and what it found (the genuine
    /// secret) should not have to be paid for again. A caller gone before
    /// its job starts still has the job skipped.
    pub async fn verify_then(
        &self,
        secret: &Secret,
        stored: &str,
        on_match: impl FnOnce() + Send + 'static,
    ) -> Result<bool, HashError> {
        let secret = secret.clone();
        let stored = stored.to_owned();
        let pepper = self.pepper.clone();
        let load = Arc::clone(&self.load);
        self.run_blocking(move || {
            load.verifications.fetch_add(1, Ordering::Relaxed);
            // Off by default; the benchmark counts these lines.
            tracing::debug!(target: ARGON2_LOG_TARGET, "argon2 verification");
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
            let matched = verifier
                .verify_password(secret.expose_bytes(), &hash)
                .is_ok();
            if matched {
                on_match();
            }
            Ok(matched)
        })
        .await
    }

    /// Runs `work` on a worker thread. The permit belongs to the job: it
    /// is taken before the job is queued and released when the work ends,
    /// not when the caller stops waiting. So however many callers give up
    /// (a 5 ms deadline, a dropped connection), at most one job per worker
    /// exists at a time and `queue_timeout` keeps bounding every wait; a
    /// job whose caller is gone by the time a worker takes it is skipped.
    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // Counted while waiting, however the wait ends (a caller that
        // gives up drops it here).
        let waiting = self.load.start_waiting();
        let permit = tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await;
        drop(waiting);
        let permit = permit
            .map_err(|_| {
                self.load.shed.fetch_add(1, Ordering::Relaxed);
                HashError::Busy(self.queue_timeout)
            })?
            .map_err(|_closed| HashError::Worker(WorkerFault::Stopped))?;
        let (done, result) = tokio::sync::oneshot::channel();
        let load = Arc::clone(&self.load);
        self.workers
            .jobs
            .send(Box::new(move || {
                let _permit = permit;
                if done.is_closed() {
                    return;
                }
                let started = Instant::now();
                let outcome = work();
                load.ran(started.elapsed());
                let _ = done.send(outcome);
            }))
            .map_err(|_| HashError::Worker(WorkerFault::Stopped))?;
        result
            .await
            .map_err(|_| HashError::Worker(WorkerFault::Panicked))?
    }
}

fn argon2_for(params: HashParams, pepper: Option<&Pepper>) -> Result<Argon2<'_>, HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )?;
    match pepper {
        Some(Pepper(secret)) => Ok(Argon2::new_with_secret(
            secret,
            Algorithm::Argon2id,
            Version::V0x13,
            params,
        )?),
        None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
    }
}

#[cfg(test)]
mod tests;
