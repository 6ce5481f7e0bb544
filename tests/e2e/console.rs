//! The admin console over plain HTTP (no browser): the security headers,
//! the cookie flags, CSRF and origin checks, authority through the same
//! services as gRPC, sessions that end with their key, the key shown once,
//! gRPC-Web, and `--console false`.

use accesskey_client::Verification;
use accesskey_server::Config;

use crate::harness::{
    Backend, ConsoleSession, EVERY_SERVICE_PERMISSION, HttpReply, SESSION_COOKIE, TestServer,
    captured_logs, code, http_request, on_every_backend, sign_in, wrong_secret,
};

const NONE: [&str; 0] = [];

/// Asserts the headers every console response must carry.
fn assert_protected(reply: &HttpReply, what: &str) {
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP lacks {directive}: {csp}"
        );
    }
    assert!(
        !csp.contains("unsafe-inline"),
        "{what}: CSP allows inline code: {csp}"
    );
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("cross-origin-opener-policy"),
        Some("same-origin"),
        "{what}"
    );
}

fn assert_not_stored(reply: &HttpReply, what: &str) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
}

/// The text of text area `#id` in a page.
fn text_area(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let rest = &page[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find("</textarea>")?;
    Some(rest[start..start + end].to_owned())
}

async fn every_page_carries_the_security_headers(server: TestServer) {
    let address = server.address;
    let signed_out = http_request(&address, "GET", "/sign-in", &[], b"").await;
    assert_eq!(signed_out.status, 200);
    assert_protected(&signed_out, "sign-in");
    assert_not_stored(&signed_out, "sign-in");
    let redirect = http_request(&address, "GET", "/users", &[], b"").await;
    assert_eq!(redirect.status, 303, "no session: to sign-in");
    assert_eq!(redirect.header("location"), Some("/sign-in?ended=absent"));
    assert_protected(&redirect, "redirect");
    let missing = http_request(&address, "GET", "/no/such/page", &[], b"").await;
    assert_eq!(missing.status, 404);
    assert_protected(&missing, "404");
    // What axum answers by itself carries them too.
    let wrong_method = http_request(&address, "PUT", "/users", &[], b"").await;
    assert_eq!(wrong_method.status, 405);
    assert_protected(&wrong_method, "405");

    let (user, _) = server
        .user_with_key("orders-service", &["orders.read"])
        .await;
    let session = ConsoleSession::sign_in(address, &server.admin_key).await;
    for path in [
        "/users".to_owned(),
        "/users/new".to_owned(),
        format!("/users/{}", user.id),
        format!("/users/{}/generate", user.id),
        format!("/users/{}/delete", user.id),
        format!("/users/{}/revoke", user.id),
        format!("/users/{}/new-key", user.id),
        "/whoami".to_owned(),
        "/audit".to_owned(),
        "/users/999999".to_owned(),
    ] {
        let reply = session.get(&path).await;
        assert_protected(&reply, &path);
        assert_not_stored(&reply, &path);
        let page = reply.text();
        assert!(page.starts_with("<!DOCTYPE html>"), "{path}: {page}");
        // Nothing inline for the CSP to have to allow.
        assert!(
            !page.contains("<script>") && !page.contains(" style="),
            "{path}"
        );
        assert!(!page.contains(" onclick="), "{path}");
    }
    for (path, kind) in [
        ("/assets/console.css", "text/css"),
        ("/assets/console.js", "text/javascript"),
    ] {
        let reply = http_request(&address, "GET", path, &[], b"").await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with(kind)),
            "{path}"
        );
        assert_protected(&reply, path);
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=3600"),
            "{path}: the same for everyone, so cacheable"
        );
    }
}

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

