//! The listeners and what each serves. The gRPC port speaks gRPC over
//! HTTP/2 and, unless `--console-listen` moves them to a listener of their
//! own, the console's pages and gRPC-Web over HTTP/1.1. Every listener has
//! the transport limits of [`limits`], a bound on its connections, a
//! handshake deadline, and a grace after shutdown begins.

use std::{future::Future, net::SocketAddr, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::transport::ServerTlsConfig;
use tracing::info;

use crate::{
    Config, ServerError, accept::BoundedListener, config::ConfigError,
    connection::HandshakeDeadline, limits, metrics::Metrics, routes::Routes, service,
};

/// One listener and the routes it serves.
pub(crate) struct Listener {
    /// `grpc` or `console`: named in log lines.
    name: &'static str,
    socket: TcpListener,
    routes: axum::Router,
    /// Browsers and curl speak HTTP/1.1 to the console and gRPC-Web.
    http1: bool,
}

impl Listener {
    /// The gRPC port, with the console's pages on it when `http1`.
    pub(crate) fn grpc(socket: TcpListener, routes: axum::Router, http1: bool) -> Self {
        Self {
            name: "grpc",
            socket,
            routes,
            http1,
        }
    }

    /// The console's own listener (`--console-listen`).
    pub(crate) fn console(socket: TcpListener, routes: axum::Router) -> Self {
        Self {
            name: "console",
            socket,
            routes,
            http1: true,
        }
    }
}

/// Binds `--console-listen`, if given: the console then has a listener of
/// its own.
pub(crate) async fn bind_console(config: &Config) -> Result<Option<TcpListener>, ServerError> {
    let Some(address) = config.console_listen else {
        return Ok(None);
    };
    if !config.console {
        return Err(ConfigError::ConsoleListenWithoutConsole.into());
    }
    Ok(Some(listen("--console-listen", address).await?))
}

/// Listens on `address`, which `flag` names.
pub(crate) async fn listen(
    flag: &'static str,
    address: SocketAddr,
) -> Result<TcpListener, ConfigError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ConfigError::Listen {
            flag,
            address,
            source,
        })
}

/// The listeners and what each serves: without `--console-listen`, the
/// console shares the gRPC port (which then speaks HTTP/1.1 too).
pub(crate) fn listeners(
    grpc: TcpListener,
    console: Option<TcpListener>,
    routes: Routes,
) -> (Listener, Option<Listener>) {
    match (routes.console, console) {
        (None, _) => (Listener::grpc(grpc, routes.grpc, false), None),
        (Some(console_routes), None) => (Listener::grpc(grpc, console_routes, true), None),
        (Some(console_routes), Some(console)) => (
            Listener::grpc(grpc, routes.grpc, false),
            Some(Listener::console(console, console_routes)),
        ),
    }
}

/// Serves the gRPC listener and the console's own, if any, until
/// `stopping` turns true, then lets calls in flight finish for at most
/// `--shutdown-grace-secs`.
pub(crate) async fn serve(
    config: &Config,
    tls: Option<ServerTlsConfig>,
    metrics: Option<Metrics>,
    (grpc, console): (Listener, Option<Listener>),
    stopping: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let grpc = serve_one(
        config,
        tls.clone(),
        metrics.clone(),
        grpc,
        stopped(stopping.clone()),
    );
    let console_stopped = stopped(stopping.clone());
    let console = async {
        match console {
            Some(console) => serve_one(config, tls, metrics, console, console_stopped).await,
            None => Ok(()),
        }
    };
    let all = async { tokio::try_join!(grpc, console) };
    within_grace(
        all,
        stopping,
        Duration::from_secs(config.shutdown_grace_secs),
    )
    .await
    .map(drop)
}

/// Completes once `stopping` turns true (or its sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

async fn serve_one(
    config: &Config,
    tls: Option<ServerTlsConfig>,
    metrics: Option<Metrics>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let Listener {
        name,
        socket,
        routes,
        http1,
    } = listener;
    // Harnesses and scripts that bind port 0 read the address from this line.
    if let Ok(address) = socket.local_addr() {
        announce(name, address, tls.is_some(), config.reflection);
    }
    let handshake_timeout = Duration::from_millis(config.handshake_timeout_ms);
    let over_tls = tls.is_some();
    let mut socket = BoundedListener::new(
        socket,
        usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        name,
    );
    let incoming = async_stream::stream! {
        loop {
            let (stream, _, slot) = socket.accept().await;
            yield Ok::<_, std::io::Error>(HandshakeDeadline::new(
                stream,
                slot,
                handshake_timeout,
                over_tls,
            ));
        }
    };
    let mut server = tonic::transport::Server::builder()
        .timeout(limits::REQUEST_TIMEOUT)
        .max_concurrent_streams(limits::MAX_CONCURRENT_STREAMS)
        .http2_max_header_list_size(limits::HTTP2_MAX_HEADER_LIST_BYTES)
        .http2_max_local_error_reset_streams(Some(limits::HTTP2_MAX_LOCAL_ERROR_RESETS))
        .http2_keepalive_interval(Some(limits::HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(limits::HTTP2_KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(limits::TCP_KEEPALIVE))
        .max_connection_age(limits::MAX_CONNECTION_AGE)
        .accept_http1(http1)
        // Outermost first. Request ids and the access log wrap the rest, so
        // that the span covers every line a call logs; both they and the
        // metrics see calls the metadata limit refuses. Metrics off, their
        // layer is not there at all.
        .layer(
            tower::ServiceBuilder::new()
                .layer(service::RequestLogLayer::new(config.access_log))
                .option_layer(metrics.map(service::CallMetricsLayer::new))
                .layer(tonic::service::InterceptorLayer::new(
                    service::limit_metadata,
                ))
                .into_inner(),
        );
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .tcp_nodelay(true)
        .add_routes(tonic::service::Routes::from(routes))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

fn announce(name: &str, address: SocketAddr, tls: bool, reflection: bool) {
    match name {
        "grpc" => info!(%address, tls, reflection, "accesskeyd listening"),
        _ => info!(%address, tls, "console listening"),
    }
}

/// Runs `serving` to its end, but no longer than `grace` after `stopping`
/// turns true: a call still open then is cut (its connection dropped), so
/// the last key uses are written before the process manager kills us.
async fn within_grace<T>(
    serving: impl Future<Output = Result<T, ServerError>>,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
) -> Result<Option<T>, ServerError> {
    let overdue = async {
        if stopping.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serving => served.map(Some),
        () = overdue => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "calls still open when the shutdown grace ran out were cut"
            );
            Ok(None)
        }
    }
}
