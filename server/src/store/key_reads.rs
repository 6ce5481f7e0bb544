//! The one read on the verification hot path: a key's row and its user's,
//! by key id.
//!
//! Three things make it cheap. It is a fixed statement that sqlx prepares
//! once per connection, because sea-orm's query building and row mapping
//! cost several times the CPU of the indexed lookup itself. Concurrent reads
//! are coalesced: while a read is in flight, the key ids asked for meanwhile
//! queue up and go out together as one `IN (…)` query, so under load one
//! round trip serves many verifications. And the reads keep their
//! connections between batches instead of taking them from the pool each
//! time, which would cost a liveness ping (a round trip of its own) per
//! read (SQLite excepted, see [`HotPool::keeps_connections`]). A read still
//! always starts after the request that asked for it, so it sees every write
//! that was acknowledged before that request began.

use std::sync::{Arc, LazyLock};

use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    sqlx::{self, MySql, Postgres, Sqlite, pool::PoolConnection},
};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, error::connection_gone, users::split_permissions};
use crate::domain::{
    key_format::KeyId,
    model::{Credential, Principal, Timestamp, Username},
    secret_hash::Fingerprint,
};

/// The IN-list lengths there are statements for; a batch is padded (with a
/// repeated id) to the next one, so each connection prepares at most four.
const BATCH_SIZES: [usize; 4] = [2, 8, 32, 128];
const MAX_BATCH: usize = 128;
/// Reads waiting for their turn at most. Past it, a read is refused at once
/// (UNAVAILABLE, retryable) rather than queued behind thousands of others:
/// it would miss its deadline anyway, and memory stays bounded.
pub(super) const MAX_QUEUED: usize = 4_096;

/// The read's SQL for each batch size, with `?` placeholders (SQLite and
/// MySQL) and with `$n` ones (PostgreSQL).
struct Statements {
    positional: Vec<String>,
    numbered: Vec<String>,
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    let statement = |placeholder: &dyn Fn(usize) -> String, size: usize| {
        let list: Vec<String> = (1..=size).map(placeholder).collect();
        format!(
            "SELECT k.key_id, k.secret_hash, k.secret_fingerprint, k.expire_time, \
             u.id, u.username, u.permissions, u.disabled \
             FROM access_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_id IN ({})",
            list.join(", ")
        )
    };
    Statements {
        positional: BATCH_SIZES
            .iter()
            .map(|&size| statement(&|_| "?".to_owned(), size))
            .collect(),
        numbered: BATCH_SIZES
            .iter()
            .map(|&size| statement(&|n| format!("${n}"), size))
            .collect(),
    }
});

