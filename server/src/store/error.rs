//! Storage failures, classified for the domain: what is worth retrying
//! (the database unreachable, silent or busy) and what is not.

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

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
    pub(super) fn scrubbed(self, url: &str) -> Self {
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