async fn a_change_from_another_origin_or_without_the_token_changes_nothing(server: TestServer) {
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let fields = [("username", "planted"), ("permission", "users.write")];
    let own = format!("http://{}", server.address);
    let other_port = format!("http://127.0.0.1:{}", server.address.port() + 1);
    let attempts = [
        (Some("http://evil.example"), None, true, "another origin"),
        (
            Some(&*other_port),
            None,
            true,
            "another port: same site, other origin",
        ),
        (Some("null"), None, true, "an opaque origin"),
        (
            Some("null"),
            Some("same-site"),
            true,
            "an opaque origin on this site",
        ),
        (
            Some("null"),
            Some("cross-site"),
            true,
            "an opaque origin elsewhere",
        ),
        (
            Some("http://evil.example"),
            Some("same-origin"),
            true,
            "a lying origin",
        ),
        (None, None, true, "no origin"),
        (Some(&*own), None, false, "no token"),
    ];
    for (origin, fetch_site, with_token, what) in attempts {
        let reply = session
            .post_from("/users/new", &fields, origin, fetch_site, with_token)
            .await;
        assert_eq!(reply.status, 403, "{what}: {}", reply.text());
        assert!(
            reply
                .text()
                .contains("did not come from a page of this console"),
            "{what}"
        );
    }
    let wrong_token = session
        .post("/users/new", &[("username", "planted"), ("csrf", "0")])
        .await;
    // The first `csrf` field is the wrong one; the session's comes after.
    assert_eq!(wrong_token.status, 403);
    assert_eq!(
        code(server.admin.get_user_by_name("planted").await),
        tonic::Code::NotFound
    );

    // Sign-in from another site (login CSRF) sets no session.
    let reply = sign_in(server.address, &server.admin_key, "http://evil.example").await;
    assert_eq!(reply.status, 403);
    assert!(reply.set_cookie(SESSION_COOKIE).is_none());

    // The same request from the console itself works: as browsers send it
    // from a page with the console's `no-referrer` policy, and with an
    // explicit origin.
    let created = session
        .post_from(
            "/users/new",
            &fields,
            Some("null"),
            Some("same-origin"),
            true,
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text());
    let fields = [("username", "planted-2")];
    let created = session.post("/users/new", &fields).await;
    assert_eq!(created.status, 303, "{}", created.text());
    assert!(server.admin.get_user_by_name("planted").await.is_ok());
}

async fn without_users_write_no_edit_is_offered_and_a_crafted_post_is_refused(server: TestServer) {
    let target = server.create_user("orders-service", &["orders.read"]).await;
    let (_, reader_key) = server.user_with_key("auditor", &["users.read"]).await;
    let reader = ConsoleSession::sign_in(server.address, &reader_key).await;
    let list = reader.get("/users").await.text();
    assert!(list.contains("orders-service"));
    assert!(
        !list.contains("Create user"),
        "no create button without users.write"
    );
    let page = reader.get(&format!("/users/{}", target.id)).await.text();
    assert!(!page.contains("Save changes") && !page.contains("Delete user"));
    assert!(
        !page.contains("Generate access key"),
        "no keys.issue either"
    );
    assert!(page.contains("your key holds neither"), "says why: {page}");

    let crafted = reader
        .post(
            &format!("/users/{}", target.id),
            &[
                ("email", "x@evil.example"),
                ("permission", "users.write"),
                ("etag", ""),
            ],
        )
        .await;
    assert_eq!(crafted.status, 403, "{}", crafted.text());
    assert!(
        crafted.text().contains("users.write"),
        "names the missing permission"
    );
    let after = server.admin.get_user(target.id).await.expect("read");
    assert_eq!(after.email, target.email);
    assert_eq!(after.permissions, target.permissions);
    let create = reader.post("/users/new", &[("username", "sneaky")]).await;
    assert_eq!(create.status, 403);
    let revoke = reader
        .post(&format!("/users/{}/revoke", target.id), &[])
        .await;
    assert_eq!(revoke.status, 403);
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

async fn a_generated_key_is_shown_once_and_never_in_a_url_or_a_log(server: TestServer) {
    let user = server.create_user("orders-service", &["orders.read"]).await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let generated = session
        .post(
            &format!("/users/{}/generate", user.id),
            &[("expires_on", "")],
        )
        .await;
    assert_eq!(generated.status, 303, "{}", generated.text());
    let location = generated.header("location").expect("location").to_owned();
    assert_eq!(location, format!("/users/{}/new-key", user.id));
    assert_eq!(
        generated.all("set-cookie").count(),
        0,
        "the key travels in no cookie"
    );

    // Five concurrent requests of the session for the page: one sees the key.
    let pages = futures_util::future::join_all((0..5).map(|_| session.get(&location))).await;
    let shown: Vec<&HttpReply> = pages
        .iter()
        .filter(|page| text_area(&page.text(), "new-key").is_some())
        .collect();
    assert_eq!(shown.len(), 1, "shown exactly once");
    let shown = shown[0];
    assert_eq!(shown.status, 200);
    assert_not_stored(shown, "the key's page");
    let key = text_area(&shown.text(), "new-key").expect("the key on the page");
    assert!(shown.text().contains("You will not see this key again"));
    assert!(matches!(
        server.verdict(&key, ["orders.read"]).await,
        Verification::Valid(_)
    ));

    // A reload shows nothing.
    let again = session.get(&location).await;
    assert!(!again.text().contains(&key[22..]));
    assert!(again.text().contains("no longer shown"));
    // Nothing logged it (the access log and every other line).
    assert!(!captured_logs().contains(&key[22..]));
    // The audit trail recorded the generation, made by the console's admin.
    let audit = session
        .get(&format!("/audit?user={}", user.id))
        .await
        .text();
    assert!(audit.contains("key.generated"));

    // Revoke: the key stops working.
    let revoked = session
        .post(&format!("/users/{}/revoke", user.id), &[])
        .await;
    assert_eq!(revoked.status, 303);
    assert!(matches!(
        server.verdict(&key, ["orders.read"]).await,
        Verification::NotFound
    ));
    // The audit trail, filtered to one user and one action.
    let revocations = session
        .get(&format!("/audit?user={}&action=key.revoked", user.id))
        .await
        .text();
    assert!(revocations.contains("<td><code>key.revoked</code></td>"));
    assert!(!revocations.contains("<td><code>key.generated</code></td>"));
}

async fn replacing_ones_own_key_keeps_the_session_and_shows_the_new_key(server: TestServer) {
    let (me, old_key) = server
        .user_with_key("second-admin", &EVERY_SERVICE_PERMISSION)
        .await;
    let session = ConsoleSession::sign_in(server.address, &old_key).await;
    let elsewhere = ConsoleSession::sign_in(server.address, &old_key).await;
    let confirm = session.get(&format!("/users/{}/generate", me.id)).await;
    assert!(confirm.text().contains("This is your own key"));
    let generated = session
        .post(&format!("/users/{}/generate", me.id), &[("expires_on", "")])
        .await;
    assert_eq!(generated.status, 303, "{}", generated.text());
    let location = generated.header("location").expect("location");
    let shown = session.get(location).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    let new_key = text_area(&shown.text(), "new-key").expect("the new key, shown once");
    assert_eq!(server.verdict(&old_key, NONE).await, Verification::NotFound);
    assert!(matches!(
        server.verdict(&new_key, NONE).await,
        Verification::Valid(_)
    ));
    // The session goes on, on the new key; one opened with the old key
    // elsewhere does not.
    let page = session.get("/whoami").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&new_key[5..21]), "the new key id");
    assert_eq!(
        elsewhere.get("/whoami").await.header("location"),
        Some("/sign-in?ended=revoked")
    );
}

