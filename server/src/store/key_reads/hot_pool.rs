//! The connections the hot read keeps, the statements it prepares on them
//! once, and how their failures are told apart.

use std::sync::{Arc, LazyLock};

use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    sea_query::{
        Expr, ExprTrait as _, Func, MysqlQueryBuilder, PostgresQueryBuilder, Query,
        SelectStatement, SqliteQueryBuilder,
    },
    sqlx::{self, MySql, Postgres, Sqlite, pool::PoolConnection},
};

use super::BATCH_SIZES;
use crate::store::error::Reason;
use crate::store::{
    StoreError,
    entity::{access_key, user},
    error::connection_gone,
};

/// The read's SQL for each batch size, in each backend's dialect (quoting,
/// placeholders). Built once, from the entities,
/// by sea-query: what is hand-made here is only that it is prepared once per
/// connection and run through sqlx directly, because sea-orm's query
/// building and row mapping cost several times the CPU of the indexed
/// lookup itself (BENCHMARKS.md, the 518a06b run).
pub(super) struct Statements {
    sqlite: Vec<String>,
    postgres: Vec<String>,
    mysql: Vec<String>,
}

/// A key's row joined with its user's, for `size` key ids.
pub(super) fn credential_read(size: usize) -> SelectStatement {
    Query::select()
        .columns([
            (access_key::Entity, access_key::Column::KeyId),
            (access_key::Entity, access_key::Column::SecretHash),
            (access_key::Entity, access_key::Column::SecretFingerprint),
            (access_key::Entity, access_key::Column::ExpireTime),
        ])
        .columns([
            (user::Entity, user::Column::Id),
            (user::Entity, user::Column::Username),
        ])
        // What the user holds, directly and through its roles: kept on its
        // row by every change, so roles cost this read nothing.
        .expr(Func::coalesce([
            Expr::col((user::Entity, user::Column::EffectivePermissions)),
            Expr::col((user::Entity, user::Column::Permissions)),
        ]))
        .column((user::Entity, user::Column::Disabled))
        .from(access_key::Entity)
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id))
                .equals((access_key::Entity, access_key::Column::UserId)),
        )
        .and_where(
            Expr::col((access_key::Entity, access_key::Column::KeyId))
                .is_in(std::iter::repeat_n("", size)),
        )
        .to_owned()
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    let each_size = |build: &dyn Fn(SelectStatement) -> String| {
        BATCH_SIZES
            .iter()
            .map(|&size| build(credential_read(size)))
            .collect()
    };
    Statements {
        sqlite: each_size(&|read| read.build(SqliteQueryBuilder).0),
        postgres: each_size(&|read| read.build(PostgresQueryBuilder).0),
        mysql: each_size(&|read| read.build(MysqlQueryBuilder).0),
    }
});

/// key_id, secret_hash, secret_fingerprint, expire_time, user id, username,
/// effective permissions, disabled.
pub(super) type CredentialRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    String,
    bool,
);

/// The pool under sea-orm's connection, for the hot-path statement.
#[derive(Debug, Clone)]
pub(super) enum HotPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// A failure of the hot-path read, told apart as sea-orm does: any failure
/// to get a connection means the database is unavailable.
pub(super) enum HotError {
    Acquire(sqlx::Error),
    Query(sqlx::Error),
    /// No answer within the statement timeout; the connection is closed.
    Silent(std::time::Duration),
}

impl From<HotError> for StoreError {
    fn from(error: HotError) -> Self {
        match error {
            HotError::Acquire(error) => Self::unavailable_because(Reason::KeyReadConnection, error),
            HotError::Query(error) => DbErr::Query(RuntimeErr::SqlxError(Arc::new(error))).into(),
            HotError::Silent(limit) => Self::unavailable(Reason::KeyReadNoAnswerWithin(limit)),
        }
    }
}

impl HotPool {
    pub(super) fn of(db: &DatabaseConnection) -> Result<Self, StoreError> {
        Ok(match db.get_database_backend() {
            DbBackend::Sqlite => Self::Sqlite(db.get_sqlite_connection_pool().clone()),
            DbBackend::Postgres => Self::Postgres(db.get_postgres_connection_pool().clone()),
            DbBackend::MySql => Self::MySql(db.get_mysql_connection_pool().clone()),
            other => {
                return Err(StoreError::database(Reason::UnsupportedBackend(other)));
            }
        })
    }

