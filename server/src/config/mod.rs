//! Server configuration: flags with `ACCESSKEY_*` environment twins,
//! validated once before anything starts. The files the flags name are
//! read in [`files`]; what can be wrong with either is a [`ConfigError`].

mod error;
mod files;

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf};

pub use error::ConfigError;

use crate::domain::secret_hash::HashParams;

/// What a pepper file that is text ending in a line break means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PepperLineBreak {
    /// Refuse to start: the line break would silently be part of the
    /// pepper, and a replica whose file lacks it rejects every key.
    Refuse,
    /// The pepper is the text without its final line break.
    Strip,
    /// The pepper is every byte, line break included.
    Keep,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line, with the request span's fields (its id).
    Json,
}

/// How `accesskeyd` runs. Never logged whole: the database URL may carry a
/// password.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "ACCESSKEY_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Database: `sqlite://path` (created if missing), `postgres://…` or `mysql://…`.
    #[arg(
        long,
        env = "ACCESSKEY_DATABASE_URL",
        default_value = "sqlite://accesskey.db"
    )]
    pub database_url: String,

    /// Apply pending migrations on start. With `false`, refuse to start while
    /// the schema is behind (for deployments that run `accesskeyd migrate`
    /// as a separate step).
    #[arg(long, env = "ACCESSKEY_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,

    /// Most database connections in the pool.
    #[arg(long, env = "ACCESSKEY_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// How long a call waits for a database connection before failing with
    /// UNAVAILABLE, in milliseconds.
    #[arg(long, env = "ACCESSKEY_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3_000)]
    pub db_acquire_timeout_ms: u64,

    /// Longest a database statement may take, in milliseconds, on
    /// PostgreSQL and MySQL/MariaDB: enforced by the server
    /// (`statement_timeout`, `max_statement_time`) and by accesskeyd, so
    /// that a database that stops answering fails calls with UNAVAILABLE
    /// instead of hanging them. A healthy database never comes near it.
    #[arg(
        long,
        env = "ACCESSKEY_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 2_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub db_statement_timeout_ms: u64,

    /// PEM CA certificate(s) to trust for TLS to PostgreSQL or MySQL, besides
    /// the system's: for a database whose certificate a private CA signed.
    /// TLS itself follows the URL: `?sslmode=verify-full` (PostgreSQL) or
    /// `?ssl-mode=VERIFY_IDENTITY` (MySQL) to require a verified one.
    #[arg(long, env = "ACCESSKEY_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,

    /// argon2id memory cost in KiB (OWASP minimum: 19456).
    #[arg(long, env = "ACCESSKEY_ARGON2_MEMORY_KIB", default_value_t = HashParams::OWASP.memory_kib)]
    pub argon2_memory_kib: u32,

    /// argon2id passes (OWASP minimum: 2).
    #[arg(long, env = "ACCESSKEY_ARGON2_ITERATIONS", default_value_t = HashParams::OWASP.iterations)]
    pub argon2_iterations: u32,

    /// argon2id lanes (OWASP minimum: 1).
    #[arg(long, env = "ACCESSKEY_ARGON2_PARALLELISM", default_value_t = HashParams::OWASP.parallelism)]
    pub argon2_parallelism: u32,

    /// Most argon2 computations at once (default: one per CPU core but one,
    /// at least one, keeping a core for warm verifications). Bounds
    /// argon2's memory to this × the memory cost.
    #[arg(long, env = "ACCESSKEY_HASH_WORKERS")]
    pub hash_workers: Option<NonZeroUsize>,

    /// PEM certificate chain to serve TLS with (with --tls-key). Without
    /// both, accesskeyd speaks plaintext: keep that to loopback.
    #[arg(long, env = "ACCESSKEY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "ACCESSKEY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate(s): require clients to present a certificate
    /// signed by one of them (mutual TLS), in addition to their access key.
    #[arg(long, env = "ACCESSKEY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// A file holding a secret (at least 16 bytes, used as they are) mixed
    /// into every key hash. Keep it outside the database and its backups;
    /// keys issued with it verify only with it.
    #[arg(long, env = "ACCESSKEY_PEPPER_FILE")]
    pub pepper_file: Option<PathBuf>,

    /// What to do when the pepper file is text ending in a line break,
    /// which an editor may add or drop: refuse to start (the default),
    /// strip it, or keep it as part of the pepper (for keys issued with it
    /// before this check existed). A binary pepper is always used as it is.
    #[arg(
        long,
        env = "ACCESSKEY_PEPPER_LINE_BREAK",
        value_enum,
        default_value_t = PepperLineBreak::Refuse
    )]
    pub pepper_line_break: PepperLineBreak,

    /// Longest wait for a free argon2 worker, in milliseconds, before a call
    /// fails with RESOURCE_EXHAUSTED instead of queueing without limit.
    #[arg(long, env = "ACCESSKEY_HASH_QUEUE_TIMEOUT_MS", default_value_t = 2_000)]
    pub hash_queue_timeout_ms: u64,

    /// Failed secret checks allowed at once per key id before it is
    /// throttled (RESOURCE_EXHAUSTED with the time to wait). Only keys
    /// issued before secret fingerprints existed are throttled: a wrong
    /// secret for any other key costs no argon2 and is never counted.
    #[arg(long, env = "ACCESSKEY_FAILED_ATTEMPTS_BURST", default_value_t = 10)]
    pub failed_attempts_burst: u32,

    /// Milliseconds for a throttled key id to earn one more attempt.
    #[arg(
        long,
        env = "ACCESSKEY_FAILED_ATTEMPTS_REFILL_MS",
        default_value_t = 1_000
    )]
    pub failed_attempts_refill_ms: u64,

    /// Most keys whose secret is remembered as checked (about 150 bytes
    /// each); beyond it, the least lucky key pays one argon2 again.
    #[arg(
        long,
        env = "ACCESSKEY_VERIFY_CACHE_CAPACITY",
        default_value_t = 2_000_000
    )]
    pub verify_cache_capacity: usize,

    /// Milliseconds a new connection has to send its first bytes (the HTTP/2
    /// preface, or a TLS ClientHello) before the server closes it.
    #[arg(long, env = "ACCESSKEY_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_ms: u64,

    /// Most connections the gRPC port (and the console on it) holds open at
    /// once. Beyond it, new connections wait in the kernel's backlog until
    /// one closes. Keep it well under the process's file descriptor limit
    /// (the systemd unit's `LimitNOFILE=65536`; often 1024 in a shell), which
    /// the database pool and files share.
    #[arg(long, env = "ACCESSKEY_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Seconds a shutdown waits for calls in flight to finish before it
    /// cuts them, then writes the last key uses and exits. Streams (audit
    /// and health watches) are ended at once. Keep it under the process
    /// manager's stop timeout (the systemd unit's `TimeoutStopSec=30`).
    #[arg(long, env = "ACCESSKEY_SHUTDOWN_GRACE_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub shutdown_grace_secs: u64,

    /// Seconds between batched writes of keys' `last_used_time`.
    #[arg(long, env = "ACCESSKEY_LAST_USED_FLUSH_SECS", default_value_t = 60)]
    pub last_used_flush_secs: u64,

    /// Seconds a key's written `last_used_time` may lag behind its latest
    /// use while the key keeps being used: a key in constant use is written
    /// once per this period, not once per flush. This server's own GetUser
    /// and ListUsers always show the latest use; 0 writes every new use.
    #[arg(
        long,
        env = "ACCESSKEY_LAST_USED_PRECISION_SECS",
        default_value_t = 3_600
    )]
    pub last_used_precision_secs: u64,

    /// Days audit events are kept before the background prune deletes them
    /// (0: kept forever).
    #[arg(long, env = "ACCESSKEY_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    pub audit_retention_days: u64,

    /// Log lines as `text` or `json` (one object per line, for a log
    /// shipper).
    #[arg(long, env = "ACCESSKEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// One access-log line per call at info (target `accesskey::access`):
    /// method, status code, latency, caller key id, request id, peer.
    #[arg(long, env = "ACCESSKEY_ACCESS_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub access_log: bool,

    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP) on this
    /// address, a listener of its own; off unless given.
    #[arg(long, env = "ACCESSKEY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve gRPC server reflection (for grpcurl and similar tools).
    #[arg(long, env = "ACCESSKEY_REFLECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub reflection: bool,

    /// Serve the admin console (web pages and gRPC-Web): on the gRPC port,
    /// or on `--console-listen`.
    #[arg(long, env = "ACCESSKEY_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,

    /// Serve the console (and gRPC-Web) on this address, a listener of its
    /// own (with the gRPC port's TLS, if any, and its own
    /// `--max-connections`); the gRPC port then speaks only gRPC over
    /// HTTP/2 and serves no pages.
    #[arg(long, env = "ACCESSKEY_CONSOLE_LISTEN")]
    pub console_listen: Option<SocketAddr>,

    /// The one origin the console is reached at, as `https://host[:port]`,
    /// for a console behind a proxy that terminates TLS: form posts must
    /// come from it, pages answer only to its host (the proxy must pass
    /// `Host` through), cookies are `Secure`, and responses carry HSTS.
    #[arg(long, env = "ACCESSKEY_CONSOLE_ORIGIN")]
    pub console_origin: Option<String>,

    /// Let anyone sign in to a console served over plain HTTP. Without it,
    /// signing in over plain HTTP is refused unless the browser is on
    /// loopback or a private network, so that no key crosses the internet
    /// in clear.
    #[arg(long, env = "ACCESSKEY_CONSOLE_ALLOW_PLAIN_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub console_allow_plain_http: bool,
}

