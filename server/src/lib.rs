//! accesskeyd: a gRPC service that issues one access key per user and tells
//! backend services whether a presented key is genuine and what its user may do.
//!
//! Layers, outermost first: `service` (gRPC: callers, validation,
//! conversion), `domain` (the rules), `store` (sea-orm). Nothing leaks
//! upward, and none of them is public: the crate's API is [`run`], [`open`],
//! [`Config`] and the command line ([`cli::main`]). [`run`] serves on a
//! listener the caller has already bound, so production binds from
//! [`Config`] and tests bind port 0.

#![forbid(unsafe_code)]

mod accept;
mod background;
pub mod cli;
pub mod config;
mod connection;
mod console;
mod database_health;
mod domain;
mod healthcheck;
mod metrics;
mod service;
mod serving;
mod store;

/// Internals that the end-to-end tests, the benchmark and the fuzz targets
/// reach into. Not an API: anything here may change without notice.
#[doc(hidden)]
pub mod testing {
    pub use crate::domain::{
        directory::{Directory, verification::Verdict},
        error::DomainError,
        key_format, model, secret_hash,
    };
    pub use crate::service::validation;
    pub use crate::store::{entity, migration::Migrator};
}

use std::{future::Future, time::Duration};

use accesskey_proto::pb::{key_auth_server::KeyAuthServer, user_admin_server::UserAdminServer};
use tokio::net::TcpListener;
use tracing::info;

pub use config::{Config, PepperLineBreak};
use domain::{
    Directory, DomainError,
    audit_chain::AuditChain,
    secret_hash::SecretHasher,
    throttle::FailureThrottle,
    verified_keys::{Freshness, VerifiedKeys},
};
use service::{KeyAuthService, UserAdminService};
use store::{ExclusiveUse, Store, StoreError, StoreOptions};

/// Transport limits, set on purpose: accesskey's messages are small, its
/// calls short, and every connection should prove it is alive.
pub mod limits {
    use std::time::Duration;

