//! Opaque, tamper-evident page tokens (ListUsers, ListAuditEvents).
//!
//! A token is a cursor (the last id returned) bound to the query it pages
//! (ListUsers' username prefix, or ListAuditEvents' filters, written with
//! NUL bytes no prefix holds, so neither RPC accepts the other's tokens),
//! authenticated with a keyed BLAKE2b MAC. The MAC key lives in the
//! database, so every replica accepts every other replica's tokens,
//! and a forged or edited token is refused rather than silently paging from
//! somewhere else.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use blake2::{
    Blake2bMac,
    digest::{Mac, consts::U16},
};

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;

type TokenMac = Blake2bMac<U16>;

/// Signs and checks page tokens with one secret key.
#[derive(Clone)]
pub(crate) struct PageTokenSigner {
    keyed: TokenMac,
}

impl std::fmt::Debug for PageTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenSigner(<key redacted>)")
    }
}

/// Why a page token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPageToken {
    #[error("is not a page token issued by this service")]
    Forged,
    #[error("was issued for a different query")]
    OtherQuery,
}

impl PageTokenSigner {
    /// `key` is secret randomness; BLAKE2b takes 1 to 64 bytes of it.
    pub(crate) fn new(key: &[u8]) -> Result<Self, blake2::digest::InvalidLength> {
        Ok(Self {
            keyed: TokenMac::new_from_slice(key)?,
        })
    }

    fn mac(&self) -> TokenMac {
        self.keyed.clone()
    }

    pub(crate) fn sign(&self, last_id: i64, prefix: &str) -> String {
        let mut payload = Vec::with_capacity(1 + 8 + prefix.len() + MAC_LEN);
        payload.push(VERSION);
        payload.extend_from_slice(&last_id.to_be_bytes());
        payload.extend_from_slice(prefix.as_bytes());
        let mut mac = self.mac();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The cursor in `token`, if it is genuine and was issued for `prefix`.
    pub(crate) fn open(&self, token: &str, prefix: &str) -> Result<i64, BadPageToken> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| BadPageToken::Forged)?;
        if bytes.len() < 1 + 8 + MAC_LEN {
            return Err(BadPageToken::Forged);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut mac = self.mac();
        mac.update(payload);
        // Constant-time comparison, inside the MAC crate.
        mac.verify_slice(tag).map_err(|_| BadPageToken::Forged)?;
        if payload[0] != VERSION {
            return Err(BadPageToken::Forged);
        }
        if &payload[9..] != prefix.as_bytes() {
            return Err(BadPageToken::OtherQuery);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&payload[1..9]);
        Ok(i64::from_be_bytes(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> PageTokenSigner {
        PageTokenSigner::new(&[7; 32]).expect("valid key length")
    }

    #[test]
    fn tokens_round_trip_and_bind_the_prefix() {
        let token = signer().sign(42, "al");
        assert_eq!(signer().open(&token, "al"), Ok(42));
        assert_eq!(signer().open(&token, "bo"), Err(BadPageToken::OtherQuery));
    }

    #[test]
    fn edited_or_foreign_tokens_are_refused() {
        let token = signer().sign(42, "");
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[3] ^= 1;
        let edited = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(signer().open(&edited, ""), Err(BadPageToken::Forged));
        let other = PageTokenSigner::new(&[8; 32])
            .expect("valid key length")
            .sign(42, "");
        assert_eq!(signer().open(&other, ""), Err(BadPageToken::Forged));
        assert_eq!(signer().open("not a token!", ""), Err(BadPageToken::Forged));
        assert_eq!(signer().open("", ""), Err(BadPageToken::Forged));
    }
}
