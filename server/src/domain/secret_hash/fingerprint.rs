//! The fingerprint that keeps wrong secrets away from argon2: 64 bits of a
//! keyed BLAKE2b of the secret, bound to its key id.

use std::fmt;

use blake2::{Blake2bMac, digest::consts::U8};
use subtle::ConstantTimeEq as _;

/// BLAKE2b keyed, 64-bit output: the fingerprint function.
pub(super) type FingerprintMac = Blake2bMac<U8>;
/// Domain separation: no other BLAKE2b in accesskey uses this persona.
pub(super) const FINGERPRINT_PERSONA: &[u8; 16] = b"akey.fp.v1......";
/// The fingerprint key without a pepper. Public, so a fingerprint without a
/// pepper is as computable as the key id it is bound to: what protects the
/// secret is its 256 bits (see [`Fingerprint`]).
pub(super) const FINGERPRINT_KEY_WITHOUT_PEPPER: &[u8] = b"accesskey secret fingerprint, no pepper";

/// A 64-bit fingerprint of a key's secret, bound to its key id (and keyed
/// with the pepper when there is one), stored beside the argon2id hash.
///
/// A presented secret whose fingerprint differs is wrong, and is told so
/// without argon2; only a matching one (in practice, the genuine secret) is
/// checked by argon2. It weakens nothing: a secret is 43 base62 characters,
/// about 256 bits, so the 64 bits a stolen fingerprint pins down still leave
/// about 2^192 equally likely secrets, each needing an argon2 run to tell
/// apart, and finding even one that matches the fingerprint takes about
/// 2^64 BLAKE2b runs per key. With a pepper, it cannot be computed at all
/// without the pepper.
#[derive(Clone, Copy)]
pub struct Fingerprint(pub(super) [u8; 8]);

impl Fingerprint {
    /// As stored: the 8 bytes as a little-endian signed integer, which every
    /// backend stores natively.
    pub fn from_stored(value: i64) -> Self {
        Self(value.to_le_bytes())
    }

    pub fn to_stored(self) -> i64 {
        i64::from_le_bytes(self.0)
    }

    /// Whether two fingerprints are equal, in constant time.
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(redacted)")
    }
}

/// `key` is at most 64 bytes: a constant, or a BLAKE2b-512 digest.
pub(super) fn fingerprint_mac(key: &[u8]) -> FingerprintMac {
    #[expect(
        clippy::expect_used,
        reason = "BLAKE2b takes keys of up to 64 bytes and a 16-byte persona; callers pass at most 64"
    )]
    let mac = FingerprintMac::new_with_salt_and_personal(key, &[], FINGERPRINT_PERSONA)
        .expect("a key of at most 64 bytes and a 16-byte persona");
    mac
}
