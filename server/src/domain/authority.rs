//! Who may act on whom: the authority rules as small pure predicates.
//!
//! The directory calls them inside the transaction that makes a change,
//! against the row it is about to change (a [`Target`]), so no concurrent
//! call can slip between the check and the write. In order:
//!
//! 1. **Power order.** A caller acts on *another* user only if it holds
//!    every service permission that user holds, before and after the
//!    change. Application permissions do not count.
//! 2. **Grant rule.** A service permission can only be granted by a caller
//!    holding it (on any user, itself included).
//! 3. **Etag.** A change made with a stale etag is refused (ABORTED).
//! 4. **No self-lockout.** A caller cannot delete or disable itself, remove
//!    service permissions from itself, revoke its own key, or renew its own
//!    key with an expiry less than [`OWN_KEY_MIN_LIFETIME`] ahead.
//! 5. **A last administrator.** No change may leave zero administrators
//!    (enabled, local users holding every service permission).
//!
//! What a user holds through its roles counts exactly as what it holds
//! directly: every rule compares *effective* permissions. The rules for
//! changing roles themselves are in [`roles`].

use std::time::Duration;

use super::{
    Denial, DomainError, Invalid, Refusal, SelfLockout, TargetUser,
    model::{
        Etag, IdentityProvider, NewUser, Permission, PermissionSet, Principal, RoleBook, Target,
        Timestamp, User, UserPatch,
    },
};

mod roles;

pub(crate) use roles::{check_role_create, check_role_delete, check_role_update};

/// The least time ahead a caller's own new key may expire, so that renewing
/// it (which kills the key the caller is using) cannot lock the caller out.
pub(crate) const OWN_KEY_MIN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The service permissions of `target` that `caller` lacks, in name order:
/// what makes a user or role holding `target` more powerful than `caller`.
/// The one comparison behind the power order, for users and roles alike.
pub(crate) fn unheld<'a>(
    caller: &'a PermissionSet,
    target: &'a PermissionSet,
) -> impl Iterator<Item = &'a Permission> + 'a {
    target
        .service_permissions()
        .filter(|permission| !caller.contains(permission))
}

/// The power order over users: the service permissions the user
/// `target_id`, holding `held` (its effective permissions), has and
/// `caller` lacks. None when `target_id` is the caller itself (acting on
/// oneself needs no power over oneself) or the caller holds them all: the
/// caller may then act on that user. What the RPCs check, and what the
/// console asks before offering a control.
pub(crate) fn outranking_user<'a>(
    caller: &'a Principal,
    target_id: i64,
    held: &'a PermissionSet,
) -> impl Iterator<Item = &'a Permission> + 'a {
    let own = caller.user_id == target_id;
    unheld(&caller.permissions, held).filter(move |_| !own)
}

/// The power order over roles: the service permissions a role carrying
/// `carried` has and `caller` lacks. None: the caller may change or delete
/// the role, as far as what it carries now goes (what a change adds is the
/// grant rule's).
pub(crate) fn outranking_role<'a>(
    caller: &'a Principal,
    carried: &'a PermissionSet,
) -> impl Iterator<Item = &'a Permission> + 'a {
    unheld(&caller.permissions, carried)
}

/// The power order, for a call on `target` (named as `named` in errors).
pub(crate) fn ensure_may_act_on(
    caller: &Principal,
    target: &User,
    named: TargetUser,
) -> Result<(), DomainError> {
    match outranking_user(caller, target.id, &target.effective_permissions).next() {
        None => Ok(()),
        Some(permission) => Err(DomainError::PermissionDenied(Denial::OutranksCaller {
            user: named,
            permission: permission.clone(),
        })),
    }
}

/// The grant rule: service permissions may only be granted by a caller who
/// holds them.
pub(crate) fn ensure_may_grant<'a>(
    caller: &Principal,
    granted: impl Iterator<Item = &'a Permission>,
) -> Result<(), DomainError> {
    let forbidden: Vec<Permission> = granted
        .filter(|p| p.is_service_permission() && !caller.permissions.contains(p))
        .cloned()
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(Denial::CannotGrant(
            forbidden,
        )))
    }
}

/// A precondition on the user's version, if the caller gave one.
pub(crate) fn ensure_etag_matches(
    expected: Option<&Etag>,
    user: &User,
    named: TargetUser,
) -> Result<(), DomainError> {
    match expected {
        Some(expected) if *expected != user.etag() => Err(DomainError::StaleEtag { user: named }),
        _ => Ok(()),
    }
}

/// Refuses a change that leaves `target`, the only administrator, without
/// being one.
fn ensure_an_administrator_remains(
    target: &Target,
    after: &User,
    named: TargetUser,
) -> Result<(), DomainError> {
    if target.sole_administrator && !after.is_administrator() {
        return Err(DomainError::Refused(Refusal::LastAdministrator {
            user: named,
        }));
    }
    Ok(())
}

