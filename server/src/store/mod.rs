//! Storage: sea-orm entities, migrations, and the domain-level queries the
//! [`crate::domain::Directory`] runs. Nothing above this module sees sea-orm.
//!
//! One code path serves SQLite, PostgreSQL and MySQL/MariaDB. Creating a
//! user and recording key uses are single statements, atomic without
//! explicit transactions; the schema's unique and foreign keys (not a
//! read-then-write) enforce one key per user and case-insensitive usernames.
//! Changes the authority rules must approve run in one short transaction
//! that locks the row they change ([`changes`]).

mod changes;
pub mod entity;
mod exclusive;
mod key_reads;
pub mod migration;
mod outside_writes;

pub use exclusive::{ExclusiveUse, sqlite_path};
pub use outside_writes::OutsideWrites;

use key_reads::KeyReads;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection,
    DbBackend, DbErr, EntityTrait as _, ExprTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, QueryTrait as _, RuntimeErr, SqlErr, Statement, Value,
    sea_query::{Expr, LikeExpr},
    sqlx::{
        self,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};
use sea_orm_migration::MigratorTrait as _;

use crate::domain::{
    key_format::KeyId,
    model::{
        Credential, IdentityProvider, KeyInfo, NewUser, Permission, PermissionSet, Timestamp, User,
        UserRef, Username,
    },
    secret_hash::Fingerprint,
};
use entity::{access_key, setting, user};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Separates permission names in the `permissions` column.
const PERMISSION_SEPARATOR: char = '\n';
/// The `settings` row holding the ListUsers page-token MAC key.
const PAGE_TOKEN_KEY_SETTING: &str = "page_token_key";
/// Key uses written per transaction by [`Store::record_key_uses`].
const USAGE_FLUSH_CHUNK: usize = 500;
/// The LIKE escape character: not allowed in usernames, so unambiguous.
const LIKE_ESCAPE: char = '!';

/// Storage failures, classified for the domain.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this username already exists")]
    UsernameTaken,
    #[error("the user does not exist")]
    UserMissing,
    /// The database could not be reached or was too busy; retrying may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    /// Another process holds the database exclusively.
    #[error("{0}")]
    InUse(String),
}

impl StoreError {
    /// This error with every occurrence of `url` in its text replaced by
    /// its [`redacted_url`].
    fn scrubbed(self, url: &str) -> Self {
        let scrub = |text: String| text.replace(url, &redacted_url(url));
        match self {
            Self::Unavailable(detail) => Self::Unavailable(scrub(detail)),
            Self::Database(detail) => Self::Database(scrub(detail)),
            Self::InUse(detail) => Self::InUse(scrub(detail)),
            Self::UsernameTaken => Self::UsernameTaken,
            Self::UserMissing => Self::UserMissing,
        }
    }
}

/// `url` with its userinfo (user name and password) and any `password`
/// query parameter replaced by `***`, fit to print:
/// `postgres://***@db.internal/accesskey`. Works on text that does not parse
/// as a URL too, since that is when it gets printed.
pub fn redacted_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    let mut redacted = match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &url[scheme_end + at..]),
        None => url.to_owned(),
    };
    if let Some(query_start) = redacted.find('?') {
        let (base, query) = redacted.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted = format!("{base}{}", query.join("&"));
    }
    redacted
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => return Self::UsernameTaken,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => return Self::UserMissing,
            _ => {}
        }
        if is_transient(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Database(error.to_string())
        }
    }
}

/// The sqlx error under a sea-orm statement error, if there is one.
fn sqlx_error(error: &DbErr) -> Option<&sqlx::Error> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// SQLite's primary result code (the low byte of the extended one), for a
/// database error that came from SQLite.
fn sqlite_primary_code(error: &dyn sqlx::error::DatabaseError) -> Option<u32> {
    error.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let extended = error.code()?.parse::<u32>().ok()?;
    Some(extended & 0xff)
}

/// SQLITE_READONLY: the connection cannot write.
const SQLITE_READONLY: u32 = 8;

/// Whether SQLite refused a write because its connection is read-only.
fn is_sqlite_read_only(error: &DbErr) -> bool {
    match sqlx_error(error) {
        Some(sqlx::Error::Database(error)) => {
            sqlite_primary_code(error.as_ref()) == Some(SQLITE_READONLY)
        }
        _ => false,
    }
}

