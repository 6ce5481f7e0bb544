//! Roles (`UserAdmin`'s role RPCs): named permission sets that users hold,
//! and typed requests for them.

use crate::{Client, Error, admin::read_modify_write, pb, retry::Repeat};

/// A role to create. Only the name is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRole {
    name: String,
    description: String,
    permissions: Vec<String>,
}

impl NewRole {
    /// A role named `name` carrying no permissions.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// What it is for, in words.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The permissions it carries.
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn into_request(self) -> pb::CreateRoleRequest {
        let Self {
            name,
            description,
            permissions,
        } = self;
        pb::CreateRoleRequest {
            role: Some(pb::Role {
                name,
                description,
                permissions,
                ..pb::Role::default()
            }),
        }
    }
}

/// Changes to a role: each setter adds its field to the update mask, and
/// fields not set stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChanges {
    description: Option<String>,
    permissions: Option<Vec<String>>,
    etag: Option<String>,
}

impl RoleChanges {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The complete new set of permissions: every member holds them from
    /// the next verification on.
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// Applies the changes only if the role is still as it was when its
    /// `etag` was read; otherwise the call fails with ABORTED and nothing
    /// changes.
    pub fn if_etag(mut self, etag: impl Into<String>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.permissions.is_none()
    }

    pub(crate) fn into_request(self, name: &str) -> pb::UpdateRoleRequest {
        let Self {
            description,
            permissions,
            etag,
        } = self;
        let mut paths = Vec::new();
        let mut role = pb::Role {
            name: name.to_owned(),
            etag: etag.unwrap_or_default(),
            ..pb::Role::default()
        };
        if let Some(description) = description {
            role.description = description;
            paths.push("description".to_owned());
        }
        if let Some(permissions) = permissions {
            role.permissions = permissions;
            paths.push("permissions".to_owned());
        }
        pb::UpdateRoleRequest {
            role: Some(role),
            update_mask: Some(prost_types::FieldMask { paths }),
        }
    }
}

/// Roles (`UserAdmin`).
impl Client {
    /// Creates a role. Needs `users.write` and every service permission it
    /// carries.
    pub async fn create_role(&self, role: NewRole) -> Result<pb::Role, Error> {
        let response = self
            .call_admin(
                Repeat::Once,
                role.into_request(),
                |mut admin, request| async move { admin.create_role(request).await },
            )
            .await?;
        response.role.ok_or(Error::MissingField("role"))
    }

    /// Reads a role by name, ignoring case. Needs `users.read`.
    pub async fn get_role(&self, name: &str) -> Result<pb::Role, Error> {
        let request = pb::GetRoleRequest {
            name: name.to_owned(),
        };
        let response = self
            .call_admin(Repeat::Safe, request, |mut admin, request| async move {
                admin.get_role(request).await
            })
            .await?;
        response.role.ok_or(Error::MissingField("role"))
    }

    /// Lists one page of roles. Needs `users.read`.
    pub async fn list_roles(
        &self,
        request: pb::ListRolesRequest,
    ) -> Result<pb::ListRolesResponse, Error> {
        self.call_admin(Repeat::Safe, request, |mut admin, request| async move {
            admin.list_roles(request).await
        })
        .await
    }

    /// Lists every role whose name starts with `prefix` (all roles when
    /// empty), following page tokens. Needs `users.read`.
    pub async fn list_all_roles(&self, prefix: &str) -> Result<Vec<pb::Role>, Error> {
        let mut roles = Vec::new();
        let mut request = pb::ListRolesRequest {
            page_size: 1000,
            page_token: String::new(),
            name_prefix: prefix.to_owned(),
        };
        loop {
            let page = self.list_roles(request.clone()).await?;
            roles.extend(page.roles);
            if page.next_page_token.is_empty() {
                return Ok(roles);
            }
            request.page_token = page.next_page_token;
        }
    }

    /// Applies `changes` to the role named `name`. Needs `users.write` and
    /// every service permission it carries before and after.
    pub async fn update_role(&self, name: &str, changes: RoleChanges) -> Result<pb::Role, Error> {
        let request = changes.into_request(name);
        let etag = request.role.as_ref().map_or("", |role| role.etag.as_str());
        let repeat = Repeat::guarded_by(etag);
        let response = self
            .call_admin(repeat, request, |mut admin, request| async move {
                admin.update_role(request).await
            })
            .await?;
        response.role.ok_or(Error::MissingField("role"))
    }

    /// Reads the role, applies the changes `edit` computes from what it
    /// read, on condition that the role has not changed since, and retries
    /// from a fresh read when it has (at most [`MODIFY_ATTEMPTS`](crate::MODIFY_ATTEMPTS) times), as
    /// [`modify_user`](Self::modify_user) does for users: how to add one
    /// permission to a role without losing a concurrent edit. Needs
    /// `users.read` and `users.write`.
    pub async fn modify_role(
        &self,
        name: &str,
        edit: impl FnMut(&pb::Role) -> RoleChanges,
    ) -> Result<pb::Role, Error> {
        let current = self.get_role(name).await?;
        read_modify_write(
            current,
            edit,
            RoleChanges::is_empty,
            |role, changes| self.update_role(name, changes.if_etag(role.etag.clone())),
            |_| self.get_role(name),
        )
        .await
    }

    /// Deletes the role named `name`. A role that users hold is deleted
    /// only with `force`, which takes it from all of them in the same
    /// transaction. Returns the usernames it was taken from. Needs
    /// `users.write` and every service permission it carries.
    pub async fn delete_role(&self, name: &str, force: bool) -> Result<Vec<String>, Error> {
        self.delete_role_if_unchanged(name, "", force).await
    }

    /// [`delete_role`](Self::delete_role), only if the role is still as it
    /// was when `etag` was read: its definition and who holds it (with
    /// `force`, it is taken from exactly the members seen then). Otherwise
    /// fails with ABORTED and deletes nothing. An empty etag is no
    /// condition.
    pub async fn delete_role_if_unchanged(
        &self,
        name: &str,
        etag: &str,
        force: bool,
    ) -> Result<Vec<String>, Error> {
        let request = pb::DeleteRoleRequest {
            name: name.to_owned(),
            etag: etag.to_owned(),
            force,
        };
        // Deleting twice leaves no role either way; the second answers
        // NOT_FOUND, which a retry after a lost answer reports.
        let response = self
            .call_admin(Repeat::Once, request, |mut admin, request| async move {
                admin.delete_role(request).await
            })
            .await?;
        Ok(response.removed_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_changes_name_exactly_the_fields_they_set() {
        let request = RoleChanges::new()
            .permissions(["a"])
            .if_etag("role.1.2")
            .into_request("deploy");
        let role = request.role.expect("role");
        assert_eq!(role.name, "deploy");
        assert_eq!(role.etag, "role.1.2");
        assert_eq!(request.update_mask.expect("mask").paths, ["permissions"]);
        assert!(RoleChanges::new().if_etag("x").is_empty());
    }
}
