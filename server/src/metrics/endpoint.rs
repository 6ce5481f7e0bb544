//! The `--metrics-listen` endpoint: `GET /metrics` in the Prometheus text
//! format, over plain HTTP/1.1 on a listener of its own, never the gRPC
//! port (scrapers, and who may reach them, differ from callers).

use std::future::Future;

use axum::{Router, http::header::CONTENT_TYPE, routing::get};
use prometheus_client::encoding::prometheus_text;
use tokio::net::TcpListener;

use super::Metrics;

/// Serves `metrics` on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render();
            async move { ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], text) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