/// Another session, even one of the same user, never sees a key the
/// first generated, nor does a session of a user with less power.
async fn a_new_key_is_shown_only_to_the_session_that_generated_it(server: TestServer) {
    let user = server.create_user("billing", &[]).await;
    let generating = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let same_admin = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let (_, verifier_key) = server.user_with_key("verifier", &["keys.verify"]).await;
    let verifier = ConsoleSession::sign_in(server.address, &verifier_key).await;
    let generated = generating
        .post(&format!("/users/{}/generate", user.id), &[])
        .await;
    assert_eq!(generated.status, 303, "{}", generated.text());
    let location = format!("/users/{}/new-key", user.id);
    for other in [&same_admin, &verifier] {
        let page = other.get(&location).await;
        assert!(text_area(&page.text(), "new-key").is_none());
    }
    let shown = generating.get(&location).await;
    assert!(
        text_area(&shown.text(), "new-key").is_some(),
        "still the generator's to see"
    );
}

async fn the_users_page_searches_by_prefix_and_pages_through_everyone(server: TestServer) {
    for n in 0..53 {
        server.create_user(&format!("svc-{n:02}"), &[]).await;
    }
    server.create_user("other", &[]).await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let rows = |page: &str| page.matches("<tr><td><a href=\"/users/").count();
    let next = |page: &str| {
        let at = page.find("href=\"/users?prefix=svc&amp;page=")?;
        let rest = &page[at + "href=\"".len()..];
        Some(rest[..rest.find('"')?].replace("&amp;", "&"))
    };
    let first = session.get("/users?prefix=svc").await.text();
    assert_eq!(rows(&first), 50, "a page of 50");
    assert!(!first.contains(">other<"), "only the prefix");
    let link = next(&first).expect("a Next page link");
    let second = session.get(&link).await.text();
    assert_eq!(rows(&second), 3, "the rest");
    assert!(second.contains(">svc-52<") && !second.contains(">svc-00<"));
    assert!(next(&second).is_none(), "no page after the last");
    assert!(second.contains("First page"));
}