/// Whether a SQLSTATE says the connection itself is gone: class 08
/// (connection exception) or 57P (the server shutting down, the backend
/// terminated). Not all of class 57: 57014 is a cancelled statement on a
/// working connection.
fn connection_gone(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || sqlstate.starts_with("57P")
}

/// Whether retrying could succeed: the database is unreachable, the pool is
/// exhausted, or the statement lost a lock or serialization conflict. Backend
/// error codes are the one place the three backends differ here.
fn is_transient(error: &DbErr) -> bool {
    if matches!(error, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    let Some(sqlx_error) = sqlx_error(error) else {
        return false;
    };
    match sqlx_error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                // Too many connections, lock wait timeout, deadlock, read-only.
                return matches!(mysql.number(), 1040 | 1205 | 1213 | 1290 | 1836);
            }
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // The connection gone, serialization failure, deadlock, too
                // many connections, lock not available, read-only transaction.
                return connection_gone(&code)
                    || matches!(&*code, "40001" | "40P01" | "53300" | "55P03" | "25006");
            }
            // SQLite: BUSY, LOCKED, READONLY, IOERR, CANTOPEN.
            sqlite_primary_code(db.as_ref())
                .is_some_and(|primary| matches!(primary, 5 | 6 | SQLITE_READONLY | 10 | 14))
        }
        _ => false,
    }
}

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
    /// besides the system's.
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
fn with_server_settings(connect: &mut ConnectOptions, options: &StoreOptions) {
    let statement_ms = options.statement_timeout.as_millis().to_string();
    let pg_ca = options.database_ca_file.clone();
    connect.map_sqlx_postgres_opts(move |opts| {
        let opts = opts.options([("statement_timeout", statement_ms.as_str())]);
        match &pg_ca {
            Some(ca) => opts.ssl_root_cert(ca),
            None => opts,
        }
    });
    if let Some(ca) = options.database_ca_file.clone() {
        connect.map_sqlx_mysql_opts(move |opts| opts.ssl_ca(&ca));
    }
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

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// How long one storage operation may take before it fails with
    /// Unavailable (`None`: no bound, for SQLite).
    deadline: Option<Duration>,
    /// The SQLite database file, if the database is one.
    sqlite_file: Option<PathBuf>,
    key_reads: KeyReads,
    discards: Arc<Discards>,
    /// The health probe's own connection (see [`Store::ping`]).
    probe: Arc<tokio::sync::Mutex<Option<DatabaseConnection>>>,
    options: StoreOptions,
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
struct Discards {
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
        let discards = Arc::new(Discards::default());
        let refusals = Arc::clone(&discards);
        connect.map_sqlx_sqlite_pool_opts(move |pool| {
            let refusals = Arc::clone(&refusals);
            pool.before_acquire(move |_, connection| {
                let usable = !refusals.predates_last(connection.age);
                Box::pin(async move { Ok(usable) })
            })
            .after_release(|connection, _| {
                Box::pin(async { Ok(outside_transaction::<sqlx::Sqlite>(connection)) })
            })
        });
        // The database server ends a statement running past the timeout
        // itself, freeing its locks, whether or not anyone still waits.
        with_server_settings(&mut connect, options);
        let statement_secs = options.statement_timeout.as_secs_f64();
        let statement_ms = options.statement_timeout.as_millis();
        let discarded = Arc::clone(&discards);
        connect.map_sqlx_postgres_pool_opts(move |pool| {
            let discarded = Arc::clone(&discarded);
            pool.before_acquire(move |_, connection| {
                let usable = !discarded.predates_last(connection.age);
                Box::pin(async move { Ok(usable) })
            })
            .after_release(|connection, _| {
                Box::pin(async { Ok(outside_transaction::<sqlx::Postgres>(connection)) })
            })
        });
        let discarded = Arc::clone(&discards);
        connect.map_sqlx_mysql_pool_opts(move |pool| {
            let discarded = Arc::clone(&discarded);
            pool.before_acquire(move |_, connection| {
                let usable = !discarded.predates_last(connection.age);
                Box::pin(async move { Ok(usable) })
            })
            .after_connect(move |connection, _| {
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
            .after_release(|connection, _| {
                Box::pin(async { Ok(outside_transaction::<sqlx::MySql>(connection)) })
            })
        });
        // sea-orm's connection errors quote the URL whole, password included.
        let db = Database::connect(connect)
            .await
            .map_err(|error| StoreError::from(error).scrubbed(&options.database_url))?;
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

    /// Whether the database answers a trivial query within `limit`. On a
    /// database server, asked on a connection of its own, outside the
    /// pool, opened when needed and dropped on any failure: a probe given
    /// up on must not leave a pooled connection with an answer on the way.
    pub async fn ping(&self, limit: Duration) -> Result<(), StoreError> {
        let silent =
            || StoreError::Unavailable(format!("no answer within {} ms", limit.as_millis()));
        if self.db.get_database_backend() == DbBackend::Sqlite {
            return tokio::time::timeout(limit, self.db.ping())
                .await
                .map_err(|_| silent())?
                .map_err(StoreError::from);
        }
        let mut probe = self.probe.lock().await;
        let answered = tokio::time::timeout(limit, async {
            if probe.is_none() {
                let mut options = ConnectOptions::new(self.options.database_url.clone());
                options
                    .max_connections(1)
                    .connect_timeout(limit)
                    .acquire_timeout(limit)
                    .test_before_acquire(false)
                    .sqlx_logging(false);
                with_server_settings(&mut options, &self.options);
                *probe = Some(Database::connect(options).await.map_err(|error| {
                    StoreError::from(error).scrubbed(&self.options.database_url)
                })?);
            }
            match probe.as_ref() {
                Some(db) => Ok(db.ping().await?),
                None => Err(StoreError::Unavailable("no probe connection".to_owned())),
            }
        })
        .await
        .unwrap_or_else(|_| Err(silent()));
        if answered.is_err() {
            // Dropped, not closed: closing would wait for the connection.
            *probe = None;
        }
        answered
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
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let Some(deadline) = self.deadline else {
            return operation.await;
        };
        tokio::time::timeout(deadline, operation)
            .await
            .unwrap_or_else(|_| {
                self.discards.discard_all();
                Err(StoreError::Unavailable(format!(
                    "the database did not answer within {} ms",
                    deadline.as_millis()
                )))
            })
    }

    /// A write's outcome, noting a refusal to write (see [`ReadOnlyRefusals`]).
    fn written<T>(&self, outcome: Result<T, DbErr>) -> Result<T, StoreError> {
        if let Err(error) = &outcome {
            self.discards.note(error);
        }
        Ok(outcome?)
    }

    /// The page-token MAC key, created by whichever replica asks first.
    pub async fn page_token_key(&self) -> Result<Vec<u8>, StoreError> {
        self.bounded(async {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).map_err(|e| StoreError::Database(e.to_string()))?;
            let candidate = setting::ActiveModel {
                name: Set(PAGE_TOKEN_KEY_SETTING.to_owned()),
                value: Set(to_hex(&fresh)),
            };
            // Insert-if-absent, then read: concurrent replicas all read the winner.
            self.written(
                setting::Entity::insert(candidate)
                    .on_conflict_do_nothing_on([setting::Column::Name])
                    .exec(&self.db)
                    .await,
            )?;
            let stored = setting::Entity::find_by_id(PAGE_TOKEN_KEY_SETTING.to_owned())
                .one(&self.db)
                .await?
                .ok_or_else(|| StoreError::Database("the page-token key vanished".to_owned()))?;
            from_hex(&stored.value).ok_or_else(|| {
                StoreError::Database("the stored page-token key is not hex".to_owned())
            })
        })
        .await
    }

    pub async fn any_user(&self) -> Result<bool, StoreError> {
        self.bounded(async { Ok(user::Entity::find().one(&self.db).await?.is_some()) })
            .await
    }

    pub async fn insert_user(&self, new: &NewUser, now: Timestamp) -> Result<User, StoreError> {
        self.bounded(async {
            let row = user::ActiveModel {
                id: NotSet,
                username: Set(new.username.as_str().to_owned()),
                username_folded: Set(new.username.folded()),
                email: Set(new.email.clone()),
                display_name: Set(new.display_name.clone()),
                identity_provider: Set(new.identity_provider.as_str().to_owned()),
                permissions: Set(join_permissions(&new.permissions)),
                disabled: Set(false),
                create_time: Set(now.as_micros()),
                update_time: Set(now.as_micros()),
                revision: Set(1),
                administrator: Set(new.is_administrator()),
            };
            let backend = self.db.get_database_backend();
            if backend == DbBackend::Postgres {
                let inserted = self.written(
                    user::Entity::insert(row)
                        .exec_with_returning(&self.db)
                        .await,
                )?;
                return Ok(to_user(inserted, None));
            }
            // Not `INSERT … RETURNING` on SQLite: sqlx hands back the returned
            // row and drops the error of the commit that follows it, so a write
            // that never reached the disk would be acknowledged. A plain INSERT
            // reports its commit; the row is then read back.
            let inserted = self.written(
                self.db
                    .execute_raw(user::Entity::insert(row).build(backend))
                    .await,
            )?;
            let id = i64::try_from(inserted.last_insert_id()).map_err(|_| {
                StoreError::Database("the new user's id is out of range".to_owned())
            })?;
            self.user(&UserRef::Id(id)).await?.ok_or_else(|| {
                StoreError::Database("the new user is missing right after its insert".to_owned())
            })
        })
        .await
    }

    pub async fn user(&self, which: &UserRef) -> Result<Option<User>, StoreError> {
        self.bounded(async {
            let query = match which {
                UserRef::Id(id) => user::Entity::find().filter(user::Column::Id.eq(*id)),
                UserRef::Username(name) => {
                    user::Entity::find().filter(user::Column::UsernameFolded.eq(name.folded()))
                }
            };
            let found = query
                .find_also_related(access_key::Entity)
                .one(&self.db)
                .await?;
            Ok(found.map(|(user, key)| to_user(user, key)))
        })
        .await
    }

    /// Users with id above `after_id` whose folded name starts with `prefix`,
    /// in id order. Ids only grow, so paging by id sees every user that exists
    /// throughout exactly once.
    pub async fn list_users(
        &self,
        after_id: i64,
        folded_prefix: &str,
        limit: u64,
    ) -> Result<Vec<User>, StoreError> {
        self.bounded(async {
            let mut query = user::Entity::find().filter(user::Column::Id.gt(after_id));
            if !folded_prefix.is_empty() {
                let pattern = format!("{}%", escape_like(folded_prefix));
                query = query.filter(
                    Expr::col((user::Entity, user::Column::UsernameFolded))
                        .like(LikeExpr::new(pattern).escape(LIKE_ESCAPE)),
                );
            }
            let rows = query
                .order_by_asc(user::Column::Id)
                .limit(limit)
                .find_also_related(access_key::Entity)
                .all(&self.db)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(user, key)| to_user(user, key))
                .collect())
        })
        .await
    }

    /// The keys with `key_ids` (at most 128), each with its user; keys that
    /// do not exist are absent. One indexed read, shared with concurrent
    /// callers (see [`key_reads`]).
    pub async fn credentials(&self, key_ids: &[&KeyId]) -> Result<Vec<Credential>, StoreError> {
        self.key_reads.credentials(key_ids).await
    }

    /// The key with `key_id` and its user, in one indexed read.
    pub async fn credential(&self, key_id: &KeyId) -> Result<Option<Credential>, StoreError> {
        let found = self.credentials(&[key_id]).await?;
        Ok(found.into_iter().next())
    }

    /// Records the secret fingerprint of a key that has none yet (issued
    /// before fingerprints existed). Never replaces one.
    pub async fn record_fingerprint(
        &self,
        key_id: &KeyId,
        fingerprint: Fingerprint,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            self.written(
                access_key::Entity::update_many()
                    .col_expr(
                        access_key::Column::SecretFingerprint,
                        Expr::value(fingerprint.to_stored()),
                    )
                    .filter(access_key::Column::KeyId.eq(key_id.as_str()))
                    .filter(access_key::Column::SecretFingerprint.is_null())
                    .exec(&self.db)
                    .await,
            )?;
            Ok(())
        })
        .await
    }

    /// Writes a batch of key uses in one transaction. A time never moves
    /// backwards, so replicas flushing in any order converge on the latest.
    pub async fn record_key_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        // Small chunks keep SQLite's write lock short, so a million keys'
        // flush never stalls other writers past their busy timeout.
        for chunk in uses.chunks(USAGE_FLUSH_CHUNK) {
            self.record_key_use_chunk(chunk).await?;
        }
        Ok(())
    }

    /// One UPDATE for a whole chunk, joined to the chunk's (key id, time)
    /// pairs, so each pair costs one index probe. (A `CASE WHEN key_id = …`
    /// per pair, the portable alternative, compares every row with every
    /// pair: five times the CPU, ~40 s for a million keys on SQLite.)
    async fn record_key_use_chunk(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        self.bounded(async {
            let backend = self.db.get_database_backend();
            let values = uses.iter().flat_map(|(key_id, time)| {
                [
                    Value::from(key_id.as_str().to_owned()),
                    Value::from(time.as_micros()),
                ]
            });
            let statement = Statement::from_sql_and_values(
                backend,
                key_uses_update(backend, uses.len()),
                values,
            );
            self.written(self.db.execute_raw(statement).await)?;
            Ok(())
        })
        .await
    }
}

