//! The directory of users and keys: every rule about who may do what.

use std::{future::Future, sync::Arc, time::Duration};

use tracing::{info, warn};

use super::{
    AuthFailure, DomainError, authority,
    key_format::{AccessKey, KeyId, MalformedKey},
    model::{
        Credential, Etag, IdentityProvider, KeyInfo, NewKey, NewUser, Permission, PermissionSet,
        Principal, ServicePermission, Timestamp, User, UserPatch, UserRef, Username,
        UsernamePrefix,
    },
    page_token::{BadPageToken, PageTokenSigner},
    secret_hash::{Fingerprint, SecretHasher},
    throttle::FailureThrottle,
    verified_keys::{Known, VerifiedKeys, key_id_of},
};
use crate::store::{OutsideWrites, Store, StoreError};

/// Key uses converted and written per round of [`Directory::flush_key_usage`].
const FLUSH_CHUNK: usize = 10_000;

/// ListUsers page sizes.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1_000;
/// A ListUsers page holds at most about this many bytes of users (and at
/// least one user): a quarter of the 16 MiB response limit.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

/// How many of `users`, from the first, fit in `budget` bytes of response
/// (at least one). An estimate from the variable-length fields, plus a
/// generous allowance for the fixed ones and the encoding.
fn fitting(users: &[User], budget: usize) -> usize {
    let mut used = 0;
    users
        .iter()
        .take_while(|user| {
            let size = 256
                + user.username.as_str().len()
                + user.email.len()
                + user.display_name.len()
                + user.identity_provider.as_str().len()
                + user
                    .permissions
                    .iter()
                    .map(|permission| permission.as_str().len() + 3)
                    .sum::<usize>();
            used += size;
            used <= budget || used == size
        })
        .count()
}

/// The verdict on a presented key. Only `Malformed` and `NotFound` are given
/// without the secret having matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid(Principal),
    Malformed(MalformedKey),
    NotFound,
    Expired(Principal),
    UserDisabled(Principal),
    PermissionDenied {
        principal: Principal,
        missing: Vec<Permission>,
    },
}

/// Key rows read ahead for a request that presents two keys (its caller's
/// and the one to verify), so that both cost one database round trip.
/// Rows read after the request started are as current as any later read.
#[derive(Debug, Default)]
pub struct ReadAhead {
    generation: u64,
    rows: Vec<(KeyId, Option<Credential>)>,
    /// Whether writes made around this process were looked for since the
    /// request began: once per request is enough.
    outside_writes_seen: bool,
}

impl ReadAhead {
    /// The row read for `key_id` and the generation it was read at, once.
    fn take(&mut self, key_id: &KeyId) -> Option<(u64, Option<Credential>)> {
        let at = self.rows.iter().position(|(id, _)| id == key_id)?;
        Some((self.generation, self.rows.swap_remove(at).1))
    }
}

/// One page of users.
#[derive(Debug, Clone)]
pub struct Page {
    pub users: Vec<User>,
    pub next_page_token: Option<String>,
}

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
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UsernameTaken => Self::AlreadyExists(
                "username: a user with this name (ignoring case) already exists".to_owned(),
            ),
            StoreError::UserMissing => Self::NotFound("user_id: no such user".to_owned()),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Database(detail) => Self::Internal(detail),
            StoreError::InUse(detail) => Self::FailedPrecondition(detail),
        }
    }
}

impl From<BadPageToken> for DomainError {
    fn from(error: BadPageToken) -> Self {
        Self::InvalidArgument(super::InvalidField::new("page_token", error.to_string()))
    }
}

