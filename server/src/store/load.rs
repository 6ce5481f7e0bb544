//! What the store reports about itself, for the metrics: how long its
//! operations take, and its pool's connections.
//!
//! The durations are counted in plain atomics, not a metrics library's
//! types: storage knows nothing of how they are exported. `metrics/`
//! reads them at scrape time ([`Store::operation_times`]).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sea_orm::DbBackend;

use super::Store;

/// Upper bounds of the operation-duration buckets, in seconds: 100 µs to
/// 5 s. An operation slower than the last falls in an overflow bucket.
pub(crate) const OPERATION_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 5.0,
];

/// Every storage operation's duration, as a histogram: how many fell in
/// each bucket (the last counts those beyond [`OPERATION_BUCKETS`]), and
/// their sum. Relaxed atomics: a reader may see one operation counted in
/// its bucket and not yet in the sum, never a torn count.
#[derive(Debug, Default)]
pub(super) struct OperationTimes {
    buckets: [AtomicU64; OPERATION_BUCKETS.len() + 1],
    /// Nanoseconds, so that adding is exact and needs no compare-and-swap.
    sum_nanos: AtomicU64,
}

impl OperationTimes {
    /// Counts one operation that took `took`.
    pub(super) fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        // The first bucket whose bound holds it, as a Prometheus histogram
        // places an observation (`le` is inclusive).
        let bucket = OPERATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(OPERATION_BUCKETS.len());
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> OperationTimesRead {
        OperationTimesRead {
            buckets: std::array::from_fn(|index| self.buckets[index].load(Ordering::Relaxed)),
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// The storage operations' durations as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationTimesRead {
    /// Operations per bucket (not cumulative), by [`OPERATION_BUCKETS`]
    /// index; the last, beyond them all.
    pub buckets: [u64; OPERATION_BUCKETS.len() + 1],
    /// All their durations, summed.
    pub sum: Duration,
}

impl OperationTimesRead {
    /// How many operations were counted: the buckets' total, so that it
    /// always agrees with them.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

impl Store {
    /// How long storage operations took (each statement or short
    /// transaction, with its wait for a connection), for the metrics.
    pub fn operation_times(&self) -> OperationTimesRead {
        self.operations.read()
    }

    /// The pool's connections: (open, idle).
    pub fn pool_connections(&self) -> (u32, usize) {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_falls_in_the_first_bucket_that_holds_it() {
        let times = OperationTimes::default();
        times.record(Duration::from_micros(100));
        times.record(Duration::from_micros(101));
        times.record(Duration::from_secs(6));
        let read = times.read();
        assert_eq!(read.buckets[0], 1, "a bound holds its own value");
        assert_eq!(read.buckets[1], 1);
        assert_eq!(read.buckets[OPERATION_BUCKETS.len()], 1, "beyond 5 s");
        assert_eq!(read.count(), 3);
        assert_eq!(read.sum, Duration::from_micros(6_000_201));
    }
}
