//! How a caller presents its access key, shared by accesskeyd and the
//! client's middleware so both judge a request's credentials the same way.
//!
//! Exactly one credential is accepted: one `x-access-key` entry or one
//! `authorization: Bearer` entry. Two of anything is refused whatever the
//! order, so no proxy or header-merging quirk decides which key counts.

use http::HeaderMap;

/// The metadata key (HTTP header) for an access key, the gRPC form of
/// `X-Access-Key`. Part of the contract: never change it.
pub const ACCESS_KEY_HEADER: &str = "x-access-key";
/// The standard header, accepted as `authorization: Bearer <key>`.
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// The `authorization` scheme for an access key, compared case-insensitively.
pub const BEARER_SCHEME: &str = "bearer";

/// Why a request carries no single usable credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Neither header is present.
    #[error("no access key: send it as `x-access-key: <key>` or `authorization: Bearer <key>`")]
    Missing,
    /// More than one entry across both headers.
    #[error("more than one credential in the request metadata; send exactly one")]
    Ambiguous,
    /// An `authorization` entry with a scheme other than `Bearer`.
    #[error("the `authorization` header is not of the form `Bearer <key>`")]
    NotBearer,
    /// The entry is not visible ASCII, so it cannot be a key.
    #[error("the access key is not visible ASCII text")]
    NotText,
}

/// The single credential in `headers`, without judging whether it is a key.
/// Takes an [`http::HeaderMap`]; a tonic `MetadataMap` is one through
/// `AsRef`.
pub fn presented_credential(headers: &HeaderMap) -> Result<&str, CredentialError> {
    let keys = headers.get_all(ACCESS_KEY_HEADER).iter();
    let authorizations = headers.get_all(AUTHORIZATION_HEADER).iter();
    let mut entries = keys
        .map(|value| (false, value))
        .chain(authorizations.map(|value| (true, value)));
    let Some((is_authorization, value)) = entries.next() else {
        return Err(CredentialError::Missing);
    };
    if entries.next().is_some() {
        return Err(CredentialError::Ambiguous);
    }
    let text = value.to_str().map_err(|_| CredentialError::NotText)?;
    if !is_authorization {
        return Ok(text);
    }
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(BEARER_SCHEME) => Ok(token),
        _ => Err(CredentialError::NotBearer),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(entries: &[(&'static str, &'static [u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in entries {
            let value = HeaderValue::from_bytes(value).expect("a header value");
            map.append(*name, value);
        }
        map
    }

    #[test]
    fn accepts_exactly_one_credential_in_either_form() {
        assert_eq!(
            presented_credential(&headers(&[("x-access-key", b"k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&headers(&[("authorization", b"Bearer k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&headers(&[("authorization", b"bearer k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&headers(&[])),
            Err(CredentialError::Missing)
        );
        assert_eq!(
            presented_credential(&headers(&[("authorization", b"Basic k")])),
            Err(CredentialError::NotBearer)
        );
        assert_eq!(
            presented_credential(&headers(&[("x-access-key", b"k\xff")])),
            Err(CredentialError::NotText)
        );
        let twice: [[(&'static str, &'static [u8]); 2]; 3] = [
            [("x-access-key", b"a"), ("x-access-key", b"b")],
            [("x-access-key", b"a"), ("authorization", b"Bearer a")],
            [("authorization", b"Bearer a"), ("x-access-key", b"b")],
        ];
        for twice in &twice {
            assert_eq!(
                presented_credential(&headers(twice)),
                Err(CredentialError::Ambiguous)
            );
        }
    }
}
