//! The metrics read at scrape time from what the server's parts already
//! count: the verified-key cache, the argon2 workers, the failed-attempt
//! throttle, the audit trail and the database pool and its operations.
//! Nothing here costs the request path anything beyond the parts' own
//! relaxed atomics.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric, counter::ConstCounter, gauge::ConstGauge},
};

use crate::{
    domain::Directory,
    store::{OPERATION_BUCKETS, Store},
};

/// Reads the directory's and the store's counters on each scrape.
#[derive(Debug)]
pub(super) struct Snapshot {
    directory: Directory,
    store: Store,
}

impl Snapshot {
    pub(super) fn new(directory: Directory, store: Store) -> Self {
        Self { directory, store }
    }
}

/// The store's operation durations, as a histogram read at each scrape.
/// Registered like any metric (not through [`Snapshot`]), so that it keeps
/// its place, name and help in the registry.
#[derive(Debug)]
pub(super) struct StoreOperations(pub(super) Store);

impl TypedMetric for StoreOperations {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for StoreOperations {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Fmt {
        let times = self.0.operation_times();
        let bounds = OPERATION_BUCKETS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(times.buckets).collect();
        encoder.encode_histogram::<NoLabelSet>(
            times.sum.as_secs_f64(),
            times.count(),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// One unlabelled counter or gauge.
fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> Fmt {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn float_counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: f64) -> Fmt {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> Fmt {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A counter with one label, `label`, taking each of `values`.
fn labelled_counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&'static str, u64)],
) -> Fmt {
    let mut family =
        encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for &(value, count) in values {
        let labels = [(label, value)];
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

type Fmt = Result<(), std::fmt::Error>;

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Fmt {
        let stats = self.directory.stats();
        let cache = stats.cache;
        labelled_counter(
            &mut encoder,
            "verify_cache_lookups",
            "Lookups of presented keys in the verified-key cache, by outcome: current and \
             secret_only skip argon2 (hits), wrong_secret is refused from memory, unknown \
             needs a read and argon2 (misses)",
            "outcome",
            &[
                ("current", cache.current),
                ("secret_only", cache.secret_only),
                ("wrong_secret", cache.wrong_secret),
                ("unknown", cache.unknown),
            ],
        )?;
        counter(
            &mut encoder,
            "verify_cache_evictions",
            "Keys evicted from a full verified-key cache",
            cache.evictions,
        )?;
        gauge(
            &mut encoder,
            "verify_cache_entries",
            "Keys in the verified-key cache",
            signed(cache.entries),
        )?;
        gauge(
            &mut encoder,
            "verify_cache_capacity",
            "Most keys the verified-key cache holds (--verify-cache-capacity)",
            signed(cache.capacity),
        )?;

        let argon2 = stats.argon2;
        labelled_counter(
            &mut encoder,
            "argon2_runs",
            "argon2id computations, by kind: verify (a presented secret) or hash (a new key)",
            "kind",
            &[("verify", argon2.verifications), ("hash", argon2.hashes)],
        )?;
        gauge(
            &mut encoder,
            "argon2_queue_depth",
            "Calls waiting for an argon2 worker now",
            signed(argon2.waiting),
        )?;
        gauge(
            &mut encoder,
            "argon2_busy_workers",
            "argon2 workers computing now",
            signed(argon2.running),
        )?;
        gauge(
            &mut encoder,
            "argon2_workers",
            "argon2 workers (--hash-workers)",
            signed(argon2.workers),
        )?;
        float_counter(
            &mut encoder,
            "argon2_wait_seconds",
            "Time calls spent waiting for an argon2 worker, summed",
            argon2.wait_seconds,
        )?;
        float_counter(
            &mut encoder,
            "argon2_run_seconds",
            "Time argon2 workers spent computing, summed",
            argon2.run_seconds,
        )?;
        counter(
            &mut encoder,
            "argon2_shed",
            "Calls refused (RESOURCE_EXHAUSTED) because no argon2 worker was free within \
             --hash-queue-timeout-ms",
            argon2.shed,
        )?;
        counter(
            &mut encoder,
            "throttled",
            "Secret checks refused (RESOURCE_EXHAUSTED) by the per-key-id failed-attempt throttle",
            stats.throttled,
        )?;

        let actions: Vec<(&'static str, u64)> = stats
            .audit_events
            .iter()
            .map(|(action, count)| (action.as_str(), *count))
            .collect();
        labelled_counter(
            &mut encoder,
            "audit_events",
            "Audit events this process recorded, by action",
            "action",
            &actions,
        )?;

        let (open, idle) = self.store.pool_connections();
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        let mut pool = encoder.encode_descriptor(
            "db_pool_connections",
            "Database pool connections, by state",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (state, count) in [("idle", idle), ("in_use", open.saturating_sub(idle))] {
            ConstGauge::new(i64::from(count)).encode(pool.encode_family(&[("state", state)])?)?;
        }
        Ok(())
    }
}
