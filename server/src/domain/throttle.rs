//! Per-key-id throttling of failed secret checks.
//!
//! Each argon2 verification against a key id spends a token from that key
//! id's bucket (reserved *before* the work, so 200 concurrent attempts cannot
//! all slip past the check); a matching secret gives the token back. An
//! empty bucket answers RESOURCE_EXHAUSTED with the time until the next
//! token. A key whose secret this process already checked never gets here
//! (see `verified_keys`), so a flood of wrong secrets for a key id does not
//! lock out the genuine key while it is in use.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::key_format::KeyId;

/// Key ids tracked at most; beyond it, full (idle) buckets are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets of failed-attempt allowance, one per key id.
#[derive(Debug)]
pub struct FailureThrottle {
    burst: f64,
    refill_every: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Attempts refused for an empty bucket, for the metrics.
    refused: AtomicU64,
}

impl FailureThrottle {
    /// Allows `burst` failures at once, then one per `refill_every`.
    pub fn new(burst: u32, refill_every: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill_every: refill_every.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / self.refill_every.as_secs_f64()).min(self.burst);
        bucket.updated = now;
    }

    /// How many attempts were refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes one attempt for `key_id` for a check about to run, or says how
    /// long until one is free. The attempt is given back when the returned
    /// guard is dropped, unless the check [spent](Attempt::spend) it (the
    /// secret was wrong): a check that matched, failed for another reason or
    /// was cancelled midway costs its key id nothing.
    pub fn attempt(&self, key_id: &KeyId) -> Result<Attempt<'_>, Duration> {
        self.reserve(key_id).inspect_err(|_| {
            self.refused.fetch_add(1, Ordering::Relaxed);
        })?;
        Ok(Attempt {
            throttle: self,
            key_id: key_id.clone(),
            spent: false,
        })
    }

    /// Takes one attempt for `key_id`, or says how long until one is free.
    fn reserve(&self, key_id: &KeyId) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key_id.as_str()) {
            let (burst, refill_every) = (self.burst, self.refill_every.as_secs_f64());
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() / refill_every < burst
            });
        }
        let bucket = buckets.entry(key_id.as_str().to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(self.refill_every.mul_f64(missing))
        }
    }

    /// Gives back a reserved attempt.
    fn refund(&self, key_id: &KeyId) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(key_id.as_str()) {
            self.refill(bucket, now);
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
            // A full bucket is the same as none: only key ids with recent
            // failures (or checks in flight) take memory.
            if bucket.tokens >= self.burst {
                buckets.remove(key_id.as_str());
            }
        }
    }
}

/// An attempt reserved by [`FailureThrottle::attempt`]; given back on drop
/// unless spent.
#[derive(Debug)]
#[must_use = "dropping the attempt gives it back at once"]
pub struct Attempt<'a> {
    throttle: &'a FailureThrottle,
    key_id: KeyId,
    spent: bool,
}

impl Attempt<'_> {
    /// The secret was wrong: the attempt counts against the key id.
    pub fn spend(mut self) {
        self.spent = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.spent {
            self.throttle.refund(&self.key_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key_id(text: &str) -> KeyId {
        KeyId::from_stored(text.to_owned())
    }

    #[test]
    fn a_burst_then_refusal_with_the_wait_and_refunds_restore() {
        let throttle = FailureThrottle::new(3, Duration::from_secs(10));
        let id = key_id("k");
        for _ in 0..3 {
            throttle.attempt(&id).expect("within the burst").spend();
        }
        let wait = throttle.attempt(&id).expect_err("exhausted");
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        throttle.refund(&id);
        let held = throttle.attempt(&id).expect("refunded");
        throttle
            .attempt(&key_id("other"))
            .expect("buckets are per key id")
            .spend();
        // Not spent (the secret matched, or the check was cancelled): back.
        drop(held);
        throttle.attempt(&id).expect("given back on drop").spend();
    }

    #[test]
    fn no_increment_is_lost_under_contention() {
        let throttle = Arc::new(FailureThrottle::new(10, Duration::from_secs(3600)));
        let threads: Vec<_> = (0..200)
            .map(|_| {
                let throttle = Arc::clone(&throttle);
                std::thread::spawn(move || throttle.reserve(&key_id("hot")).is_ok())
            })
            .collect();
        let admitted = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 10);
    }
}