impl Config {
    /// Defaults, on the given database, listening wherever the caller's
    /// listener is bound: for tests and embedding.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            auto_migrate: true,
            db_max_connections: 10,
            db_acquire_timeout_ms: 3_000,
            db_statement_timeout_ms: 2_000,
            database_ca_file: None,
            argon2_memory_kib: HashParams::OWASP.memory_kib,
            argon2_iterations: HashParams::OWASP.iterations,
            argon2_parallelism: HashParams::OWASP.parallelism,
            hash_workers: None,
            hash_queue_timeout_ms: 2_000,
            failed_attempts_burst: 10,
            failed_attempts_refill_ms: 1_000,
            verify_cache_capacity: 2_000_000,
            last_used_flush_secs: 60,
            last_used_precision_secs: 3_600,
            handshake_timeout_ms: 10_000,
            max_connections: 4096,
            shutdown_grace_secs: 20,
            audit_retention_days: 400,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            pepper_file: None,
            pepper_line_break: PepperLineBreak::Refuse,
            log_format: LogFormat::Text,
            access_log: true,
            metrics_listen: None,
            reflection: true,
            console: true,
            console_listen: None,
            console_origin: None,
            console_allow_plain_http: false,
        }
    }

    /// The argon2 worker count: as configured, else one per core but one,
    /// so that a flood of first-time or wrong keys can never take every
    /// core from warm verifications (at least one worker).
    pub fn hash_workers(&self) -> usize {
        self.hash_workers.map_or_else(
            || {
                std::thread::available_parallelism()
                    .map_or(1, NonZeroUsize::get)
                    .saturating_sub(1)
                    .max(1)
            },
            NonZeroUsize::get,
        )
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::Config;

    /// `accesskeyd`'s flags alone, as its command line flattens them.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn the_embedding_defaults_are_the_command_lines() {
        let parsed = Flags::try_parse_from([
            "accesskeyd",
            "--database-url",
            "sqlite://x.db",
            "--listen",
            "127.0.0.1:0",
        ])
        .expect("parses");
        assert_eq!(
            format!("{:?}", parsed.config),
            format!("{:?}", Config::for_database("sqlite://x.db"))
        );
    }

    /// The flag table in docs/operations.md states each default exactly as
    /// clap has it, so the documentation cannot drift from the code.
    #[test]
    fn the_operations_guide_states_every_flags_default() {
        let guide = include_str!("../../../docs/operations.md");
        for argument in Flags::command().get_arguments() {
            let Some(long) = argument.get_long() else {
                continue;
            };
            let flag = format!("`--{long}`");
            let row = guide
                .lines()
                .find(|line| {
                    line.starts_with("| `--")
                        && line
                            .split('|')
                            .nth(1)
                            .is_some_and(|cell| cell.contains(&flag))
                })
                .unwrap_or_else(|| panic!("docs/operations.md's flag table lacks {flag}"));
            let documented = row.split('|').nth(3).unwrap_or_default().trim();
            match argument.get_default_values() {
                [default] => assert_eq!(
                    documented.trim_matches('`'),
                    default.to_string_lossy(),
                    "{flag}'s default"
                ),
                _ => assert!(
                    documented.starts_with("none") || documented.contains("CPU cores"),
                    "{flag} has no default, docs/operations.md says {documented}"
                ),
            }
        }
    }
}
