//! The audit trail: every change is recorded with who made it, from where
//! and what changed, in the change's own transaction; failed and refused
//! changes leave nothing. Reading it (`audit.read`, stable pages) is in
//! `audit_reading`.

use std::time::{Duration, SystemTime};

use accesskey_client::{AuditQuery, Client, UserChanges, pb};
use tonic::Code;

use crate::harness::{TestServer, code, new_user, on_every_backend, raw};

/// Every event about `user_id`, newest first.
pub async fn events_about(server: &TestServer, user_id: i64) -> Vec<pb::AuditEvent> {
    server
        .admin
        .list_audit_events(AuditQuery::new().target(user_id).page_size(1000))
        .await
        .expect("list audit events")
        .events
}

/// The id of the newest event (0 if none), read by `reader`.
pub async fn latest_event_id(reader: &Client) -> i64 {
    let page = reader
        .list_audit_events(AuditQuery::new().page_size(1))
        .await
        .expect("list audit events");
    page.events.first().map_or(0, |event| event.id)
}

/// `field`'s (old, new) values in `event`.
fn change<'a>(event: &'a pb::AuditEvent, field: &str) -> (Option<&'a str>, Option<&'a str>) {
    let change = event
        .changes
        .iter()
        .find(|change| change.field == field)
        .unwrap_or_else(|| panic!("no `{field}` change in {event:?}"));
    (change.old_value.as_deref(), change.new_value.as_deref())
}

async fn every_change_is_recorded_with_who_what_and_where(server: TestServer) {
    let admin = server.admin.who_am_i().await.expect("whoami");
    let user = server.create_user("svc", &["orders.read"]).await;
    // A request id the caller chose is recorded as its word, beside the
    // server's own id for the call.
    let mut request = tonic::Request::new(pb::UpdateUserRequest {
        user: Some(pb::User {
            id: user.id,
            permissions: vec!["orders.read".to_owned(), "orders.write".to_owned()],
            disabled: true,
            ..pb::User::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["permissions".to_owned(), "disabled".to_owned()],
        }),
    });
    request
        .metadata_mut()
        .insert("x-request-id", "change-ticket-4711".parse().expect("ASCII"));
    raw(server.admin.user_admin_stub().update_user(request).await).expect("update");
    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(false))
        .await
        .expect("enable again");
    let expiry = SystemTime::now() + Duration::from_secs(86_400);
    let first = server
        .admin
        .generate_access_key(user.id, Some(expiry))
        .await
        .expect("first key");
    let second = server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("second key");
    server
        .admin
        .revoke_access_key(user.id)
        .await
        .expect("revoke");
    server.admin.delete_user(user.id).await.expect("delete");

    let events = events_about(&server, user.id).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.deleted",
            "key.revoked",
            "key.generated",
            "key.generated",
            "user.updated",
            "user.updated",
            "user.created"
        ],
        "newest first"
    );
    assert!(events.windows(2).all(|pair| pair[0].id > pair[1].id));
    for event in &events {
        let actor = event.actor.as_ref().expect("an actor");
        assert!(!actor.host);
        assert_eq!(
            (
                actor.user_id,
                actor.username.as_str(),
                actor.key_id.as_str()
            ),
            (admin.user_id, "admin", admin.key_id.as_str())
        );
        assert_eq!(
            (event.target_user_id, event.target_username.as_str()),
            (user.id, "svc")
        );
        assert!(event.peer.starts_with("127.0.0.1:"), "{}", event.peer);
        assert!(!event.request_id.is_empty(), "a generated request id");
        assert!(event.time.is_some());
    }
    let [
        deleted,
        revoked,
        regenerated,
        generated,
        enabled,
        updated,
        created,
    ] = &events[..]
    else {
        unreachable!("seven events");
    };
    assert_eq!(change(enabled, "disabled"), (Some("true"), Some("false")));
    assert_eq!(change(created, "username"), (None, Some("svc")));
    assert_eq!(change(created, "permissions"), (None, Some("orders.read")));
    assert_eq!(updated.client_request_id, "change-ticket-4711");
    assert_ne!(
        updated.request_id, "change-ticket-4711",
        "never the call's id"
    );
    assert!(
        events
            .iter()
            .filter(|event| event.id != updated.id)
            .all(|event| event.client_request_id.is_empty()),
        "only the call that sent one has a client request id"
    );
    let ids: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|event| event.request_id.as_str())
        .collect();
    assert_eq!(ids.len(), events.len(), "one id per call");
    assert_eq!(
        change(updated, "permissions"),
        (Some("orders.read"), Some("orders.read,orders.write"))
    );
    assert_eq!(change(updated, "disabled"), (Some("false"), Some("true")));
    assert_eq!(updated.changes.len(), 2, "only what changed: {updated:?}");
    assert_eq!(
        change(generated, "key_id"),
        (None, Some(first.info().key_id.as_str()))
    );
    assert!(change(generated, "key_expire_time").1.is_some());
    assert_eq!(
        change(regenerated, "key_id"),
        (
            Some(first.info().key_id.as_str()),
            Some(second.info().key_id.as_str())
        ),
        "the key it replaced"
    );
    assert_eq!(
        change(regenerated, "key_expire_time").1,
        None,
        "never expires"
    );
    assert_eq!(
        change(revoked, "key_id"),
        (Some(second.info().key_id.as_str()), None)
    );
    assert_eq!(change(deleted, "username"), (Some("svc"), None));

    // The bootstrap admin was created and given its key by the host.
    let bootstrap = events_about(&server, admin.user_id).await;
    assert_eq!(bootstrap.len(), 2);
    assert!(bootstrap.iter().all(|event| {
        let actor = event.actor.as_ref().expect("an actor");
        actor.host && actor.username.is_empty() && event.peer.is_empty()
    }));
    assert_eq!(bootstrap[1].action, "user.created");
    assert_eq!(
        change(&bootstrap[0], "key_id").1,
        Some(admin.key_id.as_str())
    );
}

