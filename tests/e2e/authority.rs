//! Who may act on whom: the power order (a caller acts on another user only
//! if it holds every service permission that user holds), permission edits
//! that cannot be lost, and self-rotation that keeps the caller alive (the
//! last administrator: `last_administrator`). Each test is an attack a
//! partial admin (or a hurried operator) would try.

use std::time::{Duration, SystemTime};

use accesskey_client::UserChanges;
use tonic::Code;

use crate::harness::{TestServer, new_user, on_every_backend, run_cli_at};

/// accesskey's own permissions: an administrator holds all of them.
pub const ALL_SERVICE: [&str; 5] = [
    "audit.read",
    "keys.issue",
    "keys.verify",
    "users.read",
    "users.write",
];

/// The bootstrap admin's user id.
pub async fn admin_id(server: &TestServer) -> i64 {
    server.admin.who_am_i().await.expect("whoami").user_id
}

/// Asserts `result` is PERMISSION_DENIED and its message names `permission`.
pub fn assert_denied_naming<T: std::fmt::Debug>(
    result: Result<T, accesskey_client::Error>,
    permission: &str,
) {
    let err = result.expect_err("a less powerful caller must be refused");
    assert_eq!(err.code(), Some(Code::PermissionDenied), "{err}");
    assert!(
        err.to_string().contains(permission),
        "{err} should name {permission}"
    );
}

/// Whether `key` still authenticates.
async fn works(server: &TestServer, key: &str) -> bool {
    server.client_with_key(key).who_am_i().await.is_ok()
}

async fn keys_issue_cannot_take_over_a_more_powerful_user(server: TestServer) {
    let (_, issuer_key) = server
        .user_with_key("issuer", &["users.read", "keys.issue"])
        .await;
    let issuer = server.client_with_key(&issuer_key);
    let (service, service_key) = server
        .user_with_key("orders-service", &["keys.verify"])
        .await;

    // The bootstrap admin: its key stays the only one, and it keeps working.
    let admin = admin_id(&server).await;
    assert_denied_naming(issuer.generate_access_key(admin, None).await, "audit.read");
    assert!(
        works(&server, &server.admin_key).await,
        "the admin's key survived"
    );

    // A service account holding a service permission the issuer lacks.
    assert_denied_naming(
        issuer.generate_access_key(service.id, None).await,
        "keys.verify",
    );
    assert!(works(&server, &service_key).await);
    assert_eq!(
        server
            .admin
            .get_user(service.id)
            .await
            .expect("get")
            .access_key
            .expect("key")
            .key_id,
        server
            .client_with_key(&service_key)
            .who_am_i()
            .await
            .expect("whoami")
            .key_id,
    );

    // Application permissions do not count: an issuer needs no payments.write
    // to issue payments-service its key.
    let payments = server
        .create_user("payments-service", &["payments.write"])
        .await;
    issuer
        .generate_access_key(payments.id, None)
        .await
        .expect("application permissions do not count");
}

async fn keys_issue_cannot_revoke_a_more_powerful_users_key(server: TestServer) {
    let (_, issuer_key) = server.user_with_key("issuer", &["keys.issue"]).await;
    let issuer = server.client_with_key(&issuer_key);
    let admin = admin_id(&server).await;
    assert_denied_naming(issuer.revoke_access_key(admin).await, "audit.read");
    assert!(works(&server, &server.admin_key).await);

    // An equal or weaker user is fair game.
    let (peer, peer_key) = server
        .user_with_key("peer", &["keys.issue", "orders.read"])
        .await;
    issuer
        .revoke_access_key(peer.id)
        .await
        .expect("revoke a peer's key");
    assert!(!works(&server, &peer_key).await);
}

