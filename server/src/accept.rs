//! Accepting connections within a bound.
//!
//! Every listener holds at most its limit of accepted connections open.
//! At the limit it stops accepting: new connections wait in the kernel's
//! backlog until one closes, and the descriptors the process needs for
//! its database and files are never all taken by idle peers. An accept
//! that fails for the process's own reasons (out of descriptors, out of
//! memory) pauses the loop instead of retrying at once, which would spin
//! a core while accepting nothing. Each condition logs a warning when it
//! begins and at most once a minute while it lasts, not one per attempt.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tracing::{info, warn};

/// How long accepting pauses after an accept failed for lack of resources.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);
/// Least time between two warnings about the same condition.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// A listener that accepts at most `limit` open connections.
#[derive(Debug)]
pub(crate) struct BoundedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limit: usize,
    /// For the log lines: which listener.
    name: &'static str,
    /// When the limit was last, and a failed accept, logged.
    full_logged: Option<Instant>,
    failure_logged: Option<Instant>,
    /// Whether the last accept failed.
    failing: bool,
}

/// Whether a condition last logged at `last` is worth a line again.
fn due(last: Option<Instant>) -> bool {
    last.is_none_or(|at| at.elapsed() >= WARNING_INTERVAL)
}

/// An accepted connection's place under its listener's limit, given back
/// when the connection (which owns it) is dropped.
pub(crate) type ConnectionSlot = OwnedSemaphorePermit;

impl BoundedListener {
    pub(crate) fn new(listener: TcpListener, limit: usize, name: &'static str) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            name,
            full_logged: None,
            failure_logged: None,
            failing: false,
        }
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection, once there is room for it.
    pub(crate) async fn accept(&mut self) -> (TcpStream, SocketAddr, ConnectionSlot) {
        loop {
            let slot = self.slot().await;
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.failing) {
                        info!(listener = self.name, "accepting connections again");
                    }
                    // Small calls; Nagle's delay would only add latency.
                    let _ = stream.set_nodelay(true);
                    return (stream, peer, slot);
                }
                // The peer gave up before it was accepted: its loss only.
                Err(error) if is_peer_error(&error) => {}
                Err(error) => {
                    self.failing = true;
                    if due(self.failure_logged) {
                        warn!(
                            listener = self.name,
                            %error,
                            pause_ms = ACCEPT_ERROR_PAUSE.as_millis(),
                            "accepting a connection failed; pausing between attempts \
                             (out of file descriptors? lower --max-connections or raise LimitNOFILE)"
                        );
                        self.failure_logged = Some(Instant::now());
                    }
                    drop(slot);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    /// A free place, waiting for one if every place is taken.
    async fn slot(&mut self) -> ConnectionSlot {
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            return slot;
        }
        if due(self.full_logged) {
            warn!(
                listener = self.name,
                limit = self.limit,
                "connection limit reached; new connections wait until one closes"
            );
            self.full_logged = Some(Instant::now());
        }
        match Arc::clone(&self.slots).acquire_owned().await {
            Ok(slot) => slot,
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Errors a failed accept reports about the connection, not the process.
fn is_peer_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_listener_accepts_again_once_a_connection_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut bounded = BoundedListener::new(listener, 1, "test");
        let _first = TcpStream::connect(address).await.expect("connect");
        let _second = TcpStream::connect(address)
            .await
            .expect("queued in the backlog");
        let (stream, _, slot) = bounded.accept().await;
        let waiting = tokio::time::timeout(Duration::from_millis(200), bounded.accept()).await;
        assert!(
            waiting.is_err(),
            "no second connection while the first is open"
        );
        drop((stream, slot));
        let accepted = tokio::time::timeout(Duration::from_secs(5), bounded.accept()).await;
        assert!(accepted.is_ok(), "the second, once the first closed");
    }
}