/// `UPDATE access_keys` from `pairs` bound (key id, time) pairs; a time
/// never moves backwards.
fn key_uses_update(backend: DbBackend, pairs: usize) -> String {
    const NEWER: &str = "(access_keys.last_used_time IS NULL \
                         OR access_keys.last_used_time < used.used_at)";
    match backend {
        DbBackend::Postgres => {
            let rows: Vec<String> = (0..pairs)
                .map(|i| format!("(${}, ${}::BIGINT)", 2 * i + 1, 2 * i + 2))
                .collect();
            format!(
                "UPDATE access_keys SET last_used_time = used.used_at \
                 FROM (VALUES {}) AS used (key_id, used_at) \
                 WHERE access_keys.key_id = used.key_id AND {NEWER}",
                rows.join(", ")
            )
        }
        DbBackend::MySql => {
            let rows = vec!["SELECT ?, ?"; pairs.saturating_sub(1)];
            let rest: String = rows.iter().map(|row| format!(" UNION ALL {row}")).collect();
            format!(
                "UPDATE access_keys JOIN (SELECT ? AS key_id, ? AS used_at{rest}) AS used \
                 ON access_keys.key_id = used.key_id COLLATE utf8mb4_bin \
                 SET access_keys.last_used_time = used.used_at WHERE {NEWER}"
            )
        }
        _ => {
            // SQLite names a VALUES table's columns column1, column2, ….
            let rows = vec!["(?, ?)"; pairs];
            format!(
                "UPDATE access_keys SET last_used_time = used.column2 \
                 FROM (VALUES {}) AS used \
                 WHERE access_keys.key_id = used.column1 AND {}",
                rows.join(", "),
                NEWER.replace("used.used_at", "used.column2")
            )
        }
    }
}

