//! The rules of accesskey: users, permissions, one key per user, and what a
//! presented key is worth. Knows nothing of gRPC; reaches storage only
//! through [`crate::store::Store`]'s domain-level methods.

pub mod authority;
pub mod directory;
mod error;
pub mod key_format;
pub mod model;
pub mod page_token;
pub mod secret_hash;
pub mod throttle;
pub mod verified_keys;

pub use directory::{Directory, Page, Verdict};
pub use error::{
    AuthFailure, Busy, Denial, DomainError, InvalidField, Missing, Refusal, SelfLockout,
};
