//! Identifies the caller of an RPC from its request metadata.
//!
//! Exactly one credential is accepted: one `x-access-key` entry or one
//! `authorization: Bearer` entry. Two of anything is refused whatever the
//! order, so no proxy or header-merging quirk decides which key counts.

use tonic::{Request, Status, metadata::MetadataMap};
use tracing::{debug, info, warn};

use crate::domain::{
    AuthFailure, Directory, DomainError, ReadAhead, key_format::AccessKey, model::Principal,
};

/// The metadata key for an access key (the gRPC form of `X-Access-Key`).
pub const ACCESS_KEY_HEADER: &str = "x-access-key";
const AUTHORIZATION_HEADER: &str = "authorization";
const BEARER_SCHEME: &str = "bearer";

/// The single credential in `metadata`, without judging it.
fn presented_credential(metadata: &MetadataMap) -> Result<&str, AuthFailure> {
    let keys = metadata.get_all(ACCESS_KEY_HEADER).iter();
    let authorizations = metadata.get_all(AUTHORIZATION_HEADER).iter();
    let mut entries = keys
        .map(|value| (false, value))
        .chain(authorizations.map(|value| (true, value)));
    let Some((is_authorization, value)) = entries.next() else {
        return Err(AuthFailure::Missing);
    };
    if entries.next().is_some() {
        return Err(AuthFailure::Ambiguous);
    }
    // A value that is not visible ASCII cannot be a key; parsing says so.
    let text = value.to_str().unwrap_or("\u{0}");
    if !is_authorization {
        return Ok(text);
    }
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(BEARER_SCHEME) => Ok(token),
        _ => Err(AuthFailure::NotBearer),
    }
}

/// Authenticates the caller of `request`, logging the outcome as a security
/// event (key id and peer, never the key).
pub(super) async fn authenticate<T>(
    directory: &Directory,
    request: &Request<T>,
    rpc: &'static str,
) -> Result<Principal, Status> {
    let (principal, _) = authenticate_reading_ahead(directory, request, rpc, None).await?;
    Ok(principal)
}

/// [`authenticate`], also reading ahead, in the same database query, what
/// checking `presented` (a key the request carries) will need.
pub(super) async fn authenticate_reading_ahead<T>(
    directory: &Directory,
    request: &Request<T>,
    rpc: &'static str,
    presented: Option<&str>,
) -> Result<(Principal, ReadAhead), Status> {
    let peer = request
        .remote_addr()
        .map_or_else(|| "unknown".to_owned(), |addr| addr.to_string());
    let credential = presented_credential(request.metadata());
    // The key id a failed attempt named, for the log: public, never the key.
    let attempted = credential
        .ok()
        .and_then(|key| AccessKey::parse(key).ok())
        .map_or_else(|| "-".to_owned(), |key| key.key_id().to_string());
    let outcome = match credential {
        Ok(key) => {
            async {
                let mut ahead = match presented {
                    Some(presented) => directory.read_ahead(key, presented).await?,
                    None => ReadAhead::default(),
                };
                let principal = directory.authenticate(key, &mut ahead).await?;
                Ok((principal, ahead))
            }
            .await
        }
        Err(failure) => Err(DomainError::Unauthenticated(failure)),
    };
    match &outcome {
        // Successes are the bulk of all traffic: logged at debug, so that
        // enabling them is a choice; failures are always worth a line.
        Ok((principal, _)) => debug!(
            event = "auth",
            outcome = "success",
            rpc,
            %peer,
            key_id = %principal.key_id,
            user_id = principal.user_id,
        ),
        Err(DomainError::Unauthenticated(failure)) => info!(
            event = "auth",
            outcome = "failure",
            rpc,
            %peer,
            key_id = %attempted,
            reason = %failure,
        ),
        Err(DomainError::ResourceExhausted { retry_after, .. }) => warn!(
            event = "auth",
            outcome = "shed",
            rpc,
            %peer,
            key_id = %attempted,
            retry_after_ms = retry_after.as_millis(),
        ),
        Err(_) => {}
    }
    outcome.map_err(Status::from)
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn metadata(entries: &[(&'static str, &'static str)]) -> MetadataMap {
        let mut map = MetadataMap::new();
        for (name, value) in entries {
            map.append(*name, MetadataValue::from_static(value));
        }
        map
    }

    #[test]
    fn accepts_exactly_one_credential_in_either_form() {
        assert_eq!(
            presented_credential(&metadata(&[("x-access-key", "k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&metadata(&[("authorization", "Bearer k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&metadata(&[("authorization", "bearer k")])),
            Ok("k")
        );
        assert_eq!(
            presented_credential(&metadata(&[])),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            presented_credential(&metadata(&[("authorization", "Basic k")])),
            Err(AuthFailure::NotBearer)
        );
        for twice in [
            &[("x-access-key", "a"), ("x-access-key", "b")][..],
            &[("x-access-key", "a"), ("authorization", "Bearer a")][..],
            &[("authorization", "Bearer a"), ("x-access-key", "b")][..],
        ] {
            assert_eq!(
                presented_credential(&metadata(twice)),
                Err(AuthFailure::Ambiguous)
            );
        }
    }
}