    /// Whether reads keep their connections. Not on SQLite: there the
    /// pool's liveness check is an in-process call rather than a round trip,
    /// and warm keys are answered from memory anyway, so there is nothing
    /// to gain.
    pub(super) fn keeps_connections(&self) -> bool {
        !matches!(self, Self::Sqlite(_))
    }

    /// Resolves when the pool is closed.
    pub(super) fn closed(&self) -> sqlx::pool::CloseEvent {
        match self {
            Self::Sqlite(pool) => pool.close_event(),
            Self::Postgres(pool) => pool.close_event(),
            Self::MySql(pool) => pool.close_event(),
        }
    }

    /// The rows of the keys with `ids` (at most [`MAX_BATCH`], distinct),
    /// each joined with its user. Ids without a row are simply absent.
    /// Runs on `kept` if it holds a connection, and leaves the connection
    /// it used there.
    /// A read that gets no answer within `statement_timeout` fails, and
    /// its connection is closed rather than reused.
    pub(super) async fn rows(
        &self,
        kept: &mut Option<KeptConnection>,
        ids: &[&str],
        statement_timeout: Option<std::time::Duration>,
    ) -> Result<Vec<CredentialRow>, HotError> {
        let size_index = BATCH_SIZES
            .iter()
            .position(|&size| size >= ids.len())
            .unwrap_or(BATCH_SIZES.len() - 1);
        let padding = ids.last().copied().unwrap_or_default();
        let padded: Vec<&str> = ids
            .iter()
            .copied()
            .chain(std::iter::repeat(padding))
            .take(BATCH_SIZES[size_index])
            .collect();
        macro_rules! fetch {
            ($pool:expr, $kept:ident, $sql:expr) => {{
                let query = || {
                    padded
                        .iter()
                        .fold(sqlx::query_as::<_, CredentialRow>($sql), |query, id| {
                            query.bind(*id)
                        })
                };
                // The query on `connection`, or `None` if it went unanswered
                // (the connection then closed, never reused).
                macro_rules! answered {
                    ($connection:ident) => {{
                        let fetched = query().fetch_all(&mut *$connection);
                        let answer = match statement_timeout {
                            Some(limit) => tokio::time::timeout(limit, fetched).await.ok(),
                            None => Some(fetched.await),
                        };
                        if answer.is_none() {
                            $connection.close_on_drop();
                        }
                        answer.ok_or(HotError::Silent(statement_timeout.unwrap_or_default()))?
                    }};
                }
                if let Some(KeptConnection::$kept(mut connection)) = kept.take() {
                    match answered!(connection) {
                        Ok(rows) => {
                            *kept = Some(KeptConnection::$kept(connection));
                            return Ok(rows);
                        }
                        // Kept since an earlier read, it may have died
                        // meanwhile (a database restart, an idle-session
                        // timeout): closed, and the read tried once more on
                        // a connection the pool has just checked.
                        Err(error) if connection_lost(&error) => connection.close_on_drop(),
                        Err(error) => {
                            *kept = Some(KeptConnection::$kept(connection));
                            return Err(HotError::Query(error));
                        }
                    }
                }
                let mut connection = $pool.acquire().await.map_err(HotError::Acquire)?;
                let rows = answered!(connection);
                if self.keeps_connections() {
                    *kept = Some(KeptConnection::$kept(connection));
                }
                rows.map_err(HotError::Query)
            }};
        }
        match self {
            Self::Sqlite(pool) => fetch!(pool, Sqlite, STATEMENTS.sqlite[size_index].as_str()),
            Self::Postgres(pool) => {
                fetch!(pool, Postgres, STATEMENTS.postgres[size_index].as_str())
            }
            Self::MySql(pool) => fetch!(pool, MySql, STATEMENTS.mysql[size_index].as_str()),
        }
    }
}

/// A pooled connection that the hot path keeps from one read to the next.
pub(super) enum KeptConnection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// Whether `error` means the connection itself is gone, rather than the
/// statement failing on a working one (SQLite's "database is locked", say,
/// which a retry would only wait out a second time).
pub(super) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| connection_gone(&code)),
        _ => false,
    }
}
