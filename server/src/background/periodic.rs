//! The server's periodic work: writing key uses, and pruning audit events
//! past their retention. Each task stops when told to, between runs, never
//! in the middle of one: uses taken by a flush count as written, and a
//! flush cut short would lose them from the final one.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::{domain::Directory, error_chain::ErrorChain, metrics::Metrics};

/// How often expired audit events are pruned (and once at start).
const AUDIT_PRUNE_PERIOD: Duration = Duration::from_secs(3600);

/// Writes due key uses every `period`, so `last_used_time` costs batched
/// writes instead of a write per verification, and a key in constant use
/// is written once per `precision` instead of once per period.
pub(crate) async fn flush_key_usage_every(
    directory: Directory,
    period: Duration,
    precision: Duration,
    metrics: Option<Metrics>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let started = Instant::now();
        match directory.flush_key_usage(precision).await {
            Ok(rows) => {
                if let Some(metrics) = &metrics {
                    metrics.flushed(rows, started.elapsed());
                }
            }
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                "could not record key uses; will retry"
            ),
        }
    }
}

/// Deletes audit events older than `retention`, at start and then hourly.
/// Every replica prunes: the deletes are idempotent, and batched so that
/// none holds locks for long.
pub(crate) async fn prune_audit_events_every(
    directory: Directory,
    retention: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(AUDIT_PRUNE_PERIOD);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        match directory.prune_audit_events(retention).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(
                event = "audit_pruned",
                pruned,
                retention_days = retention.as_secs() / 86_400,
                "deleted audit events past their retention"
            ),
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                "could not prune audit events; will retry"
            ),
        }
    }
}
