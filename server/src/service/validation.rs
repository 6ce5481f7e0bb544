//! Request validation exactly as the handlers run it, before any caller
//! check or storage access, behind one entry point: for the fuzz targets
//! (`fuzz/`), which feed it every request message with arbitrary contents.

use accesskey_proto::pb;

use super::convert::{self, ListQuery, UserDeletion, UserUpdate};
use crate::domain::{
    DomainError,
    model::{NewUser, PermissionSet, UserRef},
};

/// Any request message accesskey accepts.
#[derive(Debug, Clone)]
pub enum AnyRequest {
    CreateUser(pb::CreateUserRequest),
    GetUser(pb::GetUserRequest),
    ListUsers(pb::ListUsersRequest),
    /// Boxed: a whole `User` makes it far larger than the others.
    UpdateUser(Box<pb::UpdateUserRequest>),
    DeleteUser(pb::DeleteUserRequest),
    GenerateAccessKey(pb::GenerateAccessKeyRequest),
    RevokeAccessKey(pb::RevokeAccessKeyRequest),
    VerifyAccessKey(pb::VerifyAccessKeyRequest),
}

/// Validates and converts `request` as its handler would; `Err` is what the
/// caller would get (always `InvalidArgument`, naming the field).
pub fn validate_request(request: AnyRequest) -> Result<(), DomainError> {
    match request {
        AnyRequest::CreateUser(request) => NewUser::try_from(request).map(drop),
        AnyRequest::GetUser(request) => UserRef::try_from(request).map(drop),
        AnyRequest::ListUsers(request) => ListQuery::try_from(request).map(drop),
        AnyRequest::UpdateUser(request) => UserUpdate::try_from(*request).map(drop),
        AnyRequest::DeleteUser(request) => UserDeletion::try_from(request).map(drop),
        AnyRequest::RevokeAccessKey(pb::RevokeAccessKeyRequest { user_id }) => {
            convert::user_id("user_id", user_id)
                .map(drop)
                .map_err(Into::into)
        }
        AnyRequest::GenerateAccessKey(pb::GenerateAccessKeyRequest {
            user_id,
            expire_time,
        }) => {
            convert::user_id("user_id", user_id)?;
            convert::timestamp("expire_time", expire_time)?;
            Ok(())
        }
        AnyRequest::VerifyAccessKey(pb::VerifyAccessKeyRequest {
            access_key: _,
            required_permissions,
        }) => PermissionSet::parse("required_permissions", &required_permissions)
            .map(drop)
            .map_err(Into::into),
    }
}