    /// Largest request: a CreateUser with 256 permissions of 128 characters
    /// is about 34 KiB.
    pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
    /// Largest response: a ListUsers page of 1000 users with many permissions.
    pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
    /// Request metadata (headers) per request; a key is 71 bytes. A call
    /// with more fails alone with RESOURCE_EXHAUSTED
    /// ([`service::limit_metadata`](crate::service::limit_metadata)).
    pub const MAX_METADATA_BYTES: usize = 16 * 1024;
    /// HTTP/2's own header-list limit: only a bound on memory, set well
    /// above [`MAX_METADATA_BYTES`] so that a call over that reaches the
    /// check that answers with a gRPC status. Past this one, HTTP/2 answers
    /// 431 itself (UNKNOWN to gRPC clients), still failing that call alone;
    /// past about 1.5× this, it closes the connection.
    pub const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 128 * 1024;
    /// Streams a connection may make the server reset for its errors
    /// before it is closed: hyper's own default, which tonic otherwise
    /// replaces with no limit.
    pub const HTTP2_MAX_LOCAL_ERROR_RESETS: usize = 1024;
    /// Concurrent calls per HTTP/2 connection.
    pub const MAX_CONCURRENT_STREAMS: u32 = 256;
    /// Longest a call may run before it is cut with DEADLINE_EXCEEDED.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// HTTP/2 pings on idle connections, and how long to wait for the answer.
    pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
    pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
    /// TCP keepalive probes for connections that went silent.
    pub const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
    /// Connections are recycled after this, so load balancers can rebalance.
    pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(3600);
}

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Connects to the database, applies migrations and assembles the directory.
pub async fn open(config: &Config) -> Result<(Store, Directory), ServerError> {
    let params = config.hash_params().map_err(ServerError::Config)?;
    let pepper = config.pepper().map_err(ServerError::Config)?;
    if let Some(ca) = &config.database_ca_file {
        let named = |problem: String| {
            ServerError::Config(format!("--database-ca-file {}: {problem}", ca.display()))
        };
        let pem = std::fs::read_to_string(ca).map_err(|e| named(e.to_string()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(named("holds no PEM certificate".to_owned()));
        }
    }
    let store = Store::connect(&StoreOptions {
        database_url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        acquire_timeout: std::time::Duration::from_millis(config.db_acquire_timeout_ms),
        statement_timeout: std::time::Duration::from_millis(config.db_statement_timeout_ms),
        database_ca_file: config.database_ca_file.clone(),
    })
    .await?
    .with_audit_chain(
        pepper
            .as_ref()
            .map_or_else(AuditChain::default, |(pepper, _)| pepper.audit_chain()),
    );
    if config.auto_migrate {
        if let Err(error) = store.migrate().await {
            // Replicas starting together race to migrate; the losers find
            // the schema already current, which is all they need.
            if store.pending_migrations().await? > 0 {
                return Err(error.into());
            }
            tracing::warn!("another process applied the migrations concurrently");
        }
    } else {
        let pending = store.pending_migrations().await?;
        if pending > 0 {
            return Err(ServerError::Config(format!(
                "the database schema is {pending} migration(s) behind and --auto-migrate is off; \
                 run `accesskeyd migrate` first"
            )));
        }
    }
    let mut hasher = SecretHasher::new(
        params,
        config.hash_workers(),
        Duration::from_millis(config.hash_queue_timeout_ms),
    );
    if let Some((pepper, line_break_stripped)) = pepper {
        tracing::info!(
            pepper_fingerprint = %pepper.fingerprint(),
            line_break_stripped,
            "keys are hashed with a pepper; every replica must show this fingerprint"
        );
        hasher = hasher.with_pepper(pepper);
    }
    let failures = FailureThrottle::new(
        config.failed_attempts_burst,
        Duration::from_millis(config.failed_attempts_refill_ms),
    );
    // SQLite belongs to this process alone (see `store::ExclusiveUse`), so
    // known keys may be answered from memory; with a shared database other
    // replicas write too, and every verification re-reads the key's state.
    let freshness = if store.single_writer() {
        Freshness::Snapshot
    } else {
        Freshness::Revalidate
    };
    let verified = VerifiedKeys::new(freshness, config.verify_cache_capacity)
        .map_err(|e| ServerError::Config(format!("the OS random number generator failed: {e}")))?;
    let directory = Directory::new(store.clone(), hasher, verified, failures).await?;
    Ok((store, directory))
}

/// The metrics, and their endpoint's task with what stops it, when
/// `--metrics-listen` is given.
type MetricsEndpoint = (
    Option<metrics::Metrics>,
    Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
);

/// Binds `--metrics-listen`, if given, and serves the metrics there.
async fn serve_metrics(
    config: &Config,
    directory: &Directory,
    store: &Store,
) -> Result<MetricsEndpoint, ServerError> {
    let Some(address) = config.metrics_listen else {
        return Ok((None, None));
    };
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| ServerError::Config(format!("--metrics-listen {address}: {e}")))?;
    if let Ok(bound) = listener.local_addr() {
        info!(address = %bound, "metrics listening");
    }
    let metrics = metrics::Metrics::new(directory.clone(), store);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let endpoint = tokio::spawn({
        let metrics = metrics.clone();
        async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(error) = metrics::endpoint::serve(listener, metrics, stopped).await {
                tracing::warn!(%error, "the metrics endpoint stopped");
            }
        }
    });
    Ok((Some(metrics), Some((stop, endpoint))))
}

