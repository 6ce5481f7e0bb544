//! The access-key format: the only place that generates, parses or prints keys.
//!
//! ```text
//! akey_ 7Hq2MZxk3PdTb9Wc _ <43 base62 secret chars> <6 base62 checksum chars>
//! │     │                   │                         └ CRC-32 of everything before it
//! │     │                   └ 256 bits from the OS CSPRNG
//! │     └ public key id: 16 base62 chars, the indexed lookup key
//! └ prefix, for people and secret scanners
//! ```
//!
//! Invariants:
//! - Parsing is strict and happens before any I/O: a key that is not exactly
//!   this shape, or whose checksum does not match, is malformed and never
//!   reaches the database or argon2.
//! - The secret is never printed: [`Secret`] and [`AccessKey`] redact their
//!   `Debug` output, and nothing here implements `Display` for them.
//! - Only `[0-9A-Za-z_]` appear, so keys are safe in headers and URLs and a
//!   double-click selects the whole key.

use std::fmt;

/// The key prefix. It must never change: secret scanners and every key ever
/// issued depend on it.
pub const KEY_PREFIX: &str = "akey_";

/// Length of the public key id, in base62 characters (about 95 bits).
pub const KEY_ID_LEN: usize = 16;
/// Length of the secret, in base62 characters: 43 × log2(62) ≈ 256.03 bits.
pub const SECRET_LEN: usize = 43;
/// Length of the checksum: a CRC-32 needs 6 base62 digits (62^6 > 2^32).
pub const CHECKSUM_LEN: usize = 6;
/// Separates the key id from the secret.
const SEPARATOR: u8 = b'_';
/// Total length of a well-formed key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not an access key. Deliberately carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    #[error("an access key is {KEY_LEN} characters long")]
    Length,
    #[error("an access key starts with `{KEY_PREFIX}`")]
    Prefix,
    #[error("an access key contains only letters, digits and two underscores")]
    Character,
    #[error("the access key's checksum does not match (mistyped or truncated?)")]
    Checksum,
}

/// The public identifier of a key: safe to log, store and show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a key id read back from storage, where only valid ids are written.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret part of a key. Radioactive: no `Display`, a redacting `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The bytes to hash or verify; the only way to reach the secret.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A whole access key: what the user is shown once and presents afterwards.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    key_id: KeyId,
    secret: Secret,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("key_id", &self.key_id)
            .field("secret", &self.secret)
            .finish()
    }
}

impl AccessKey {
    /// Generates a new key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(Self {
            key_id: KeyId(random_base62(KEY_ID_LEN)?),
            secret: Secret(random_base62(SECRET_LEN)?),
        })
    }

    /// Parses a presented key strictly. No I/O; the error never echoes input.
    pub fn parse(presented: &str) -> Result<Self, MalformedKey> {
        let bytes = presented.as_bytes();
        if bytes.len() != KEY_LEN {
            return Err(MalformedKey::Length);
        }
        let Some(rest) = bytes.strip_prefix(KEY_PREFIX.as_bytes()) else {
            return Err(MalformedKey::Prefix);
        };
        let (key_id, rest) = rest.split_at(KEY_ID_LEN);
        let (separator, rest) = rest.split_at(1);
        let (secret, checksum) = rest.split_at(SECRET_LEN);
        let all_base62 = [key_id, secret, checksum]
            .iter()
            .all(|part| part.iter().all(u8::is_ascii_alphanumeric));
        if separator[0] != SEPARATOR || !all_base62 {
            return Err(MalformedKey::Character);
        }
        let body = &bytes[..KEY_LEN - CHECKSUM_LEN];
        if checksum != encode_checksum(crc32(body)) {
            return Err(MalformedKey::Checksum);
        }
        // All ASCII, checked above, so these conversions cannot fail.
        let text = |part: &[u8]| String::from_utf8_lossy(part).into_owned();
        Ok(Self {
            key_id: KeyId(text(key_id)),
            secret: Secret(text(secret)),
        })
    }

    /// This key's id with another key's secret: a well-formed key that must
    /// never verify. For tests of wrong-secret handling.
    pub fn with_secret_of(&self, other: &AccessKey) -> AccessKey {
        Self {
            key_id: self.key_id.clone(),
            secret: other.secret.clone(),
        }
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The full key, for the one response that shows it. Named loudly so that
    /// every use is easy to find in review.
    pub fn expose_plaintext(&self) -> String {
        let mut key = String::with_capacity(KEY_LEN);
        key.push_str(KEY_PREFIX);
        key.push_str(self.key_id.as_str());
        key.push(char::from(SEPARATOR));
        key.push_str(&self.secret.0);
        let checksum = encode_checksum(crc32(key.as_bytes()));
        key.push_str(std::str::from_utf8(&checksum).unwrap_or_default());
        key
    }
}