/// The service permissions of `before` that `after` lacks.
fn dropped_service_permissions(before: &PermissionSet, after: &PermissionSet) -> Vec<Permission> {
    before
        .service_permissions()
        .filter(|p| !after.contains(p))
        .cloned()
        .collect()
}

/// CreateUser: may `caller` create `new`, given the roles it names as read
/// in `book`? Returns what the new user will hold.
pub(crate) fn check_create(
    caller: &Principal,
    new: &NewUser,
    book: &RoleBook,
) -> Result<PermissionSet, DomainError> {
    let held = new.effective_permissions(book)?;
    ensure_may_grant(caller, held.iter())?;
    Ok(held)
}

/// UpdateUser: may `caller` apply `patch` to `target`? Returns the user as
/// the patch leaves it.
pub(crate) fn check_update(
    caller: &Principal,
    target: &Target,
    patch: &UserPatch,
    expected: Option<&Etag>,
    now: Timestamp,
) -> Result<User, DomainError> {
    let current = &target.user;
    ensure_may_act_on(caller, current, TargetUser::Updated)?;
    let after = patch.applied_to(current, now, &target.roles)?;
    ensure_may_grant(
        caller,
        after
            .effective_permissions
            .missing_from(&current.effective_permissions),
    )?;
    ensure_etag_matches(expected, current, TargetUser::Updated)?;
    if caller.user_id == current.id {
        let dropped = dropped_service_permissions(
            &current.effective_permissions,
            &after.effective_permissions,
        );
        if !dropped.is_empty() {
            return Err(lockout(SelfLockout::DropOwnServicePermissions(dropped)));
        }
        if after.disabled && !current.disabled {
            return Err(lockout(SelfLockout::DisableSelf));
        }
    }
    ensure_an_administrator_remains(target, &after, TargetUser::Updated)?;
    Ok(after)
}

/// DeleteUser: may `caller` delete `target`?
pub(crate) fn check_delete(
    caller: &Principal,
    target: &Target,
    expected: Option<&Etag>,
) -> Result<(), DomainError> {
    let current = &target.user;
    ensure_may_act_on(caller, current, TargetUser::ById)?;
    ensure_etag_matches(expected, current, TargetUser::ById)?;
    if caller.user_id == current.id {
        return Err(lockout(SelfLockout::DeleteSelf));
    }
    if target.sole_administrator {
        return Err(DomainError::Refused(Refusal::LastAdministrator {
            user: TargetUser::ById,
        }));
    }
    Ok(())
}

/// GenerateAccessKey, before anything is read: a caller renewing its own
/// key must not be able to lock itself out with an expiry just ahead.
pub(crate) fn check_own_key_lifetime(
    caller: &Principal,
    user_id: i64,
    expire_time: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), DomainError> {
    let min_micros = i64::try_from(OWN_KEY_MIN_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    let earliest = Timestamp::from_micros(now.as_micros().saturating_add(min_micros));
    if caller.user_id == user_id && expire_time.is_some_and(|expiry| expiry < earliest) {
        return Err(Invalid::OwnKeyExpiresTooSoon.into());
    }
    Ok(())
}

/// Only local users may ever hold a key: an external identity provider's
/// users authenticate there.
pub(crate) fn ensure_local(user: &User) -> Result<(), DomainError> {
    match &user.identity_provider {
        IdentityProvider::Local => Ok(()),
        IdentityProvider::External(provider) => {
            Err(DomainError::Refused(Refusal::ExternalUserCannotHoldKey {
                provider: provider.clone(),
            }))
        }
    }
}

/// Whether `user` may be issued a key now: local and enabled.
pub(crate) fn ensure_may_hold_key(user: &User) -> Result<(), DomainError> {
    ensure_local(user)?;
    if user.disabled {
        return Err(DomainError::Refused(Refusal::DisabledUserCannotGetKey));
    }
    Ok(())
}

/// GenerateAccessKey: may `caller` issue `user` a key?
pub(crate) fn check_key_issue(caller: &Principal, user: &User) -> Result<(), DomainError> {
    ensure_may_act_on(caller, user, TargetUser::ById)?;
    ensure_may_hold_key(user)
}

/// RevokeAccessKey: may `caller` revoke `user`'s key?
pub(crate) fn check_key_revocation(caller: &Principal, user: &User) -> Result<(), DomainError> {
    ensure_may_act_on(caller, user, TargetUser::ById)?;
    if caller.user_id == user.id {
        return Err(lockout(SelfLockout::RevokeOwnKey));
    }
    Ok(())
}

fn lockout(how: SelfLockout) -> DomainError {
    DomainError::Refused(Refusal::SelfLockout(how))
}

#[cfg(test)]
mod tests;
