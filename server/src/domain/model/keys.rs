//! Keys as the rules see them: their public facts, the principal behind
//! one, and what verification and issuing need.

use std::{fmt, sync::Arc};

use super::permissions::PermissionSet;
use super::time::Timestamp;
use super::user_fields::Username;
use crate::domain::{key_format::KeyId, secret_hash::Fingerprint};

/// What may be known about a key: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: KeyId,
    pub create_time: Timestamp,
    pub expire_time: Option<Timestamp>,
    pub last_used_time: Option<Timestamp>,
}

/// The identity behind a key whose secret matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: Username,
    /// Shared: verification hands out the same set for every request.
    pub permissions: Arc<PermissionSet>,
    pub key_id: KeyId,
    pub expire_time: Option<Timestamp>,
}

/// Everything verification needs about one key, read in one lookup.
#[derive(Clone)]
pub struct Credential {
    pub principal: Principal,
    pub secret_hash: String,
    /// `None` for keys issued before fingerprints existed, until their
    /// first successful verification records one.
    pub secret_fingerprint: Option<Fingerprint>,
    pub user_disabled: bool,
}

impl Credential {
    /// Whether presenting this key at `now` authenticates: it has not
    /// expired and its user is enabled. Only such a use is a key's
    /// `last_used_time`; a rejected presentation is not a use.
    pub fn authenticates_at(&self, now: Timestamp) -> bool {
        !self.user_disabled && self.principal.expire_time.is_none_or(|expiry| expiry > now)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret_hash", &"<redacted>")
            .field("secret_fingerprint", &self.secret_fingerprint)
            .field("user_disabled", &self.user_disabled)
            .finish()
    }
}

/// A key to store: its id, the argon2id PHC string of its secret, and the
/// secret's fingerprint.
#[derive(Clone)]
pub struct NewKey {
    pub key_id: KeyId,
    pub secret_hash: String,
    pub secret_fingerprint: Fingerprint,
    pub create_time: Timestamp,
    pub expire_time: Option<Timestamp>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .field("secret_hash", &"<redacted>")
            .field("create_time", &self.create_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}
