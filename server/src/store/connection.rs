//! Connecting: the pool and its per-backend settings, the deadline every
//! operation on a database server runs under, and which pooled connections
//! must be retired. The health probe's own connection is in `probe`.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{
    ConnectOptions, Database, DbBackend, DbErr,
    sqlx::{
        self,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};
use sea_orm_migration::MigratorTrait as _;

use super::{
    OutsideWrites, Store, StoreError,
    error::Reason,
    error::{is_pool_timeout, is_sqlite_read_only, redacted_url},
    key_reads::KeyReads,
    migration, sqlite_path, unreachable,
};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings. `Debug` shows the URL without its credentials.
#[derive(Clone)]
pub struct StoreOptions {
    pub database_url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Longest one statement may run on a database server (PostgreSQL,
    /// MySQL); see [`Store::bounded`].
    pub statement_timeout: Duration,
    /// A PEM file of CA certificates to trust for TLS to a database server,
    /// besides the Mozilla roots built in.
    pub database_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("database_url", &redacted_url(&self.database_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("database_ca_file", &self.database_ca_file)
            .finish()
    }
}

/// The settings every connection to a database server gets, pooled or
/// not: the server-side statement timeout (PostgreSQL; MySQL's is set
/// after connecting) and the CA file for TLS. TLS itself follows the
/// URL's `sslmode` (PostgreSQL: `prefer` by default, which uses TLS when
/// the server offers it) or `ssl-mode` (MySQL: `PREFERRED`).
pub(super) fn with_server_settings(connect: &mut ConnectOptions, options: &StoreOptions) {
    let postgres = options.clone();
    connect.map_sqlx_postgres_opts(move |opts| postgres_settings(opts, &postgres));
    let mysql = options.clone();
    connect.map_sqlx_mysql_opts(move |opts| mysql_settings(opts, &mysql));
}

/// [`with_server_settings`] for one PostgreSQL connection's options.
pub(super) fn postgres_settings(
    opts: sqlx::postgres::PgConnectOptions,
    options: &StoreOptions,
) -> sqlx::postgres::PgConnectOptions {
    let statement_ms = options.statement_timeout.as_millis().to_string();
    let opts = opts.options([("statement_timeout", statement_ms.as_str())]);
    match &options.database_ca_file {
        Some(ca) => opts.ssl_root_cert(ca),
        None => opts,
    }
}

/// [`with_server_settings`] for one MySQL connection's options.
pub(super) fn mysql_settings(
    opts: sqlx::mysql::MySqlConnectOptions,
    options: &StoreOptions,
) -> sqlx::mysql::MySqlConnectOptions {
    match &options.database_ca_file {
        Some(ca) => opts.ssl_ca(ca),
        None => opts,
    }
}

/// A connection that predates the last discard ([`Discards`]) is closed
/// instead of handed out, on every backend. Through sea-orm's own
/// `before_acquire` slot, so that it composes with sea-orm's liveness test
/// rather than replacing it.
fn retiring(connect: &mut ConnectOptions, discards: &Arc<Discards>) {
    macro_rules! for_backend {
        ($before_acquire:ident) => {{
            let discards = Arc::clone(discards);
            connect.$before_acquire(move |_, connection| {
                let usable = !discards.predates_last(connection.age);
                Box::pin(async move { Ok(usable) })
            });
        }};
    }
    for_backend!(map_sqlx_sqlite_before_acquire);
    for_backend!(map_sqlx_postgres_before_acquire);
    for_backend!(map_sqlx_mysql_before_acquire);
}

/// A connection released inside a transaction is closed instead of kept
/// ([`outside_transaction`]).
fn closing_unfinished<DB: sqlx::Database>(
    pool: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    pool.after_release(|connection, _| {
        let keep = outside_transaction::<DB>(connection);
        Box::pin(async move { Ok(keep) })
    })
}

/// Whether a connection going back to the pool is outside any transaction;
/// if not, the pool closes it, which rolls back whatever it held.
///
/// When a COMMIT fails, sqlx keeps counting the connection as inside its
/// transaction, and SQLite may keep that transaction open (holding the
/// write lock, with the failed changes in it). The next transaction on that
/// connection would then be only a SAVEPOINT inside the old one: its
/// "commit" would succeed and be acknowledged, yet never reach the database.
fn outside_transaction<DB: sqlx::Database>(connection: &DB::Connection) -> bool {
    use sqlx_core::transaction::TransactionManager as _;
    let depth = DB::TransactionManager::get_transaction_depth(connection);
    if depth > 0 {
        tracing::warn!(
            depth,
            "closing a database connection left inside a transaction whose commit failed"
        );
    }
    depth == 0
}

/// Pooled connections that must not be used again: every one opened
/// before the last time something went wrong with a connection in a way
/// that may have spoilt the others too. Each is closed the next time it
/// is taken from the pool, and the pool opens a fresh one.
///
/// - SQLite opens a database file it cannot write (a storage fault: the
///   files made read-only, a full or remounted disk) in read-only mode,
///   and keeps it so: a connection opened during the fault would refuse
///   every write long after the fault was gone.
/// - An operation abandoned at its deadline may leave its connection with
///   an answer still on the way, which the next command would read as its
///   own (seen on MySQL: a transaction's BEGIN answered by an old ping).
///   Which connection that was is not known here, and during an outage the
///   others are as suspect.
#[derive(Debug, Default)]
pub(super) struct Discards {
    last: Mutex<Option<Instant>>,
}

impl Discards {
    /// Notes a write refused as read-only (SQLite).
    fn note(&self, error: &DbErr) {
        if is_sqlite_read_only(error) {
            self.discard_all();
        }
    }

    /// Discards every connection opened until now.
    fn discard_all(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Whether a connection opened `age` ago predates the last discard.
    fn predates_last(&self, age: Duration) -> bool {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.is_some_and(|refused| {
            Instant::now()
                .checked_sub(age)
                .is_none_or(|opened| opened <= refused)
        })
    }
}

impl Store {
    /// Connects (creating a SQLite file if needed). Does not migrate.
    pub async fn connect(options: &StoreOptions) -> Result<Self, StoreError> {
        let mut connect = ConnectOptions::new(options.database_url.clone());
        connect
            .max_connections(options.max_connections)
            .connect_timeout(options.acquire_timeout)
            // A call waits at most this long for a connection before it
            // fails with UNAVAILABLE, so an outage is reported within
            // typical client deadlines instead of hanging them.
            .acquire_timeout(options.acquire_timeout)
            // sqlx logs every statement at info by default; ours are not
            // interesting, and their parameters must never reach a log.
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                // WAL lets readers run beside the writer; FULL makes every
                // acknowledged write survive power loss, not only a crash.
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    // 1 MiB of page cache per connection instead of 2 MiB:
                    // the hot path reads one index page chain per key, which
                    // the OS page cache serves as well, and a pool of ten
                    // connections would otherwise hold 20 MiB.
                    .pragma("cache_size", "-1024")
            });
        // sea-orm's default liveness test (a ping on every acquire) stays:
        // only an idle-time test was measured against the hot read's kept
        // connections, and lost on both counts (BENCHMARKS.md, the a52e8a0..50d8071 run).
        let discards = Arc::new(Discards::default());
        retiring(&mut connect, &discards);
        connect.map_sqlx_sqlite_pool_opts(closing_unfinished);
        connect.map_sqlx_postgres_pool_opts(closing_unfinished);
        // The database server ends a statement running past the timeout
        // itself, freeing its locks, whether or not anyone still waits.
        with_server_settings(&mut connect, options);
        let statement_secs = options.statement_timeout.as_secs_f64();
        let statement_ms = options.statement_timeout.as_millis();
        connect.map_sqlx_mysql_pool_opts(move |pool| {
            closing_unfinished(pool).after_connect(move |connection, _| {
                Box::pin(async move {
                    // MariaDB's name (seconds) first, then MySQL's (ms, reads
                    // only); a server that has neither keeps the client-side
                    // bound alone.
                    let mariadb = format!("SET SESSION max_statement_time = {statement_secs}");
                    if sqlx::query(sqlx::AssertSqlSafe(mariadb))
                        .execute(&mut *connection)
                        .await
                        .is_err()
                    {
                        let mysql = format!("SET SESSION max_execution_time = {statement_ms}");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(mysql))
                            .execute(&mut *connection)
                            .await;
                    }
                    Ok(())
                })
            })
        });
        // sea-orm's connection errors quote the URL whole, password included.
        let db = match Database::connect(connect).await {
            Ok(db) => db,
            Err(error) => {
                let timed_out = is_pool_timeout(&error);
                let mut error = StoreError::from(error);
                if timed_out && let Some(cause) = unreachable::direct_attempt(options).await {
                    error = StoreError::unavailable_because(
                        Reason::NoConnectionWithin(options.acquire_timeout),
                        cause,
                    );
                }
                return Err(error.scrubbed(&options.database_url));
            }
        };
        // Two reads in flight: measured on PostgreSQL, two batches of
        // waiters outran four smaller ones (fewer round trips for the same
        // verifications), and one left the database idle between batches.
        // Half the pool at most, so batched reads never starve writes.
        let backend = db.get_database_backend();
        let key_reads = KeyReads::start(
            &db,
            (options.max_connections / 2).clamp(1, 2) as usize,
            (backend != DbBackend::Sqlite).then_some(options.statement_timeout),
        )?;
        Ok(Self {
            deadline: (backend != DbBackend::Sqlite)
                .then_some(options.acquire_timeout + options.statement_timeout),
            db,
            sqlite_file: sqlite_path(&options.database_url),
            key_reads,
            discards,
            probe: Arc::default(),
            options: options.clone(),
            operations: Arc::default(),
            audit_chain: crate::domain::audit_chain::AuditChain::default(),
        })
    }

