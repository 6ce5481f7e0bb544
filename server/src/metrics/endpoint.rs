//! The `--metrics-listen` endpoint: `GET /metrics` in the Prometheus text
//! format, over plain HTTP/1.1 on a listener of its own, never the gRPC
//! port (scrapers, and who may reach them, differ from callers).
//!
//! A scraper needs little: the listener holds at most
//! [`MAX_CONNECTIONS`] connections, each closed once it has sent nothing
//! for [`IDLE_TIMEOUT`] (a request's headers included) and at
//! [`MAX_LIFETIME`] whatever it does, so idle or trickling peers cannot
//! hold it.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, http::header::CONTENT_TYPE, routing::get};
use prometheus_client::encoding::prometheus_text;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};

use super::Metrics;
use crate::accept::{BoundedListener, ConnectionSlot};

/// Connections the endpoint holds open at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this long is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed this long after it was accepted.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(60);

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
    let listener = ScrapeListener(BoundedListener::new(listener, MAX_CONNECTIONS, "metrics"));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The endpoint's listener: bounded, its connections timed.
#[derive(Debug)]
struct ScrapeListener(BoundedListener);

impl axum::serve::Listener for ScrapeListener {
    type Io = Timed;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Timed, SocketAddr) {
        let (stream, peer, slot) = self.0.accept().await;
        let now = Instant::now();
        let timed = Timed {
            stream,
            _slot: slot,
            idle: Box::pin(tokio::time::sleep_until(now + IDLE_TIMEOUT)),
            end: Box::pin(tokio::time::sleep_until(now + MAX_LIFETIME)),
        };
        (timed, peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A connection whose reads fail once it has been idle, or open, too long
/// (the server then closes it).
#[derive(Debug)]
struct Timed {
    stream: TcpStream,
    _slot: ConnectionSlot,
    idle: Pin<Box<Sleep>>,
    end: Pin<Box<Sleep>>,
}

impl AsyncRead for Timed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.end.as_mut().poll(cx).is_ready() || this.idle.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the scraper's connection was idle or open too long",
            )));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
        }
        read
    }
}

impl AsyncWrite for Timed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
