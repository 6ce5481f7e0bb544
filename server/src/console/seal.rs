//! Sealing: authenticated encryption of a just-generated key on its way,
//! through the database, to the page that shows it once. AES-256-GCM under
//! a key derived from the session id, which only the browser's cookie
//! holds: the database alone opens nothing, and a row outlives its use by
//! two minutes at most. A random nonce per seal; the purpose as associated
//! data, so a value sealed for one user's key page is refused for any
//! other.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Seals and opens values with one secret key.
pub(super) struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

/// The stored key has the wrong length for the cipher.
#[derive(Debug, thiserror::Error)]
#[error("the console's sealing key must be 32 bytes")]
pub(crate) struct BadSealingKey;

impl Sealer {
    pub(super) fn new(key: &[u8]) -> Result<Self, BadSealingKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| BadSealingKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// `plaintext` sealed for `purpose`, as URL-safe base64 (cookie-safe).
    /// `None` only if the OS has no randomness for the nonce.
    pub(super) fn seal(&self, purpose: &str, plaintext: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).ok()?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut sealed,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// What `sealed` holds, if this key sealed it for `purpose`; `None` for
    /// anything forged, edited, truncated or sealed for another purpose.
    pub(super) fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        // A session is well under 1 KiB; refuse to decode anything huge.
        if sealed.len() > 4096 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buffer)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; 32]).expect("32 bytes")
    }

    #[test]
    fn what_is_sealed_opens_only_with_the_same_key_and_purpose() {
        let sealed = sealer(1).seal("session", b"secret").expect("sealed");
        assert_eq!(
            sealer(1).open("session", &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(sealer(2).open("session", &sealed), None);
        assert_eq!(sealer(1).open("new-key:7", &sealed), None);
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn an_edited_or_truncated_seal_is_refused() {
        let sealed = sealer(1).seal("session", b"secret").expect("sealed");
        let mut edited = sealed.clone().into_bytes();
        let last = edited.len() - 2;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).expect("ascii");
        assert_eq!(sealer(1).open("session", &edited), None);
        assert_eq!(sealer(1).open("session", &sealed[..10]), None);
        assert_eq!(sealer(1).open("session", ""), None);
        assert_eq!(sealer(1).open("session", "not base64 !"), None);
    }

    #[test]
    fn two_seals_of_the_same_value_differ() {
        let s = sealer(1);
        assert_ne!(s.seal("session", b"x"), s.seal("session", b"x"));
    }
}
