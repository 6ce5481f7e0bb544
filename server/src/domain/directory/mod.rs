//! The directory of users and keys: every rule about who may do what.
//!
//! By area: [`verification`] (what a presented key is worth, and the
//! caller's own key), [`users`], [`roles`], [`keys`] (issuing and revoking),
//! [`bootstrap`] (the first admin, and recovery from the host), [`usage`]
//! (writing `last_used_time`), [`audit`] (reading the audit trail, which
//! every change writes in its own transaction), [`console`] (the admin
//! console's sessions). The authority rules themselves are pure
//! predicates in [`super::authority`].

mod audit;
mod bootstrap;
mod console;
mod keys;
mod paging;
mod roles;
mod usage;
mod users;
pub(crate) mod verification;

pub(crate) use verification::Verdict;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::domain::{
    Denial, DomainError, Missing, TargetUser,
    model::{AuditAction, Principal, ServicePermission, User, UserRef},
    page_token::{BadPageToken, PageTokenSigner},
    secret_hash::{Argon2Load, SecretHasher},
    throttle::FailureThrottle,
    verified_keys::{CacheStats, VerifiedKeys},
};
use crate::store::{OutsideWrites, Store, StoreError};

/// The users-and-keys service, independent of any transport.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Store,
    hasher: SecretHasher,
    page_tokens: PageTokenSigner,
    verified: Arc<VerifiedKeys>,
    failures: Arc<FailureThrottle>,
    /// For a database only this process writes: what tells it about
    /// writes made around it, before it answers from memory.
    outside: Option<OutsideWrites>,
    /// Signalled after every write this process makes, to wake audit
    /// watchers at once rather than at their next poll.
    audit_recorded: Arc<tokio::sync::Notify>,
    /// Events this process recorded, by action (in `AuditAction::ALL`
    /// order), for the metrics.
    audit_counts: Arc<[AtomicU64; AuditAction::ALL.len()]>,
}

/// What the directory's parts have done, for the metrics.
#[derive(Debug, Clone)]
pub struct DirectoryStats {
    pub cache: CacheStats,
    pub argon2: Argon2Load,
    /// Secret checks refused by the failed-attempt throttle.
    pub throttled: u64,
    /// Audit events this process recorded, by action.
    pub audit_events: Vec<(AuditAction, u64)>,
}

impl From<BadPageToken> for DomainError {
    fn from(error: BadPageToken) -> Self {
        Self::InvalidArgument(crate::domain::Invalid::PageToken(error))
    }
}

impl Principal {
    /// Checks the principal holds `permission` for the RPC it is calling.
    pub fn require(&self, permission: ServicePermission) -> Result<(), DomainError> {
        if self.permissions.holds(permission) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(Denial::MissingPermission(
                permission,
            )))
        }
    }
}

impl Directory {
    pub async fn new(
        store: Store,
        hasher: SecretHasher,
        verified: VerifiedKeys,
        failures: FailureThrottle,
    ) -> Result<Self, DomainError> {
        let key = store.page_token_key().await?;
        let page_tokens = PageTokenSigner::new(&key)
            .map_err(|_| DomainError::internal("the stored page-token key has a bad length"))?;
        let verified = Arc::new(verified);
        let outside = store
            .watch_outside_writes({
                let verified = Arc::clone(&verified);
                move || verified.invalidate()
            })
            .await?;
        Ok(Self {
            store,
            hasher,
            page_tokens,
            verified,
            failures: Arc::new(failures),
            outside,
            audit_recorded: Arc::new(tokio::sync::Notify::new()),
            audit_counts: Arc::default(),
        })
    }

    /// Whether the database answers a trivial query within `limit`.
    pub async fn probe_database(&self, limit: Duration) -> Result<(), DomainError> {
        Ok(self.store.ping(limit).await?)
    }

    /// What the cache, the argon2 workers, the throttle and the audit
    /// trail have done.
    pub fn stats(&self) -> DirectoryStats {
        DirectoryStats {
            cache: self.verified.stats(),
            argon2: self.hasher.load(),
            throttled: self.failures.refused(),
            audit_events: AuditAction::ALL
                .into_iter()
                .zip(self.audit_counts.iter())
                .map(|(action, count)| (action, count.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Counts an event recorded (its change committed).
    fn recorded(&self, action: AuditAction) {
        if let Some(index) = AuditAction::ALL.iter().position(|a| *a == action) {
            self.audit_counts[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many argon2 verifications this directory has run: what a flood
    /// of wrong secrets must not drive up.
    pub fn argon2_verifications(&self) -> u64 {
        self.hasher.verifications()
    }

    /// Runs a store write with no snapshot current while it runs (it is
    /// visible to other reads from its commit on, before it returns), and
    /// every snapshot stale after it, whether it succeeded or not (a failed
    /// commit may still have landed).
    async fn write<T, W>(&self, write: impl FnOnce(Store) -> W) -> Result<T, DomainError>
    where
        W: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let in_progress = self.verified.begin_write();
        let pending = write(self.store.clone());
        let recorded = Arc::clone(&self.audit_recorded);
        self.to_completion(async move {
            let result = pending.await;
            drop(in_progress);
            recorded.notify_waiters();
            result
        })
        .await
    }

    /// Runs a store write to completion in a task of its own: a caller that
    /// gives up (its deadline passed, it hung up) drops only its wait. The
    /// statement would commit anyway, and what follows it (making snapshots
    /// stale, committing a transaction) must happen too, or a revoked key
    /// could stay valid in memory, or a connection go back to the pool in
    /// the middle of a transaction.
    async fn to_completion<T>(
        &self,
        write: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, DomainError>
    where
        T: Send + 'static,
    {
        match tokio::spawn(write).await {
            Ok(result) => Ok(result?),
            Err(_) => {
                self.verified.invalidate();
                Err(DomainError::internal("a database write was interrupted"))
            }
        }
    }

    async fn existing_user(&self, user: &UserRef) -> Result<User, DomainError> {
        self.store.user(user).await?.ok_or_else(|| {
            DomainError::NotFound(match user {
                UserRef::Id(_) => Missing::User(TargetUser::ById),
                UserRef::Username(_) => Missing::Username,
            })
        })
    }
}
