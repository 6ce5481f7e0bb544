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

use std::time::Duration;

use super::{
    DomainError, InvalidField,
    model::{
        Etag, IdentityProvider, Permission, PermissionSet, Principal, Target, Timestamp, User,
        UserPatch,
    },
};

/// The least time ahead a caller's own new key may expire, so that renewing
/// it (which kills the key the caller is using) cannot lock the caller out.
pub const OWN_KEY_MIN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The first service permission (in name order) of `target` that `caller`
/// lacks: what makes `target` more powerful than `caller`.
pub fn first_unheld<'a>(
    caller: &PermissionSet,
    target: &'a PermissionSet,
) -> Option<&'a Permission> {
    target
        .service_permissions()
        .find(|permission| !caller.contains(permission))
}

/// The power order, for a call on `target` (named by `field` in errors).
/// Acting on oneself needs no power over oneself.
pub fn ensure_may_act_on(
    caller: &Principal,
    target: &User,
    field: &str,
) -> Result<(), DomainError> {
    if caller.user_id == target.id {
        return Ok(());
    }
    match first_unheld(&caller.permissions, &target.permissions) {
        None => Ok(()),
        Some(permission) => Err(DomainError::PermissionDenied(format!(
            "{field}: the user holds `{}`, which the caller lacks; acting on another user \
             needs every service permission it holds",
            permission.as_str()
        ))),
    }
}

/// The grant rule: service permissions may only be granted by a caller who
/// holds them.
pub fn ensure_may_grant<'a>(
    caller: &Principal,
    granted: impl Iterator<Item = &'a Permission>,
) -> Result<(), DomainError> {
    let forbidden: Vec<&str> = granted
        .filter(|p| p.is_service_permission() && !caller.permissions.contains(p))
        .map(Permission::as_str)
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "permissions: the caller cannot grant service permissions it does not hold itself ({})",
            forbidden.join(", ")
        )))
    }
}

/// A precondition on the user's version, if the caller gave one.
pub fn ensure_etag_matches(
    expected: Option<&Etag>,
    user: &User,
    field: &str,
) -> Result<(), DomainError> {
    match expected {
        Some(expected) if *expected != user.etag() => Err(DomainError::Aborted(format!(
            "{field}: the user has changed since this etag was read; read it again and retry"
        ))),
        _ => Ok(()),
    }
}

/// Refuses a change that leaves `target`, the only administrator, without
/// being one.
fn ensure_an_administrator_remains(
    target: &Target,
    after: &User,
    field: &str,
) -> Result<(), DomainError> {
    if target.sole_administrator && !after.is_administrator() {
        return Err(DomainError::FailedPrecondition(format!(
            "{field}: this is the last administrator (an enabled, local user holding every \
             service permission); make another user an administrator first"
        )));
    }
    Ok(())
}

/// UpdateUser: may `caller` apply `patch` to `target`?
pub fn check_update(
    caller: &Principal,
    target: &Target,
    patch: &UserPatch,
    expected: Option<&Etag>,
    now: Timestamp,
) -> Result<(), DomainError> {
    let current = &target.user;
    let after = patch.applied_to(current, now);
    ensure_may_act_on(caller, current, "user.id")?;
    ensure_may_grant(caller, after.permissions.missing_from(&current.permissions))?;
    ensure_etag_matches(expected, current, "user.etag")?;
    if caller.user_id == current.id {
        let dropped: Vec<&str> = current
            .permissions
            .service_permissions()
            .filter(|p| !after.permissions.contains(p))
            .map(Permission::as_str)
            .collect();
        if !dropped.is_empty() {
            return Err(DomainError::FailedPrecondition(format!(
                "permissions: a caller cannot remove service permissions from itself ({}); \
                 ask another admin",
                dropped.join(", ")
            )));
        }
        if after.disabled && !current.disabled {
            return Err(DomainError::FailedPrecondition(
                "disabled: a caller cannot disable its own user".to_owned(),
            ));
        }
    }
    ensure_an_administrator_remains(target, &after, "user.id")
}

/// DeleteUser: may `caller` delete `target`?
pub fn check_delete(
    caller: &Principal,
    target: &Target,
    expected: Option<&Etag>,
) -> Result<(), DomainError> {
    let current = &target.user;
    ensure_may_act_on(caller, current, "user_id")?;
    ensure_etag_matches(expected, current, "etag")?;
    if caller.user_id == current.id {
        return Err(DomainError::FailedPrecondition(
            "user_id: a caller cannot delete its own user".to_owned(),
        ));
    }
    if target.sole_administrator {
        return Err(DomainError::FailedPrecondition(
            "user_id: this is the last administrator (an enabled, local user holding every \
             service permission); make another user an administrator first"
                .to_owned(),
        ));
    }
    Ok(())
}