async fn users_write_cannot_disable_delete_demote_or_edit_a_key_issuer(server: TestServer) {
    let (_, writer_key) = server
        .user_with_key("writer", &["users.read", "users.write"])
        .await;
    let writer = server.client_with_key(&writer_key);
    let (issuer, issuer_key) = server
        .user_with_key("issuer", &["keys.issue", "users.read"])
        .await;
    let before = server.admin.get_user(issuer.id).await.expect("get");

    assert_denied_naming(
        writer
            .update_user(issuer.id, UserChanges::new().disabled(true))
            .await,
        "keys.issue",
    );
    assert_denied_naming(
        writer
            .update_user(issuer.id, UserChanges::new().permissions(["users.read"]))
            .await,
        "keys.issue",
    );
    assert_denied_naming(
        writer
            .update_user(issuer.id, UserChanges::new().email("evil@example.test"))
            .await,
        "keys.issue",
    );
    assert_denied_naming(writer.delete_user(issuer.id).await, "keys.issue");
    // And not the full admin either.
    let admin = admin_id(&server).await;
    assert_denied_naming(
        writer
            .update_user(admin, UserChanges::new().disabled(true))
            .await,
        "audit.read",
    );
    assert_denied_naming(writer.delete_user(admin).await, "audit.read");

    // Nothing changed.
    let after = server.admin.get_user(issuer.id).await.expect("still there");
    assert_eq!(
        (
            &after.permissions,
            after.disabled,
            &after.email,
            &after.update_time
        ),
        (
            &before.permissions,
            before.disabled,
            &before.email,
            &before.update_time
        )
    );
    assert!(works(&server, &issuer_key).await);
    assert!(works(&server, &server.admin_key).await);

    // A user holding only what the writer holds, or application
    // permissions, it may change, disable and delete.
    let app = server
        .create_user("app", &["orders.read", "users.read"])
        .await;
    writer
        .update_user(
            app.id,
            UserChanges::new()
                .permissions(["orders.read"])
                .disabled(true),
        )
        .await
        .expect("act on a weaker user");
    writer
        .delete_user(app.id)
        .await
        .expect("delete a weaker user");
}

async fn regenerating_ones_own_key_needs_an_expiry_at_least_five_minutes_ahead(server: TestServer) {
    let me = admin_id(&server).await;
    for too_soon in [
        Duration::from_millis(1),
        Duration::from_secs(60),
        Duration::from_secs(290),
    ] {
        let err = server
            .admin
            .generate_access_key(me, Some(SystemTime::now() + too_soon))
            .await
            .expect_err("the caller would lock itself out");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
        assert!(err.to_string().contains("expire_time: "), "{err}");
        assert!(
            works(&server, &server.admin_key).await,
            "the old key was not replaced"
        );
    }
    let rotated = server
        .admin
        .generate_access_key(me, Some(SystemTime::now() + Duration::from_secs(600)))
        .await
        .expect("ten minutes ahead is fine")
        .into_key();
    assert!(works(&server, &rotated).await);
    assert!(
        !works(&server, &server.admin_key).await,
        "rotation replaced the old key"
    );
    // Another user's key may expire as soon as the admin likes.
    let admin = server.client_with_key(&rotated);
    let user = admin
        .create_user(new_user("short-lived", &[]))
        .await
        .expect("create");
    admin
        .generate_access_key(user.id, Some(SystemTime::now() + Duration::from_secs(2)))
        .await
        .expect("short keys for others");
}

