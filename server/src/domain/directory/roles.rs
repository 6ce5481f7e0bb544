//! Roles: creating, reading, listing, changing and deleting them. Every
//! change to what a role carries or who holds it counts from the next
//! verification: it rewrites its members' rows in its own transaction, and
//! like every write it makes this process's remembered keys stale.

use tracing::info;

use crate::domain::{
    DomainError, Missing, authority,
    model::{
        AuditAction, Etag, NewAuditEvent, NewRole, Origin, Permission, Principal, Role, RoleFilter,
        RoleName, RolePatch, ServicePermission, Timestamp,
    },
};

use super::{
    Directory,
    paging::{cut_page, page_limit},
};

/// A role's size in a response: an estimate, as for users.
fn response_size(role: &Role) -> usize {
    128 + role.name.as_str().len()
        + role.description.len()
        + role
            .permissions
            .iter()
            .map(|permission| permission.as_str().len() + 3)
            .sum::<usize>()
}

/// One page of roles.
#[derive(Debug, Clone)]
pub struct RolePage {
    pub roles: Vec<Role>,
    pub next_page_token: Option<String>,
}

/// Permission names, comma-separated, for the log.
fn listed<'a>(permissions: impl Iterator<Item = &'a Permission>) -> String {
    permissions
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

impl Directory {
    pub async fn create_role(
        &self,
        caller: &Principal,
        origin: &Origin,
        new: NewRole,
    ) -> Result<Role, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        authority::check_role_create(caller, &new)?;
        let origin = origin.clone();
        let role = self
            .write(move |store| async move {
                store
                    .insert_role(&new, Timestamp::now(), |role| {
                        NewAuditEvent::role_created(&origin, role)
                    })
                    .await
            })
            .await?;
        self.recorded(AuditAction::RoleCreated);
        info!(
            event = "role_created",
            caller = %caller.username.as_str(),
            role = %role.name.as_str(),
            permissions = %listed(role.permissions.iter()),
            "role created"
        );
        Ok(role)
    }

    pub async fn get_role(&self, caller: &Principal, name: &RoleName) -> Result<Role, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        self.store
            .role(name)
            .await?
            .ok_or_else(|| DomainError::NotFound(Missing::Role(name.clone())))
    }

    /// One page of the roles `filter` matches, in creation order.
    pub async fn list_roles(
        &self,
        caller: &Principal,
        page_size: u64,
        page_token: &str,
        filter: &RoleFilter,
    ) -> Result<RolePage, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        let limit = page_limit(page_size);
        let query = filter.canonical();
        let after_id = if page_token.is_empty() {
            0
        } else {
            self.page_tokens.open(page_token, &query)?
        };
        let mut roles = self
            .store
            .list_roles(after_id, filter.folded_prefix(), limit + 1)
            .await?;
        let more = cut_page(&mut roles, limit, response_size);
        let next_page_token = roles
            .last()
            .filter(|_| more)
            .map(|last| self.page_tokens.sign(last.id, &query));
        Ok(RolePage {
            roles,
            next_page_token,
        })
    }

    /// Applies `patch` to the role named `name` and to every member with
    /// it, if the authority rules allow it, checked against the role and
    /// its members inside the transaction that changes them.
    pub async fn update_role(
        &self,
        caller: &Principal,
        origin: &Origin,
        name: RoleName,
        patch: RolePatch,
        expected: Option<Etag>,
    ) -> Result<Role, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let now = Timestamp::now();
        let checker = caller.clone();
        let origin = origin.clone();
        let named = name.clone();
        let (before, updated) = self
            .write(move |store| async move {
                store
                    .update_role_checked(
                        &named,
                        |target| {
                            authority::check_role_update(
                                &checker,
                                target,
                                &patch,
                                expected.as_ref(),
                                now,
                            )
                        },
                        |before, after| NewAuditEvent::role_updated(&origin, before, after),
                    )
                    .await
            })
            .await?
            .ok_or_else(|| DomainError::NotFound(Missing::Role(name.clone())))??;
        self.recorded(AuditAction::RoleUpdated);
        info!(
            event = "role_updated",
            caller = %caller.username.as_str(),
            role = %updated.name.as_str(),
            permissions_added = %listed(updated.permissions.missing_from(&before.permissions)),
            permissions_removed = %listed(before.permissions.missing_from(&updated.permissions)),
            members = updated.member_count,
            "role updated"
        );
        Ok(updated)
    }

    /// Deletes the role named `name` (taking it from its members when
    /// `force`) if the authority rules allow it. Returns the usernames it
    /// was taken from.
    pub async fn delete_role(
        &self,
        caller: &Principal,
        origin: &Origin,
        name: RoleName,
        expected: Option<Etag>,
        force: bool,
    ) -> Result<Vec<String>, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let checker = caller.clone();
        let origin = origin.clone();
        let named = name.clone();
        let deleted = self
            .write(move |store| async move {
                store
                    .delete_role_checked(
                        &named,
                        |target| {
                            authority::check_role_delete(&checker, target, expected.as_ref(), force)
                        },
                        |target| {
                            let members: Vec<&str> = target
                                .members
                                .iter()
                                .map(|member| member.user.username.as_str())
                                .collect();
                            NewAuditEvent::role_deleted(&origin, &target.role, &members)
                        },
                    )
                    .await
            })
            .await?
            .ok_or_else(|| DomainError::NotFound(Missing::Role(name.clone())))??;
        self.recorded(AuditAction::RoleDeleted);
        let members: Vec<String> = deleted
            .members
            .iter()
            .map(|member| member.user.username.as_str().to_owned())
            .collect();
        info!(
            event = "role_deleted",
            caller = %caller.username.as_str(),
            role = %deleted.role.name.as_str(),
            members_removed = members.len(),
            "role deleted"
        );
        Ok(members)
    }
}
