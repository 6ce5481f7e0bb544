//! The rules of accesskey: users, permissions, one key per user, and what a
//! presented key is worth. Knows nothing of gRPC; reaches storage only
//! through [`crate::store::Store`]'s domain-level methods.

pub mod authority;
pub mod directory;
pub mod key_format;
pub mod model;
pub mod page_token;
pub mod secret_hash;
pub mod throttle;
pub mod verified_keys;

use std::fmt;

pub use directory::{Directory, Page, ReadAhead, Verdict};

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

/// Every way a domain operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    InvalidArgument(InvalidField),
    #[error(transparent)]
    Unauthenticated(AuthFailure),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A precondition the caller set (an etag) no longer holds: read again
    /// and retry.
    #[error("{0}")]
    Aborted(String),
    /// Too much work asked of a bounded resource; retry after the delay.
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: std::time::Duration,
    },
    /// Storage is temporarily unreachable or overloaded; the call may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected fault. The detail is for logs, not for callers.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<InvalidField> for DomainError {
    fn from(invalid: InvalidField) -> Self {
        Self::InvalidArgument(invalid)
    }
}

impl From<secret_hash::HashError> for DomainError {
    fn from(error: secret_hash::HashError) -> Self {
        match error {
            secret_hash::HashError::Busy(waited) => Self::ResourceExhausted {
                message: "the server is busy checking other keys; retry shortly".to_owned(),
                retry_after: waited,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<getrandom::Error> for DomainError {
    fn from(error: getrandom::Error) -> Self {
        Self::Internal(format!("the OS random number generator failed: {error}"))
    }
}
