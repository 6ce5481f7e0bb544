//! The call metrics as a tower layer: every call's method, gRPC status
//! code and latency, counted in [`Metrics`], so that no handler counts its
//! own calls. Stacked only when metrics are on (`--metrics-listen`): off,
//! it is not in the stack at all.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use tower::{Layer, Service};

use super::request_log::grpc_code;
use crate::metrics::{Method, Metrics};

/// Counts every call in `metrics`.
#[derive(Debug, Clone)]
pub(crate) struct CallMetricsLayer {
    metrics: Metrics,
}

impl CallMetricsLayer {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CallMetrics<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, R> Service<Request<B>> for CallMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        // Read before the call consumes the request; a closed set, so a
        // caller's path never becomes a label value.
        let method = Method::of(request.uri().path());
        let metrics = self.metrics.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            // A call that failed whole (an `Err`: no response, so no
            // status) has no code to count.
            metrics.call(method, grpc_code(&response), started.elapsed());
            Ok(response)
        })
    }
}
