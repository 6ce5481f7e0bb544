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

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

mod hot_pool;

use hot_pool::{CredentialRow, HotPool, KeptConnection};

use super::error::Reason;
use super::{StoreError, users::split_permissions};
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
        let closed = || StoreError::unavailable(Reason::ConnectionClosed);
        let (answer, answered) = oneshot::channel();
        let key_ids = key_ids
            .iter()
            .take(MAX_BATCH)
            .map(|id| id.as_str().to_owned())
            .collect();
        self.queue
            .try_send(Waiter { key_ids, answer })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => {
                    StoreError::unavailable(Reason::KeyReadsQueued { most: MAX_QUEUED })
                }
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
mod tests;
