//! Storage failures, classified for the domain: what is worth retrying
//! (the database unreachable, silent or busy) and what is not.

mod reason;

use std::{error::Error as StdError, sync::Arc};

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

pub(crate) use reason::{LockStep, Reason, SettingProblem};

/// The error a [`StoreError`] came from, kept for programs to inspect
/// (`source()`, downcast) and shared, since one failed read can answer
/// many waiting callers.
pub(crate) type Cause = Arc<dyn StdError + Send + Sync>;

/// Storage failures, classified for the domain. Each keeps the error it
/// came from, if any, as its `source()`; its [`Reason`] says what was
/// being done (or what went wrong, when nothing else failed), never the
/// cause again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this username already exists")]
    UsernameTaken,
    #[error("a role with this name already exists")]
    RoleNameTaken,
    /// Two keys drew the same 95-bit key id: astronomically rare, and
    /// never the caller's fault.
    #[error("a key with this key id already exists")]
    KeyIdTaken,
    #[error("the user does not exist")]
    UserMissing,
    /// The database could not be reached or was too busy; retrying may work.
    #[error("database unavailable: {reason}")]
    Unavailable {
        reason: Reason,
        #[source]
        cause: Option<Cause>,
    },
    /// TLS to the database failed: its certificate is not trusted (see
    /// `--database-ca-file`), or the handshake failed. Not transient.
    #[error("TLS to the database failed: {reason}")]
    Tls {
        reason: Reason,
        #[source]
        cause: Option<Cause>,
    },
    #[error("database error: {reason}")]
    Database {
        reason: Reason,
        #[source]
        cause: Option<Cause>,
    },
    /// Another process holds the SQLite database exclusively: its lock file.
    #[error(
        "another accesskeyd is already serving this SQLite database (it holds {}); \
         a SQLite database belongs to one server: stop the other one, or use \
         PostgreSQL or MySQL to run several replicas",
        lock.display()
    )]
    InUse { lock: std::path::PathBuf },
}

impl StoreError {
    /// Unavailable for a reason with no error value of its own.
    pub(crate) fn unavailable(reason: Reason) -> Self {
        Self::Unavailable {
            reason,
            cause: None,
        }
    }

    /// Unavailable for `reason`, caused by `cause`; a TLS failure says so.
    pub(crate) fn unavailable_because(reason: Reason, cause: sqlx::Error) -> Self {
        let tls = is_tls_failure(&cause);
        Self::classified(reason, cause, tls, true)
    }

    /// The one place a driver error's class is decided: a failed TLS
    /// handshake, else transient (unavailable), else a database fault.
    fn classified(
        reason: Reason,
        cause: impl StdError + Send + Sync + 'static,
        tls: bool,
        transient: bool,
    ) -> Self {
        let cause: Option<Cause> = Some(Arc::new(cause));
        if tls {
            Self::Tls { reason, cause }
        } else if transient {
            Self::Unavailable { reason, cause }
        } else {
            Self::Database { reason, cause }
        }
    }

    /// A database fault with no error value of its own.
    pub(crate) fn database(reason: Reason) -> Self {
        Self::Database {
            reason,
            cause: None,
        }
    }

    /// A database fault `reason`, caused by `cause`.
    pub(crate) fn database_because(
        reason: Reason,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Database {
            reason,
            cause: Some(Arc::new(cause)),
        }
    }

    /// This error with every occurrence of `url` in its causes' text
    /// replaced by its [`redacted_url`]: a cause whose text held the URL is
    /// replaced by that text redacted, so that no `Display` or `Debug`
    /// print can show the password. (A [`Reason`] never holds the URL.)
    pub(super) fn scrubbed(self, url: &str) -> Self {
        let scrub = |cause: Option<Cause>| {
            cause.map(|cause| {
                let text = crate::error_chain::ErrorChain(cause.as_ref()).to_string();
                if text.contains(url) {
                    Arc::new(RedactedCause(text.replace(url, &redacted_url(url)))) as Cause
                } else {
                    cause
                }
            })
        };
        match self {
            Self::Unavailable { reason, cause } => Self::Unavailable {
                reason,
                cause: scrub(cause),
            },
            Self::Tls { reason, cause } => Self::Tls {
                reason,
                cause: scrub(cause),
            },
            Self::Database { reason, cause } => Self::Database {
                reason,
                cause: scrub(cause),
            },
            Self::InUse { lock } => Self::InUse { lock },
            Self::UsernameTaken => Self::UsernameTaken,
            Self::RoleNameTaken => Self::RoleNameTaken,
            Self::KeyIdTaken => Self::KeyIdTaken,
            Self::UserMissing => Self::UserMissing,
        }
    }
}

/// A settings row that is missing or does not hold what was written.
pub(super) fn setting_fault(name: &'static str, problem: SettingProblem) -> StoreError {
    StoreError::database(Reason::Setting { name, problem })
}

/// A cause whose text quoted the database URL, password and all: only its
/// text is kept, redacted (the error value itself could print it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RedactedCause(String);

/// `url` with its userinfo (user name and password) and any `password`
/// query parameter replaced by `***`, fit to print:
/// `postgres://***@db.internal/accesskey`. Works on text that does not parse
/// as a URL too, since that is when it gets printed.
pub(crate) fn redacted_url(url: &str) -> String {
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
            // Which unique index: every backend's message names the column
            // (SQLite) or the index (PostgreSQL, MySQL), and only the users
            // table's holds "username"; of the rest, only the roles
            // table's holds "name_folded".
            Some(SqlErr::UniqueConstraintViolation(message)) => {
                return if message.contains("key_id") {
                    Self::KeyIdTaken
                } else if message.contains("username") {
                    Self::UsernameTaken
                } else if message.contains("name_folded") {
                    Self::RoleNameTaken
                } else {
                    Self::database_because(Reason::UnexpectedUniqueConstraint, error)
                };
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => return Self::UserMissing,
            _ => {}
        }
        let reason = attempted(&error);
        let tls = sqlx_error(&error).is_some_and(is_tls_failure);
        let transient = is_transient(&error);
        Self::classified(reason, error, tls, transient)
    }
}

/// What sea-orm was doing when `error` happened, for the reason: the
/// error itself is the cause.
fn attempted(error: &DbErr) -> Reason {
    match error {
        DbErr::ConnectionAcquire(_) => Reason::Acquire,
        DbErr::Conn(_) => Reason::Connect,
        DbErr::Exec(_) => Reason::Statement,
        DbErr::Query(_) => Reason::Query,
        DbErr::Migration(_) => Reason::Migration,
        DbErr::RecordNotFound(_) | DbErr::RecordNotInserted | DbErr::RecordNotUpdated => {
            Reason::RowMissing
        }
        _ => Reason::DatabaseCall,
    }
}

/// Whether `error` is a failed TLS handshake with the database: sqlx
/// reports rustls's verdict (an untrusted certificate, say) either as its
/// own TLS error or inside an I/O error.
fn is_tls_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

/// Whether the pool gave up waiting for a connection: the error that hides
/// why the connections failed (see `unreachable`).
pub(super) fn is_pool_timeout(error: &DbErr) -> bool {
    matches!(error, DbErr::ConnectionAcquire(_))
        || matches!(sqlx_error(error), Some(sqlx::Error::PoolTimedOut))
}

/// The sqlx error under a sea-orm error, if there is one.
fn sqlx_error(error: &DbErr) -> Option<&sqlx::Error> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e),
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
pub(super) fn is_sqlite_read_only(error: &DbErr) -> bool {
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
pub(super) fn connection_gone(sqlstate: &str) -> bool {
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
