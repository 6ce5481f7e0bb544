//! Single flight: concurrent first checks of one key wait for a single
//! argon2 run instead of each paying for it, and no entry outlives its
//! tasks.

use std::sync::Arc;

use super::{MacBytes, VerifiedKeys};

/// Held while this task checks a key's secret; others presenting the same
/// key wait for it, then find the answer in the cache.
#[derive(Debug)]
pub struct SingleFlight<'a> {
    // Field order is drop order: the turn (and its hold on the lock) goes
    // before the participant checks whether it was the last one.
    _turn: tokio::sync::OwnedMutexGuard<()>,
    _participant: Participant<'a>,
}

/// One task's share in a key's in-flight entry, whether it holds the turn
/// or waits for it. Whoever lets go last removes the entry, so no entry
/// outlives its tasks, however they end (a waiter cancelled while waiting
/// included).
#[derive(Debug)]
pub(super) struct Participant<'a> {
    cache: &'a VerifiedKeys,
    mac: MacBytes,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Drop for Participant<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(lock) = self.lock.take() else {
            return;
        };
        // Under the map's mutex nobody can take a new share, and every
        // participant lets go of its share inside it: the last one to get
        // here sees only the map's share and its own.
        if Arc::strong_count(&lock) <= 2
            && in_flight
                .get(&self.mac)
                .is_some_and(|entry| Arc::ptr_eq(entry, &lock))
        {
            in_flight.remove(&self.mac);
        }
        drop(lock);
    }
}

impl VerifiedKeys {
    /// Waits for any other check of this exact key to finish.
    pub async fn single_flight(&self, presented: &str) -> SingleFlight<'_> {
        let mac = self.mac(presented);
        let lock = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(in_flight.entry(mac).or_default())
        };
        let participant = Participant {
            cache: self,
            mac,
            lock: Some(Arc::clone(&lock)),
        };
        // Cancelled while waiting here, `participant` still cleans up.
        let turn = lock.lock_owned().await;
        SingleFlight {
            _turn: turn,
            _participant: participant,
        }
    }

    /// How many keys have a check in flight (for tests: it must drain).
    #[cfg(test)]
    pub(super) fn in_flight_len(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
