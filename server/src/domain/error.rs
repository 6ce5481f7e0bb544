//! Every way a domain operation can fail, by what went wrong. The words a
//! caller reads are chosen at the edges: `service/status.rs` for gRPC, the
//! `accesskeyd` command line for the host; `Display` here is for logs.

use std::{error::Error as StdError, fmt, time::Duration};

use super::{
    key_format,
    model::{Permission, RoleName, ServicePermission},
    page_token::BadPageToken,
};
use crate::store::StoreError;

/// A request field that failed validation, and why. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub field: String,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A request value refused. One that did not parse is named by the request
/// field its parser was given (by the service layer, which owns the
/// fields); one the domain's own rules refuse is named by what it is, and
/// `service/status.rs` names the field it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// A value that did not parse.
    Field(InvalidField),
    /// A new key's expiry that is not in the future.
    ExpiryNotAhead,
    /// An expiry for the caller's own new key sooner than
    /// [`OWN_KEY_MIN_LIFETIME`](super::authority::OWN_KEY_MIN_LIFETIME)
    /// ahead: renewing it ends the key in use.
    OwnKeyExpiresTooSoon,
    /// A page token this server did not issue, or issued for another query.
    PageToken(BadPageToken),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(invalid) => invalid.fmt(f),
            Self::ExpiryNotAhead => f.write_str("a new key's expiry is not in the future"),
            Self::OwnKeyExpiresTooSoon => {
                f.write_str("the caller's own new key would expire too soon")
            }
            Self::PageToken(why) => write!(f, "the page token {why}"),
        }
    }
}

/// Which user of a call an error is about, by how the call names it. The
/// domain knows no request fields: `service/status.rs` says which field
/// each of these arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetUser {
    /// The user a call acts on, named by its id alone, with its etag (if
    /// any) beside it: GetUser, DeleteUser, GenerateAccessKey,
    /// RevokeAccessKey.
    ById,
    /// The user an update rewrites, sent whole as its new state with its
    /// id and etag inside: UpdateUser.
    Updated,
}

/// Why a caller could not be authenticated. The messages are safe to return:
/// they describe the caller's own credential, never echo it, and the states
/// beyond "not valid" are only reported once its secret matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No single usable credential in the request (the contract's rule).
    #[error(transparent)]
    Credential(#[from] accesskey_proto::credential::CredentialError),
    #[error("the caller's access key is malformed: {0}")]
    Malformed(key_format::MalformedKey),
    #[error("the caller's access key is not valid (unknown, revoked or replaced)")]
    NotValid,
    #[error("the caller's access key has expired")]
    Expired,
    #[error("the caller's user is disabled")]
    UserDisabled,
}

/// A call the caller's permissions do not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The RPC needs a service permission the caller lacks.
    MissingPermission(ServicePermission),
    /// The `user` acted on holds `permission`, a service permission the
    /// caller lacks: acting on it needs every one it holds.
    OutranksCaller {
        user: TargetUser,
        permission: Permission,
    },
    /// Service permissions the caller tried to grant without holding them.
    CannotGrant(Vec<Permission>),
    /// The role acted on carries `permission`, a service permission the
    /// caller lacks: changing or deleting it needs every one it carries.
    RoleOutranksCaller { permission: Permission },
}

/// What a call named that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No user has the id the call named.
    User(TargetUser),
    /// No user has the username the call named.
    Username,
    /// The user exists and has no key.
    Key,
    /// No role has this name.
    Role(RoleName),
}

/// How a caller would lock itself out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfLockout {
    /// Removing these service permissions from itself.
    DropOwnServicePermissions(Vec<Permission>),
    DisableSelf,
    DeleteSelf,
    RevokeOwnKey,
}

/// A change refused because of the state it starts from or would leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The `user` changed is the last administrator (enabled, local,
    /// holding every service permission), and would stop being one.
    LastAdministrator {
        user: TargetUser,
    },
    SelfLockout(SelfLockout),
    /// Users from an external identity provider authenticate there and
    /// never hold a key.
    ExternalUserCannotHoldKey {
        provider: String,
    },
    /// A disabled user is not issued a key.
    DisabledUserCannotGetKey,
    /// Bootstrap on a database that has users.
    AlreadyBootstrapped,
    /// Reissuing a disabled admin's key without restoring it.
    ReissueForDisabledUser,
    /// A role change would leave no administrator: `username`, the last
    /// one, holds its power through the role.
    LastAdministratorThroughRole {
        username: String,
    },
    /// A role users hold, deleted without `force`.
    RoleHeld {
        members: u64,
    },
    /// A user (the one changed, or `username`, a role's member) would hold
    /// `held` permissions, more than a user may.
    TooManyPermissions {
        username: Option<String>,
        held: usize,
    },
}

/// What is too busy to take the call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Every argon2 worker is taken, and the wait would be too long.
    Argon2Workers,
    /// Too many failed attempts for this key id recently.
    FailedAttempts,
    /// As many audit streams are open as the server allows.
    AuditWatchers,
    /// The caller's user has as many audit streams open as one user may.
    AuditWatchersOfUser { most: usize },
}

/// Every way a domain operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("invalid argument: {0}")]
    InvalidArgument(Invalid),
    #[error(transparent)]
    Unauthenticated(AuthFailure),
    #[error("permission denied: {0:?}")]
    PermissionDenied(Denial),
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// A user with this name, ignoring case, exists.
    #[error("a user with this username exists")]
    UsernameTaken,
    /// A role with this name, ignoring case, exists.
    #[error("a role with this name exists")]
    RoleNameTaken,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The `user` changed since the etag the caller sent for it was read:
    /// read again and retry.
    #[error("stale etag ({user:?})")]
    StaleEtag { user: TargetUser },
    /// The role changed since the etag the caller sent for it was read.
    #[error("stale role etag")]
    StaleRoleEtag,
    /// Too much work asked of a bounded resource; retry after the delay.
    #[error("busy: {what:?} (retry after {retry_after:?})")]
    ResourceExhausted { what: Busy, retry_after: Duration },
    /// Storage is temporarily unreachable or overloaded; the call may be
    /// retried.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or an unexpected fault. The detail is for logs, not callers.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl DomainError {
    /// An internal error described by `detail` (for faults with no error
    /// value of their own).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into().into())
    }
}

impl From<InvalidField> for DomainError {
    fn from(invalid: InvalidField) -> Self {
        Self::InvalidArgument(Invalid::Field(invalid))
    }
}

impl From<Invalid> for DomainError {
    fn from(invalid: Invalid) -> Self {
        Self::InvalidArgument(invalid)
    }
}

impl From<super::secret_hash::HashError> for DomainError {
    fn from(error: super::secret_hash::HashError) -> Self {
        match error {
            super::secret_hash::HashError::Busy(waited) => Self::ResourceExhausted {
                what: Busy::Argon2Workers,
                retry_after: waited,
            },
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<getrandom::Error> for DomainError {
    fn from(error: getrandom::Error) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::RoleNameTaken => Self::RoleNameTaken,
            // Every write that finds its user gone names it by id alone,
            // but an update's, which says so itself.
            StoreError::UserMissing => Self::NotFound(Missing::User(TargetUser::ById)),
            // A certificate the database presents that is not trusted is
            // not transient, but for a caller it is the same: storage
            // cannot be reached; the log says why.
            StoreError::Unavailable { .. } | StoreError::Tls { .. } => Self::Unavailable(error),
            StoreError::KeyIdTaken | StoreError::Database { .. } | StoreError::InUse { .. } => {
                Self::Internal(Box::new(error))
            }
        }
    }
}
