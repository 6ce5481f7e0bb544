//! Console sessions over plain HTTP (no browser): the cookie holds only an
//! id and carries every flag; sign-out (everywhere, too) ends every copy;
//! a session ends with its key or its user, after idle minutes or hours of
//! use; failed sign-ins are throttled like failed gRPC calls; and nothing
//! left behind (a copied cookie, a database dump) holds a key or a session.

use accesskey_server::Config;

use crate::harness::{
    Backend, ConsoleSession, EVERY_SERVICE_PERMISSION, SESSION_COOKIE, TestServer, code,
    http_request, on_every_backend, sign_in, text_area, wrong_secret,
};

async fn the_session_cookie_holds_only_an_id_and_sign_out_ends_every_copy(server: TestServer) {
    let origin = format!("http://{}", server.address);
    let reply = sign_in(server.address, &server.admin_key, &origin).await;
    assert_eq!(reply.status, 303);
    let cookie = reply.set_cookie(SESSION_COOKIE).expect("a session cookie");
    let flags: Vec<&str> = cookie.split("; ").skip(1).collect();
    // Loopback over plain HTTP: browsers take `Secure` and the `__Host-`
    // prefix there, so no other port or path can plant one in its place.
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(flags.contains(&flag), "{flag} missing: {cookie}");
    }
    assert!(
        !flags.iter().any(|f| f.starts_with("Max-Age")
            || f.starts_with("Expires")
            || f.starts_with("Domain")),
        "a browser-session, host-only cookie: {cookie}"
    );
    let id = reply.cookie_value(SESSION_COOKIE).expect("value");
    assert_eq!(id.len(), 64, "256 random bits, hex: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // Pages do not set it again: the session's clocks are the server's.
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let page = session.get("/users").await;
    assert_eq!(page.status, 200);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());

    // An edited or unknown id signs no one in.
    let mut forged = session.cookie.clone().into_bytes();
    forged[20] = if forged[20] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).expect("ascii");
    let reply = http_request(
        &server.address,
        "GET",
        "/users",
        &[("Cookie", &format!("{SESSION_COOKIE}={forged}"))],
        b"",
    )
    .await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/sign-in?ended=absent"));

    // Sign-out clears it, and ends the session for every copy of it: a
    // cookie copied before sign-out (a proxy log, a HAR file) changes
    // nothing after.
    let out = session.post("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/sign-in?ended=signed-out"));
    let cleared = out.set_cookie(SESSION_COOKIE).expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let replayed = session
        .post("/users/new", &[("username", "after-sign-out")])
        .await;
    assert_eq!(replayed.status, 303);
    assert_eq!(replayed.header("location"), Some("/sign-in?ended=absent"));
    assert_eq!(
        code(server.admin.get_user_by_name("after-sign-out").await),
        tonic::Code::NotFound
    );
}

async fn sign_out_everywhere_ends_every_session_of_the_user_and_is_audited(server: TestServer) {
    let laptop = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let desktop = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let (_, other_key) = server.user_with_key("reader", &["users.read"]).await;
    let other = ConsoleSession::sign_in(server.address, &other_key).await;
    let out = laptop.post("/sign-out", &[("everywhere", "1")]).await;
    assert_eq!(out.status, 303);
    assert_eq!(
        out.header("location"),
        Some("/sign-in?ended=signed-out-everywhere")
    );
    assert_eq!(
        desktop.get("/users").await.header("location"),
        Some("/sign-in?ended=absent")
    );
    assert_eq!(
        other.get("/users").await.status,
        200,
        "another user's stays"
    );
    let events = server
        .admin
        .list_audit_events(accesskey_client::AuditQuery::new())
        .await
        .expect("audit");
    let actions: Vec<&str> = events.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "console.signed_in")
            .count(),
        3,
        "{actions:?}"
    );
    let ended = events
        .events
        .iter()
        .find(|e| e.action == "console.signed_out")
        .expect("the sign-out everywhere, recorded");
    assert!(
        ended
            .changes
            .iter()
            .any(|c| c.field == "sessions" && c.old_value.as_deref() == Some("2")),
        "{ended:?}"
    );
}

