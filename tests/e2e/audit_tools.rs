//! Around the audit trail: no secret ever reaches it, no change happens
//! without its event, old events are pruned past their retention, and the
//! CLI lists and watches it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use accesskey_client::{AuditQuery, UserChanges};
use accesskey_server::testing::entity::{access_key, audit_event};
use sea_orm::{Database, EntityTrait as _};
use tokio::io::AsyncBufReadExt as _;
use tonic::Code;

use crate::audit::latest_event_id;
use crate::harness::{Replica, TestServer, eventually, on_every_backend, run_cli};
use crate::secrets::{contains, leak_forms};

/// Canary keys, issued, used, replaced and revoked: neither the events a
/// client reads nor the rows the database holds carry a key, a secret or
/// a hash in any form.
async fn no_key_secret_or_hash_reaches_the_audit_trail(server: TestServer) {
    let mut keys = vec![server.admin_key.clone()];
    let mut hashes = Vec::new();
    let db = Database::connect(&server.database().url)
        .await
        .expect("connect");
    for i in 0..3 {
        let (user, key) = server.user_with_key(&format!("canary{i}"), &[]).await;
        keys.push(key);
        for row in access_key::Entity::find().all(&db).await.expect("keys") {
            hashes.push(row.secret_hash);
        }
        keys.push(
            server
                .admin
                .generate_access_key(user.id, None)
                .await
                .expect("replace")
                .into_key(),
        );
        server
            .admin
            .revoke_access_key(user.id)
            .await
            .expect("revoke");
    }
    let served = format!(
        "{:?}",
        server
            .admin
            .list_audit_events(AuditQuery::new().page_size(1000))
            .await
            .expect("list")
    );
    let stored = format!(
        "{:?}",
        audit_event::Entity::find().all(&db).await.expect("rows")
    );
    let _ = db.close().await;
    assert!(stored.contains("key.revoked"), "the rows were read");
    for key in &keys {
        for (part, form) in leak_forms(key) {
            assert!(
                !contains(&served, &form),
                "a key's {part} in ListAuditEvents"
            );
            assert!(!contains(&stored, &form), "a key's {part} in audit_events");
        }
    }
    for hash in &hashes {
        assert!(!served.contains(hash.as_str()) && !stored.contains(hash.as_str()));
    }
}

/// An event lists what changed and nothing else: a created user's fields
/// that have a value, a key's expiry only when there is one before or
/// after.
async fn events_record_only_fields_that_changed(server: TestServer) {
    let user = server
        .admin
        .create_user(accesskey_client::NewUser::new("bare"))
        .await
        .expect("a user without email or display name");
    server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("a key that never expires");
    server
        .admin
        .update_user(user.id, UserChanges::new().email("bare@example.test"))
        .await
        .expect("an email");
    let events = crate::audit::events_about(&server, user.id).await;
    let fields = |action: &str| -> Vec<(String, Option<String>, Option<String>)> {
        let event = events
            .iter()
            .find(|event| event.action == action)
            .unwrap_or_else(|| panic!("no {action} in {events:?}"));
        event
            .changes
            .iter()
            .map(|c| (c.field.clone(), c.old_value.clone(), c.new_value.clone()))
            .collect()
    };
    let named = |changes: Vec<(String, Option<String>, Option<String>)>| -> Vec<String> {
        changes.into_iter().map(|(field, _, _)| field).collect()
    };
    assert_eq!(
        named(fields("user.created")),
        ["username", "identity_provider", "disabled"]
            .map(str::to_owned)
            .to_vec(),
        "no `email: ∅ → \"\"`"
    );
    assert!(
        fields("user.created")
            .iter()
            .all(|(_, _, new)| new.as_deref().is_some_and(|v| !v.is_empty())),
        "a created field has a value"
    );
    assert_eq!(
        named(fields("key.generated")),
        ["key_id"],
        "no `key_expire_time: ∅ → ∅`"
    );
    assert_eq!(
        fields("user.updated"),
        [(
            "email".to_owned(),
            None,
            Some("bare@example.test".to_owned())
        )],
        "an empty email was no value"
    );
}

on_every_backend!(
    no_key_secret_or_hash_reaches_the_audit_trail,
    events_record_only_fields_that_changed,
);

