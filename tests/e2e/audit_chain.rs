//! The audit trail's hash chain: `VerifyAuditTrail` and `accesskey audit
//! verify` find an intact trail intact, and name the first event a
//! database writer edited, removed or inserted behind the server's back.

use accesskey_client::{Client, pb};

use crate::harness::{TestServer, on_every_backend, run_cli};

async fn verify(client: &Client) -> pb::VerifyAuditTrailResponse {
    client.verify_audit_trail().await.expect("verify")
}

/// The fault's kind and event, or `None` for an intact trail.
async fn fault(client: &Client) -> Option<(String, i64)> {
    let report = verify(client).await;
    assert_eq!(report.intact, report.fault.is_none(), "{report:?}");
    report.fault.map(|fault| (fault.kind, fault.event_id))
}

async fn every_tampering_is_named_by_the_first_event_it_touched(server: TestServer) {
    for name in ["alpha", "bravo", "charlie"] {
        server.create_user(name, &[]).await;
    }
    // Events 1 and 2 are the bootstrap's; 3 to 5 the creations.
    let report = verify(&server.admin).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(
        (report.events_checked, report.first_id, report.last_id),
        (5, 1, 5)
    );
    let newest = server
        .admin
        .list_audit_events(accesskey_client::AuditQuery::new().page_size(1))
        .await
        .expect("list")
        .events
        .remove(0);
    assert_eq!(report.head_link, newest.link, "the head is the newest link");
    assert_eq!(newest.link.len(), 64);

    // Edited: a username rewritten, then put back.
    server
        .edit_around_the_server("UPDATE audit_events SET target_username = 'mallory' WHERE id = 4")
        .await;
    assert_eq!(fault(&server.admin).await, Some(("edited".to_owned(), 4)));
    let cli = run_cli(&server, &server.admin_key, &["audit", "verify"], None).await;
    assert_eq!(cli.code, 6, "{cli:?}");
    assert!(
        cli.stdout.contains("TAMPERED") && cli.stdout.contains("event 4"),
        "{cli:?}"
    );
    server
        .edit_around_the_server("UPDATE audit_events SET target_username = 'bravo' WHERE id = 4")
        .await;
    assert_eq!(fault(&server.admin).await, None, "put back, intact again");
    let cli = run_cli(&server, &server.admin_key, &["audit", "verify"], None).await;
    assert_eq!(cli.code, 0, "{cli:?}");
    assert!(cli.stdout.contains("intact"), "{cli:?}");

    // Inserted: an event past the newest, the counter moved along with it.
    server
        .edit_around_the_server(
            "INSERT INTO audit_events (id, time, actor_user_id, actor_username, actor_key_id, \
             action, target_user_id, target_username, changes, request_id, peer, \
             previous_link, link) \
             VALUES (6, 1, NULL, '', '', 'user.deleted', 3, 'alpha', '[]', '', '', '', \
             'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff')",
        )
        .await;
    server
        .edit_around_the_server("UPDATE settings SET value = '6' WHERE name = 'audit_sequence'")
        .await;
    assert_eq!(fault(&server.admin).await, Some(("inserted".to_owned(), 6)));
    server
        .edit_around_the_server("DELETE FROM audit_events WHERE id = 6")
        .await;
    server
        .edit_around_the_server("UPDATE settings SET value = '5' WHERE name = 'audit_sequence'")
        .await;
    assert_eq!(fault(&server.admin).await, None);

    // Removed: the newest event, then one in the middle.
    server
        .edit_around_the_server("DELETE FROM audit_events WHERE id = 5")
        .await;
    assert_eq!(
        fault(&server.admin).await,
        Some(("removed_at_end".to_owned(), 5))
    );
    server
        .edit_around_the_server("DELETE FROM audit_events WHERE id = 3")
        .await;
    assert_eq!(fault(&server.admin).await, Some(("removed".to_owned(), 3)));
}

on_every_backend!(every_tampering_is_named_by_the_first_event_it_touched);

/// Verifying reads the whole trail: only `audit.read` may.
#[tokio::test]
async fn verifying_the_trail_needs_audit_read() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key("reader", &["users.read"]).await;
    let refused = server
        .client_with_key(&key)
        .verify_audit_trail()
        .await
        .expect_err("no audit.read");
    assert_eq!(
        refused.code(),
        Some(tonic::Code::PermissionDenied),
        "{refused}"
    );
}
