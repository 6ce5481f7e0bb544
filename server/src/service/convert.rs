//! Conversions between `accesskey.v1` messages and domain values. Requests
//! are destructured field by field, so a field added to the contract cannot
//! be ignored silently: it breaks the build here until it is handled.

use accesskey_proto::pb;

use crate::domain::{
    DomainError, InvalidField, Verdict,
    key_format::AccessKey,
    model::{
        Etag, IdentityProvider, KeyInfo, NewUser, Permission, PermissionSet, Principal, RoleName,
        RoleSet, Timestamp, User, UserFilter, UserPatch, UserRef, UserSearch, Username,
        UsernamePrefix, parse_display_name, parse_email,
    },
};

impl TryFrom<pb::CreateUserRequest> for NewUser {
    type Error = DomainError;

    fn try_from(request: pb::CreateUserRequest) -> Result<Self, Self::Error> {
        let pb::CreateUserRequest {
            username,
            email,
            display_name,
            identity_provider,
            permissions,
            roles,
        } = request;
        Ok(Self {
            username: Username::parse("username", &username)?,
            email: parse_email("email", &email)?,
            display_name: parse_display_name("display_name", &display_name)?,
            identity_provider: IdentityProvider::parse("identity_provider", &identity_provider)?,
            permissions: PermissionSet::parse("permissions", &permissions)?,
            roles: RoleSet::parse("roles", &roles)?,
        })
    }
}

impl TryFrom<pb::GetUserRequest> for UserRef {
    type Error = DomainError;

    fn try_from(request: pb::GetUserRequest) -> Result<Self, Self::Error> {
        let pb::GetUserRequest { user } = request;
        match user {
            Some(pb::get_user_request::User::UserId(id)) => Ok(Self::Id(user_id("user_id", id)?)),
            Some(pb::get_user_request::User::Username(name)) => {
                Ok(Self::Username(Username::parse("username", &name)?))
            }
            None => Err(InvalidField::new("user", "set either user_id or username").into()),
        }
    }
}

/// A validated ListUsers query.
#[derive(Debug)]
pub(super) struct ListQuery {
    pub(super) page_size: u64,
    pub(super) page_token: String,
    pub(super) filter: UserFilter,
}

impl TryFrom<pb::ListUsersRequest> for ListQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListUsersRequest) -> Result<Self, Self::Error> {
        let pb::ListUsersRequest {
            page_size,
            page_token,
            username_prefix,
            search,
            role,
            permission,
        } = request;
        let page_size = page_size_of(page_size)?;
        let role = (!role.is_empty())
            .then(|| RoleName::parse("role", &role))
            .transpose()?;
        let permission = (!permission.is_empty())
            .then(|| {
                Permission::parse(&permission)
                    .map_err(|why| InvalidField::new("permission", why.to_string()))
            })
            .transpose()?;
        Ok(Self {
            page_size,
            page_token,
            filter: UserFilter {
                prefix: UsernamePrefix::parse("username_prefix", &username_prefix)?,
                search: UserSearch::parse("search", &search)?,
                role,
                permission,
            },
        })
    }
}

/// The paths UpdateUser accepts in its `update_mask`.
const UPDATABLE_PATHS: &str = "email, display_name, permissions, roles, disabled";

/// A validated UpdateUser request.
#[derive(Debug)]
pub(super) struct UserUpdate {
    pub(super) user_id: i64,
    pub(super) patch: UserPatch,
    /// `user.etag`: apply only to the user as the caller read it.
    pub(super) expected: Option<Etag>,
}

impl TryFrom<pb::UpdateUserRequest> for UserUpdate {
    type Error = DomainError;

    fn try_from(request: pb::UpdateUserRequest) -> Result<Self, Self::Error> {
        let pb::UpdateUserRequest { user, update_mask } = request;
        let Some(user) = user else {
            return Err(
                InvalidField::new("user", "required: the user to change, by user.id").into(),
            );
        };
        // Server-owned and immutable fields (username, identity_provider,
        // times, access_key) are ignored: only masked fields are read, and
        // the etag, which is a precondition whatever the mask names.
        let pb::User {
            id,
            email,
            display_name,
            permissions,
            roles,
            disabled,
            etag,
            username: _,
            identity_provider: _,
            access_key: _,
            create_time: _,
            update_time: _,
            effective_permissions: _,
        } = user;
        let id = user_id("user.id", id)?;
        let expected = Etag::parse("user.etag", &etag)?;
        let paths = update_paths(update_mask, UPDATABLE_PATHS)?;
        let mut patch = UserPatch::default();
        for path in &paths {
            match path.as_str() {
                "email" => patch.email = Some(parse_email("user.email", &email)?),
                "display_name" => {
                    patch.display_name =
                        Some(parse_display_name("user.display_name", &display_name)?);
                }
                "permissions" => {
                    patch.permissions =
                        Some(PermissionSet::parse("user.permissions", &permissions)?);
                }
                "roles" => patch.roles = Some(RoleSet::parse("user.roles", &roles)?),
                "disabled" => patch.disabled = Some(disabled),
                _ => return Err(unknown_path(UPDATABLE_PATHS).into()),
            }
        }
        Ok(Self {
            user_id: id,
            patch,
            expected,
        })
    }
}

