//! The one mapping from domain errors to gRPC statuses, and the words a
//! caller reads: the domain says what went wrong, this module says it, with
//! the request field at fault first (`user_id: …`).

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt as _};
use tracing::{debug, error};

/// The first wait suggested to a caller told UNAVAILABLE (RetryInfo);
/// clients back off further on their own.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

use crate::domain::{Busy, Denial, DomainError, Missing, Refusal, SelfLockout, model::Permission};
use crate::error_chain::ErrorChain;

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
            DomainError::PermissionDenied(denial) => Status::permission_denied(denied(&denial)),
            DomainError::NotFound(missing) => Status::not_found(not_found(&missing)),
            DomainError::UsernameTaken => Status::already_exists(
                "username: a user with this name (ignoring case) already exists",
            ),
            DomainError::Refused(refusal) => Status::failed_precondition(refused(&refusal)),
            DomainError::StaleEtag { field } => Status::aborted(format!(
                "{field}: the user has changed since this etag was read; read it again and retry"
            )),
            DomainError::ResourceExhausted { what, retry_after } => {
                // google.rpc.RetryInfo in the details, for clients that read
                // them; the message says it too, for people.
                let millis = retry_after.as_millis();
                Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    format!("{} (retry after {millis} ms)", busy(what)),
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            // Detail goes to the log; callers get no driver text, SQL or
            // paths. At debug: an outage fails every call, and is logged
            // once each way by the database probe instead.
            DomainError::Unavailable(cause) => {
                debug!(cause = %ErrorChain(&cause), "storage unavailable");
                Status::with_error_details(
                    tonic::Code::Unavailable,
                    "storage is temporarily unavailable; retry with backoff",
                    ErrorDetails::with_retry_info(Some(UNAVAILABLE_RETRY_AFTER)),
                )
            }
            DomainError::Internal(cause) => {
                error!(cause = %ErrorChain(cause.as_ref()), "internal error");
                Status::internal("internal error; the server log has the details")
            }
        }
    }
}

/// `permissions` as the messages list them: `a, b`.
fn listed(permissions: &[Permission]) -> String {
    let names: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    names.join(", ")
}

fn denied(denial: &Denial) -> String {
    match denial {
        Denial::MissingPermission(permission) => {
            format!("the caller lacks the `{}` permission", permission.as_str())
        }
        Denial::OutranksCaller { field, permission } => format!(
            "{field}: the user holds `{}`, which the caller lacks; acting on another user \
             needs every service permission it holds",
            permission.as_str()
        ),
        Denial::CannotGrant(permissions) => format!(
            "permissions: the caller cannot grant service permissions it does not hold itself ({})",
            listed(permissions)
        ),
    }
}

fn not_found(missing: &Missing) -> String {
    match missing {
        Missing::User { field } => format!("{field}: no such user"),
        Missing::Key => "user_id: the user has no access key".to_owned(),
    }
}

/// The last-administrator rule, as both UpdateUser and DeleteUser word it.
const LAST_ADMINISTRATOR: &str = "this is the last administrator (an enabled, local user \
     holding every service permission); make another user an administrator first";

fn refused(refusal: &Refusal) -> String {
    match refusal {
        Refusal::LastAdministrator { field } => format!("{field}: {LAST_ADMINISTRATOR}"),
        Refusal::SelfLockout(how) => match how {
            SelfLockout::DropOwnServicePermissions(permissions) => format!(
                "permissions: a caller cannot remove service permissions from itself ({}); \
                 ask another admin",
                listed(permissions)
            ),
            SelfLockout::DisableSelf => "disabled: a caller cannot disable its own user".to_owned(),
            SelfLockout::DeleteSelf => "user_id: a caller cannot delete its own user".to_owned(),
            SelfLockout::RevokeOwnKey => {
                "user_id: a caller cannot revoke its own key (generate a new one to rotate it)"
                    .to_owned()
            }
        },
        Refusal::ExternalUserCannotHoldKey { provider } => format!(
            "user_id: users from an external identity provider ({provider}) cannot have an \
             access key"
        ),
        Refusal::DisabledUserCannotGetKey => {
            "user_id: the user is disabled; enable it before issuing a key".to_owned()
        }
        // The host's own commands, never reached over gRPC; worded for
        // completeness.
        Refusal::AlreadyBootstrapped => "the database already has users".to_owned(),
        Refusal::ReissueForDisabledUser => "the user is disabled".to_owned(),
    }
}

fn busy(what: Busy) -> String {
    match what {
        Busy::Argon2Workers => "the server is busy checking other keys; retry shortly".to_owned(),
        Busy::FailedAttempts => "too many failed attempts for this key id; retry later".to_owned(),
        Busy::AuditWatchers => "too many audit streams are open; retry later".to_owned(),
        Busy::AuditWatchersOfUser { most } => format!(
            "this user already has {most} audit streams open, the most one user may; \
             close one first"
        ),
    }
}
