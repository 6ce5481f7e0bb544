//! The authority rules, one predicate at a time.

use std::sync::Arc;

use super::*;
use crate::domain::{
    key_format::AccessKey,
    model::{RoleSet, ServicePermission, Username},
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
        roles: RoleSet::default(),
        effective_permissions: permissions(names),
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
        roles: RoleBook::default(),
    }
}

const ALL: [&str; 5] = [
    "audit.read",
    "keys.issue",
    "keys.verify",
    "users.read",
    "users.write",
];
const NOW: Timestamp = Timestamp::from_micros(1_800_000_000_000_000);

fn denied_naming<T>(result: Result<T, DomainError>, permission: &str) -> bool {
    match result {
        Err(DomainError::PermissionDenied(Denial::OutranksCaller { permission: p, .. })) => {
            p.as_str() == permission
        }
        Err(DomainError::PermissionDenied(Denial::RoleOutranksCaller { permission: p })) => {
            p.as_str() == permission
        }
        Err(DomainError::PermissionDenied(Denial::CannotGrant(granted))) => {
            granted.iter().any(|p| p.as_str() == permission)
        }
        _ => false,
    }
}

#[test]
fn only_service_permissions_rank_users() {
    let issuer = permissions(&["keys.issue", "users.read"]);
    assert_eq!(
        unheld(&issuer, &permissions(&["payments.write"])).next(),
        None
    );
    assert_eq!(
        unheld(&issuer, &permissions(&["keys.issue", "orders.read"])).next(),
        None
    );
    assert_eq!(
        unheld(&issuer, &permissions(&ALL))
            .next()
            .map(Permission::as_str),
        Some("audit.read"),
        "the first missing one, in name order"
    );
}

#[test]
fn the_power_order_names_every_unheld_service_permission_but_never_over_oneself() {
    let writer = caller(2, &["users.read", "users.write"]);
    let held = permissions(&["audit.read", "keys.issue", "orders.read", "users.read"]);
    let names = |unheld: Vec<&Permission>| -> Vec<String> {
        unheld.iter().map(|p| p.as_str().to_owned()).collect()
    };
    assert_eq!(
        names(outranking_user(&writer, 3, &held).collect()),
        ["audit.read", "keys.issue"]
    );
    assert!(
        outranking_user(&writer, 2, &held).next().is_none(),
        "acting on oneself"
    );
    assert_eq!(
        names(outranking_role(&writer, &held).collect()),
        ["audit.read", "keys.issue"],
        "a role has no self to exempt"
    );
    assert!(
        outranking_role(&writer, &permissions(&["users.write", "orders.read"]))
            .next()
            .is_none()
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
        Err(DomainError::StaleEtag { .. })
    ));
    assert!(matches!(
        check_delete(&admin, &target, Some(&stale.etag())),
        Err(DomainError::StaleEtag { .. })
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
            Err(DomainError::Refused(Refusal::LastAdministrator { .. }))
        ));
        assert!(check_update(&admin, &target(other.clone(), false), &patch, None, NOW).is_ok());
    }
    assert!(matches!(
        check_delete(&admin, &target(other.clone(), true), None),
        Err(DomainError::Refused(Refusal::LastAdministrator { .. }))
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
        Err(DomainError::Refused(Refusal::SelfLockout(
            SelfLockout::DisableSelf
        )))
    ));
    assert!(matches!(
        check_update(&me, &myself, &demote, None, NOW),
        Err(DomainError::Refused(Refusal::SelfLockout(
            SelfLockout::DropOwnServicePermissions(_)
        )))
    ));
    assert!(check_update(&me, &myself, &grow, None, NOW).is_ok());
    assert!(matches!(
        check_delete(&me, &myself, None),
        Err(DomainError::Refused(Refusal::SelfLockout(
            SelfLockout::DeleteSelf
        )))
    ));
    assert!(matches!(
        check_key_revocation(&me, &myself.user),
        Err(DomainError::Refused(Refusal::SelfLockout(
            SelfLockout::RevokeOwnKey
        )))
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

mod roles {
    use super::*;
    use crate::domain::model::{Member, Role, RoleName, RolePatch, RoleTarget};

    fn role(names: &[&str]) -> Role {
        Role {
            id: 9,
            name: RoleName::from_stored("ops".to_owned()),
            description: String::new(),
            permissions: permissions(names),
            create_time: NOW,
            update_time: NOW,
            revision: 1,
            member_count: 0,
        }
    }

    /// A member holding `direct` itself and the role.
    fn member(id: i64, direct: &[&str], role_names: &[&str]) -> Member {
        let mut user = user(id, direct);
        user.roles = RoleSet::from_names([RoleName::from_stored("ops".to_owned())]);
        user.effective_permissions = permissions(direct).union(&permissions(role_names));
        Member {
            user,
            other_roles: PermissionSet::default(),
        }
    }

    fn to(names: &[&str]) -> RolePatch {
        RolePatch {
            permissions: Some(permissions(names)),
            ..RolePatch::default()
        }
    }

    #[test]
    fn adding_a_service_permission_to_a_role_needs_it() {
        let manager = caller(2, &["users.read", "users.write"]);
        let target = RoleTarget {
            role: role(&["orders.read"]),
            members: vec![member(3, &[], &["orders.read"])],
            administrator_outside: true,
        };
        assert!(denied_naming(
            check_role_update(&manager, &target, &to(&["keys.issue"]), None, NOW),
            "keys.issue"
        ));
        let (after, members) =
            check_role_update(&manager, &target, &to(&["orders.write"]), None, NOW)
                .expect("application permissions are the manager's to give");
        assert_eq!(after.permissions, permissions(&["orders.write"]));
        assert_eq!(
            members[0].effective_permissions,
            permissions(&["orders.write"])
        );
    }

    #[test]
    fn a_role_carrying_what_the_caller_lacks_is_out_of_reach() {
        let manager = caller(2, &["users.read", "users.write"]);
        let target = RoleTarget {
            role: role(&["keys.issue"]),
            members: Vec::new(),
            administrator_outside: true,
        };
        assert!(denied_naming(
            check_role_delete(&manager, &target, None, true),
            "keys.issue"
        ));
    }

    #[test]
    fn a_role_held_is_deleted_only_with_force_and_never_the_last_administrator() {
        let admin = caller(1, &ALL);
        let target = RoleTarget {
            role: role(&ALL),
            members: vec![member(3, &[], &ALL)],
            administrator_outside: false,
        };
        assert!(matches!(
            check_role_delete(&admin, &target, None, false),
            Err(DomainError::Refused(Refusal::RoleHeld { members: 1 }))
        ));
        assert!(matches!(
            check_role_delete(&admin, &target, None, true),
            Err(DomainError::Refused(
                Refusal::LastAdministratorThroughRole { .. }
            ))
        ));
        let elsewhere = RoleTarget {
            administrator_outside: true,
            ..target
        };
        let members = check_role_delete(&admin, &elsewhere, None, true).expect("another remains");
        assert!(!members[0].holds_roles && !members[0].administrator);
    }

    #[test]
    fn a_member_cannot_take_its_own_service_permissions_through_the_role() {
        let me = caller(3, &ALL);
        let target = RoleTarget {
            role: role(&["audit.read"]),
            members: vec![member(3, &ALL[1..], &["audit.read"])],
            administrator_outside: true,
        };
        assert!(matches!(
            check_role_update(&me, &target, &to(&[]), None, NOW),
            Err(DomainError::Refused(Refusal::SelfLockout(
                SelfLockout::DropOwnServicePermissions(_)
            )))
        ));
    }
}