/// An update mask's paths, of which there must be at least one;
/// `allowed` lists the ones the call takes, for the error.
pub(super) fn update_paths(
    mask: Option<prost_types::FieldMask>,
    allowed: &str,
) -> Result<Vec<String>, InvalidField> {
    let paths = mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(InvalidField::new(
            "update_mask",
            format!("name at least one field to change: {allowed}"),
        ));
    }
    Ok(paths)
}

/// An update-mask path the call does not take.
pub(super) fn unknown_path(allowed: &str) -> InvalidField {
    InvalidField::new(
        "update_mask",
        format!("unknown or immutable path; allowed: {allowed}"),
    )
}

/// A list call's `page_size`: 0 or more.
pub(super) fn page_size_of(page_size: i32) -> Result<u64, InvalidField> {
    u64::try_from(page_size).map_err(|_| InvalidField::new("page_size", "must not be negative"))
}

/// A user id from a request: ids are positive.
pub(super) fn user_id(field: &str, id: i64) -> Result<i64, InvalidField> {
    if id > 0 {
        Ok(id)
    } else {
        Err(InvalidField::new(field, "required: a positive user id"))
    }
}

/// An optional protobuf timestamp from a request.
pub(super) fn timestamp(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<Timestamp>, InvalidField> {
    value
        .map(|ts| {
            Timestamp::from_parts(ts.seconds, ts.nanos)
                .ok_or_else(|| InvalidField::new(field, "is not a valid timestamp"))
        })
        .transpose()
}

pub(super) fn to_proto_time(time: Timestamp) -> prost_types::Timestamp {
    let (seconds, nanos) = time.to_parts();
    prost_types::Timestamp { seconds, nanos }
}

impl From<KeyInfo> for pb::AccessKeyInfo {
    fn from(info: KeyInfo) -> Self {
        let KeyInfo {
            key_id,
            create_time,
            expire_time,
            last_used_time,
        } = info;
        Self {
            key_id: key_id.as_str().to_owned(),
            create_time: Some(to_proto_time(create_time)),
            expire_time: expire_time.map(to_proto_time),
            last_used_time: last_used_time.map(to_proto_time),
        }
    }
}

impl From<User> for pb::User {
    fn from(user: User) -> Self {
        let user_etag = user.etag();
        let User {
            id,
            username,
            email,
            display_name,
            identity_provider,
            permissions,
            roles,
            effective_permissions,
            disabled,
            access_key,
            create_time,
            update_time,
            revision: _,
        } = user;
        let etag = user_etag.as_str().to_owned();
        Self {
            id,
            username: username.as_str().to_owned(),
            email,
            display_name,
            identity_provider: identity_provider.as_str().to_owned(),
            permissions: permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            disabled,
            access_key: access_key.map(Into::into),
            create_time: Some(to_proto_time(create_time)),
            update_time: Some(to_proto_time(update_time)),
            etag,
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            effective_permissions: effective_permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        }
    }
}

/// A validated DeleteUser request.
#[derive(Debug)]
pub(super) struct UserDeletion {
    pub(super) user_id: i64,
    pub(super) expected: Option<Etag>,
}

impl TryFrom<pb::DeleteUserRequest> for UserDeletion {
    type Error = DomainError;

    fn try_from(request: pb::DeleteUserRequest) -> Result<Self, Self::Error> {
        let pb::DeleteUserRequest { user_id: id, etag } = request;
        Ok(Self {
            user_id: user_id("user_id", id)?,
            expected: Etag::parse("etag", &etag)?,
        })
    }
}

impl From<Principal> for pb::Principal {
    fn from(principal: Principal) -> Self {
        let Principal {
            user_id,
            username,
            permissions,
            key_id,
            expire_time,
        } = principal;
        Self {
            user_id,
            username: username.as_str().to_owned(),
            permissions: permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            key_id: key_id.as_str().to_owned(),
            expire_time: expire_time.map(to_proto_time),
        }
    }
}

impl From<Verdict> for pb::VerifyAccessKeyResponse {
    fn from(verdict: Verdict) -> Self {
        use pb::VerifyResult;
        let (result, principal, missing) = match verdict {
            Verdict::Valid(principal) => (VerifyResult::Valid, Some(principal), Vec::new()),
            Verdict::Malformed(_) => (VerifyResult::Malformed, None, Vec::new()),
            Verdict::NotFound => (VerifyResult::NotFound, None, Vec::new()),
            Verdict::Expired(principal) => (VerifyResult::Expired, Some(principal), Vec::new()),
            Verdict::UserDisabled(principal) => {
                (VerifyResult::UserDisabled, Some(principal), Vec::new())
            }
            Verdict::PermissionDenied { principal, missing } => {
                (VerifyResult::PermissionDenied, Some(principal), missing)
            }
        };
        Self {
            result: result.into(),
            principal: principal.map(Into::into),
            missing_permissions: missing.iter().map(|p| p.as_str().to_owned()).collect(),
        }
    }
}

/// The response that carries a new key: the one place its plaintext leaves.
pub(super) fn generated_key(key: &AccessKey, info: KeyInfo) -> pb::GenerateAccessKeyResponse {
    pb::GenerateAccessKeyResponse {
        access_key: key.expose_plaintext(),
        access_key_info: Some(info.into()),
    }
}