async fn failed_and_refused_changes_leave_no_event(server: TestServer) {
    let user = server.create_user("svc", &[]).await;
    let stale_etag = user.etag.clone();
    server
        .admin
        .update_user(user.id, UserChanges::new().email("svc@example.test"))
        .await
        .expect("a change that makes the first etag stale");
    let (_, weak_key) = server.user_with_key("weak", &["users.write"]).await;
    let weak = server.client_with_key(&weak_key);
    let (_, second_key) = server
        .user_with_key("second", &crate::authority::ALL_SERVICE)
        .await;
    let second = server.client_with_key(&second_key);
    let before = latest_event_id(&second).await;

    // Fails in the database: the name is taken.
    let taken = server.admin.create_user(new_user("SVC", &[])).await;
    assert_eq!(code(taken), Code::AlreadyExists);
    // Refused by the rules: a grant the caller may not make.
    let grant = weak
        .update_user(user.id, UserChanges::new().permissions(["keys.issue"]))
        .await;
    assert_eq!(code(grant), Code::PermissionDenied);
    // Refused by the precondition: a stale etag.
    let stale = server
        .admin
        .update_user(
            user.id,
            UserChanges::new().disabled(true).if_etag(stale_etag),
        )
        .await;
    assert_eq!(code(stale), Code::Aborted);
    // Nothing to do: the user has no key.
    assert_eq!(
        code(server.admin.revoke_access_key(user.id).await),
        Code::NotFound
    );
    assert_eq!(latest_event_id(&second).await, before, "nothing recorded");

    // Refused by the last-administrator rule, once the first admin is gone.
    let admin_id = server.admin.who_am_i().await.expect("whoami").user_id;
    second
        .delete_user(admin_id)
        .await
        .expect("another administrator remains");
    let second_id = second.who_am_i().await.expect("whoami").user_id;
    assert_eq!(
        code(
            second
                .update_user(second_id, UserChanges::new().disabled(true))
                .await
        ),
        Code::FailedPrecondition
    );
    let after: Vec<_> = second
        .list_audit_events(AuditQuery::new().page_size(1000))
        .await
        .expect("list")
        .events
        .into_iter()
        .filter(|event| event.id > before)
        .map(|event| (event.action, event.target_username))
        .collect();
    assert_eq!(
        after,
        [("user.deleted".to_owned(), "admin".to_owned())],
        "only the change that happened"
    );
}

on_every_backend!(
    every_change_is_recorded_with_who_what_and_where,
    failed_and_refused_changes_leave_no_event,
);
