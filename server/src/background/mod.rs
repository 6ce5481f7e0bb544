//! The server's background work (the database probe, the metrics
//! endpoint, audit pruning, key-use flushing), owned by one [`Tasks`]
//! under one cancellation token, and stopped one task at a time in the
//! order it was started.

mod periodic;

use std::{future::Future, time::Duration};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;

use crate::{Config, database_health, domain::Directory, metrics, store};
use periodic::{flush_key_usage_every, prune_audit_events_every};

/// Background tasks, each told to stop through its own child of one token.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    /// Cancels every task at once if the owner is dropped without
    /// [`shutdown`](Self::shutdown) (a start that failed half-way).
    all: CancellationToken,
    started: Vec<Started>,
}

#[derive(Debug)]
struct Started {
    name: &'static str,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Tasks {
    /// Starts the server's background work: the database probe behind
    /// `health`, the metrics endpoint (with `--metrics-listen`), audit
    /// pruning (unless retention is 0) and key-use flushing. Stopped in
    /// that order: the flusher last, so that the final flush follows it.
    pub(crate) fn start(
        config: &Config,
        directory: &Directory,
        health: &HealthReporter,
        metrics_endpoint: Option<(TcpListener, metrics::Metrics)>,
    ) -> Self {
        let mut tasks = Self::default();
        tasks.spawn("database probe", |stop| {
            database_health::watch(
                directory.clone(),
                health.clone(),
                store::redacted_url(&config.database_url),
                stop,
            )
        });
        let metrics = metrics_endpoint
            .as_ref()
            .map(|(_, metrics)| metrics.clone());
        if let Some((listener, metrics)) = metrics_endpoint {
            tasks.spawn("metrics endpoint", |stop| async move {
                if let Err(error) =
                    metrics::endpoint::serve(listener, metrics, stop.cancelled_owned()).await
                {
                    tracing::warn!(%error, "the metrics endpoint stopped");
                }
            });
        }
        if config.audit_retention_days > 0 {
            let retention = Duration::from_secs(config.audit_retention_days.saturating_mul(86_400));
            tasks.spawn("audit pruner", |stop| {
                prune_audit_events_every(directory.clone(), retention, stop)
            });
        }
        tasks.spawn("key-use flusher", |stop| {
            flush_key_usage_every(
                directory.clone(),
                Duration::from_secs(config.last_used_flush_secs.max(1)),
                Duration::from_secs(config.last_used_precision_secs),
                metrics,
                stop,
            )
        });
        tasks
    }

    /// Spawns `task`, which must return soon after its token is cancelled.
    fn spawn<F>(&mut self, name: &'static str, task: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.all.child_token();
        let task = tokio::spawn(task(stop.clone()));
        self.started.push(Started { name, stop, task });
    }

    /// Stops the tasks one at a time, in the order they were started, each
    /// awaited before the next is told: not aborted, so that work a task
    /// has begun (a flush) completes. The order is the caller's: whatever
    /// must stop last (the flusher, before the final flush) starts last.
    pub(crate) async fn shutdown(mut self) {
        for Started { name, stop, task } in std::mem::take(&mut self.started) {
            stop.cancel();
            if let Err(error) = task.await {
                tracing::warn!(task = name, %error, "a background task failed");
            }
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.all.cancel();
    }
}
