//! The pepper: a server secret mixed into every hash and fingerprint, kept
//! outside the database, never printed.

use std::sync::Arc;

use blake2::{Blake2b512, digest::Digest as _};

/// A server secret mixed into every hash (argon2's secret input), kept
/// outside the database: a stolen database alone cannot be attacked
/// offline. Never printed.
#[derive(Clone)]
pub struct Pepper(pub(super) Arc<[u8]>);

impl Pepper {
    /// Shorter peppers are refused: they would add little.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: Vec<u8>) -> Result<Self, PepperTooShort> {
        if bytes.len() < Self::MIN_LEN {
            return Err(PepperTooShort {
                length: bytes.len(),
            });
        }
        Ok(Self(bytes.into()))
    }
}

/// A pepper shorter than [`Pepper::MIN_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the pepper must be at least {} bytes long; this one has {length}",
    Pepper::MIN_LEN
)]
pub struct PepperTooShort {
    pub length: usize,
}

impl Pepper {
    /// 32 bits of a hash of the pepper, for logs: replicas started with the
    /// same pepper show the same value, so one with a wrong (or edited)
    /// pepper file stands out. Not a secret for a pepper of random bytes,
    /// as docs/security.md asks for; it would narrow a guessable one.
    /// The audit chain keyed by this pepper: the one secret a database
    /// writer does not hold.
    pub(crate) fn audit_chain(&self) -> crate::domain::audit_chain::AuditChain {
        crate::domain::audit_chain::AuditChain::new(Some(&self.0))
    }

    pub fn fingerprint(&self) -> String {
        let digest = Blake2b512::new_with_prefix(b"accesskey pepper id")
            .chain_update(&self.0)
            .finalize();
        hex::encode(&digest[..4])
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(redacted)")
    }
}
