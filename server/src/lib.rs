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
// A panic takes a call, or the server, down: `expect` only where a
// comment-backed `#[expect]` says why it cannot fail.
#![deny(clippy::expect_used)]

mod accept;
mod background;
pub mod cli;
pub mod config;
mod connection;
mod console;
mod database_health;
mod domain;
mod error_chain;
mod healthcheck;
mod metrics;
mod routes;
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

use tokio::net::TcpListener;
use tracing::info;

pub use config::{Config, ConfigError, PepperLineBreak};
use domain::{
    Directory, DomainError,
    audit_chain::AuditChain,
    secret_hash::SecretHasher,
    throttle::FailureThrottle,
    verified_keys::{Freshness, VerifiedKeys},
};
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

/// Why the server could not start or keep serving. Each variant keeps its
/// cause as `source()`; [`cli::main`] prints the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Its text is the configuration error's own, which names the flag.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened at start: which one (its URL
    /// without credentials) and, as the cause, why.
    #[error("cannot open the database {url}")]
    Database {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the gRPC transport failed")]
    Transport(#[from] tonic::transport::Error),
    #[error("gRPC reflection could not start")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the OS random number generator failed")]
    Random(#[from] getrandom::Error),
    /// A file the command line was asked to write.
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Healthcheck(#[from] healthcheck::HealthcheckError),
    /// `bootstrap` refused, in the words of its flags rather than the API's.
    #[error("{}", cli::worded_for_the_host(.0))]
    BootstrapRefused(DomainError),
}

/// Connects to the database, applies migrations and assembles the directory.
pub async fn open(config: &Config) -> Result<(Store, Directory), ServerError> {
    let params = config.hash_params()?;
    let pepper = config.pepper()?;
    config.check_database_ca_file()?;
    let store = Store::connect(&StoreOptions {
        database_url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        acquire_timeout: Duration::from_millis(config.db_acquire_timeout_ms),
        statement_timeout: Duration::from_millis(config.db_statement_timeout_ms),
        database_ca_file: config.database_ca_file.clone(),
    })
    .await
    .map_err(|source| ServerError::Database {
        url: store::redacted_url(&config.database_url),
        source,
    })?
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
            return Err(ConfigError::MigrationsPending { pending }.into());
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
    let verified = VerifiedKeys::new(freshness, config.verify_cache_capacity)?;
    let directory = Directory::new(store.clone(), hasher, verified, failures).await?;
    Ok((store, directory))
}

/// Binds `--metrics-listen`, if given.
async fn bind_metrics(config: &Config) -> Result<Option<TcpListener>, ConfigError> {
    let Some(address) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = serving::listen("--metrics-listen", address).await?;
    if let Ok(bound) = listener.local_addr() {
        info!(address = %bound, "metrics listening");
    }
    Ok(Some(listener))
}

/// Where the console is served, if it is on.
fn console_site(config: &Config, tls: bool) -> Result<Option<console::Site>, ConfigError> {
    if !config.console {
        return Ok(None);
    }
    let site = console::Site::new(
        tls,
        config.console_origin.as_deref(),
        config.console_allow_plain_http,
    )?;
    Ok(Some(site))
}

/// Serves accesskey on `listener` until `shutdown` completes, then finishes
/// in-flight calls, stops the background work and closes the database.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    // Everything that can be refused is, before the database is touched.
    let tls = config.tls()?;
    let site = console_site(&config, tls.is_some())?;
    let console_listener = serving::bind_console(&config).await?;
    let _exclusive = ExclusiveUse::acquire(&config.database_url)?;
    let (store, directory) = open(&config).await?;
    let metrics_listener = bind_metrics(&config).await?;
    let metrics = metrics_listener
        .is_some()
        .then(|| metrics::Metrics::new(directory.clone(), &store));
    let health = tonic_health::server::HealthReporter::new();
    database_health::set(&health, tonic_health::ServingStatus::Serving).await;

    let tasks = background::Tasks::start(
        &config,
        &directory,
        &health,
        metrics_listener.zip(metrics.clone()),
    );

    // Streams (audit and health watches) never end on their own: told to
    // at shutdown, or the graceful shutdown would wait for them forever.
    let (stop_streams, streams_stopping) = tokio::sync::watch::channel(false);
    let routes = routes::assemble(
        &config,
        &directory,
        metrics.clone(),
        health,
        streams_stopping.clone(),
        site,
    )?;
    let listeners = serving::listeners(listener, console_listener, routes);
    let serving = serving::serve(&config, tls, metrics, listeners, streams_stopping);
    let shutdown = async move {
        shutdown.await;
        stop_streams.send_replace(true);
    };
    tokio::pin!(serving, shutdown);
    // The shutdown signal tells every listener through `stop_streams`.
    tokio::select! {
        served = &mut serving => served?,
        () = &mut shutdown => serving.await?,
    }
    info!("accesskeyd stopped accepting; flushing key usage and closing the database");
    tasks.shutdown().await;
    // Exact on the way out: every use newer than the one written.
    if let Err(error) = directory.flush_key_usage(Duration::ZERO).await {
        tracing::warn!(
            error = %error_chain::ErrorChain(&error),
            "could not record the last key uses"
        );
    }
    store.close().await?;
    Ok(())
}
