//! The server's background work (the database probe, the metrics
//! endpoint, audit pruning, key-use flushing), owned by one [`Tasks`]
//! under one cancellation token, and stopped one task at a time in the
//! order it was started.

mod periodic;

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) use periodic::{flush_key_usage_every, prune_audit_events_every};

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
    /// Spawns `task`, which must return soon after its token is cancelled.
    pub(crate) fn spawn<F>(&mut self, name: &'static str, task: impl FnOnce(CancellationToken) -> F)
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