/// `len` characters drawn uniformly from the base62 alphabet.
fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buffer)?;
        // Rejection sampling: 248 = 4 × 62, so `byte % 62` is uniform below it.
        for &byte in buffer.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    Ok(out)
}

fn encode_checksum(mut value: u32) -> [u8; CHECKSUM_LEN] {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// CRC-32 (IEEE, as in zlib: CRC-32/ISO-HDLC). It detects every error
/// confined to 32 consecutive bits, so every single-character substitution.
/// Part of the key format: never change the algorithm.
fn crc32(data: &[u8]) -> u32 {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    CRC32.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AccessKey {
        AccessKey::generate().expect("the OS CSPRNG is available in tests")
    }

    #[test]
    fn the_checksum_is_zlibs_crc32() {
        // The standard check value: keys issued by any version must parse.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_round_trip() {
        for _ in 0..100 {
            let key = sample();
            let text = key.expose_plaintext();
            assert_eq!(text.len(), KEY_LEN);
            assert!(text.starts_with(KEY_PREFIX));
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert_eq!(AccessKey::parse(&text), Ok(key));
        }
    }

    #[test]
    fn generated_keys_are_distinct() {
        let a = sample();
        let b = sample();
        assert_ne!(a.key_id(), b.key_id());
        assert_ne!(a.secret(), b.secret());
    }

    #[test]
    fn every_single_character_substitution_is_rejected() {
        let text = sample().expose_plaintext();
        let alphabet: Vec<u8> = BASE62
            .iter()
            .copied()
            .chain([b'_', b'-', b'.', b' '])
            .collect();
        for position in 0..text.len() {
            for &replacement in &alphabet {
                let mut corrupted = text.clone().into_bytes();
                if corrupted[position] == replacement {
                    continue;
                }
                corrupted[position] = replacement;
                let corrupted = String::from_utf8(corrupted).expect("ASCII stays UTF-8");
                assert!(
                    AccessKey::parse(&corrupted).is_err(),
                    "substitution at {position} was accepted"
                );
            }
        }
    }

    #[test]
    fn truncated_extended_and_foreign_inputs_are_rejected() {
        let text = sample().expose_plaintext();
        for len in 0..text.len() {
            assert_eq!(AccessKey::parse(&text[..len]), Err(MalformedKey::Length));
        }
        assert_eq!(
            AccessKey::parse(&format!("{text}x")),
            Err(MalformedKey::Length)
        );
        assert_eq!(
            AccessKey::parse(&format!("{text}\n")),
            Err(MalformedKey::Length)
        );
        let wrong_prefix = format!("bkey_{}", &text[KEY_PREFIX.len()..]);
        assert_eq!(AccessKey::parse(&wrong_prefix), Err(MalformedKey::Prefix));
        let non_ascii = format!("{}é", &text[..KEY_LEN - 2]);
        assert!(AccessKey::parse(&non_ascii).is_err());
        assert!(AccessKey::parse("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl").is_err());
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = sample();
        let text = key.expose_plaintext();
        let secret_part = &text[KEY_PREFIX.len() + KEY_ID_LEN + 1..KEY_LEN - CHECKSUM_LEN];
        let debug = format!("{key:?} {:?}", key.secret());
        assert!(!debug.contains(secret_part));
        assert!(debug.contains(key.key_id().as_str()));
    }
}