/// A change whose event cannot be written does not happen: the event is
/// written in the change's transaction. (A trigger refuses the event;
/// SQLite, where a test may add one around the server.)
#[tokio::test]
async fn a_change_whose_event_cannot_be_written_does_not_happen() {
    let server = TestServer::start().await;
    let user = server.create_user("svc", &[]).await;
    server
        .edit_around_the_server(
            "CREATE TRIGGER refuse_deletions BEFORE INSERT ON audit_events \
             WHEN NEW.action = 'user.deleted' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await;
    let before = latest_event_id(&server.admin).await;
    let err = server
        .admin
        .delete_user(user.id)
        .await
        .expect_err("the event cannot be written");
    assert!(
        matches!(err.code(), Some(Code::Internal | Code::Unavailable)),
        "{err}"
    );
    server
        .admin
        .get_user(user.id)
        .await
        .expect("the user is still there");
    assert_eq!(latest_event_id(&server.admin).await, before);
    // Other changes still record and happen.
    server
        .admin
        .update_user(user.id, UserChanges::new().email("new@example.test"))
        .await
        .expect("update");
    assert_eq!(latest_event_id(&server.admin).await, before + 1);
}

/// Events older than `--audit-retention-days` are deleted (at start, then
/// hourly, by the database's clock), oldest ids first; newer ones stay; the
/// prune is itself an event, and the trail that remains verifies intact.
async fn events_past_their_retention_are_pruned_and_the_prune_recorded(server: TestServer) {
    let admin_key = server.admin_key.clone();
    // The bootstrap's two events, made 31 days old (their links no longer
    // match, which does not matter once they are gone); then a new one.
    let ancient = SystemTime::now() - Duration::from_secs(31 * 86_400);
    let micros = ancient
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros();
    server
        .edit_around_the_server(&format!(
            "UPDATE audit_events SET time = {micros} WHERE id <= 2"
        ))
        .await;
    server.create_user("kept", &[]).await;
    let database = server.stop().await;

    let replica =
        Replica::spawn_with(&database.url, "info", &["--audit-retention-days", "30"]).await;
    let admin = replica.client(&admin_key).await;
    let events = eventually(
        Duration::from_secs(10),
        "the ancient events pruned",
        || async {
            let page = admin
                .list_audit_events(AuditQuery::new())
                .await
                .expect("list");
            if page.events.iter().any(|event| event.id <= 2) {
                Err(format!("still there: {:?}", page.events))
            } else {
                Ok(page.events)
            }
        },
    )
    .await;
    let summary: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|e| (e.id, e.action.as_str(), e.target_username.as_str()))
        .collect();
    assert_eq!(
        summary,
        [(4, "audit.pruned", ""), (3, "user.created", "kept")],
        "newest first"
    );
    let pruned = &events[0];
    assert!(pruned.actor.as_ref().is_some_and(|actor| actor.host));
    let change = |field: &str| {
        pruned
            .changes
            .iter()
            .find(|change| change.field == field)
            .and_then(|change| change.old_value.clone())
    };
    assert_eq!(change("events").as_deref(), Some("2"));
    assert_eq!(change("through_id").as_deref(), Some("2"));
    let report = admin.verify_audit_trail().await.expect("verify");
    assert!(report.intact, "{report:?}");
    assert_eq!((report.first_id, report.last_id), (3, 4));
    let output = String::from_utf8_lossy(&replica.output()).into_owned();
    assert!(output.contains("audit_pruned"), "{output}");
}

on_every_backend!(events_past_their_retention_are_pruned_and_the_prune_recorded);

/// `accesskey audit list` filters by user and action and prints JSON;
/// `accesskey audit watch -o json` prints one event per line as it happens.
#[tokio::test]
async fn the_cli_lists_and_watches_the_trail() {
    let server = TestServer::start().await;
    let user = server.create_user("svc", &["orders.read"]).await;
    server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("key");
    server.create_user("other", &[]).await;

    let listed = run_cli(
        &server,
        &server.admin_key,
        &[
            "audit", "list", "--user", "svc", "--since", "1h", "-o", "json",
        ],
        None,
    )
    .await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let events: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    let actions: Vec<&str> = events
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| event["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["key.generated", "user.created"]);
    assert_eq!(events[0]["actor"]["username"], "admin");
    let permissions = events[1]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|change| change["field"] == "permissions")
        .expect("the permissions granted");
    assert_eq!(permissions["new"], "orders.read");

    let table = run_cli(
        &server,
        &server.admin_key,
        &["audit", "list", "--action", "user.created"],
        None,
    )
    .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 4, "{}", table.stdout);
    // People read usernames: the actor's and the user's, ids second.
    let svc_row = table
        .stdout
        .lines()
        .find(|line| line.contains(" svc "))
        .unwrap_or_else(|| panic!("svc's creation by name: {}", table.stdout));
    assert!(svc_row.contains(" admin "), "the actor by name: {svc_row}");
    let bad = run_cli(
        &server,
        &server.admin_key,
        &["audit", "list", "--action", "user.exploded"],
        None,
    )
    .await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("action"), "{}", bad.stderr);

    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskey"))
        .args(["audit", "watch", "-o", "json"])
        .env("ACCESSKEY_ENDPOINT", server.endpoint())
        .env("ACCESSKEY_KEY", &server.admin_key)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run accesskey audit watch");
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().expect("stdout")).lines();
    // Users are created until the watcher, which starts with new events
    // once it has connected, prints one.
    let mut line = None;
    for attempt in 0..20 {
        server.create_user(&format!("watched{attempt}"), &[]).await;
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await
        {
            line = read.expect("read stdout");
            break;
        }
    }
    let line = line.expect("the watcher prints an event");
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(event["action"], "user.created");
    let _ = watch.kill().await;
}
