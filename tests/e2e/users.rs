//! UserAdmin: creating, reading, updating and deleting users, and the rules
//! that keep admins from escalating or locking themselves out.

use accesskey_client::{NewUser, UserChanges, pb};
use tonic::Code;

use crate::harness::{TestServer, code, new_user, on_every_backend, race_create_users, raw};

/// A raw UpdateUser request carrying all of `user` with exactly `paths` in
/// its mask, for what the typed [`UserChanges`] cannot express.
fn update_request(user: pb::User, paths: &[&str]) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user: Some(user),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        }),
    }
}

async fn create_and_get_user_round_trip(server: TestServer) {
    let created = server
        .admin
        .create_user(
            NewUser::new("Svc.Orders")
                .email("orders@example.test")
                .display_name("Orders service 🙂")
                .permissions(["orders.write", "orders.read", "orders.read"]),
        )
        .await
        .expect("create");
    assert!(created.id > 0);
    assert_eq!(created.username, "Svc.Orders");
    assert_eq!(created.display_name, "Orders service 🙂");
    assert_eq!(created.identity_provider, "local");
    assert_eq!(
        created.permissions,
        ["orders.read", "orders.write"],
        "sorted, deduplicated"
    );
    assert!(!created.disabled);
    assert!(created.access_key.is_none());
    assert!(created.create_time.is_some() && created.update_time.is_some());

    assert_eq!(
        server.admin.get_user(created.id).await.expect("by id"),
        created
    );
    assert_eq!(
        server
            .admin
            .get_user_by_name("svc.orders")
            .await
            .expect("by name"),
        created
    );
    assert_eq!(
        server
            .admin
            .get_user_by_name("SVC.ORDERS")
            .await
            .expect("by name"),
        created
    );
}

async fn usernames_are_unique_ignoring_case(server: TestServer) {
    server.create_user("Alice", &[]).await;
    let err = server
        .admin
        .create_user(new_user("alice", &[]))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), Some(Code::AlreadyExists));
    assert!(err.to_string().contains("username"), "{err}");
}

async fn concurrent_creation_of_one_name_in_different_cases_admits_exactly_one(server: TestServer) {
    let names = [
        "Alice", "alice", "ALICE", "aLiCe", "alicE", "ALice", "aliCE", "AlIcE",
    ];
    let created = race_create_users(std::slice::from_ref(&server.admin), &names).await;
    assert_eq!(created, 1);
}

async fn invalid_fields_are_rejected_naming_the_field(server: TestServer) {
    let cases: Vec<(NewUser, &str)> = vec![
        (new_user("", &[]), "username"),
        (new_user("has space", &[]), "username"),
        (new_user(&"a".repeat(65), &[]), "username"),
        (new_user("ok", &["Upper"]), "permissions[0]"),
        (new_user("ok", &["fine", ""]), "permissions[1]"),
        (new_user("ok", &[]).email("no-at-sign"), "email"),
        (
            new_user("ok", &[]).display_name("line\nbreak"),
            "display_name",
        ),
        (
            new_user("ok", &[]).identity_provider("Has Space"),
            "identity_provider",
        ),
    ];
    for (user, field) in cases {
        let err = server.admin.create_user(user).await.expect_err("invalid");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
        assert!(err.to_string().contains(field), "{err} should name {field}");
    }
    let too_many: Vec<String> = (0..257).map(|i| format!("p{i}")).collect();
    let user = new_user("ok", &[]).permissions(too_many);
    assert_eq!(
        code(server.admin.create_user(user).await),
        Code::InvalidArgument
    );
    // Nothing was created by any of them.
    assert!(
        server
            .admin
            .get_user_by_name("ok")
            .await
            .expect_err("absent")
            .is_not_found()
    );
}

