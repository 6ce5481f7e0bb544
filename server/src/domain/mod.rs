//! The rules of accesskey: users, permissions, one key per user, and what a
//! presented key is worth. Knows nothing of gRPC; reaches storage only
//! through [`crate::store::Store`]'s domain-level methods.

pub(crate) mod audit_chain;
pub(crate) mod authority;
pub(crate) mod directory;
pub(crate) mod error;
pub mod key_format;
pub mod model;
pub(crate) mod page_token;
pub mod secret_hash;
pub(crate) mod throttle;
pub(crate) mod verified_keys;

pub(crate) use directory::{Directory, Verdict};
pub(crate) use error::{
    AuthFailure, Busy, Denial, DomainError, Invalid, InvalidField, Missing, Refusal, SelfLockout,
    TargetUser,
};