impl Principal {
    /// Checks the principal holds `permission` for the RPC it is calling.
    pub fn require(&self, permission: ServicePermission) -> Result<(), DomainError> {
        if self.permissions.holds(permission) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "the caller lacks the `{}` permission",
                permission.as_str()
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
        let page_tokens = PageTokenSigner::new(&key).map_err(|_| {
            DomainError::Internal("the stored page-token key has a bad length".to_owned())
        })?;
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
        })
    }

    /// What a presented key is worth, and for whom.
    ///
    /// Costs, cheapest first: a malformed key, no I/O at all; a key whose
    /// secret this process already checked, or a wrong secret for such a
    /// key's id, a cache lookup (plus, for the genuine key, one indexed
    /// read when other processes may write, or when this process wrote
    /// since); an unknown key id or a wrong secret, one indexed read;
    /// anything else, one read and one argon2 verification.
    pub async fn verify(
        &self,
        presented: &str,
        required: &PermissionSet,
    ) -> Result<Verdict, DomainError> {
        self.verify_with(presented, required, &mut ReadAhead::default())
            .await
    }

    /// Reads, in one query, the rows that authenticating `caller_key` and
    /// then verifying `presented` will need: none for a key answered from
    /// memory, and nothing at all when the caller's key is malformed (the
    /// request fails before `presented` matters).
    pub async fn read_ahead(
        &self,
        caller_key: &str,
        presented: &str,
    ) -> Result<ReadAhead, DomainError> {
        let Ok(caller_key) = AccessKey::parse(caller_key) else {
            return Ok(ReadAhead::default());
        };
        let mut ahead = ReadAhead::default();
        self.see_outside_writes(&mut ahead)?;
        let mut needed: Vec<KeyId> = [Ok(caller_key), AccessKey::parse(presented)]
            .into_iter()
            .filter_map(Result::ok)
            .map(|key| key.key_id().clone())
            .filter(|key_id| !self.verified.is_current(key_id))
            .collect();
        // A caller verifying its own key: one row, taken by the first use.
        needed.dedup();
        let generation = self.verified.generation();
        if needed.is_empty() {
            return Ok(ahead);
        }
        let wanted: Vec<&KeyId> = needed.iter().collect();
        let mut found = self.store.credentials(&wanted).await?;
        let rows = needed
            .into_iter()
            .map(|key_id| {
                let row = found
                    .iter()
                    .position(|credential| credential.principal.key_id == key_id)
                    .map(|at| found.swap_remove(at));
                (key_id, row)
            })
            .collect();
        ahead.generation = generation;
        ahead.rows = rows;
        Ok(ahead)
    }

    /// Makes sure that a write made to the database around this process
    /// (an operator's `sqlite3` disabling a user, say) since the request
    /// began is seen before anything is answered from memory. Only for a
    /// database this process alone writes; once per request.
    fn see_outside_writes(&self, ahead: &mut ReadAhead) -> Result<(), DomainError> {
        if let Some(outside) = &self.outside
            && !ahead.outside_writes_seen
        {
            outside.seen()?;
            ahead.outside_writes_seen = true;
        }
        Ok(())
    }

    /// The credential stored for `key_id`, read ahead or read now, with the
    /// generation it was read at.
    async fn credential(
        &self,
        key_id: &KeyId,
        ahead: &mut ReadAhead,
    ) -> Result<(u64, Option<Credential>), DomainError> {
        if let Some(read) = ahead.take(key_id) {
            return Ok(read);
        }
        let generation = self.verified.generation();
        Ok((generation, self.store.credential(key_id).await?))
    }

    /// [`verify`](Self::verify), using rows from [`read_ahead`](Self::read_ahead).
    pub async fn verify_with(
        &self,
        presented: &str,
        required: &PermissionSet,
        ahead: &mut ReadAhead,
    ) -> Result<Verdict, DomainError> {
        let key = match AccessKey::parse(presented) {
            Ok(key) => key,
            Err(malformed) => return Ok(Verdict::Malformed(malformed)),
        };
        self.see_outside_writes(ahead)?;
        let now = Timestamp::now();
        let mut flight = None;
        let credential = loop {
            match self.verified.lookup(&key, presented, now) {
                Known::Current(credential) => break credential,
                Known::SecretOnly => {
                    let (generation, found) = self.credential(key.key_id(), ahead).await?;
                    let Some(credential) = found else {
                        // Revoked, replaced or deleted since its secret was checked.
                        self.verified.forget(key.key_id());
                        return Ok(Verdict::NotFound);
                    };
                    self.verified
                        .refresh(presented, &credential, generation, now);
                    break credential;
                }
                // Concurrent first checks of this very key wait for one argon2
                // run instead of each paying for it; then look again.
                // Refused from memory: flooding a key id that is in use
                // costs no read and no argon2.
                Known::WrongSecret => return Ok(Verdict::NotFound),
                Known::Unknown if flight.is_none() => {
                    flight = Some(self.verified.single_flight(presented).await);
                }
                Known::Unknown => {
                    let (generation, found) = self.credential(key.key_id(), ahead).await?;
                    let Some(credential) = found else {
                        return Ok(Verdict::NotFound);
                    };
                    // Remembered as soon as argon2 says so, also when this
                    // request is cancelled meanwhile.
                    let remember = {
                        let verified = Arc::clone(&self.verified);
                        let presented = presented.to_owned();
                        let credential = credential.clone();
                        move || verified.remember(&presented, &credential, generation, now)
                    };
                    if !self.check_secret(&key, &credential, remember).await? {
                        return Ok(Verdict::NotFound);
                    }
                    break credential;
                }
            }
        };
        drop(flight);
        // From here on the presenter holds the genuine key.
        let Credential {
            principal,
            user_disabled,
            ..
        } = credential;
        if principal.expire_time.is_some_and(|expiry| expiry <= now) {
            return Ok(Verdict::Expired(principal));
        }
        if user_disabled {
            return Ok(Verdict::UserDisabled(principal));
        }
        let missing: Vec<Permission> = required
            .missing_from(&principal.permissions)
            .cloned()
            .collect();
        if missing.is_empty() {
            Ok(Verdict::Valid(principal))
        } else {
            Ok(Verdict::PermissionDenied { principal, missing })
        }
    }

    /// Whether `key`'s secret is the one stored for its key id.
    ///
    /// A stored fingerprint settles a wrong secret with one BLAKE2b, no
    /// argon2 and nothing to throttle; argon2 runs only when the
    /// fingerprint matches, which in practice means the genuine secret, so
    /// nobody can spend this server's argon2 (or lock a key out) by
    /// flooding wrong secrets for a key id. A key issued before fingerprints
    /// existed pays argon2 as before, under its key id's failure throttle,
    /// until its genuine secret matches once and its fingerprint is
    /// recorded.
    ///
    /// `on_match` runs as soon as argon2 finds the secret genuine, even if
    /// this check is cancelled meanwhile.
    async fn check_secret(
        &self,
        key: &AccessKey,
        credential: &Credential,
        on_match: impl FnOnce() + Send + 'static,
    ) -> Result<bool, DomainError> {
        let presented = self.hasher.fingerprint(key.key_id(), key.secret());
        if let Some(stored) = &credential.secret_fingerprint {
            if !stored.matches(&presented) {
                return Ok(false);
            }
            return Ok(self
                .hasher
                .verify_then(key.secret(), &credential.secret_hash, on_match)
                .await?);
        }
        // The attempt is reserved first (so concurrent attempts cannot
        // overshoot the budget) and given back unless the secret was wrong,
        // also when this check is cancelled midway.
        let attempt = self.failures.attempt(key.key_id()).map_err(|retry_after| {
            DomainError::ResourceExhausted {
                message: "too many failed attempts for this key id; retry later".to_owned(),
                retry_after,
            }
        })?;
        let record = self.fingerprint_recorder(key.key_id().clone(), presented);
        let outcome = self
            .hasher
            .verify_then(key.secret(), &credential.secret_hash, move || {
                on_match();
                record();
            })
            .await;
        if let Ok(false) = outcome {
            attempt.spend();
        }
        Ok(outcome?)
    }

    /// What records the fingerprint of a key issued before fingerprints
    /// existed, once its genuine secret matched: a background write (from
    /// any thread), so the verification that found it need not wait, and a
    /// failure only means argon2 keeps checking that key's wrong secrets
    /// until a later success records it.
    fn fingerprint_recorder(
        &self,
        key_id: KeyId,
        fingerprint: Fingerprint,
    ) -> impl FnOnce() + Send + 'static {
        let store = self.store.clone();
        let runtime = tokio::runtime::Handle::current();
        move || {
            runtime.spawn(async move {
                if let Err(error) = store.record_fingerprint(&key_id, fingerprint).await {
                    warn!(%key_id, %error, "could not record a key's secret fingerprint");
                }
            });
        }
    }

    /// Authenticates a caller by its own key: any genuine, current key of an
    /// enabled user. What it may do is checked per RPC with [`Principal::require`].
    pub async fn authenticate(
        &self,
        presented: &str,
        ahead: &mut ReadAhead,
    ) -> Result<Principal, DomainError> {
        let verdict = self
            .verify_with(presented, &PermissionSet::default(), ahead)
            .await?;
        let failure = match verdict {
            Verdict::Valid(principal) | Verdict::PermissionDenied { principal, .. } => {
                return Ok(principal);
            }
            Verdict::Malformed(malformed) => AuthFailure::Malformed(malformed),
            Verdict::NotFound => AuthFailure::NotValid,
            Verdict::Expired(_) => AuthFailure::Expired,
            Verdict::UserDisabled(_) => AuthFailure::UserDisabled,
        };
        Err(DomainError::Unauthenticated(failure))
    }

    /// Whether the database answers a trivial query within `limit`.
    pub async fn probe_database(&self, limit: Duration) -> Result<(), DomainError> {
        Ok(self.store.ping(limit).await?)
    }

    /// How many argon2 verifications this directory has run: what a flood
    /// of wrong secrets must not drive up.
    pub fn argon2_verifications(&self) -> u64 {
        self.hasher.verifications()
    }

    /// Writes the key uses that are due (see [`VerifiedKeys::take_usage`]),
    /// in batches. Called periodically and, with a zero `precision`, on
    /// shutdown, so verification itself never writes.
    pub async fn flush_key_usage(&self, precision: Duration) -> Result<usize, DomainError> {
        let mut written = 0;
        let mut next = Some(0);
        while let Some(start) = next {
            let (uses, rest) = self.verified.take_usage(start, FLUSH_CHUNK, precision);
            if uses.is_empty() {
                next = rest;
                continue;
            }
            let batch: Vec<_> = uses
                .iter()
                .map(|(id, time)| (key_id_of(id), *time))
                .collect();
            if let Err(error) = self.store.record_key_uses(&batch).await {
                // Noted again for the next flush, like every later chunk.
                self.verified.restore_usage(&uses);
                return Err(error.into());
            }
            written += uses.len();
            next = rest;
        }
        Ok(written)
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
        self.to_completion(async move {
            let result = pending.await;
            drop(in_progress);
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
                Err(DomainError::Internal(
                    "a database write was interrupted".to_owned(),
                ))
            }
        }
    }

    /// `user` with the latest key use this process saw, which the database
    /// may not hold yet.
    fn with_recent_use(&self, mut user: User) -> User {
        if let Some(key) = user.access_key.as_mut()
            && let Some(recent) = self.verified.latest_use(&key.key_id)
        {
            key.last_used_time = key.last_used_time.max(Some(recent));
        }
        user
    }

    pub async fn create_user(&self, caller: &Principal, new: NewUser) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        authority::ensure_may_grant(caller, new.permissions.iter())?;
        let store = self.store.clone();
        let user = self
            .to_completion(async move { store.insert_user(&new, Timestamp::now()).await })
            .await?;
        info!(
            event = "user_created",
            caller = %caller.username.as_str(),
            user_id = user.id,
            username = %user.username.as_str(),
            administrator = user.is_administrator(),
            "user created"
        );
        Ok(user)
    }

    pub async fn get_user(&self, caller: &Principal, user: &UserRef) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        Ok(self.with_recent_use(self.existing_user(user).await?))
    }

    pub async fn list_users(
        &self,
        caller: &Principal,
        page_size: u64,
        page_token: &str,
        prefix: &UsernamePrefix,
    ) -> Result<Page, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let after_id = if page_token.is_empty() {
            0
        } else {
            self.page_tokens.open(page_token, prefix.folded())?
        };
        // One extra row tells whether another page exists.
        let mut users = self
            .store
            .list_users(after_id, prefix.folded(), limit + 1)
            .await?;
        // Capped by size too: 1,000 users holding 256 permissions of 128
        // characters each would pass the 16 MiB response limit.
        let kept = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(fitting(&users, MAX_PAGE_BYTES));
        let next_page_token = if users.len() > kept {
            users.truncate(kept);
            users
                .last()
                .map(|last| self.page_tokens.sign(last.id, prefix.folded()))
        } else {
            None
        };
        Ok(Page {
            users: users
                .into_iter()
                .map(|user| self.with_recent_use(user))
                .collect(),
            next_page_token,
        })
    }

    /// Applies `patch` to the user if the authority rules allow it, checked
    /// against the user's row inside the transaction that changes it.
    pub async fn update_user(
        &self,
        caller: &Principal,
        user_id: i64,
        patch: UserPatch,
        expected: Option<Etag>,
    ) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let now = Timestamp::now();
        let checker = caller.clone();
        let change = patch.clone();
        let (before, updated) = self
            .write(move |store| async move {
                let outcome = store
                    .update_user_checked(user_id, now, move |target| {
                        authority::check_update(&checker, target, &change, expected.as_ref(), now)
                            .map(|()| change)
                    })
                    .await;
                match outcome {
                    Err(StoreError::UserMissing) => Ok(Err(DomainError::NotFound(
                        "user.id: no such user".to_owned(),
                    ))),
                    other => other,
                }
            })
            .await??;
        let listed = |set: &mut dyn Iterator<Item = &Permission>| {
            set.map(Permission::as_str).collect::<Vec<_>>().join(",")
        };
        info!(
            event = "user_updated",
            caller = %caller.username.as_str(),
            user_id,
            permissions_added = %listed(&mut updated.permissions.missing_from(&before.permissions)),
            permissions_removed = %listed(&mut before.permissions.missing_from(&updated.permissions)),
            disabled = ?patch.disabled,
            administrator = updated.is_administrator(),
            "user updated"
        );
        Ok(self.with_recent_use(updated))
    }

    /// Deletes the user (and its key) if the authority rules allow it,
    /// checked against its row inside the transaction that deletes it.
    pub async fn delete_user(
        &self,
        caller: &Principal,
        user_id: i64,
        expected: Option<Etag>,
    ) -> Result<(), DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let checker = caller.clone();
        let deleted = self
            .write(move |store| async move {
                store
                    .delete_user_checked(user_id, move |target| {
                        authority::check_delete(&checker, target, expected.as_ref())
                    })
                    .await
            })
            .await??;
        info!(
            event = "user_deleted",
            caller = %caller.username.as_str(),
            user_id,
            username = %deleted.username.as_str(),
            "user deleted"
        );
        Ok(())
    }

    /// Issues `user_id` a new key, replacing any previous one atomically.
    /// The returned key is the only copy of its secret anywhere.
    pub async fn generate_key(
        &self,
        caller: &Principal,
        user_id: i64,
        expire_time: Option<Timestamp>,
    ) -> Result<(AccessKey, KeyInfo), DomainError> {
        caller.require(ServicePermission::KeysIssue)?;
        let now = Timestamp::now();
        if expire_time.is_some_and(|expiry| expiry <= now) {
            return Err(super::InvalidField::new("expire_time", "must be in the future").into());
        }
        authority::check_own_key_lifetime(caller, user_id, expire_time, now)?;
        // Refused calls are refused here, before they cost an argon2 run;
        // the check that counts runs again inside the write.
        let user = self.existing_user(&UserRef::Id(user_id)).await?;
        authority::check_key_issue(caller, &user)?;
        let (key, new_key) = self.new_key(now, expire_time).await?;
        let checker = caller.clone();
        let (info, replaced) = self
            .store_key(user_id, new_key, move |user| {
                authority::check_key_issue(&checker, user)
            })
            .await?;
        info!(
            event = "key_issued",
            caller = %caller.username.as_str(),
            user_id,
            key_id = %info.key_id,
            replaced = replaced.is_some(),
            replaced_key_id = replaced.as_ref().map(|old| old.key_id.as_str()),
            "access key issued"
        );
        Ok((key, info))
    }

    /// A fresh key and what to store of it.
    async fn new_key(
        &self,
        now: Timestamp,
        expire_time: Option<Timestamp>,
    ) -> Result<(AccessKey, NewKey), DomainError> {
        let key = AccessKey::generate()?;
        let secret_hash = self.hasher.hash(key.secret()).await?;
        let new_key = NewKey {
            key_id: key.key_id().clone(),
            secret_hash,
            secret_fingerprint: self.hasher.fingerprint(key.key_id(), key.secret()),
            create_time: now,
            expire_time,
        };
        Ok((key, new_key))
    }

    /// Stores `new_key` as the user's only key if `check` approves of the
    /// user as it is inside the write. Returns what may be known of the new
    /// key, and the key it replaced.
    async fn store_key(
        &self,
        user_id: i64,
        new_key: NewKey,
        check: impl FnOnce(&User) -> Result<(), DomainError> + Send + 'static,
    ) -> Result<(KeyInfo, Option<KeyInfo>), DomainError> {
        let info = KeyInfo {
            key_id: new_key.key_id.clone(),
            create_time: new_key.create_time,
            expire_time: new_key.expire_time,
            last_used_time: None,
        };
        let replaced =
            self.write(move |store| async move {
                store.replace_key_checked(user_id, &new_key, check).await
            })
            .await??;
        Ok((info, replaced))
    }

    pub async fn revoke_key(&self, caller: &Principal, user_id: i64) -> Result<(), DomainError> {
        caller.require(ServicePermission::KeysIssue)?;
        let checker = caller.clone();
        let revoked = self
            .write(move |store| async move {
                store
                    .delete_key_checked(user_id, move |user| {
                        authority::check_key_revocation(&checker, user)
                    })
                    .await
            })
            .await??;
        let Some(revoked) = revoked else {
            return Err(DomainError::NotFound(
                "user_id: the user has no access key".to_owned(),
            ));
        };
        info!(
            event = "key_revoked",
            caller = %caller.username.as_str(),
            user_id,
            key_id = %revoked.key_id,
            "access key revoked"
        );
        Ok(())
    }

    /// Creates the first admin, holding every service permission, and its key.
    /// Refuses when any user exists, so it cannot happen twice by accident.
    pub async fn bootstrap(&self, username: Username) -> Result<AccessKey, DomainError> {
        if self.store.any_user().await? {
            return Err(DomainError::FailedPrecondition(
                "the database already has users; bootstrap runs only on an empty database \
                 (use `bootstrap --reissue` to replace the bootstrap admin's lost key)"
                    .to_owned(),
            ));
        }
        let admin = NewUser {
            username,
            email: String::new(),
            display_name: "Bootstrap administrator".to_owned(),
            identity_provider: IdentityProvider::Local,
            permissions: PermissionSet::default().with_every_service_permission(),
        };
        let now = Timestamp::now();
        let user = self.store.insert_user(&admin, now).await?;
        let (key, new_key) = self.new_key(now, None).await?;
        let (info, _) = self.store_key(user.id, new_key, |_| Ok(())).await?;
        warn!(event = "bootstrap", user_id = user.id, key_id = %info.key_id, "bootstrap admin created");
        Ok(key)
    }

    /// Replaces the key of an existing local user from the server host, for
    /// an admin who lost the only admin key. With `restore_admin`, first
    /// re-enables the user and gives it every service permission: the way
    /// back when no administrator can act any more. Loud on purpose.
    pub async fn reissue_bootstrap_key(
        &self,
        username: &Username,
        restore_admin: bool,
    ) -> Result<AccessKey, DomainError> {
        let user = self
            .existing_user(&UserRef::Username(username.clone()))
            .await?;
        authority::ensure_local(&user)?;
        if user.disabled && !restore_admin {
            return Err(DomainError::FailedPrecondition(
                "the user is disabled; add --restore-admin to re-enable it (and give it every \
                 service permission)"
                    .to_owned(),
            ));
        }
        let user_id = user.id;
        if restore_admin {
            let now = Timestamp::now();
            let (_, restored) = self
                .write(move |store| async move {
                    store
                        .update_user_checked(user_id, now, move |target| {
                            authority::ensure_local(&target.user)?;
                            Ok::<_, DomainError>(UserPatch {
                                disabled: Some(false),
                                permissions: Some(
                                    target.user.permissions.with_every_service_permission(),
                                ),
                                ..UserPatch::default()
                            })
                        })
                        .await
                })
                .await??;
            warn!(
                event = "bootstrap_restore_admin",
                user_id,
                username = %restored.username.as_str(),
                "user re-enabled and given every service permission from the server host"
            );
        }
        let (key, new_key) = self.new_key(Timestamp::now(), None).await?;
        let (info, _) = self
            .store_key(user_id, new_key, authority::ensure_may_hold_key)
            .await?;
        warn!(event = "bootstrap_reissue", user_id, key_id = %info.key_id, "key reissued from the server host");
        Ok(key)
    }

    async fn existing_user(&self, user: &UserRef) -> Result<User, DomainError> {
        self.store.user(user).await?.ok_or_else(|| {
            DomainError::NotFound(match user {
                UserRef::Id(_) => "user_id: no such user".to_owned(),
                UserRef::Username(_) => "username: no such user".to_owned(),
            })
        })
    }
}