async fn refused_changes_show_the_services_words_and_keep_what_was_typed(server: TestServer) {
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let reply = session
        .post(
            "/users/new",
            &[("username", "bad name!"), ("email", "kept@example.com")],
        )
        .await;
    assert_eq!(reply.status, 400);
    let page = reply.text();
    assert!(
        page.contains("Username may contain only"),
        "the field is named, as its label names it: {page}"
    );
    assert!(page.contains("kept@example.com"), "what was typed is kept");

    let external = server
        .admin
        .create_user(crate::harness::new_user("sso-user", &[]).identity_provider("okta"))
        .await
        .expect("create");
    let page = session.get(&format!("/users/{}", external.id)).await.text();
    assert!(
        page.contains("external identity provider"),
        "says why: {page}"
    );
    let refused = session
        .post(&format!("/users/{}/generate", external.id), &[])
        .await;
    assert_eq!(refused.status, 400);

    // Deleting needs the name typed.
    let target = server.create_user("to-delete", &[]).await;
    let wrong = session
        .post(
            &format!("/users/{}/delete", target.id),
            &[("confirm", "nope")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(server.admin.get_user(target.id).await.is_ok());
    let right = session
        .post(
            &format!("/users/{}/delete", target.id),
            &[("confirm", "to-delete")],
        )
        .await;
    assert_eq!(right.status, 303);
    assert_eq!(
        code(server.admin.get_user(target.id).await),
        tonic::Code::NotFound
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

/// gRPC-Web on the same port: VerifyAccessKey over HTTP/1.1, as a browser
/// or `curl` would call it.
#[tokio::test]
async fn grpc_web_calls_verify_access_key_on_the_same_port() {
    use accesskey_client::pb;
    use prost::Message as _;

    let server = TestServer::start().await;
    let (_, key) = server
        .user_with_key("orders-service", &["orders.read"])
        .await;
    let message = pb::VerifyAccessKeyRequest {
        access_key: key.clone(),
        required_permissions: vec!["orders.read".to_owned()],
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&message);
    let reply = http_request(
        &server.address,
        "POST",
        "/accesskey.v1.KeyAuth/VerifyAccessKey",
        &[
            ("Content-Type", "application/grpc-web+proto"),
            ("X-Grpc-Web", "1"),
            ("x-access-key", &server.admin_key),
            // As a page on another site would send it: no CORS grant comes
            // back, so a browser would not hand that page the answer.
            ("Origin", "http://evil.example"),
        ],
        &body,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("access-control-")),
        "no CORS headers: {:?}",
        reply.headers
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/grpc-web"))
    );
    let frames = reply.body;
    assert_eq!(frames[0], 0, "a data frame first");
    let length = u32::from_be_bytes(frames[1..5].try_into().expect("4 bytes")) as usize;
    let response = pb::VerifyAccessKeyResponse::decode(&frames[5..5 + length]).expect("decode");
    assert_eq!(response.result(), pb::VerifyResult::Valid);
    let trailers = String::from_utf8_lossy(&frames[5 + length + 5..]).to_ascii_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// `--console false`: no pages and no HTTP/1.1, native gRPC unchanged.
#[tokio::test]
async fn the_console_can_be_turned_off() {
    let server = TestServer::start_configured(Backend::Sqlite, |config: &mut Config| {
        config.console = false;
    })
    .await
    .expect("SQLite");
    // `/sign-in`, a page with the console on (`/` would only redirect).
    let answer = crate::harness::http1_answer(&server.address, "/sign-in").await;
    assert!(
        !answer.contains("<html") && !answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(server.admin.who_am_i().await.is_ok(), "gRPC still served");
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
    every_page_carries_the_security_headers,
    the_session_cookie_holds_only_an_id_and_sign_out_ends_every_copy,
    sign_out_everywhere_ends_every_session_of_the_user_and_is_audited,
    a_new_key_is_shown_only_to_the_session_that_generated_it,
    a_change_from_another_origin_or_without_the_token_changes_nothing,
    without_users_write_no_edit_is_offered_and_a_crafted_post_is_refused,
    a_session_ends_at_the_next_request_once_its_key_is_revoked,
    a_generated_key_is_shown_once_and_never_in_a_url_or_a_log,
    refused_changes_show_the_services_words_and_keep_what_was_typed,
    replacing_ones_own_key_keeps_the_session_and_shows_the_new_key,
    the_users_page_searches_by_prefix_and_pages_through_everyone,
);
