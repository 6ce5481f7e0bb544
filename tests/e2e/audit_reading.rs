//! Reading the audit trail: it needs `audit.read`, which follows the same
//! grant and power rules as every other permission, and its pages are
//! newest first, filtered as asked, and stable under concurrent writes.

use std::time::{Duration, SystemTime};

use accesskey_client::{AuditQuery, ListUsers, UserChanges};
use tonic::Code;

use crate::harness::{TestServer, code, new_user, on_every_backend};

async fn reading_the_trail_needs_audit_read_which_follows_the_grant_and_power_rules(
    server: TestServer,
) {
    // Every other service permission, but not audit.read.
    let (_, almost_key) = server
        .user_with_key(
            "almost",
            &["keys.issue", "keys.verify", "users.read", "users.write"],
        )
        .await;
    let almost = server.client_with_key(&almost_key);
    let denied = almost
        .list_audit_events(AuditQuery::new())
        .await
        .expect_err("no audit.read");
    assert_eq!(denied.code(), Some(Code::PermissionDenied));
    assert!(denied.to_string().contains("audit.read"), "{denied}");
    let denied = almost
        .watch_audit_events(Some(0))
        .await
        .expect_err("no audit.read");
    assert_eq!(denied.code(), Some(Code::PermissionDenied));

    // It cannot grant audit.read, nor act on a user who holds it.
    let granting = almost
        .create_user(new_user("auditor", &["audit.read"]))
        .await;
    assert_eq!(code(granting), Code::PermissionDenied);
    let auditor = server.create_user("auditor", &["audit.read"]).await;
    let disabling = almost
        .update_user(auditor.id, UserChanges::new().disabled(true))
        .await
        .expect_err("the auditor outranks it");
    assert!(disabling.to_string().contains("audit.read"), "{disabling}");

    // Holding audit.read alone is enough to read.
    let key = server
        .admin
        .generate_access_key(auditor.id, None)
        .await
        .expect("key")
        .into_key();
    let page = server
        .client_with_key(&key)
        .list_audit_events(AuditQuery::new().action("user.created"))
        .await
        .expect("audit.read suffices");
    assert!(
        page.events
            .iter()
            .all(|event| event.action == "user.created")
    );
    assert_eq!(page.events.len(), 3, "admin, almost, auditor");
}

async fn pages_are_newest_first_filtered_and_stable_under_concurrent_writes(server: TestServer) {
    let admin_id = server.admin.who_am_i().await.expect("whoami").user_id;
    for i in 0..7 {
        server.create_user(&format!("u{i}"), &[]).await;
    }
    let created = AuditQuery::new().action("user.created").page_size(3);
    let mut seen = Vec::new();
    let mut query = created.clone();
    let mut pages = 0;
    loop {
        let page = server
            .admin
            .list_audit_events(query.clone())
            .await
            .expect("page");
        seen.extend(page.events.iter().map(|e| e.target_username.clone()));
        pages += 1;
        // Written between pages: newer than every page, so never in one.
        server.create_user(&format!("late{pages}"), &[]).await;
        if page.next_page_token.is_empty() {
            break;
        }
        query = query.page_token(page.next_page_token);
    }
    assert_eq!(seen, ["u6", "u5", "u4", "u3", "u2", "u1", "u0", "admin"]);

    // Filters combine: the actor, an action, a time range.
    let by_admin = server
        .admin
        .list_audit_events(AuditQuery::new().actor(admin_id).action("user.created"))
        .await
        .expect("by actor");
    assert_eq!(by_admin.events.len(), 7 + pages);
    let future = SystemTime::now() + Duration::from_secs(3600);
    let none = server
        .admin
        .list_audit_events(AuditQuery::new().since(future))
        .await
        .expect("future range");
    assert!(none.events.is_empty());

    // A token only continues the query it came from.
    let first = server
        .admin
        .list_audit_events(created.clone())
        .await
        .expect("page");
    let other = AuditQuery::new()
        .action("key.generated")
        .page_token(first.next_page_token.clone());
    let err = server
        .admin
        .list_audit_events(other)
        .await
        .expect_err("other filters");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert!(err.to_string().contains("page_token"), "{err}");
    let users_token = server
        .admin
        .list_users(ListUsers::new().page_size(1))
        .await
        .expect("users")
        .next_page_token;
    let crossed = server
        .admin
        .list_audit_events(AuditQuery::new().page_token(users_token))
        .await
        .expect_err("a ListUsers token");
    assert_eq!(crossed.code(), Some(Code::InvalidArgument));
    let unknown = server
        .admin
        .list_audit_events(AuditQuery::new().action("user.exploded"))
        .await
        .expect_err("no such action");
    assert_eq!(unknown.code(), Some(Code::InvalidArgument));
    assert!(unknown.to_string().contains("action"), "{unknown}");
}

on_every_backend!(
    reading_the_trail_needs_audit_read_which_follows_the_grant_and_power_rules,
    pages_are_newest_first_filtered_and_stable_under_concurrent_writes,
);