/// Serves accesskey on `listener` until `shutdown` completes, then finishes
/// in-flight calls and closes the database.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let tls = config.tls().map_err(ServerError::Config)?;
    let site = config
        .console
        .then(|| {
            console::Site::new(
                tls.is_some(),
                config.console_origin.as_deref(),
                config.console_allow_plain_http,
            )
        })
        .transpose()
        .map_err(|bad| ServerError::Config(bad.to_string()))?;
    let console_listener = serving::bind_console(&config).await?;
    let _exclusive = ExclusiveUse::acquire(&config.database_url)?;
    let (store, directory) = open(&config).await?;
    let (metrics, metrics_endpoint) = serve_metrics(&config, &directory, &store).await?;
    let (stop_flushing, flushing_stopped) = tokio::sync::oneshot::channel();
    let flusher = tokio::spawn(background::flush_key_usage_every(
        directory.clone(),
        Duration::from_secs(config.last_used_flush_secs.max(1)),
        Duration::from_secs(config.last_used_precision_secs),
        metrics.clone(),
        flushing_stopped,
    ));
    let (stop_pruning, pruning_stopped) = tokio::sync::oneshot::channel();
    let pruner = (config.audit_retention_days > 0).then(|| {
        tokio::spawn(background::prune_audit_events_every(
            directory.clone(),
            Duration::from_secs(config.audit_retention_days.saturating_mul(86_400)),
            pruning_stopped,
        ))
    });
    // Streams (audit and health watches) never end on their own: told to
    // at shutdown, or the graceful shutdown would wait for them forever.
    let (stop_streams, streams_stopping) = tokio::sync::watch::channel(false);
    let watchers = service::AuditWatchers::new(streams_stopping.clone());
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
    };

    let health = tonic_health::server::HealthReporter::new();
    let health_service = tonic_health::pb::health_server::HealthServer::new(
        service::StoppingHealth::new(health.clone(), streams_stopping.clone()),
    );
    database_health::set(&health, tonic_health::ServingStatus::Serving).await;
    let (stop_probing, probing_stopped) = tokio::sync::oneshot::channel();
    let prober = tokio::spawn(database_health::watch(
        directory.clone(),
        health.clone(),
        store::redacted_url(&config.database_url),
        probing_stopped,
    ));

    let reflection = if config.reflection {
        Some(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(accesskey_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?,
        )
    } else {
        None
    };

    let user_admin = UserAdminService::new(directory.clone(), watchers);
    let key_auth = KeyAuthService::new(directory.clone(), metrics.clone());
    let mut routes = tonic::service::RoutesBuilder::default();
    routes
        .add_service(health_service)
        .add_service(
            UserAdminServer::new(user_admin.clone())
                .max_decoding_message_size(limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(limits::MAX_RESPONSE_BYTES),
        )
        .add_service(
            KeyAuthServer::new(key_auth.clone())
                .max_decoding_message_size(limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(limits::MAX_RESPONSE_BYTES),
        );
    if let Some(reflection) = reflection {
        routes.add_service(reflection);
    }
    let grpc_routes = routes.routes().into_axum_router();
    let console_routes = site.map(|site| {
        // gRPC-Web calls become gRPC calls before they reach the services
        // (and only there: the layer refuses every other HTTP/1.1 request).
        let grpc_web = grpc_routes.clone().layer(tonic_web::GrpcWebLayer::new());
        console::Console::new(user_admin, key_auth, directory.clone(), site).mount(grpc_web)
    });
    let listeners = match (console_routes, console_listener) {
        (None, _) => (serving::Listener::grpc(listener, grpc_routes, false), None),
        (Some(console_routes), None) => (
            serving::Listener::grpc(listener, console_routes, true),
            None,
        ),
        (Some(console_routes), Some(console_listener)) => (
            serving::Listener::grpc(listener, grpc_routes, false),
            Some(serving::Listener::console(console_listener, console_routes)),
        ),
    };
    let serving = serving::serve(&config, tls, metrics, listeners, streams_stopping);
    tokio::pin!(serving, shutdown);
    // The shutdown signal tells every listener through `stop_streams`.
    tokio::select! {
        served = &mut serving => served?,
        () = &mut shutdown => serving.await?,
    }
    info!("accesskeyd stopped accepting; flushing key usage and closing the database");
    // Not aborted: uses taken by a flush count as written, and a flush cut
    // short would lose them from the final one below.
    let _ = stop_probing.send(());
    let _ = prober.await;
    if let Some((stop, endpoint)) = metrics_endpoint {
        let _ = stop.send(());
        let _ = endpoint.await;
    }
    let _ = stop_pruning.send(());
    if let Some(pruner) = pruner {
        let _ = pruner.await;
    }
    let _ = stop_flushing.send(());
    let _ = flusher.await;
    // Exact on the way out: every use newer than the one written.
    if let Err(error) = directory.flush_key_usage(Duration::ZERO).await {
        tracing::warn!(%error, "could not record the last key uses");
    }
    store.close().await?;
    Ok(())
}
