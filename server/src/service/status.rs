//! The one mapping from domain errors to gRPC statuses.

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt as _};
use tracing::{debug, error};

/// The first wait suggested to a caller told UNAVAILABLE (RetryInfo);
/// clients back off further on their own.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

use crate::domain::DomainError;

impl From<DomainError> for Status {
    fn from(failure: DomainError) -> Self {
        match failure {
            // The message names the field for people; a BadRequest field
            // violation names it for programs (AIP-193).
            DomainError::InvalidArgument(invalid) => Status::with_error_details(
                tonic::Code::InvalidArgument,
                invalid.to_string(),
                ErrorDetails::with_bad_request_violation(invalid.field, invalid.reason),
            ),
            DomainError::Unauthenticated(why) => Status::unauthenticated(why.to_string()),
            DomainError::PermissionDenied(message) => Status::permission_denied(message),
            DomainError::NotFound(message) => Status::not_found(message),
            DomainError::AlreadyExists(message) => Status::already_exists(message),
            DomainError::FailedPrecondition(message) => Status::failed_precondition(message),
            DomainError::Aborted(message) => Status::aborted(message),
            DomainError::ResourceExhausted {
                message,
                retry_after,
            } => {
                // google.rpc.RetryInfo in the details, for clients that read
                // them; the message says it too, for people.
                let millis = retry_after.as_millis();
                Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    format!("{message} (retry after {millis} ms)"),
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            // Detail goes to the log; callers get no driver text, SQL or
            // paths. At debug: an outage fails every call, and is logged
            // once each way by the database probe instead.
            DomainError::Unavailable(detail) => {
                debug!(%detail, "storage unavailable");
                Status::with_error_details(
                    tonic::Code::Unavailable,
                    "storage is temporarily unavailable; retry with backoff",
                    ErrorDetails::with_retry_info(Some(UNAVAILABLE_RETRY_AFTER)),
                )
            }
            DomainError::Internal(detail) => {
                error!(%detail, "internal error");
                Status::internal("internal error; the server log has the details")
            }
        }
    }
}
