//! Roles: named permission sets whose permissions every rule, every
//! verification and the audit trail count exactly as if each member held
//! them directly; and every change to a role counts from the next call.

use accesskey_client::{Client, ListUsers, NewRole, RoleChanges, UserChanges, Verification, pb};
use tonic::Code;

use crate::{
    audit::events_about,
    harness::{TestServer, code, new_user, on_every_backend},
};

/// Whether `key`'s user holds every one of `required`, as a verifier sees it.
pub async fn grants(verifier: &Client, key: &str, required: &[&str]) -> bool {
    match verifier
        .verify(key, required.iter().copied())
        .await
        .expect("verify")
    {
        Verification::Valid(_) => true,
        Verification::PermissionDenied { .. } => false,
        other => panic!("unexpected verdict {other:?}"),
    }
}

async fn a_role_grants_its_permissions_and_lists_its_members(server: TestServer) {
    let admin = &server.admin;
    let role = admin
        .create_role(
            NewRole::new("Deployers")
                .description("Runs deploys")
                .permissions(["orders.read", "deploy.run"]),
        )
        .await
        .expect("create role");
    assert_eq!(role.name, "Deployers");
    assert_eq!(role.permissions, ["deploy.run", "orders.read"], "sorted");
    assert_eq!(role.member_count, 0);
    assert!(!role.etag.is_empty());
    assert_eq!(
        code(admin.create_role(NewRole::new("deployers")).await),
        Code::AlreadyExists,
        "names are unique ignoring case"
    );

    let user = admin
        .create_user(new_user("ci", &["orders.read", "zeta"]).roles(["deployers"]))
        .await
        .expect("create with a role named in another case");
    assert_eq!(user.roles, ["Deployers"]);
    assert_eq!(
        user.permissions,
        ["orders.read", "zeta"],
        "direct ones alone"
    );
    assert_eq!(
        user.effective_permissions,
        ["deploy.run", "orders.read", "zeta"]
    );
    let key = admin
        .generate_access_key(user.id, None)
        .await
        .expect("key")
        .into_key();
    assert!(grants(admin, &key, &["deploy.run", "zeta"]).await);
    let me = server
        .client_with_key(&key)
        .who_am_i()
        .await
        .expect("whoami");
    assert_eq!(me.permissions, user.effective_permissions);

    let read = admin.get_role("DEPLOYERS").await.expect("get role");
    assert_eq!(read.member_count, 1);
    let listed = admin.list_all_roles("dep").await.expect("list roles");
    assert_eq!(listed.len(), 1);
    assert!(admin.list_all_roles("x").await.expect("list").is_empty());

    admin
        .create_user(new_user("other", &["deploy.run"]))
        .await
        .expect("a direct holder");
    let names = |users: Vec<pb::User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let holders = admin
        .list_every_user(ListUsers::new().role("deployers"))
        .await
        .expect("by role");
    assert_eq!(names(holders), ["ci"]);
    let holders = admin
        .list_every_user(ListUsers::new().permission("deploy.run"))
        .await
        .expect("by effective permission");
    assert_eq!(names(holders), ["ci", "other"]);
    let holders = admin
        .list_every_user(ListUsers::new().permission("deploy"))
        .await
        .expect("a prefix of a name is not the name");
    assert!(holders.is_empty());
    assert_eq!(
        code(admin.list_users(ListUsers::new().role("nobody")).await),
        Code::NotFound
    );

    // A role that does not exist creates nothing.
    let missing = admin
        .create_user(new_user("ghost", &[]).roles(["nope"]))
        .await
        .expect_err("unknown role");
    assert_eq!(missing.code(), Some(Code::NotFound));
    assert!(missing.to_string().contains("nope"), "{missing}");
    assert_eq!(
        code(admin.get_user_by_name("ghost").await),
        Code::NotFound,
        "nothing was created"
    );
}

