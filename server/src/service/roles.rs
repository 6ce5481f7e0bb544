//! Conversions between `accesskey.v1`'s role messages and domain values,
//! field by field as in [`super::convert`].

use accesskey_proto::pb;

use super::convert::{page_size_of, to_proto_time, unknown_path, update_paths};
use crate::domain::{
    DomainError, InvalidField,
    model::{
        Etag, NewRole, PermissionSet, Role, RoleFilter, RoleName, RolePatch, parse_role_description,
    },
};

impl TryFrom<pb::CreateRoleRequest> for NewRole {
    type Error = DomainError;

    fn try_from(request: pb::CreateRoleRequest) -> Result<Self, Self::Error> {
        let pb::CreateRoleRequest { role } = request;
        let Some(role) = role else {
            return Err(InvalidField::new("role", "required: the role to create").into());
        };
        // Server-owned fields (etag, times, member_count) are ignored.
        let pb::Role {
            name,
            description,
            permissions,
            etag: _,
            create_time: _,
            update_time: _,
            member_count: _,
        } = role;
        Ok(Self {
            name: RoleName::parse("role.name", &name)?,
            description: parse_role_description("role.description", &description)?,
            permissions: PermissionSet::parse("role.permissions", &permissions)?,
        })
    }
}

/// A validated ListRoles query.
#[derive(Debug)]
pub(super) struct RoleQuery {
    pub(super) page_size: u64,
    pub(super) page_token: String,
    pub(super) filter: RoleFilter,
}

impl TryFrom<pb::ListRolesRequest> for RoleQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListRolesRequest) -> Result<Self, Self::Error> {
        let pb::ListRolesRequest {
            page_size,
            page_token,
            name_prefix,
        } = request;
        let page_size = page_size_of(page_size)?;
        Ok(Self {
            page_size,
            page_token,
            filter: RoleFilter::parse("name_prefix", &name_prefix)?,
        })
    }
}

/// The paths UpdateRole accepts in its `update_mask`.
const UPDATABLE_PATHS: &str = "description, permissions";

/// A validated UpdateRole request.
#[derive(Debug)]
pub(super) struct RoleUpdate {
    pub(super) name: RoleName,
    pub(super) patch: RolePatch,
    pub(super) expected: Option<Etag>,
}

impl TryFrom<pb::UpdateRoleRequest> for RoleUpdate {
    type Error = DomainError;

    fn try_from(request: pb::UpdateRoleRequest) -> Result<Self, Self::Error> {
        let pb::UpdateRoleRequest { role, update_mask } = request;
        let Some(role) = role else {
            return Err(
                InvalidField::new("role", "required: the role to change, by role.name").into(),
            );
        };
        let pb::Role {
            name,
            description,
            permissions,
            etag,
            create_time: _,
            update_time: _,
            member_count: _,
        } = role;
        let name = RoleName::parse("role.name", &name)?;
        let expected = Etag::parse("role.etag", &etag)?;
        let paths = update_paths(update_mask, UPDATABLE_PATHS)?;
        let mut patch = RolePatch::default();
        for path in &paths {
            match path.as_str() {
                "description" => {
                    patch.description =
                        Some(parse_role_description("role.description", &description)?);
                }
                "permissions" => {
                    patch.permissions =
                        Some(PermissionSet::parse("role.permissions", &permissions)?);
                }
                _ => return Err(unknown_path(UPDATABLE_PATHS).into()),
            }
        }
        Ok(Self {
            name,
            patch,
            expected,
        })
    }
}

/// A validated DeleteRole request.
#[derive(Debug)]
pub(super) struct RoleDeletion {
    pub(super) name: RoleName,
    pub(super) expected: Option<Etag>,
    pub(super) force: bool,
}

impl TryFrom<pb::DeleteRoleRequest> for RoleDeletion {
    type Error = DomainError;

    fn try_from(request: pb::DeleteRoleRequest) -> Result<Self, Self::Error> {
        let pb::DeleteRoleRequest { name, etag, force } = request;
        Ok(Self {
            name: RoleName::parse("name", &name)?,
            expected: Etag::parse("etag", &etag)?,
            force,
        })
    }
}

impl From<Role> for pb::Role {
    fn from(role: Role) -> Self {
        let etag = role.etag().as_str().to_owned();
        let Role {
            id: _,
            name,
            description,
            permissions,
            create_time,
            update_time,
            revision: _,
            member_count,
        } = role;
        Self {
            name: name.as_str().to_owned(),
            description,
            permissions: permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            etag,
            create_time: Some(to_proto_time(create_time)),
            update_time: Some(to_proto_time(update_time)),
            member_count: i64::try_from(member_count).unwrap_or(i64::MAX),
        }
    }
}