/// GenerateAccessKey, before anything is read: a caller renewing its own
/// key must not be able to lock itself out with an expiry just ahead.
pub fn check_own_key_lifetime(
    caller: &Principal,
    user_id: i64,
    expire_time: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), DomainError> {
    let min_micros = i64::try_from(OWN_KEY_MIN_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    let earliest = Timestamp::from_micros(now.as_micros().saturating_add(min_micros));
    if caller.user_id == user_id && expire_time.is_some_and(|expiry| expiry < earliest) {
        return Err(InvalidField::new(
            "expire_time",
            "renewing the caller's own key (which ends the key in use) needs an expiry at least \
             5 minutes ahead, or none",
        )
        .into());
    }
    Ok(())
}

/// Only local users may ever hold a key: an external identity provider's
/// users authenticate there.
pub fn ensure_local(user: &User) -> Result<(), DomainError> {
    match &user.identity_provider {
        IdentityProvider::Local => Ok(()),
        IdentityProvider::External(provider) => Err(DomainError::FailedPrecondition(format!(
            "user_id: users from an external identity provider ({provider}) cannot have an access key"
        ))),
    }
}

/// Whether `user` may be issued a key now: local and enabled.
pub fn ensure_may_hold_key(user: &User) -> Result<(), DomainError> {
    ensure_local(user)?;
    if user.disabled {
        return Err(DomainError::FailedPrecondition(
            "user_id: the user is disabled; enable it before issuing a key".to_owned(),
        ));
    }
    Ok(())
}

/// GenerateAccessKey: may `caller` issue `user` a key?
pub fn check_key_issue(caller: &Principal, user: &User) -> Result<(), DomainError> {
    ensure_may_act_on(caller, user, "user_id")?;
    ensure_may_hold_key(user)
}

/// RevokeAccessKey: may `caller` revoke `user`'s key?
pub fn check_key_revocation(caller: &Principal, user: &User) -> Result<(), DomainError> {
    ensure_may_act_on(caller, user, "user_id")?;
    if caller.user_id == user.id {
        return Err(DomainError::FailedPrecondition(
            "user_id: a caller cannot revoke its own key (generate a new one to rotate it)"
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{
        key_format::AccessKey,
        model::{ServicePermission, Username},
    };

    fn permissions(names: &[&str]) -> PermissionSet {
        PermissionSet::parse("permissions", names).expect("valid names")
    }

    fn user(id: i64, names: &[&str]) -> User {
        User {
            id,
            username: Username::from_stored(format!("user{id}")),
            email: String::new(),
            display_name: String::new(),
            identity_provider: IdentityProvider::Local,
            permissions: permissions(names),
            disabled: false,
            access_key: None,
            create_time: Timestamp::from_micros(0),
            update_time: Timestamp::from_micros(0),
            revision: 1,
        }
    }

    fn caller(id: i64, names: &[&str]) -> Principal {
        let key = AccessKey::generate().expect("csprng");
        Principal {
            user_id: id,
            username: Username::from_stored(format!("user{id}")),
            permissions: Arc::new(permissions(names)),
            key_id: key.key_id().clone(),
            expire_time: None,
        }
    }

    fn target(user: User, sole_administrator: bool) -> Target {
        Target {
            user,
            sole_administrator,
        }
    }

    const ALL: [&str; 4] = ["keys.issue", "keys.verify", "users.read", "users.write"];
    const NOW: Timestamp = Timestamp::from_micros(1_800_000_000_000_000);

    fn denied_naming(result: Result<(), DomainError>, permission: &str) -> bool {
        matches!(result, Err(DomainError::PermissionDenied(message)) if message.contains(permission))
    }

    #[test]
    fn only_service_permissions_rank_users() {
        let issuer = permissions(&["keys.issue", "users.read"]);
        assert_eq!(
            first_unheld(&issuer, &permissions(&["payments.write"])),
            None
        );
        assert_eq!(
            first_unheld(&issuer, &permissions(&["keys.issue", "orders.read"])),
            None
        );
        assert_eq!(
            first_unheld(&issuer, &permissions(&ALL)).map(Permission::as_str),
            Some("keys.verify"),
            "the first missing one, in name order"
        );
    }

    #[test]
    fn a_caller_cannot_act_on_a_more_powerful_user_by_any_rpc() {
        let writer = caller(2, &["users.read", "users.write"]);
        let issuer = target(user(3, &["keys.issue"]), false);
        let patch = UserPatch {
            email: Some("x@example.test".to_owned()),
            ..UserPatch::default()
        };
        assert!(denied_naming(
            check_update(&writer, &issuer, &patch, None, NOW),
            "keys.issue"
        ));
        assert!(denied_naming(
            check_delete(&writer, &issuer, None),
            "keys.issue"
        ));
        assert!(denied_naming(
            check_key_issue(&writer, &issuer.user),
            "keys.issue"
        ));
        assert!(denied_naming(
            check_key_revocation(&writer, &issuer.user),
            "keys.issue"
        ));

        // A peer or a weaker user is fair game.
        let peer = target(user(4, &["users.read", "orders.write"]), false);
        assert!(check_update(&writer, &peer, &patch, None, NOW).is_ok());
        assert!(check_delete(&writer, &peer, None).is_ok());
    }

    #[test]
    fn the_after_state_counts_too() {
        let writer = caller(2, &["users.read", "users.write"]);
        let app = target(user(3, &["orders.read"]), false);
        let grant = UserPatch {
            permissions: Some(permissions(&["keys.verify", "orders.read"])),
            ..UserPatch::default()
        };
        assert!(denied_naming(
            check_update(&writer, &app, &grant, None, NOW),
            "keys.verify"
        ));
    }

    #[test]
    fn a_stale_etag_is_aborted_after_the_permission_checks() {
        let admin = caller(1, &ALL);
        let current = user(3, &["orders.read"]);
        let mut stale = current.clone();
        stale.revision -= 1;
        let patch = UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        };
        let target = target(current.clone(), false);
        assert!(matches!(
            check_update(&admin, &target, &patch, Some(&stale.etag()), NOW),
            Err(DomainError::Aborted(_))
        ));
        assert!(matches!(
            check_delete(&admin, &target, Some(&stale.etag())),
            Err(DomainError::Aborted(_))
        ));
        assert!(check_update(&admin, &target, &patch, Some(&current.etag()), NOW).is_ok());
        // Another user's etag at the same revision does not match either.
        assert!(check_delete(&admin, &target, Some(&user(4, &[]).etag())).is_err());
    }

    #[test]
    fn the_last_administrator_remains() {
        let admin = caller(1, &ALL);
        let other = user(2, &ALL);
        for patch in [
            UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            UserPatch {
                permissions: Some(permissions(&["keys.issue", "users.read", "users.write"])),
                ..UserPatch::default()
            },
        ] {
            assert!(matches!(
                check_update(&admin, &target(other.clone(), true), &patch, None, NOW),
                Err(DomainError::FailedPrecondition(_))
            ));
            assert!(check_update(&admin, &target(other.clone(), false), &patch, None, NOW).is_ok());
        }
        assert!(matches!(
            check_delete(&admin, &target(other.clone(), true), None),
            Err(DomainError::FailedPrecondition(_))
        ));
        // Changes that keep it an administrator are fine.
        let rename = UserPatch {
            display_name: Some("Root".to_owned()),
            ..UserPatch::default()
        };
        assert!(check_update(&admin, &target(other, true), &rename, None, NOW).is_ok());
    }

    #[test]
    fn a_caller_cannot_lock_itself_out() {
        let me = caller(1, &ALL);
        let myself = target(user(1, &ALL), false);
        let disable = UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        };
        let demote = UserPatch {
            permissions: Some(permissions(&["users.read"])),
            ..UserPatch::default()
        };
        let grow = UserPatch {
            permissions: Some(permissions(&[&ALL[..], &["orders.read"]].concat())),
            ..UserPatch::default()
        };
        assert!(matches!(
            check_update(&me, &myself, &disable, None, NOW),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(matches!(
            check_update(&me, &myself, &demote, None, NOW),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(check_update(&me, &myself, &grow, None, NOW).is_ok());
        assert!(matches!(
            check_delete(&me, &myself, None),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(matches!(
            check_key_revocation(&me, &myself.user),
            Err(DomainError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn renewing_ones_own_key_needs_five_minutes_of_life() {
        let me = caller(1, &ALL);
        let at = |seconds: i64| {
            Some(Timestamp::from_micros(
                NOW.as_micros() + seconds * 1_000_000,
            ))
        };
        assert!(matches!(
            check_own_key_lifetime(&me, 1, at(299), NOW),
            Err(DomainError::InvalidArgument(_))
        ));
        assert!(check_own_key_lifetime(&me, 1, at(300), NOW).is_ok());
        assert!(check_own_key_lifetime(&me, 1, None, NOW).is_ok());
        assert!(
            check_own_key_lifetime(&me, 2, at(1), NOW).is_ok(),
            "others' keys may be short"
        );
    }

    #[test]
    fn administrators_are_enabled_local_holders_of_every_service_permission() {
        assert!(user(1, &ALL).is_administrator());
        assert!(!user(1, &ALL[..3]).is_administrator());
        let mut disabled = user(1, &ALL);
        disabled.disabled = true;
        assert!(!disabled.is_administrator());
        let mut external = user(1, &ALL);
        external.identity_provider = IdentityProvider::External("okta".to_owned());
        assert!(!external.is_administrator());
        assert_eq!(ServicePermission::ALL.len(), ALL.len());
    }
}
