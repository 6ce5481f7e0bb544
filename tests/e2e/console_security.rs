//! The console's defences over plain HTTP (no browser): the security
//! headers on every reply, the origin and CSRF checks on every change, and
//! authority through the same services as gRPC (no control offered and no
//! crafted post accepted without the permission).

use crate::harness::{
    ConsoleSession, HttpReply, SESSION_COOKIE, TestServer, assert_not_stored, code, http_request,
    on_every_backend, sign_in,
};

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

on_every_backend!(
    every_page_carries_the_security_headers,
    a_change_from_another_origin_or_without_the_token_changes_nothing,
    without_users_write_no_edit_is_offered_and_a_crafted_post_is_refused,
);
