//! Accepted connections with a handshake deadline.
//!
//! hyper's HTTP/2 server waits for a client's connection preface without
//! limit, and its keepalive pings start only after it: a peer that connects
//! and sends nothing would hold a connection (and delay a graceful shutdown)
//! until the connection age limit. So each accepted connection must deliver
//! its first [`HANDSHAKE_BYTES`] within the handshake timeout; otherwise its
//! reads fail and the server closes it. Over TLS those bytes must come after
//! the server's first answer (its ServerHello): a client that sends a
//! ClientHello and then stalls is closed too, while any client finishing
//! its handshake sends more than that. After that, HTTP/2 keepalive and the
//! connection age limit take over.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::Sleep,
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::accept::ConnectionSlot;

/// The length of the HTTP/2 client connection preface. (A TLS client's
/// Finished message, which it sends after the ServerHello, is longer.)
pub(crate) const HANDSHAKE_BYTES: usize = 24;

/// A TCP connection whose reads fail if its first [`HANDSHAKE_BYTES`] do not
/// arrive in time.
#[derive(Debug)]
pub(crate) struct HandshakeDeadline {
    stream: TcpStream,
    /// Bytes received that count towards the handshake.
    received: usize,
    /// Whether the connection speaks TLS: its bytes count only after the
    /// server first wrote.
    tls: bool,
    wrote: bool,
    /// Until the handshake bytes have arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Its place under the listener's connection limit, freed with it.
    _slot: ConnectionSlot,
}

impl HandshakeDeadline {
    pub(crate) fn new(
        stream: TcpStream,
        slot: ConnectionSlot,
        timeout: Duration,
        tls: bool,
    ) -> Self {
        Self {
            stream,
            _slot: slot,
            received: 0,
            tls,
            wrote: false,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }

    fn note_written(&mut self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(bytes)) if *bytes > 0) {
            self.wrote = true;
        }
    }
}

impl AsyncRead for HandshakeDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not start its handshake within the handshake timeout",
            )));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if this.deadline.is_some() && (!this.tls || this.wrote) {
            this.received += buf.filled().len() - before;
            if this.received >= HANDSHAKE_BYTES {
                this.deadline = None;
            }
        }
        read
    }
}

impl AsyncWrite for HandshakeDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note_written(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note_written(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for HandshakeDeadline {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}
