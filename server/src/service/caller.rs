//! Identifies the caller of an RPC from its request metadata, read by the
//! contract's one credential parser (`accesskey_proto::credential`), or,
//! for the admin console's own calls, from the in-process
//! [`ConsoleCredential`].

use accesskey_proto::credential;
use tonic::{Request, Status};
use tracing::{debug, info, warn};

use super::request_log::RequestId;
use crate::domain::{
    Directory, DomainError,
    key_format::AccessKey,
    key_format::KeyId,
    model::{Actor, Origin, Principal},
};

/// The credential of a call the admin console makes for a signed-in
/// session: the session's user and the key id it was opened with, never a
/// key. It travels as a request extension, which only code in this
/// process can set: nothing that arrives over the wire becomes one.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleCredential {
    pub(crate) user_id: i64,
    pub(crate) key_id: KeyId,
}

/// Where a change made by `caller` through `request` comes from, for the
/// audit trail: the caller, the call's request ids and the peer's address.
pub(crate) fn origin<T>(request: &Request<T>, caller: &Principal) -> Origin {
    let ids = request.extensions().get::<RequestId>();
    Origin {
        actor: Actor::from(caller),
        request_id: ids.map(|ids| ids.id.clone()).unwrap_or_default(),
        client_request_id: ids.and_then(|ids| ids.client.clone()).unwrap_or_default(),
        peer: request
            .remote_addr()
            .map(|addr| addr.to_string())
            .unwrap_or_default(),
    }
}

/// Authenticates the caller of `request`, logging the outcome as a security
/// event (key id and peer, never the key).
pub(super) async fn authenticate<T>(
    directory: &Directory,
    request: &Request<T>,
    rpc: &'static str,
) -> Result<Principal, Status> {
    if let Some(console) = request.extensions().get::<ConsoleCredential>() {
        return directory
            .authenticate_session(console.user_id, &console.key_id)
            .await
            .map_err(Status::from);
    }
    let (principal, ()) = authenticate_with(request, rpc, async |key| {
        Ok((directory.authenticate(key).await?, ()))
    })
    .await?;
    Ok(principal)
}

/// [`authenticate`] through `call`, a domain operation that authenticates
/// the caller's key (given to it) as its first step and also returns what
/// it did after. Failures of that first step are logged like any other
/// caller's; what follows is for the handler to conclude.
pub(super) async fn authenticate_with<T, R>(
    request: &Request<T>,
    rpc: &'static str,
    call: impl AsyncFnOnce(&str) -> Result<(Principal, R), DomainError>,
) -> Result<(Principal, R), Status> {
    let credential = credential::presented_credential(request.metadata().as_ref());
    // Only for the log lines below, so computed only for a line that is
    // written: a successful call (debug, off by default) pays for neither.
    let peer = || {
        request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |addr| addr.to_string())
    };
    // The key id a failed attempt named: public, never the key.
    let attempted = || {
        credential
            .ok()
            .and_then(|key| AccessKey::parse(key).ok())
            .map_or_else(|| "-".to_owned(), |key| key.key_id().to_string())
    };
    let outcome = match credential {
        Ok(key) => call(key).await,
        Err(failure) => Err(DomainError::Unauthenticated(failure.into())),
    };
    match &outcome {
        // Successes are the bulk of all traffic: logged at debug, so that
        // enabling them is a choice; failures are always worth a line.
        Ok((principal, _)) => debug!(
            event = "auth",
            outcome = "success",
            rpc,
            peer = %peer(),
            key_id = %principal.key_id,
            user_id = principal.user_id,
        ),
        Err(DomainError::Unauthenticated(failure)) => info!(
            event = "auth",
            outcome = "failure",
            rpc,
            peer = %peer(),
            key_id = %attempted(),
            reason = %failure,
        ),
        Err(DomainError::ResourceExhausted { retry_after, .. }) => warn!(
            event = "auth",
            outcome = "shed",
            rpc,
            peer = %peer(),
            key_id = %attempted(),
            retry_after_ms = retry_after.as_millis(),
        ),
        Err(_) => {}
    }
    outcome.map_err(Status::from)
}
