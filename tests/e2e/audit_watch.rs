//! WatchAuditEvents: new events as they are recorded, on this replica and
//! on others, resumed after a reconnect without gaps or duplicates, and
//! ended when the caller's key is revoked or the server shuts down.

use std::time::Duration;

use accesskey_client::{AuditWatch, Client, pb};
use accesskey_server::Config;
use tonic::Code;

use crate::harness::{
    Backend, Replica, TestDatabase, TestServer, bootstrap, new_user, on_every_backend,
};

/// How long an event may take to reach a watcher: other replicas' events
/// are polled every second.
const DELIVERY: Duration = Duration::from_secs(10);

async fn next(watch: &mut AuditWatch) -> pb::AuditEvent {
    tokio::time::timeout(DELIVERY, watch.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
}

/// The created usernames of the next `count` events, which must all be
/// user creations.
async fn created(watch: &mut AuditWatch, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..count {
        let event = next(watch).await;
        assert_eq!(event.action, "user.created");
        names.push(event.target_username);
    }
    names
}

async fn create(client: &Client, name: &str) {
    client
        .create_user(new_user(name, &[]))
        .await
        .expect("create user");
}

async fn a_watcher_sees_new_events_in_order_and_resumes_without_gaps_or_repeats(
    server: TestServer,
) {
    let mut watch = server.admin.watch_audit_events(None).await.expect("watch");
    let opened = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
    assert!(opened.is_err(), "only events from now on: {opened:?}");
    create(&server.admin, "first").await;
    create(&server.admin, "second").await;
    assert_eq!(created(&mut watch, 2).await, ["first", "second"]);
    let last = watch.last_id();
    drop(watch);

    // Written while nobody watched, then read from where the watcher was.
    create(&server.admin, "third").await;
    create(&server.admin, "fourth").await;
    let mut resumed = server
        .admin
        .watch_audit_events(Some(last))
        .await
        .expect("resume");
    assert_eq!(created(&mut resumed, 2).await, ["third", "fourth"]);
    create(&server.admin, "fifth").await;
    assert_eq!(created(&mut resumed, 1).await, ["fifth"]);

    // From 0: everything kept, the bootstrap first.
    let mut everything = server
        .admin
        .watch_audit_events(Some(0))
        .await
        .expect("watch");
    let first = next(&mut everything).await;
    assert_eq!(
        (first.action.as_str(), first.target_username.as_str()),
        ("user.created", "admin")
    );
    assert!(first.actor.expect("actor").host);
}

async fn revoking_the_watchers_key_ends_its_stream(server: TestServer) {
    let (auditor, key) = server.user_with_key("siem", &["audit.read"]).await;
    let mut watch = server
        .client_with_key(&key)
        .watch_audit_events(None)
        .await
        .expect("watch");
    create(&server.admin, "before-revoke").await;
    assert_eq!(created(&mut watch, 1).await, ["before-revoke"]);
    server
        .admin
        .revoke_access_key(auditor.id)
        .await
        .expect("revoke");
    // The revocation is itself an event: the watcher is checked again
    // before it may read it.
    let ended = tokio::time::timeout(DELIVERY, watch.next())
        .await
        .expect("the stream ends in time")
        .expect_err("the key was revoked");
    assert_eq!(ended.code(), Some(Code::Unauthenticated), "{ended}");
}

on_every_backend!(
    a_watcher_sees_new_events_in_order_and_resumes_without_gaps_or_repeats,
    revoking_the_watchers_key_ends_its_stream,
);

/// A watch never holds a shutdown up: its stream ends with UNAVAILABLE,
/// which tells the watcher to resume elsewhere.
#[tokio::test]
async fn shutting_down_ends_open_watches_promptly() {
    let server = TestServer::start().await;
    let mut stub = server.admin.user_admin_stub();
    let mut stream = stub
        .watch_audit_events(pb::WatchAuditEventsRequest { after_id: None })
        .await
        .expect("watch")
        .into_inner();
    let stopping = tokio::spawn(server.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream ends in time");
    let status = ended.expect_err("ended by the server");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(status.message().contains("after_id"), "{status}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops in time")
        .expect("server task");
}

/// Replicas share the trail: a change made through replica A reaches a
/// watcher on replica B, and a watcher resuming on B after A's shutdown
/// misses nothing.
async fn a_change_on_one_replica_reaches_a_watcher_on_another(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    let (mut a, b) = tokio::join!(Replica::spawn(&database.url), Replica::spawn(&database.url));
    let on_a = a.client(&admin_key).await;
    let on_b = b.client(&admin_key).await;

    let mut watch_a = on_a.watch_audit_events(None).await.expect("watch A");
    let mut watch_b = on_b.watch_audit_events(None).await.expect("watch B");
    create(&on_a, "made-on-a").await;
    create(&on_b, "made-on-b").await;
    assert_eq!(created(&mut watch_b, 2).await, ["made-on-a", "made-on-b"]);
    assert_eq!(created(&mut watch_a, 2).await, ["made-on-a", "made-on-b"]);

    // Concurrent writes on both replicas: the watcher gets every event,
    // once, in id order, though ids are taken by racing transactions.
    let before = watch_b.last_id();
    let names: Vec<String> = (0..40).map(|i| format!("raced{i}")).collect();
    let writes: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let client = if i % 2 == 0 {
                on_a.clone()
            } else {
                on_b.clone()
            };
            let name = name.clone();
            tokio::spawn(async move { create(&client, &name).await })
        })
        .collect();
    for write in writes {
        write.await.expect("writer");
    }
    let mut watched = Vec::new();
    for _ in 0..names.len() {
        watched.push(next(&mut watch_b).await);
    }
    let ids: Vec<i64> = watched.iter().map(|event| event.id).collect();
    assert_eq!(
        ids,
        ((before + 1)..=(before + 40)).collect::<Vec<_>>(),
        "every id once, in order, none skipped"
    );
    let mut seen: Vec<String> = watched.into_iter().map(|e| e.target_username).collect();
    seen.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(seen, expected);
    for _ in 0..names.len() {
        next(&mut watch_a).await;
    }
    // Events written by racing transactions on two replicas still form
    // one unbroken chain (each links to the one committed before it).
    let report = on_b.verify_audit_trail().await.expect("verify");
    assert!(report.intact, "{report:?}");

    // A shuts down: its watcher resumes on B from its last event.
    let last = watch_a.last_id();
    a.terminate().await;
    create(&on_b, "while-a-was-down").await;
    let mut resumed = on_b.watch_audit_events(Some(last)).await.expect("resume");
    assert_eq!(created(&mut resumed, 1).await, ["while-a-was-down"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_reaches_a_watcher_on_another_postgres() {
    a_change_on_one_replica_reaches_a_watcher_on_another(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_reaches_a_watcher_on_another_mysql() {
    a_change_on_one_replica_reaches_a_watcher_on_another(Backend::Mysql).await;
}

/// Opens a raw audit stream as `client`'s user.
async fn open_stream(
    client: &Client,
) -> Result<tonic::Streaming<pb::WatchAuditEventsResponse>, tonic::Status> {
    client
        .user_admin_stub()
        .watch_audit_events(pb::WatchAuditEventsRequest { after_id: None })
        .await
        .map(tonic::Response::into_inner)
}

/// One user may hold 4 audit streams: a fifth is refused with
/// RESOURCE_EXHAUSTED, which says why and when to retry, while another user
/// still gets a stream; closing one gives the first user its slot back.
#[tokio::test]
async fn one_user_holds_at_most_four_audit_streams() {
    let server = TestServer::start().await;
    let (_, shipper_key) = server.user_with_key("shipper", &["audit.read"]).await;
    let shipper = server.client_with_key(&shipper_key);
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(
            open_stream(&shipper)
                .await
                .expect("within the user's bound"),
        );
    }
    let refused = open_stream(&shipper).await.expect_err("a fifth stream");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(refused.message().contains("4 audit streams"), "{refused}");
    assert!(
        shipper
            .watch_audit_events(None)
            .await
            .expect_err("again")
            .retry_after()
            .is_some(),
        "a retry delay comes with the refusal"
    );

    // Another user is not starved by the first.
    let other = open_stream(&server.admin)
        .await
        .expect("another user's stream");
    drop(other);

    open.pop();
    crate::harness::eventually(Duration::from_secs(10), "the user's slot freed", || async {
        open_stream(&shipper)
            .await
            .map(drop)
            .map_err(|status| status.to_string())
    })
    .await;
}

/// Audit streams are bounded per replica too: with 16 users holding 4
/// each, a 17th user is refused with RESOURCE_EXHAUSTED (and a retry
/// delay) until one closes.
#[tokio::test]
async fn open_watches_are_bounded() {
    let server = TestServer::start().await;
    let mut holders = Vec::new();
    for i in 0..17 {
        let (_, key) = server
            .user_with_key(&format!("shipper{i}"), &["audit.read"])
            .await;
        holders.push(server.client_with_key(&key));
    }
    let last = holders.pop().expect("17 users");
    let mut open = Vec::new();
    for holder in &holders {
        for _ in 0..4 {
            open.push(open_stream(holder).await.expect("within the bound"));
        }
    }
    let refused = last
        .watch_audit_events(None)
        .await
        .expect_err("one too many");
    assert_eq!(refused.code(), Some(Code::ResourceExhausted), "{refused}");
    assert!(refused.retry_after().is_some(), "{refused}");
    assert!(
        refused.to_string().contains("too many audit streams"),
        "{refused}"
    );
    open.pop();
    // The slot is released once the server sees the stream gone.
    crate::harness::eventually(Duration::from_secs(10), "a slot freed", || async {
        last.watch_audit_events(None)
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    })
    .await;
}