/// key_id, secret_hash, secret_fingerprint, expire_time, user id, username,
/// permissions, disabled.
type CredentialRow = (
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
enum HotPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// A failure of the hot-path read, told apart as sea-orm does: any failure
/// to get a connection means the database is unavailable.
enum HotError {
    Acquire(sqlx::Error),
    Query(sqlx::Error),
    /// No answer within the statement timeout; the connection is closed.
    Silent(std::time::Duration),
}

impl From<HotError> for StoreError {
    fn from(error: HotError) -> Self {
        match error {
            HotError::Acquire(error) => {
                Self::Unavailable(format!("could not get a database connection: {error}"))
            }
            HotError::Query(error) => DbErr::Query(RuntimeErr::SqlxError(Arc::new(error))).into(),
            HotError::Silent(limit) => Self::Unavailable(format!(
                "the database did not answer a key read within {} ms",
                limit.as_millis()
            )),
        }
    }
}

impl HotPool {
    fn of(db: &DatabaseConnection) -> Result<Self, StoreError> {
        Ok(match db.get_database_backend() {
            DbBackend::Sqlite => Self::Sqlite(db.get_sqlite_connection_pool().clone()),
            DbBackend::Postgres => Self::Postgres(db.get_postgres_connection_pool().clone()),
            DbBackend::MySql => Self::MySql(db.get_mysql_connection_pool().clone()),
            other => {
                return Err(StoreError::Database(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        })
    }

    /// Whether reads keep their connections. Not on SQLite: there the
    /// pool's liveness check is an in-process call rather than a round trip,
    /// and warm keys are answered from memory anyway, so there is nothing
    /// to gain.
    fn keeps_connections(&self) -> bool {
        !matches!(self, Self::Sqlite(_))
    }

    /// Resolves when the pool is closed.
    fn closed(&self) -> sqlx::pool::CloseEvent {
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
    async fn rows(
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
            Self::Sqlite(pool) => fetch!(pool, Sqlite, STATEMENTS.positional[size_index].as_str()),
            Self::Postgres(pool) => {
                fetch!(pool, Postgres, STATEMENTS.numbered[size_index].as_str())
            }
            Self::MySql(pool) => fetch!(pool, MySql, STATEMENTS.positional[size_index].as_str()),
        }
    }
}

/// A pooled connection that the hot path keeps from one read to the next.
enum KeptConnection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// Whether `error` means the connection itself is gone, rather than the
/// statement failing on a working one (SQLite's "database is locked", say,
/// which a retry would only wait out a second time).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| connection_gone(&code)),
        _ => false,
    }
}

/// One caller's ids and where its answer goes.
struct Waiter {
    key_ids: Vec<String>,
    answer: oneshot::Sender<Result<Vec<Credential>, StoreError>>,
}

impl Waiter {
    /// Whether the caller stopped waiting (its call was cancelled).
    fn gave_up(&self) -> bool {
        self.answer.is_closed()
    }
}

/// The queue of key reads; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct KeyReads {
    queue: mpsc::Sender<Waiter>,
}

impl KeyReads {
    /// Starts the task that batches reads, with at most `in_flight` queries
    /// running at once, each on a pooled connection that it keeps.
    /// `statement_timeout` bounds each read (`None`: unbounded, for SQLite).
    pub(super) fn start(
        db: &DatabaseConnection,
        in_flight: usize,
        statement_timeout: Option<std::time::Duration>,
    ) -> Result<Self, StoreError> {
        let pool = HotPool::of(db)?;
        let (queue, waiting) = mpsc::channel(MAX_QUEUED);
        tokio::spawn(coalesce(pool, waiting, in_flight.max(1), statement_timeout));
        Ok(Self { queue })
    }

    /// The keys with `key_ids` (at most [`MAX_BATCH`]), each with its user;
    /// keys that do not exist are absent.
    pub(super) async fn credentials(
        &self,
        key_ids: &[&KeyId],
    ) -> Result<Vec<Credential>, StoreError> {
        let closed = || StoreError::Unavailable("the database connection is closed".to_owned());
        let (answer, answered) = oneshot::channel();
        let key_ids = key_ids
            .iter()
            .take(MAX_BATCH)
            .map(|id| id.as_str().to_owned())
            .collect();
        self.queue
            .try_send(Waiter { key_ids, answer })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => StoreError::Unavailable(format!(
                    "more than {MAX_QUEUED} key reads are waiting; shedding load"
                )),
                mpsc::error::TrySendError::Closed(_) => closed(),
            })?;
        answered.await.map_err(|_| closed())?
    }
}

/// Forms batches: whenever a read may start, everything queued so far (up
/// to [`MAX_BATCH`] ids) goes out as one query. Waiters whose caller gave
/// up meanwhile are dropped unread.
async fn coalesce(
    pool: HotPool,
    mut waiting: mpsc::Receiver<Waiter>,
    in_flight: usize,
    statement_timeout: Option<std::time::Duration>,
) {
    // A slot is the right to run one read, holding the connection it keeps
    // between reads. Returning from here drops the idle ones, and reads in
    // flight drop theirs when they find no one to return them to, so a
    // closing pool gets all its connections back.
    let (free, mut slots) = mpsc::channel::<Option<KeptConnection>>(in_flight);
    for _ in 0..in_flight {
        let _ = free.try_send(None);
    }
    let closed = pool.closed();
    tokio::pin!(closed);
    // A waiter that did not fit into the previous batch leads the next one.
    let mut carried = None;
    loop {
        let kept = tokio::select! {
            () = &mut closed => return,
            slot = slots.recv() => match slot {
                Some(kept) => kept,
                None => return,
            },
        };
        let mut first = carried.take();
        while first.as_ref().is_none_or(Waiter::gave_up) {
            first = tokio::select! {
                () = &mut closed => return,
                waiter = waiting.recv() => match waiter {
                    Some(waiter) => Some(waiter),
                    None => return,
                },
            };
        }
        let Some(first) = first else { return };
        let mut ids = first.key_ids.len();
        let mut batch = vec![first];
        while let Ok(next) = waiting.try_recv() {
            if next.gave_up() {
                continue;
            }
            if ids + next.key_ids.len() > MAX_BATCH {
                carried = Some(next);
                break;
            }
            ids += next.key_ids.len();
            batch.push(next);
        }
        let pool = pool.clone();
        let mut slot = Slot {
            kept,
            free: free.clone(),
        };
        tokio::spawn(async move {
            read_batch(&pool, &mut slot.kept, batch, statement_timeout).await;
        });
    }
}

