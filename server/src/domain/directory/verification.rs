//! Verification: what a presented key is worth and for whom, and the
//! caller's own key, cheapest path first (see [`Directory::verify`]).

use std::sync::Arc;

use tracing::warn;

use crate::domain::{
    AuthFailure, Busy, DomainError, InvalidField,
    key_format::{AccessKey, KeyId, MalformedKey},
    model::{Credential, Permission, PermissionSet, Principal, ServicePermission, Timestamp},
    secret_hash::Fingerprint,
    verified_keys::Known,
};

use super::Directory;

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
struct ReadAhead {
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

impl Directory {
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

    /// VerifyAccessKey's one entry point: authenticates the caller by
    /// `caller_key` (an `Err` is the caller's failure), then, as the
    /// second result, whether it may verify, whether `required` parsed,
    /// and what `presented` is worth. Both keys' rows are read in one
    /// query. `required` is parsed by the caller, which names its request
    /// field, and refused here only after the permission check, so that a
    /// caller who may not verify learns nothing about its input.
    pub async fn verify_for(
        &self,
        caller_key: &str,
        presented: &str,
        required: Result<PermissionSet, InvalidField>,
    ) -> Result<(Principal, Result<Verdict, DomainError>), DomainError> {
        let mut ahead = self.read_ahead(caller_key, presented).await?;
        let caller = self.authenticate_with(caller_key, &mut ahead).await?;
        let verdict = async {
            caller.require(ServicePermission::KeysVerify)?;
            let required = required?;
            self.verify_with(presented, &required, &mut ahead).await
        }
        .await;
        Ok((caller, verdict))
    }

    /// Reads, in one query, the rows that authenticating `caller_key` and
    /// then verifying `presented` will need: none for a key answered from
    /// memory, and nothing at all when the caller's key is malformed (the
    /// request fails before `presented` matters).
    async fn read_ahead(
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
    async fn verify_with(
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
                what: Busy::FailedAttempts,
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
                    warn!(
                        %key_id,
                        error = %crate::error_chain::ErrorChain(&error),
                        "could not record a key's secret fingerprint"
                    );
                }
            });
        }
    }

    /// Authenticates a caller by its own key: any genuine, current key of an
    /// enabled user. What it may do is checked per RPC with [`Principal::require`].
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, DomainError> {
        self.authenticate_with(presented, &mut ReadAhead::default())
            .await
    }

    async fn authenticate_with(
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
}
