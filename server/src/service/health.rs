//! `grpc.health.v1.Health`, as tonic-health serves it, except that every
//! Watch stream ends when the server starts shutting down: a health watch
//! never ends on its own, and graceful shutdown waits for open calls.

use std::pin::Pin;

use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tonic_health::{
    pb::{HealthCheckRequest, HealthCheckResponse, health_server::Health},
    server::{HealthReporter, HealthService},
};

/// The health service, with watches ended once `stopping` turns true.
pub(crate) struct StoppingHealth {
    statuses: HealthService,
    stopping: watch::Receiver<bool>,
}

impl StoppingHealth {
    /// Serves what `reporter` reports.
    pub(crate) fn new(reporter: HealthReporter, stopping: watch::Receiver<bool>) -> Self {
        Self {
            statuses: HealthService::from_health_reporter(reporter),
            stopping,
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for StoppingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.statuses.check(request).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut statuses = self.statuses.watch(request).await?.into_inner();
        let mut stopping = self.stopping.clone();
        Ok(Response::new(Box::pin(async_stream::stream! {
            // Done once the server stops, or once the sender is gone with it.
            let stopped = async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
            };
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    status = statuses.next() => match status {
                        Some(status) => yield status,
                        None => break,
                    },
                    () = &mut stopped => {
                        yield Err(Status::unavailable(
                            "the server is shutting down; watch another replica",
                        ));
                        break;
                    }
                }
            }
        })))
    }
}
