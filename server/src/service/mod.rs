//! The gRPC layer: authenticates callers, validates and converts requests,
//! delegates to the [`Directory`], and maps its errors to statuses. No rule
//! lives here and no storage type reaches here.

mod audit;
mod call_metrics;
mod caller;
mod convert;
mod health;
mod key_auth;
mod metadata_limit;
mod request_log;
mod roles;
mod status;
mod user_admin;
pub mod validation;

use tonic::Status;

use crate::domain::{DomainError, model::Principal};

pub(crate) use audit::AuditWatchers;
pub(crate) use call_metrics::CallMetricsLayer;
pub(crate) use caller::{ConsoleCredential, origin};
pub(crate) use health::StoppingHealth;
pub(crate) use key_auth::KeyAuthService;
pub(crate) use metadata_limit::{header_list_size, is_grpc, limit_metadata};
pub(crate) use request_log::RequestLogLayer;
pub(crate) use user_admin::UserAdminService;

/// Turns a domain result into the RPC's result, logging permission denials
/// and shed calls as security events on the way.
fn conclude<T>(
    rpc: &'static str,
    caller: &Principal,
    result: Result<T, DomainError>,
) -> Result<T, Status> {
    match &result {
        Err(DomainError::PermissionDenied(reason)) => tracing::info!(
            event = "permission_denied",
            rpc,
            key_id = %caller.key_id,
            user_id = caller.user_id,
            reason = ?reason,
        ),
        // Load shed or throttled: worth a line, or an attack goes unseen.
        Err(DomainError::ResourceExhausted { what, retry_after }) => tracing::warn!(
            event = "shed",
            rpc,
            key_id = %caller.key_id,
            user_id = caller.user_id,
            retry_after_ms = retry_after.as_millis(),
            busy = ?what,
        ),
        _ => {}
    }
    result.map_err(Status::from)
}
