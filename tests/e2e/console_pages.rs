//! The console's pages as a CMS administrator expects them (issue #24), over
//! plain HTTP: usernames in the audit trail, and the favicon.

use crate::harness::{ConsoleSession, TestServer, http_request, on_every_backend};

/// The audit page for one user names it, and every event its actor and
/// user, by username.
async fn the_audit_trail_names_users_by_username(server: TestServer) {
    let user = server.create_user("orders-service", &[]).await;
    server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("a key");
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let page = session
        .get(&format!("/audit?user={}", user.id))
        .await
        .text();
    assert!(
        page.contains(&format!(
            "Changes to user <a href=\"/users/{}\">orders-service</a>",
            user.id
        )),
        "the user by name: {page}"
    );
    assert!(page.contains(">admin</a>"), "the actor by name");
}

async fn the_favicon_is_a_static_asset(server: TestServer) {
    let page = http_request(&server.address, "GET", "/sign-in", &[], b"").await;
    let link = page
        .text()
        .split('<')
        .find(|tag| tag.starts_with("link rel=\"icon\""))
        .map(str::to_owned)
        .expect("the layout links an icon");
    let href = link
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("its address")
        .to_owned();
    for path in [href.as_str(), "/favicon.ico"] {
        let icon = http_request(&server.address, "GET", path, &[], b"").await;
        assert_eq!(icon.status, 200, "{path}");
        assert!(
            icon.header("content-type")
                .is_some_and(|t| t.starts_with("image/")),
            "{path}: {:?}",
            icon.header("content-type")
        );
        assert_eq!(
            icon.header("cache-control"),
            Some("public, max-age=3600"),
            "{path}"
        );
        assert_eq!(icon.header("x-content-type-options"), Some("nosniff"));
        assert!(icon.header("content-security-policy").is_some());
    }
}

on_every_backend!(
    the_audit_trail_names_users_by_username,
    the_favicon_is_a_static_asset,
);