fn to_user(row: user::Model, key: Option<access_key::Model>) -> User {
    User {
        id: row.id,
        username: Username::from_stored(row.username),
        email: row.email,
        display_name: row.display_name,
        identity_provider: if row.identity_provider == IdentityProvider::LOCAL {
            IdentityProvider::Local
        } else {
            IdentityProvider::External(row.identity_provider)
        },
        permissions: split_permissions(&row.permissions),
        disabled: row.disabled,
        access_key: key.map(|key| KeyInfo {
            key_id: KeyId::from_stored(key.key_id),
            create_time: Timestamp::from_micros(key.create_time),
            expire_time: key.expire_time.map(Timestamp::from_micros),
            last_used_time: key.last_used_time.map(Timestamp::from_micros),
        }),
        create_time: Timestamp::from_micros(row.create_time),
        update_time: Timestamp::from_micros(row.update_time),
        revision: row.revision,
    }
}

fn join_permissions(permissions: &PermissionSet) -> String {
    let names: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    names.join(&PERMISSION_SEPARATOR.to_string())
}

fn split_permissions(column: &str) -> PermissionSet {
    PermissionSet::from_permissions(
        column
            .split(PERMISSION_SEPARATOR)
            .filter(|name| !name.is_empty())
            .map(Permission::from_stored),
    )
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            escaped.push(LIKE_ESCAPE);
        }
        escaped.push(c);
    }
    escaped
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn urls_are_printed_without_their_userinfo() {
        assert_eq!(
            redacted_url("postgres://user:s3cret@db:5432/accesskey?sslmode=require"),
            "postgres://***@db:5432/accesskey?sslmode=require"
        );
        assert_eq!(redacted_url("mysql://root:p@ss@db/x"), "mysql://***@db/x");
        assert_eq!(
            redacted_url("postgres://user:s3cret@[bad/db"),
            "postgres://***@[bad/db"
        );
        assert_eq!(
            redacted_url("sqlite://accesskey.db"),
            "sqlite://accesskey.db"
        );
        assert_eq!(
            redacted_url("postgres://db/x?user=a@b"),
            "postgres://db/x?user=a@b"
        );
        assert_eq!(redacted_url("not a url"), "not a url");
        assert_eq!(
            redacted_url("postgres://db/x?sslmode=require&password=s3cret"),
            "postgres://db/x?sslmode=require&password=***"
        );
    }
}