async fn every_role_change_counts_from_the_next_verification(server: TestServer) {
    let admin = &server.admin;
    admin
        .create_role(NewRole::new("writers").permissions(["orders.write"]))
        .await
        .expect("role");
    let user = admin
        .create_user(new_user("svc", &["orders.read"]).roles(["writers"]))
        .await
        .expect("user");
    let key = admin
        .generate_access_key(user.id, None)
        .await
        .expect("key")
        .into_key();
    for _ in 0..3 {
        assert!(grants(admin, &key, &["orders.write"]).await, "warm");
    }

    admin
        .update_role("writers", RoleChanges::new().permissions(["orders.audit"]))
        .await
        .expect("take orders.write from the role");
    assert!(!grants(admin, &key, &["orders.write"]).await);
    assert!(grants(admin, &key, &["orders.audit"]).await);

    admin
        .modify_role("writers", |role| {
            let mut permissions = role.permissions.clone();
            permissions.push("orders.write".to_owned());
            RoleChanges::new().permissions(permissions)
        })
        .await
        .expect("give it back");
    assert!(grants(admin, &key, &["orders.write", "orders.audit"]).await);

    admin
        .update_user(user.id, UserChanges::new().roles(Vec::<String>::new()))
        .await
        .expect("take the role away");
    assert!(!grants(admin, &key, &["orders.write"]).await);
    assert!(
        grants(admin, &key, &["orders.read"]).await,
        "direct ones stay"
    );

    let given = admin
        .update_user(user.id, UserChanges::new().roles(["writers"]))
        .await
        .expect("give the role");
    assert!(grants(admin, &key, &["orders.write"]).await);
    assert_eq!(
        given.effective_permissions,
        ["orders.audit", "orders.read", "orders.write"]
    );

    let refused = admin
        .delete_role("writers", false)
        .await
        .expect_err("members hold it");
    assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
    assert!(
        grants(admin, &key, &["orders.write"]).await,
        "nothing changed"
    );
    let removed = admin.delete_role("writers", true).await.expect("force");
    assert_eq!(removed, ["svc"]);
    assert!(!grants(admin, &key, &["orders.write"]).await);
    let after = admin.get_user(user.id).await.expect("user");
    assert!(after.roles.is_empty());
    assert_eq!(after.effective_permissions, ["orders.read"]);
    assert_eq!(code(admin.get_role("writers").await), Code::NotFound);
}

async fn a_stale_role_etag_changes_nothing(server: TestServer) {
    let admin = &server.admin;
    let role = admin
        .create_role(NewRole::new("readers").permissions(["a"]))
        .await
        .expect("role");
    let user = admin
        .create_user(new_user("member", &[]).roles(["readers"]))
        .await
        .expect("member");
    let changed = admin
        .update_role("readers", RoleChanges::new().description("now"))
        .await
        .expect("change");
    assert_ne!(changed.etag, role.etag);
    let stale = admin
        .update_role(
            "readers",
            RoleChanges::new().permissions(["b"]).if_etag(&role.etag),
        )
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Some(Code::Aborted), "{stale}");
    assert_eq!(
        admin.get_role("readers").await.expect("get").permissions,
        ["a"]
    );

    // A member's etag changes with what it holds: an edit computed from
    // the user as read before the role changed is refused.
    let before = admin.get_user(user.id).await.expect("member");
    admin
        .update_role("readers", RoleChanges::new().permissions(["a", "c"]))
        .await
        .expect("change the role");
    let aborted = admin
        .update_user(
            user.id,
            UserChanges::new()
                .email("x@example.test")
                .if_etag(&before.etag),
        )
        .await
        .expect_err("what the member holds changed");
    assert_eq!(aborted.code(), Some(Code::Aborted));

    // Who holds the role is part of it: a forced delete on the etag read
    // before a user was given the role takes it from nobody unseen.
    let seen = admin.get_role("readers").await.expect("role");
    admin
        .create_user(new_user("newcomer", &[]).roles(["readers"]))
        .await
        .expect("a new member");
    let unseen = admin
        .delete_role_if_unchanged("readers", &seen.etag, true)
        .await
        .expect_err("a member joined since");
    assert_eq!(unseen.code(), Some(Code::Aborted), "{unseen}");
    let current = admin.get_role("readers").await.expect("role");
    assert_eq!(current.member_count, 2);
    let removed = admin
        .delete_role_if_unchanged("readers", &current.etag, true)
        .await
        .expect("the members as read");
    assert_eq!(removed, ["member", "newcomer"]);
}