    /// Whether this process is the database's only writer, so that state
    /// read from it stays true until this process writes (or something
    /// outside it does: see [`watch_outside_writes`](Self::watch_outside_writes)).
    /// True for SQLite, whose file [`ExclusiveUse`] keeps to one server;
    /// a shared database has other replicas writing.
    pub fn single_writer(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Sqlite
    }

    /// For a [`single_writer`](Self::single_writer) database file: what
    /// finds writes made by anything else (an operator's `sqlite3`),
    /// calling `on_write` when one is seen. `None` for a shared database,
    /// where nothing may be trusted from memory in the first place, and
    /// for an in-memory one, which nothing else can reach.
    pub async fn watch_outside_writes(
        &self,
        on_write: impl Fn() + Send + Sync + 'static,
    ) -> Result<Option<OutsideWrites>, StoreError> {
        let Some(path) = self.sqlite_file.as_deref() else {
            return Ok(None);
        };
        let pool = self.db.get_sqlite_connection_pool();
        Ok(Some(
            OutsideWrites::start(pool, path, Box::new(on_write)).await?,
        ))
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migration::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// How many migrations have not been applied yet.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        Ok(
            migration::Migrator::get_pending_migrations_read_only(&self.db)
                .await?
                .len(),
        )
    }

    /// Closes the pool, flushing SQLite's WAL.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }

    /// Runs one storage operation (a statement, or a short transaction) on
    /// a database server within the acquire timeout plus the statement
    /// timeout: one that stops answering (a hung host, a dropped network
    /// path) fails the operation with Unavailable instead of hanging its
    /// call. The server enforces the statement timeout too, but a silent
    /// network never delivers its error. A connection abandoned here is
    /// checked before the pool hands it out again, and one abandoned inside
    /// a transaction is closed ([`outside_transaction`]). SQLite is a local
    /// file with its own busy timeout: not bounded here.
    pub(super) async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let Some(deadline) = self.deadline else {
            let outcome = operation.await;
            self.operations.record(started.elapsed());
            return outcome;
        };
        let outcome = tokio::time::timeout(deadline, operation)
            .await
            .unwrap_or_else(|_| {
                self.discards.discard_all();
                Err(StoreError::unavailable(Reason::NoAnswerWithin(deadline)))
            });
        self.operations.record(started.elapsed());
        outcome
    }

    /// A write's outcome, noting a refusal to write (see [`ReadOnlyRefusals`]).
    pub(super) fn written<T>(&self, outcome: Result<T, DbErr>) -> Result<T, StoreError> {
        if let Err(error) = &outcome {
            self.discards.note(error);
        }
        Ok(outcome?)
    }
}