async fn a_stale_etag_is_aborted_and_changes_nothing(server: TestServer) {
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    let read = server.admin.get_user(user.id).await.expect("get");
    assert!(!read.etag.is_empty());

    // Using the key is not a change to the user.
    assert!(server.verdict(&key, ["orders.read"]).await.is_valid());
    assert_eq!(
        server.admin.get_user(user.id).await.expect("get").etag,
        read.etag
    );

    // Another admin's change lands after our read.
    let changed = server
        .admin
        .update_user(
            user.id,
            UserChanges::new().permissions(["orders.read", "orders.write"]),
        )
        .await
        .expect("a concurrent edit");
    assert_ne!(changed.etag, read.etag);

    let stale = UserChanges::new()
        .permissions(["payments.admin"])
        .if_etag(read.etag.clone());
    let err = server
        .admin
        .update_user(user.id, stale)
        .await
        .expect_err("stale");
    assert!(err.is_aborted(), "{err}");
    assert!(err.to_string().contains("user.etag"), "{err}");
    let err = server
        .admin
        .delete_user_if_unchanged(user.id, read.etag.clone())
        .await
        .expect_err("stale");
    assert!(err.is_aborted(), "{err}");
    let now = server
        .admin
        .get_user(user.id)
        .await
        .expect("nothing changed");
    assert_eq!(
        (&now.permissions, &now.etag),
        (&changed.permissions, &changed.etag)
    );

    // A key issued or revoked changes the user too.
    server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("rotate");
    let rotated = server.admin.get_user(user.id).await.expect("get");
    assert_ne!(rotated.etag, changed.etag);
    server
        .admin
        .revoke_access_key(user.id)
        .await
        .expect("revoke");
    let revoked = server.admin.get_user(user.id).await.expect("get");
    assert_ne!(revoked.etag, rotated.etag);

    // Another user's etag never matches; a malformed one is named.
    let other = server.create_user("other", &[]).await;
    let err = server
        .admin
        .update_user(user.id, UserChanges::new().email("").if_etag(other.etag))
        .await
        .expect_err("another user's etag");
    assert!(err.is_aborted(), "{err}");
    let err = server
        .admin
        .delete_user_if_unchanged(user.id, "not an etag")
        .await
        .expect_err("malformed");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    assert!(err.to_string().contains("etag"), "{err}");

    // The current etag works.
    let updated = server
        .admin
        .update_user(
            user.id,
            UserChanges::new()
                .disabled(true)
                .if_etag(revoked.etag.clone()),
        )
        .await
        .expect("current etag");
    server
        .admin
        .delete_user_if_unchanged(user.id, updated.etag)
        .await
        .expect("current etag");
}

async fn concurrent_permission_edits_from_the_cli_are_never_lost(server: TestServer) {
    let target = server
        .create_user("payments-job", &["payments.admin", "orders.read"])
        .await;
    let id = format!("id:{}", target.id);
    let key = server.admin_key.clone();
    // One admin removes payments.admin while others add permissions,
    // each from its own read of the user: nothing may come back, nothing
    // may be lost.
    let mut edits = vec![vec![
        "user".to_owned(),
        "update".to_owned(),
        id.clone(),
        "--remove-permission".to_owned(),
        "payments.admin".to_owned(),
    ]];
    for i in 0..5 {
        edits.push(vec![
            "user".to_owned(),
            "update".to_owned(),
            id.clone(),
            "--add-permission".to_owned(),
            format!("orders.p{i}"),
        ]);
    }
    let runs = edits.into_iter().map(|args| {
        let (endpoint, key) = (server.endpoint(), key.clone());
        tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli_at(&endpoint, &key, &args, None).await
        })
    });
    for run in futures_util::future::join_all(runs).await {
        let run = run.expect("task");
        assert_eq!(run.code, 0, "{run:?}");
    }
    let after = server.admin.get_user(target.id).await.expect("get");
    assert_eq!(
        after.permissions,
        [
            "orders.p0",
            "orders.p1",
            "orders.p2",
            "orders.p3",
            "orders.p4",
            "orders.read"
        ],
        "every edit applied, the removed permission never came back"
    );
}

on_every_backend!(
    keys_issue_cannot_take_over_a_more_powerful_user,
    keys_issue_cannot_revoke_a_more_powerful_users_key,
    users_write_cannot_disable_delete_demote_or_edit_a_key_issuer,
    regenerating_ones_own_key_needs_an_expiry_at_least_five_minutes_ahead,
    a_stale_etag_is_aborted_and_changes_nothing,
    concurrent_permission_edits_from_the_cli_are_never_lost
);
