//! What the argon2 workers are doing and have done: counts and summed
//! times kept in atomics (a few relaxed additions per computation), read
//! by the metrics endpoint.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The counters one hasher and its clones share.
#[derive(Debug, Default)]
pub(super) struct Load {
    pub(super) verifications: AtomicU64,
    pub(super) hashes: AtomicU64,
    /// Calls waiting for a worker right now.
    pub(super) waiting: AtomicU64,
    /// Calls refused because no worker became free in time.
    pub(super) shed: AtomicU64,
    wait_micros: AtomicU64,
    run_micros: AtomicU64,
}

impl Load {
    /// Counts a call as waiting for a worker until the guard is dropped,
    /// and then adds its wait to the total.
    pub(super) fn start_waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting {
            load: self,
            since: Instant::now(),
        }
    }

    pub(super) fn ran(&self, run: Duration) {
        self.run_micros.fetch_add(micros(run), Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self, running: u64, workers: u64) -> Argon2Load {
        let seconds = |total: &AtomicU64| total.load(Ordering::Relaxed) as f64 / 1e6;
        Argon2Load {
            verifications: self.verifications.load(Ordering::Relaxed),
            hashes: self.hashes.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            running,
            workers,
            shed: self.shed.load(Ordering::Relaxed),
            wait_seconds: seconds(&self.wait_micros),
            run_seconds: seconds(&self.run_micros),
        }
    }
}

/// A call waiting for a worker (see [`Load::start_waiting`]).
pub(super) struct Waiting<'a> {
    load: &'a Load,
    since: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.load.waiting.fetch_sub(1, Ordering::Relaxed);
        self.load
            .wait_micros
            .fetch_add(micros(self.since.elapsed()), Ordering::Relaxed);
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The argon2 workers' load at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Argon2Load {
    /// Verifications run (not hashes of new keys).
    pub verifications: u64,
    /// Hashes of new keys computed.
    pub hashes: u64,
    /// Calls waiting for a worker now.
    pub waiting: u64,
    /// Computations running now.
    pub running: u64,
    pub workers: u64,
    /// Calls refused with RESOURCE_EXHAUSTED: no worker within the queue
    /// timeout.
    pub shed: u64,
    /// Summed over every call: time waiting for a worker, and computing.
    pub wait_seconds: f64,
    pub run_seconds: f64,
}