/// A read's slot, given back when the read ends, however it ends: a read
/// that panicked must not leave the batcher one slot short for good.
struct Slot {
    kept: Option<KeptConnection>,
    free: mpsc::Sender<Option<KeptConnection>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // A connection whose read panicked is in an unknown state: dropped
        // (back to the pool, which checks it) rather than kept.
        let kept = if std::thread::panicking() {
            None
        } else {
            self.kept.take()
        };
        // There are never more slots than the channel holds, so this only
        // fails once the batcher is gone, and then the connection is dropped.
        let _ = self.free.try_send(kept);
    }
}

/// Runs one batch's query and hands each waiter the rows it asked for.
async fn read_batch(
    pool: &HotPool,
    kept: &mut Option<KeptConnection>,
    batch: Vec<Waiter>,
    statement_timeout: Option<std::time::Duration>,
) {
    let mut ids: Vec<&str> = batch
        .iter()
        .flat_map(|waiter| waiter.key_ids.iter().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let found: Result<Vec<Credential>, StoreError> =
        match pool.rows(kept, &ids, statement_timeout).await {
            Ok(rows) => Ok(rows.into_iter().map(to_credential).collect()),
            Err(error) => Err(error.into()),
        };
    for waiter in batch {
        let answer = match &found {
            Ok(credentials) => Ok(credentials
                .iter()
                .filter(|credential| {
                    let key_id = credential.principal.key_id.as_str();
                    waiter.key_ids.iter().any(|id| id == key_id)
                })
                .cloned()
                .collect()),
            Err(error) => Err(error.clone()),
        };
        // A waiter that gave up (its call was cancelled) needs no answer.
        let _ = waiter.answer.send(answer);
    }
}

fn to_credential(
    (
        key_id,
        secret_hash,
        secret_fingerprint,
        expire_time,
        user_id,
        username,
        permissions,
        disabled,
    ): CredentialRow,
) -> Credential {
    Credential {
        principal: Principal {
            user_id,
            username: Username::from_stored(username),
            permissions: Arc::new(split_permissions(&permissions)),
            key_id: KeyId::from_stored(key_id),
            expire_time: expire_time.map(Timestamp::from_micros),
        },
        secret_hash,
        secret_fingerprint: secret_fingerprint.map(Fingerprint::from_stored),
        user_disabled: disabled,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectOptions, Database};
    use sea_orm_migration::MigratorTrait as _;

    use super::*;

    /// The queue of reads is bounded: with every read stuck (the pool's one
    /// connection held elsewhere), the reads past the bound are refused at
    /// once with a retryable UNAVAILABLE, and the queue recovers when the
    /// connection comes back.
    #[tokio::test]
    async fn reads_past_the_bound_are_shed_and_the_queue_recovers() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let db = Database::connect(options).await.expect("connect");
        super::super::migration::Migrator::up(&db, None)
            .await
            .expect("migrate");
        let reads = KeyReads::start(&db, 1, None).expect("start");
        let key_id = KeyId::from_stored("aaaaaaaaaaaaaaaa".to_owned());

        let held = db
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .expect("the pool's only connection");
        // The first read takes the batcher's one slot and waits for the
        // connection; the next ones fill the queue (and give up, as callers
        // with short deadlines do).
        let stuck = tokio::spawn({
            let reads = reads.clone();
            let key_id = key_id.clone();
            async move { reads.credentials(&[&key_id]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        let ids = [&key_id];
        for _ in 0..MAX_QUEUED {
            // Polled once (it queues itself), then dropped: a caller that
            // gave up.
            let mut queued = std::pin::pin!(reads.credentials(&ids));
            assert!(queued.as_mut().poll(&mut context).is_pending());
        }
        let shed = tokio::time::timeout(Duration::from_secs(1), reads.credentials(&ids))
            .await
            .expect("refused at once, not queued");
        assert!(matches!(shed, Err(StoreError::Unavailable(_))), "{shed:?}");

        drop(held);
        assert!(stuck.await.expect("task").expect("read").is_empty());
        let read = tokio::time::timeout(Duration::from_secs(10), reads.credentials(&[&key_id]))
            .await
            .expect("the queue drained");
        assert!(read.expect("read").is_empty());
    }
}
