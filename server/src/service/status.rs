//! The one mapping from domain errors to gRPC statuses, and the words a
//! caller reads: the domain says what went wrong and what it is about (a
//! [`TargetUser`], an [`Invalid`] value), this module says it, with the
//! request field at fault first (`user_id: …`). Only this module and the
//! service's parsers name request fields.

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt as _};
use tracing::{debug, error};

/// The first wait suggested to a caller told UNAVAILABLE (RetryInfo);
/// clients back off further on their own.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

use crate::domain::{
    Busy, Denial, DomainError, Invalid, InvalidField, Missing, Refusal, SelfLockout, TargetUser,
    authority::OWN_KEY_MIN_LIFETIME, model::Permission, page_token::BadPageToken,
};
use crate::error_chain::ErrorChain;

impl From<DomainError> for Status {
    fn from(failure: DomainError) -> Self {
        match failure {
            // The message names the field for people; a BadRequest field
            // violation names it for programs (AIP-193).
            DomainError::InvalidArgument(invalid) => {
                let InvalidField { field, reason } = invalid_field(invalid);
                Status::with_error_details(
                    tonic::Code::InvalidArgument,
                    format!("{field}: {reason}"),
                    ErrorDetails::with_bad_request_violation(field, reason),
                )
            }
            DomainError::Unauthenticated(why) => Status::unauthenticated(why.to_string()),
            DomainError::PermissionDenied(denial) => Status::permission_denied(denied(&denial)),
            DomainError::NotFound(missing) => Status::not_found(not_found(&missing)),
            DomainError::UsernameTaken => Status::already_exists(
                "username: a user with this name (ignoring case) already exists",
            ),
            DomainError::RoleNameTaken => Status::already_exists(
                "role.name: a role with this name (ignoring case) already exists",
            ),
            DomainError::Refused(refusal) => Status::failed_precondition(refused(&refusal)),
            DomainError::StaleEtag { user } => Status::aborted(format!(
                "{}: the user has changed since this etag was read; read it again and retry",
                etag_field(user)
            )),
            DomainError::StaleRoleEtag => Status::aborted(
                "etag: the role has changed since this etag was read; read it again and retry",
            ),
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

/// The request field that holds the id of `user`.
fn id_field(user: TargetUser) -> &'static str {
    match user {
        TargetUser::ById => "user_id",
        TargetUser::Updated => "user.id",
    }
}

/// The request field that holds the etag of `user`.
fn etag_field(user: TargetUser) -> &'static str {
    match user {
        TargetUser::ById => "etag",
        TargetUser::Updated => "user.etag",
    }
}

/// A refused value as a field violation: the field it came in and why.
fn invalid_field(invalid: Invalid) -> InvalidField {
    match invalid {
        Invalid::Field(invalid) => invalid,
        Invalid::ExpiryNotAhead => InvalidField::new("expire_time", "must be in the future"),
        Invalid::OwnKeyExpiresTooSoon => InvalidField::new(
            "expire_time",
            format!(
                "renewing the caller's own key (which ends the key in use) needs an expiry at \
                 least {} minutes ahead, or none",
                OWN_KEY_MIN_LIFETIME.as_secs() / 60
            ),
        ),
        // The token's own words, and for a token of another query the
        // request fields that make a query.
        Invalid::PageToken(why) => InvalidField::new(
            "page_token",
            match why {
                BadPageToken::Forged => why.to_string(),
                BadPageToken::OtherQuery => format!("{why} (username_prefix or filters)"),
            },
        ),
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
        Denial::OutranksCaller { user, permission } => format!(
            "{}: the user holds `{}`, which the caller lacks; acting on another user \
             needs every service permission it holds",
            id_field(*user),
            permission.as_str()
        ),
        Denial::CannotGrant(permissions) => format!(
            "permissions: the caller cannot grant service permissions it does not hold itself, \
             directly or through a role ({})",
            listed(permissions)
        ),
        Denial::RoleOutranksCaller { permission } => format!(
            "role: the role carries `{}`, which the caller lacks; changing or deleting a role \
             needs every service permission it carries",
            permission.as_str()
        ),
    }
}

fn not_found(missing: &Missing) -> String {
    match missing {
        Missing::User(user) => format!("{}: no such user", id_field(*user)),
        Missing::Username => "username: no such user".to_owned(),
        Missing::Key => "user_id: the user has no access key".to_owned(),
        Missing::Role(name) => format!("role: no role is named `{}`", name.as_str()),
    }
}

/// The last-administrator rule, as both UpdateUser and DeleteUser word it.
const LAST_ADMINISTRATOR: &str = "this is the last administrator (an enabled, local user \
     holding every service permission); make another user an administrator first";

fn refused(refusal: &Refusal) -> String {
    match refusal {
        Refusal::LastAdministrator { user } => {
            format!("{}: {LAST_ADMINISTRATOR}", id_field(*user))
        }
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
        Refusal::LastAdministratorThroughRole { username } => format!(
            "role: {username} is the last administrator (an enabled, local user holding every \
             service permission) and holds that power through this role; make another user \
             an administrator first"
        ),
        Refusal::RoleHeld { members } => format!(
            "force: {members} user(s) hold this role; take it from them first, or delete with \
             force to take it from all of them"
        ),
        Refusal::TooManyPermissions { username, held } => format!(
            "permissions: {} would hold {held} permissions, directly and through roles \
             together; a user holds at most {}",
            username.as_deref().unwrap_or("the user"),
            crate::domain::model::MAX_EFFECTIVE_PERMISSIONS
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The status's code, message and (if any) field violation.
    fn said(failure: DomainError) -> (tonic::Code, String, Option<(String, String)>) {
        let status = Status::from(failure);
        let violation = status
            .get_error_details()
            .bad_request()
            .and_then(|bad| bad.field_violations.first().cloned())
            .map(|violation| (violation.field, violation.description));
        (status.code(), status.message().to_owned(), violation)
    }

    fn invalid(field: &str, reason: &str) -> (tonic::Code, String, Option<(String, String)>) {
        (
            tonic::Code::InvalidArgument,
            format!("{field}: {reason}"),
            Some((field.to_owned(), reason.to_owned())),
        )
    }

    #[test]
    fn what_the_domain_refuses_is_named_by_its_request_field() {
        assert_eq!(
            said(Invalid::ExpiryNotAhead.into()),
            invalid("expire_time", "must be in the future")
        );
        assert_eq!(
            said(Invalid::OwnKeyExpiresTooSoon.into()),
            invalid(
                "expire_time",
                "renewing the caller's own key (which ends the key in use) needs an expiry at \
                 least 5 minutes ahead, or none"
            )
        );
        assert_eq!(
            said(Invalid::PageToken(BadPageToken::Forged).into()),
            invalid("page_token", "is not a page token issued by this service")
        );
        assert_eq!(
            said(Invalid::PageToken(BadPageToken::OtherQuery).into()),
            invalid(
                "page_token",
                "was issued for a different query (username_prefix or filters)"
            )
        );
        assert_eq!(
            said(InvalidField::new("user.permissions[2]", "is not valid").into()),
            invalid("user.permissions[2]", "is not valid")
        );
    }

    #[test]
    fn the_target_user_is_named_by_the_field_its_call_names_it_in() {
        let message = |failure| said(failure).1;
        for (user, id, etag) in [
            (TargetUser::ById, "user_id", "etag"),
            (TargetUser::Updated, "user.id", "user.etag"),
        ] {
            assert_eq!(
                message(DomainError::NotFound(Missing::User(user))),
                format!("{id}: no such user")
            );
            assert_eq!(
                message(DomainError::StaleEtag { user }),
                format!(
                    "{etag}: the user has changed since this etag was read; read it again and \
                     retry"
                )
            );
            assert_eq!(
                message(DomainError::Refused(Refusal::LastAdministrator { user })),
                format!("{id}: {LAST_ADMINISTRATOR}")
            );
            let permission = Permission::parse("users.write").expect("a permission");
            assert!(
                message(DomainError::PermissionDenied(Denial::OutranksCaller {
                    user,
                    permission,
                }))
                .starts_with(&format!("{id}: the user holds `users.write`, which")),
            );
        }
        assert_eq!(
            message(DomainError::NotFound(Missing::Username)),
            "username: no such user"
        );
    }
}
