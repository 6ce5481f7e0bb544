//! The authority rules through roles: each test is an attack a partial
//! admin would try with roles, or a way an administrator could lock
//! everyone out, and each must fail exactly as its direct counterpart does.

use accesskey_client::{Client, NewRole, RoleChanges, UserChanges};
use tonic::Code;

use crate::{
    authority::{ALL_SERVICE, admin_id, assert_denied_naming},
    harness::{TestServer, new_user, on_every_backend},
};

/// A user manager: may read and write users, may not issue keys.
async fn partial_admin(server: &TestServer) -> Client {
    let (_, key) = server
        .user_with_key("manager", &["users.read", "users.write"])
        .await;
    server.client_with_key(&key)
}

async fn a_role_cannot_carry_a_service_permission_its_giver_lacks(server: TestServer) {
    let admin = &server.admin;
    admin
        .create_role(NewRole::new("issuers").permissions(["keys.issue"]))
        .await
        .expect("the admin may create it");
    admin
        .create_role(NewRole::new("apps").permissions(["orders.read"]))
        .await
        .expect("an application role");
    let manager = partial_admin(&server).await;

    // Giving a role is granting its permissions.
    assert_denied_naming(
        manager
            .create_user(new_user("sneaky", &[]).roles(["issuers"]))
            .await,
        "keys.issue",
    );
    let plain = manager
        .create_user(new_user("plain", &[]).roles(["apps"]))
        .await
        .expect("an application role is the manager's to give");
    assert_denied_naming(
        manager
            .update_user(plain.id, UserChanges::new().roles(["apps", "issuers"]))
            .await,
        "keys.issue",
    );
    let me = manager.who_am_i().await.expect("whoami").user_id;
    assert_denied_naming(
        manager
            .update_user(me, UserChanges::new().roles(["issuers"]))
            .await,
        "keys.issue",
    );

    // Adding a permission to a role grants it to every member.
    assert_denied_naming(
        manager
            .update_role(
                "apps",
                RoleChanges::new().permissions(["keys.issue", "orders.read"]),
            )
            .await,
        "keys.issue",
    );
    assert_denied_naming(
        manager
            .create_role(NewRole::new("mine").permissions(["keys.verify"]))
            .await,
        "keys.verify",
    );
    // Changing or deleting a role carrying what the caller lacks.
    assert_denied_naming(
        manager
            .update_role("issuers", RoleChanges::new().description("mine now"))
            .await,
        "keys.issue",
    );
    assert_denied_naming(manager.delete_role("issuers", true).await, "keys.issue");

    // A user holding keys.issue only through a role outranks the manager
    // exactly as if it held it directly.
    let issuer = admin
        .create_user(new_user("issuer", &[]).roles(["issuers"]))
        .await
        .expect("the admin gives it");
    assert_denied_naming(
        manager
            .update_user(issuer.id, UserChanges::new().disabled(true))
            .await,
        "keys.issue",
    );
    assert_denied_naming(manager.delete_user(issuer.id).await, "keys.issue");
    assert_denied_naming(
        manager
            .update_user(issuer.id, UserChanges::new().roles(Vec::<String>::new()))
            .await,
        "keys.issue",
    );
    let unchanged = admin.get_user(issuer.id).await.expect("issuer");
    assert_eq!(unchanged.roles, ["issuers"]);
    assert!(!unchanged.disabled);
    assert_eq!(
        admin.get_role("apps").await.expect("apps").permissions,
        ["orders.read"]
    );
}

async fn a_caller_cannot_take_its_own_service_permissions_through_a_role(server: TestServer) {
    let admin = &server.admin;
    admin
        .create_role(NewRole::new("auditors").permissions(["audit.read"]))
        .await
        .expect("role");
    let (user, key) = server.user_with_key("reader", &ALL_SERVICE[1..]).await;
    admin
        .update_user(user.id, UserChanges::new().roles(["auditors"]))
        .await
        .expect("audit.read through the role");
    let me = server.client_with_key(&key);
    for attempt in [
        me.update_role("auditors", RoleChanges::new().permissions(["x"]))
            .await
            .map(drop),
        me.delete_role("auditors", true).await.map(drop),
        me.update_user(user.id, UserChanges::new().roles(Vec::<String>::new()))
            .await
            .map(drop),
    ] {
        let refused = attempt.expect_err("self-lockout");
        assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
        assert!(refused.to_string().contains("audit.read"), "{refused}");
    }
    assert!(
        me.who_am_i()
            .await
            .expect("whoami")
            .permissions
            .contains(&"audit.read".to_owned())
    );
}

/// The last administrator holds its power only through a role: removing
/// a permission from the role, deleting it with force, or taking it away
/// are all refused. One after another, only that administrator itself can
/// try (anyone else able to change the role would be an administrator
/// too), so the self-lockout rule answers first; the last-administrator
/// rule behind it is reached by concurrent changes, in
/// `role_replicas::administrators_through_roles_removing_each_other_across_replicas_leave_one`.
async fn the_last_administrator_through_a_role_remains(server: TestServer) {
    let admin = &server.admin;
    admin
        .create_role(NewRole::new("admins").permissions(ALL_SERVICE))
        .await
        .expect("role");
    let last = admin
        .create_user(new_user("last", &[]).roles(["admins"]))
        .await
        .expect("an administrator through the role");
    let key = admin
        .generate_access_key(last.id, None)
        .await
        .expect("key")
        .into_key();
    let last_client = server.client_with_key(&key);
    let bootstrap = admin_id(&server).await;
    last_client
        .delete_user(bootstrap)
        .await
        .expect("the role's member is now the only administrator");

    for attempt in [
        last_client
            .update_role(
                "admins",
                RoleChanges::new().permissions(ALL_SERVICE[1..].iter().copied()),
            )
            .await
            .map(drop),
        last_client.delete_role("admins", true).await.map(drop),
        last_client
            .update_user(last.id, UserChanges::new().roles(Vec::<String>::new()))
            .await
            .map(drop),
    ] {
        let refused = attempt.expect_err("would leave no administrator");
        assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
    }
    let me = last_client
        .who_am_i()
        .await
        .expect("still an administrator");
    assert_eq!(me.permissions, ALL_SERVICE);
}

on_every_backend!(
    a_role_cannot_carry_a_service_permission_its_giver_lacks,
    a_caller_cannot_take_its_own_service_permissions_through_a_role,
    the_last_administrator_through_a_role_remains,
);
