//! Audit events: the record of every change, who made it, and from where.
//!
//! An event is built by the domain from the user as it was and as it became,
//! and written by the store in the transaction that makes the change. It
//! names keys by their public id only: never a key, a secret or a hash.

use std::fmt;

use super::{Principal, Timestamp};
use crate::domain::InvalidField;

/// What kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    UserCreated,
    UserUpdated,
    UserDeleted,
    KeyGenerated,
    KeyRevoked,
    /// A console session began (a sign-in).
    ConsoleSignedIn,
    /// Console sessions were ended by their user (sign-out, or sign-out
    /// everywhere).
    ConsoleSignedOut,
    /// Events past their retention were deleted (by a replica, the actor
    /// `host`; about no user).
    AuditPruned,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
}

impl AuditAction {
    pub const ALL: [Self; 11] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::KeyGenerated,
        Self::KeyRevoked,
        Self::ConsoleSignedIn,
        Self::ConsoleSignedOut,
        Self::AuditPruned,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::KeyGenerated => "key.generated",
            Self::KeyRevoked => "key.revoked",
            Self::ConsoleSignedIn => "console.signed_in",
            Self::ConsoleSignedOut => "console.signed_out",
            Self::AuditPruned => "audit.pruned",
            Self::RoleCreated => "role.created",
            Self::RoleUpdated => "role.updated",
            Self::RoleDeleted => "role.deleted",
        }
    }

    /// An action named by a caller (a filter).
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
                InvalidField::new(field, format!("must be one of {}", known.join(", ")))
            })
    }

    /// For values read back from storage, where only these are written.
    pub fn from_stored(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == value)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// `accesskeyd bootstrap` on the server's host.
    Host,
    /// A user, through the key it called with.
    User {
        user_id: i64,
        username: String,
        key_id: String,
    },
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        Self::User {
            user_id: principal.user_id,
            username: principal.username.as_str().to_owned(),
            key_id: principal.key_id.to_string(),
        }
    }
}

/// Where a change came from: who, and through which call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    /// The request id the server generated for the call; empty on the host.
    pub request_id: String,
    /// The `x-request-id` the caller sent (empty if none): recorded for the
    /// caller's own correlation, never trusted as the call's id.
    pub client_request_id: String,
    /// The caller's address; empty on the host.
    pub peer: String,
}

impl Origin {
    /// A change made on the server's host.
    pub fn host() -> Self {
        Self {
            actor: Actor::Host,
            request_id: String::new(),
            client_request_id: String::new(),
            peer: String::new(),
        }
    }
}

/// One field's value before and after a change (`None`: no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// An event about to be recorded with its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub time: Timestamp,
    pub origin: Origin,
    pub action: AuditAction,
    pub target_user_id: i64,
    pub target_username: String,
    /// The role changed, for `role.*` events; empty otherwise.
    pub target_role: String,
    pub changes: Vec<FieldChange>,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Increasing in commit order, across every replica, with no gaps.
    pub id: i64,
    pub event: NewAuditEvent,
    /// Its place in the hash chain (see `domain::audit_chain`).
    pub link: ChainLink,
}

/// An event's links: the one before it and its own, 64 hex digits each;
/// both empty for events recorded before the chain existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainLink {
    pub previous: String,
    pub hash: String,
}

/// Which events ListAuditEvents returns; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub action: Option<AuditAction>,
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive.
    pub until: Option<Timestamp>,
}

impl AuditFilter {
    /// The filter as text, to bind page tokens to it.
    pub fn canonical(&self) -> String {
        let number = |value: Option<i64>| value.map_or_else(String::new, |v| v.to_string());
        format!(
            "audit\0{}\0{}\0{}\0{}\0{}",
            number(self.actor_user_id),
            number(self.target_user_id),
            self.action.map_or("", AuditAction::as_str),
            number(self.since.map(Timestamp::as_micros)),
            number(self.until.map(Timestamp::as_micros)),
        )
    }
}

mod records;