async fn role_changes_are_audited_in_their_own_transaction(server: TestServer) {
    let admin = &server.admin;
    admin
        .create_role(NewRole::new("ops").description("d").permissions(["x", "y"]))
        .await
        .expect("role");
    let user = admin
        .create_user(new_user("svc", &[]).roles(["ops"]))
        .await
        .expect("user");
    admin
        .update_role("ops", RoleChanges::new().permissions(["y", "z"]))
        .await
        .expect("update");
    admin
        .update_user(user.id, UserChanges::new().roles(Vec::<String>::new()))
        .await
        .expect("take");
    admin
        .update_user(user.id, UserChanges::new().roles(["ops"]))
        .await
        .expect("give");
    admin.delete_role("ops", true).await.expect("delete");

    let events = admin
        .list_audit_events(accesskey_client::AuditQuery::new().action("role.updated"))
        .await
        .expect("events")
        .events;
    let updated = events.first().expect("role.updated");
    assert_eq!(updated.target_role, "ops");
    assert_eq!(updated.target_user_id, 0);
    let change = |event: &pb::AuditEvent, field: &str| {
        event
            .changes
            .iter()
            .find(|change| change.field == field)
            .map(|change| (change.old_value.clone(), change.new_value.clone()))
    };
    assert_eq!(
        change(updated, "permissions_added"),
        Some((None, Some("z".to_owned())))
    );
    assert_eq!(
        change(updated, "permissions_removed"),
        Some((Some("x".to_owned()), None))
    );

    let about_user = events_about(&server, user.id).await;
    let actions: Vec<&str> = about_user.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user.updated", "user.updated", "user.created"]);
    assert_eq!(
        change(&about_user[0], "roles_added"),
        Some((None, Some("ops".to_owned())))
    );
    assert_eq!(
        change(&about_user[1], "roles_removed"),
        Some((Some("ops".to_owned()), None))
    );
    assert_eq!(
        change(&about_user[2], "roles_added"),
        Some((None, Some("ops".to_owned())))
    );

    let deleted = admin
        .list_audit_events(accesskey_client::AuditQuery::new().action("role.deleted"))
        .await
        .expect("events")
        .events;
    let deleted = deleted.first().expect("role.deleted");
    assert_eq!(
        change(deleted, "members"),
        Some((Some("svc".to_owned()), None))
    );
    assert!(admin.verify_audit_trail().await.expect("verify").intact);
}

async fn role_requests_are_validated_field_by_field(server: TestServer) {
    let admin = &server.admin;
    for (role, field) in [
        (NewRole::new("no spaces"), "role.name"),
        (
            NewRole::new("ok").permissions(["Upper"]),
            "role.permissions[0]",
        ),
        (NewRole::new("ok").description("a\nb"), "role.description"),
        (
            NewRole::new("ok").description("é".repeat(257)),
            "role.description",
        ),
    ] {
        let error = admin.create_role(role).await.expect_err("invalid");
        assert_eq!(error.code(), Some(Code::InvalidArgument), "{error}");
        assert!(error.to_string().contains(field), "{error} names {field}");
    }
    let many: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
    let error = admin
        .create_user(new_user("too-many", &[]).roles(many))
        .await
        .expect_err("too many roles");
    assert_eq!(error.code(), Some(Code::InvalidArgument));
    assert!(error.to_string().contains("roles"), "{error}");
    // What roles carry counts toward what a user may hold at most.
    let big: Vec<String> = (0..200).map(|i| format!("p{i:03}")).collect();
    let more: Vec<String> = (100..300).map(|i| format!("p{i:03}")).collect();
    admin
        .create_role(NewRole::new("big").permissions(big))
        .await
        .expect("big role");
    let error = admin
        .create_user(new_user("overfull", &[]).permissions(more).roles(["big"]))
        .await
        .expect_err("300 permissions");
    assert_eq!(error.code(), Some(Code::FailedPrecondition), "{error}");
}

on_every_backend!(
    a_role_grants_its_permissions_and_lists_its_members,
    every_role_change_counts_from_the_next_verification,
    a_stale_role_etag_changes_nothing,
    role_changes_are_audited_in_their_own_transaction,
    role_requests_are_validated_field_by_field,
);