async fn unknown_users_are_not_found(server: TestServer) {
    assert_eq!(code(server.admin.get_user(999_999).await), Code::NotFound);
    assert_eq!(
        code(server.admin.get_user_by_name("nobody").await),
        Code::NotFound
    );
    assert_eq!(
        code(server.admin.delete_user(999_999).await),
        Code::NotFound
    );
    assert_eq!(
        code(server.admin.generate_access_key(999_999, None).await),
        Code::NotFound
    );
    assert_eq!(
        code(server.admin.revoke_access_key(999_999).await),
        Code::NotFound
    );
    assert_eq!(
        code(
            server
                .admin
                .update_user(999_999, UserChanges::new().email(""))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(code(server.admin.get_user(0).await), Code::InvalidArgument);
}

async fn update_changes_only_masked_fields_and_ignores_server_owned_ones(server: TestServer) {
    let user = server.create_user("bob", &["a.read"]).await;
    let mut edit = user.clone();
    edit.email = "new@example.test".to_owned();
    edit.display_name = "Not applied".to_owned();
    edit.username = "mallory".to_owned();
    edit.identity_provider = "evil-idp".to_owned();
    edit.permissions = vec!["b.write".to_owned()];
    // Server-owned fields set in the request: only the raw stub can send
    // them, and the server must ignore them.
    let updated = raw(server
        .admin
        .user_admin_stub()
        .update_user(update_request(edit, &["email", "permissions"]))
        .await)
    .expect("update")
    .user
    .expect("the updated user");
    assert_eq!(updated.email, "new@example.test");
    assert_eq!(updated.permissions, ["b.write"]);
    assert_eq!(updated.display_name, user.display_name, "not in the mask");
    assert_eq!(updated.username, "bob", "immutable");
    assert_eq!(updated.identity_provider, "local", "immutable");
    assert_eq!(updated.create_time, user.create_time);

    for bad_mask in [&["username"][..], &["id"], &["access_key"], &[]] {
        let err = raw(server
            .admin
            .user_admin_stub()
            .update_user(update_request(user.clone(), bad_mask))
            .await)
        .expect_err("bad mask");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{bad_mask:?}");
        assert!(err.to_string().contains("update_mask"), "{err}");
    }
}

async fn deleting_a_user_removes_its_key(server: TestServer) {
    let (user, key) = server.user_with_key("gone", &[]).await;
    assert!(server.verdict(&key, Vec::<String>::new()).await.is_valid());
    server.admin.delete_user(user.id).await.expect("delete");
    assert_eq!(
        server.verdict(&key, Vec::<String>::new()).await,
        accesskey_client::Verification::NotFound
    );
    assert!(
        server
            .admin
            .get_user(user.id)
            .await
            .expect_err("deleted")
            .is_not_found()
    );
}

async fn service_permissions_can_only_be_granted_by_holders(server: TestServer) {
    let (_, writer_key) = server
        .user_with_key("writer", &["users.write", "users.read"])
        .await;
    let writer = server.client_with_key(&writer_key);

    // Application permissions: anyone with users.write may grant them.
    let app = writer
        .create_user(new_user("app", &["orders.read"]))
        .await
        .expect("app perms");

    // Service permissions it lacks: refused on create and on update.
    let err = writer
        .create_user(new_user("sneaky", &["keys.issue"]))
        .await
        .expect_err("escalation");
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    assert!(err.to_string().contains("keys.issue"), "{err}");
    let escalate = UserChanges::new().permissions(["orders.read", "keys.verify"]);
    assert_eq!(
        code(writer.update_user(app.id, escalate).await),
        Code::PermissionDenied
    );

    // Ones it holds: allowed.
    writer
        .create_user(new_user("reader", &["users.read"]))
        .await
        .expect("held permission");
}

async fn admins_cannot_lock_themselves_out(server: TestServer) {
    let me = server.admin.who_am_i().await.expect("whoami");
    let myself = server.admin.get_user(me.user_id).await.expect("self");

    assert_eq!(
        code(server.admin.delete_user(me.user_id).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(server.admin.revoke_access_key(me.user_id).await),
        Code::FailedPrecondition
    );
    let disable = UserChanges::new().disabled(true);
    assert_eq!(
        code(server.admin.update_user(me.user_id, disable).await),
        Code::FailedPrecondition
    );
    let demote = UserChanges::new().permissions(["users.read"]);
    assert_eq!(
        code(server.admin.update_user(me.user_id, demote).await),
        Code::FailedPrecondition
    );

    // Still an admin: every refused call left it as it was.
    let after = server.admin.get_user(me.user_id).await.expect("self");
    assert_eq!(after.permissions, myself.permissions);
    assert!(!after.disabled);

    // Adding an application permission to itself is fine.
    let mut grown = myself.permissions.clone();
    grown.push("orders.read".to_owned());
    server
        .admin
        .update_user(me.user_id, UserChanges::new().permissions(grown))
        .await
        .expect("self-grant app permission");
}

on_every_backend!(
    create_and_get_user_round_trip,
    usernames_are_unique_ignoring_case,
    concurrent_creation_of_one_name_in_different_cases_admits_exactly_one,
    invalid_fields_are_rejected_naming_the_field,
    unknown_users_are_not_found,
    update_changes_only_masked_fields_and_ignores_server_owned_ones,
    deleting_a_user_removes_its_key,
    service_permissions_can_only_be_granted_by_holders,
    admins_cannot_lock_themselves_out
);
