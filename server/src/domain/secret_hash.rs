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
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use blake2::{
    Blake2b512, Blake2bMac,
    digest::{Digest as _, Mac as _, consts::U8},
};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use super::key_format::{KeyId, Secret};

/// The log target of a debug event per argon2 verification run, e.g.
/// `RUST_LOG=info,accesskey::argon2=debug` to count them.
pub const ARGON2_LOG_TARGET: &str = "accesskey::argon2";

/// BLAKE2b keyed, 64-bit output: the fingerprint function.
type FingerprintMac = Blake2bMac<U8>;
/// Domain separation: no other BLAKE2b in accesskey uses this persona.
const FINGERPRINT_PERSONA: &[u8; 16] = b"akey.fp.v1......";
/// The fingerprint key without a pepper. Public, so a fingerprint without a
/// pepper is as computable as the key id it is bound to: what protects the
/// secret is its 256 bits (see [`Fingerprint`]).
const FINGERPRINT_KEY_WITHOUT_PEPPER: &[u8] = b"accesskey secret fingerprint, no pepper";

/// A 64-bit fingerprint of a key's secret, bound to its key id (and keyed
/// with the pepper when there is one), stored beside the argon2id hash.
///
/// A presented secret whose fingerprint differs is wrong, and is told so
/// without argon2; only a matching one (in practice, the genuine secret) is
/// checked by argon2. It weakens nothing: a secret is 43 base62 characters,
/// about 256 bits, so the 64 bits a stolen fingerprint pins down still leave
/// about 2^192 equally likely secrets, each needing an argon2 run to tell
/// apart, and finding even one that matches the fingerprint takes about
/// 2^64 BLAKE2b runs per key. With a pepper, it cannot be computed at all
/// without the pepper.
#[derive(Clone, Copy)]
pub struct Fingerprint([u8; 8]);

impl Fingerprint {
    /// As stored: the 8 bytes as a little-endian signed integer, which every
    /// backend stores natively.
    pub fn from_stored(value: i64) -> Self {
        Self(value.to_le_bytes())
    }

    pub fn to_stored(self) -> i64 {
        i64::from_le_bytes(self.0)
    }

    /// Whether two fingerprints are equal, in constant time.
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(redacted)")
    }
}

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
#[derive(Clone)]
pub struct SecretHasher {
    params: HashParams,
    pepper: Option<Pepper>,
    fingerprint_mac: FingerprintMac,
    permits: Arc<Semaphore>,
    queue_timeout: std::time::Duration,
    workers: Arc<Workers>,
    /// argon2 verifications run so far (not hashes of new keys).
    verifications: Arc<AtomicU64>,
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

impl Pepper {
    /// 32 bits of a hash of the pepper, for logs: replicas started with the
    /// same pepper show the same value, so one with a wrong (or edited)
    /// pepper file stands out. Not a secret for a pepper of random bytes,
    /// as the README asks for; it would narrow a guessable one.
    pub fn fingerprint(&self) -> String {
        let digest = Blake2b512::new_with_prefix(b"accesskey pepper id")
            .chain_update(&self.0)
            .finalize();
        digest[..4]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
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
            fingerprint_mac: fingerprint_mac(FINGERPRINT_KEY_WITHOUT_PEPPER),
            permits: Arc::new(Semaphore::new(permits)),
            queue_timeout,
            workers: Arc::new(Workers::start(permits)),
            verifications: Arc::new(AtomicU64::new(0)),
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
        self.verifications.load(Ordering::Relaxed)
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
        let verifications = Arc::clone(&self.verifications);
        self.run_blocking(move || {
            verifications.fetch_add(1, Ordering::Relaxed);
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
        let permit = tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| HashError::Busy(self.queue_timeout))?
        .map_err(|e| HashError::Worker(e.to_string()))?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.workers
            .jobs
            .send(Box::new(move || {
                let _permit = permit;
                if done.is_closed() {
                    return;
                }
                let _ = done.send(work());
            }))
            .map_err(|_| HashError::Worker("the argon2 workers stopped".to_owned()))?;
        result
            .await
            .map_err(|_| HashError::Worker("an argon2 job panicked".to_owned()))?
    }
}

fn fingerprint_mac(key: &[u8]) -> FingerprintMac {
    FingerprintMac::new_with_salt_and_personal(key, &[], FINGERPRINT_PERSONA)
        .unwrap_or_else(|_| unreachable!("a key of at most 64 bytes and a 16-byte persona"))
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

    #[test]
    fn fingerprints_tell_secrets_apart_bound_to_their_key_id_and_pepper() {
        let timeout = std::time::Duration::from_secs(5);
        let plain = SecretHasher::new(HashParams::OWASP, 1, timeout);
        let key = AccessKey::generate().expect("csprng");
        let other = AccessKey::generate().expect("csprng");
        let fingerprint = plain.fingerprint(key.key_id(), key.secret());
        assert!(fingerprint.matches(&plain.fingerprint(key.key_id(), key.secret())));
        assert!(!fingerprint.matches(&plain.fingerprint(key.key_id(), other.secret())));
        assert!(
            !fingerprint.matches(&plain.fingerprint(other.key_id(), key.secret())),
            "bound to the key id"
        );
        let stored = Fingerprint::from_stored(fingerprint.to_stored());
        assert!(stored.matches(&fingerprint), "survives storage");
        let peppered = SecretHasher::new(HashParams::OWASP, 1, timeout)
            .with_pepper(Pepper::new(vec![7; 32]).expect("long enough"));
        assert!(
            !fingerprint.matches(&peppered.fingerprint(key.key_id(), key.secret())),
            "keyed with the pepper"
        );
        assert_eq!(format!("{fingerprint:?}"), "Fingerprint(redacted)");
    }

    #[test]
    fn a_pepper_is_told_apart_by_its_fingerprint() {
        let pepper = |byte: u8| Pepper::new(vec![byte; 32]).expect("long enough");
        assert_eq!(pepper(1).fingerprint(), pepper(1).fingerprint());
        assert_ne!(pepper(1).fingerprint(), pepper(2).fingerprint());
        assert_eq!(pepper(1).fingerprint().len(), 8, "32 bits, in hex");
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