async fn a_session_ends_at_the_next_request_once_its_key_is_revoked(server: TestServer) {
    let (second, second_key) = server
        .user_with_key("second-admin", &EVERY_SERVICE_PERMISSION)
        .await;
    let session = ConsoleSession::sign_in(server.address, &second_key).await;
    assert_eq!(session.get("/users").await.status, 200);
    server
        .admin
        .revoke_access_key(second.id)
        .await
        .expect("revoke");
    let reply = session.get("/users").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/sign-in?ended=revoked"));
    assert!(
        reply
            .set_cookie(SESSION_COOKIE)
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    // Disabling the user ends it just the same.
    let (third, third_key) = server.user_with_key("third", &["users.read"]).await;
    let session = ConsoleSession::sign_in(server.address, &third_key).await;
    server
        .admin
        .update_user(
            third.id,
            accesskey_client::UserChanges::new().disabled(true),
        )
        .await
        .expect("disable");
    assert_eq!(
        session.get("/users").await.header("location"),
        Some("/sign-in?ended=revoked")
    );
}

/// Failed sign-ins go through the same checks as failed gRPC calls: a
/// wrong secret is refused before any argon2 work when the key has a
/// fingerprint, and spends the key id's budget when it must be hashed (a
/// key from before fingerprints), until the throttle refuses.
#[tokio::test]
async fn failed_sign_ins_are_throttled_like_failed_grpc_calls() {
    let server = TestServer::start_configured(Backend::Sqlite, |config: &mut Config| {
        config.failed_attempts_burst = 2;
        config.failed_attempts_refill_ms = 60_000;
    })
    .await
    .expect("SQLite");
    let (_, key) = server.user_with_key("target", &["users.read"]).await;
    server.forget_fingerprint(&key).await;
    let wrong = wrong_secret(&key);
    let origin = format!("http://{}", server.address);
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..4 {
        let reply = sign_in(server.address, &wrong, &origin).await;
        statuses.push(reply.status);
        last = reply.text();
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    assert!(last.contains("retry"), "says when to try again: {last}");
}

/// What an attacker holds after the fact: a session cookie copied before
/// sign-out, and every byte of the database files. Neither, nor both,
/// holds a key or a live session.
#[tokio::test]
async fn a_copied_cookie_and_a_database_dump_after_sign_out_yield_no_key_and_no_session() {
    let server = TestServer::start().await;
    let user = server.create_user("payments", &[]).await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let generated = session
        .post(&format!("/users/{}/generate", user.id), &[])
        .await;
    assert_eq!(generated.status, 303, "{}", generated.text());
    let shown = session.get(&format!("/users/{}/new-key", user.id)).await;
    let key = text_area(&shown.text(), "new-key").expect("the new key");
    let copied = session.cookie.clone();
    assert_eq!(session.post("/sign-out", &[]).await.status, 303);
    let replayed = http_request(
        &server.address,
        "GET",
        "/whoami",
        &[("Cookie", &format!("{SESSION_COOKIE}={copied}"))],
        b"",
    )
    .await;
    assert_eq!(replayed.header("location"), Some("/sign-in?ended=absent"));

    let admin_key = server.admin_key.clone();
    let database = server.stop().await;
    let path = database.sqlite_path().expect("SQLite");
    let mut dump = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
            dump.extend(bytes);
        }
    }
    let dump = String::from_utf8_lossy(&dump);
    for (secret, what) in [
        (&admin_key[22..], "the signed-in admin's key"),
        (&key[22..], "the key generated in the console"),
        (copied.as_str(), "the session id"),
    ] {
        assert!(!dump.contains(secret), "the database holds {what}");
    }
}

/// The session's clocks are the server's: a page view keeps a session
/// alive, 15 minutes without one end it, and 8 hours end it however busy.
#[tokio::test]
async fn a_session_ends_after_fifteen_idle_minutes_or_eight_hours_and_use_keeps_it_alive() {
    let server = TestServer::start().await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let minutes = |n: i64| n * 60 * 1_000_000;
    let age =
        |column: &str, by: i64| format!("UPDATE console_sessions SET {column} = {column} - {by}");
    // 14 idle minutes: still open, and this visit restarts the idle clock,
    // so two more minutes later (16 after the last but one) it is open.
    server
        .edit_around_the_server(&age("seen_time", minutes(14)))
        .await;
    assert_eq!(session.get("/whoami").await.status, 200);
    server
        .edit_around_the_server(&age("seen_time", minutes(2)))
        .await;
    assert_eq!(
        session.get("/whoami").await.status,
        200,
        "the visit slid the clock"
    );
    // 15 idle minutes end it.
    server
        .edit_around_the_server(&age("seen_time", minutes(15)))
        .await;
    let idle = session.get("/whoami").await;
    assert_eq!(idle.header("location"), Some("/sign-in?ended=idle"));

    let busy = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    server
        .edit_around_the_server(&age("create_time", minutes(8 * 60)))
        .await;
    let expired = busy.get("/whoami").await;
    assert_eq!(expired.header("location"), Some("/sign-in?ended=expired"));
}

on_every_backend!(
    the_session_cookie_holds_only_an_id_and_sign_out_ends_every_copy,
    sign_out_everywhere_ends_every_session_of_the_user_and_is_audited,
    a_session_ends_at_the_next_request_once_its_key_is_revoked,
);
