//! The authority rules for roles. A role's permissions are granted to every
//! member, so changing a role is changing its members:
//!
//! - Creating, changing or deleting a role needs every service permission
//!   it carries, before and after the change (the power order and the
//!   grant rule, applied to the role instead of one user).
//! - A change never leaves zero administrators (an administrator who holds
//!   its power through the role counts as one), never takes a service
//!   permission from the caller itself, and never makes a member hold more
//!   permissions than a user may.
//! - A role that users hold is deleted only with `force`.

use super::{dropped_service_permissions, ensure_may_grant, lockout, outranking_role};
use crate::domain::{
    Denial, DomainError, Refusal, SelfLockout,
    model::{
        Etag, MemberAfter, NewRole, PermissionSet, Principal, Role, RolePatch, RoleTarget,
        Timestamp, ensure_holdable, is_administrator,
    },
};

/// CreateRole: may `caller` create `new`?
pub(crate) fn check_role_create(caller: &Principal, new: &NewRole) -> Result<(), DomainError> {
    ensure_may_grant(caller, new.permissions.iter())
}

/// UpdateRole: may `caller` apply `patch` to `target`? Returns the role as
/// changed and its members as they become.
pub(crate) fn check_role_update(
    caller: &Principal,
    target: &RoleTarget,
    patch: &RolePatch,
    expected: Option<&Etag>,
    now: Timestamp,
) -> Result<(Role, Vec<MemberAfter>), DomainError> {
    let after = patch.applied_to(&target.role, now);
    ensure_may_change_role(caller, &target.role)?;
    ensure_may_grant(
        caller,
        after.permissions.missing_from(&target.role.permissions),
    )?;
    ensure_role_etag_matches(expected, &target.role)?;
    let members = members_after(caller, target, Some(&after.permissions))?;
    Ok((after, members))
}

/// DeleteRole: may `caller` delete `target` (taking it from its members
/// when `force`)? Returns its members as they become.
pub(crate) fn check_role_delete(
    caller: &Principal,
    target: &RoleTarget,
    expected: Option<&Etag>,
    force: bool,
) -> Result<Vec<MemberAfter>, DomainError> {
    ensure_may_change_role(caller, &target.role)?;
    ensure_role_etag_matches(expected, &target.role)?;
    if !force && !target.members.is_empty() {
        return Err(DomainError::Refused(Refusal::RoleHeld {
            members: target.members.len() as u64,
        }));
    }
    members_after(caller, target, None)
}

/// The power order for a role: the caller holds every service permission
/// it carries.
fn ensure_may_change_role(caller: &Principal, role: &Role) -> Result<(), DomainError> {
    match outranking_role(caller, &role.permissions).next() {
        None => Ok(()),
        Some(permission) => Err(DomainError::PermissionDenied(Denial::RoleOutranksCaller {
            permission: permission.clone(),
        })),
    }
}

fn ensure_role_etag_matches(expected: Option<&Etag>, role: &Role) -> Result<(), DomainError> {
    match expected {
        Some(expected) if *expected != role.etag() => Err(DomainError::StaleRoleEtag),
        _ => Ok(()),
    }
}

/// Every member once the role carries `role_after` (`None`: taken from
/// them), refused if the caller would lose a service permission, a member
/// would hold too many permissions, or no administrator would remain.
fn members_after(
    caller: &Principal,
    target: &RoleTarget,
    role_after: Option<&PermissionSet>,
) -> Result<Vec<MemberAfter>, DomainError> {
    let mut last_administrator = None;
    let mut administrator_remains = target.administrator_outside;
    let mut after = Vec::with_capacity(target.members.len());
    for member in &target.members {
        let user = &member.user;
        let held = member.effective_with(role_after);
        ensure_holdable(&held, Some(user.username.as_str()))?;
        if user.id == caller.user_id {
            let dropped = dropped_service_permissions(&user.effective_permissions, &held);
            if !dropped.is_empty() {
                return Err(lockout(SelfLockout::DropOwnServicePermissions(dropped)));
            }
        }
        let administrator = is_administrator(user.disabled, &user.identity_provider, &held);
        if administrator {
            administrator_remains = true;
        } else if user.is_administrator() {
            last_administrator.get_or_insert(user.username.as_str());
        }
        let holds_roles = role_after.is_some() || user.roles.len() > 1;
        after.push(MemberAfter {
            user_id: user.id,
            effective_permissions: held,
            holds_roles,
            administrator,
        });
    }
    match last_administrator {
        Some(username) if !administrator_remains => Err(DomainError::Refused(
            Refusal::LastAdministratorThroughRole {
                username: username.to_owned(),
            },
        )),
        _ => Ok(after),
    }
}
