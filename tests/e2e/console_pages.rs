//! The console's pages as a CMS administrator expects them (issue #24), over
//! plain HTTP: *Users » Actions*, the new-key dialog, search by any name,
//! errors beside the field they concern, usernames in the audit trail, and
//! the favicon.

use accesskey_client::NewUser;

use crate::harness::{ConsoleSession, TestServer, http_request, on_every_backend};

/// The opening tag of the element whose `id` is `id`, or "".
fn tag_with_id<'a>(page: &'a str, id: &str) -> &'a str {
    let Some(at) = page.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let start = page[..at].rfind('<').unwrap_or(0);
    let end = page[at..].find('>').map_or(page.len(), |end| at + end + 1);
    &page[start..end]
}

/// The text inside the element whose `id` is `id` (up to its first child's
/// closing tag, enough for the short elements looked at here).
fn text_of(page: &str, id: &str) -> String {
    let tag = tag_with_id(page, id);
    let Some(at) = page.find(tag).filter(|_| !tag.is_empty()) else {
        return String::new();
    };
    let rest = &page[at + tag.len()..];
    rest[..rest.find("</").unwrap_or(rest.len())].to_owned()
}

/// The users list's row of `user_id`: from its `<tr>` to its `</tr>`.
fn row_of(page: &str, user_id: i64) -> String {
    let link = format!("<td><a href=\"/users/{user_id}\">");
    let Some(at) = page.find(&link) else {
        return String::new();
    };
    let start = page[..at].rfind("<tr>").unwrap_or(at);
    let end = page[at..].find("</tr>").map_or(page.len(), |end| at + end);
    page[start..end].to_owned()
}

/// Users » Actions: a native `<details>` menu per row, holding only what
/// the signed-in key may do to that user; never Generate for a user from
/// an external identity provider.
async fn each_users_row_has_an_actions_menu_with_what_the_viewer_may_do(server: TestServer) {
    let (keyed, _) = server
        .user_with_key("orders-service", &["orders.read"])
        .await;
    let external = server
        .admin
        .create_user(NewUser::new("sso-user").identity_provider("okta"))
        .await
        .expect("an external user");
    let admin = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let page = admin.get("/users").await.text();

    let row = row_of(&page, keyed.id);
    assert!(
        row.contains("<details")
            && row.contains(
                "<summary>Actions<span class=\"visually-hidden\"> for orders-service</span></summary>"
            ),
        "a native Actions menu, whose name says whose: {row}"
    );
    let id = keyed.id;
    for (href, what) in [
        (format!("/users/{id}/generate"), "Generate access key"),
        (format!("/users/{id}/revoke"), "Revoke key"),
        (format!("/users/{id}#edit"), "Edit"),
        (format!("/users/{id}/delete"), "Delete"),
    ] {
        assert!(
            row.contains(&format!("href=\"{href}\"")) && row.contains(what),
            "{what} in the menu: {row}"
        );
    }
    let row = row_of(&page, external.id);
    assert!(row.contains("<summary>Actions<span"), "{row}");
    assert!(
        !row.contains("/generate"),
        "no key for an external provider's user: {row}"
    );
    assert!(
        row.contains("external identity provider"),
        "says why: {row}"
    );
    assert!(!row.contains("/revoke"), "no key to revoke: {row}");

    // A key issuer without users.write: keys, but neither Edit nor Delete.
    let (_, issuer_key) = server
        .user_with_key("issuer", &["users.read", "keys.issue"])
        .await;
    let issuer = ConsoleSession::sign_in(server.address, &issuer_key).await;
    let row = row_of(&issuer.get("/users").await.text(), keyed.id);
    assert!(row.contains(&format!("/users/{id}/generate")), "{row}");
    assert!(row.contains(&format!("/users/{id}/revoke")), "{row}");
    assert!(
        !row.contains("#edit") && !row.contains("/delete"),
        "no edit without users.write: {row}"
    );

    // A reader: no action at all.
    let (_, reader_key) = server.user_with_key("reader", &["users.read"]).await;
    let reader = ConsoleSession::sign_in(server.address, &reader_key).await;
    let page = reader.get("/users").await.text();
    for action in ["/generate", "/revoke", "#edit", "/delete"] {
        assert!(!page.contains(action), "a reader is offered {action}");
    }
}

/// The dialog that shows a new key names the user, the key id and the
/// expiry, in words.
async fn the_key_dialog_names_the_user_the_key_id_and_the_expiry(server: TestServer) {
    let user = server.create_user("orders-service", &[]).await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    // A year ahead of any clock this runs on.
    let year = 1972
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            / 31_556_952;
    for (expires_on, expiry) in [
        (
            format!("{year}-03-31"),
            format!("until the end of {year}-03-31 (UTC)"),
        ),
        (String::new(), "does not expire".to_owned()),
    ] {
        let generated = session
            .post(
                &format!("/users/{}/generate", user.id),
                &[("expires_on", &expires_on)],
            )
            .await;
        assert_eq!(generated.status, 303, "{}", generated.text());
        let page = session
            .get(&format!("/users/{}/new-key", user.id))
            .await
            .text();
        let key = text_of(&page, "new-key");
        assert_eq!(key.len(), 71, "the key: {page}");
        let dialog = &page[page.find("<dialog").expect("a dialog")..];
        assert!(
            dialog.contains("orders-service"),
            "names the user: {dialog}"
        );
        assert!(
            dialog.contains(&format!("<code>{}</code>", &key[5..21])),
            "names the key id: {dialog}"
        );
        assert!(dialog.contains(&expiry), "{expiry}: {dialog}");
        let info = server
            .admin
            .get_user(user.id)
            .await
            .expect("read")
            .access_key
            .expect("a key");
        assert_eq!(info.key_id, key[5..21]);
    }
}

/// Search finds users by any part of username, display name or email,
/// ignoring case, and the list shows display names.
async fn the_users_page_searches_usernames_display_names_and_emails(server: TestServer) {
    let create = async |user: NewUser| server.admin.create_user(user).await.expect("create");
    create(
        NewUser::new("alpha")
            .display_name("Payments Team")
            .email("alpha@example.test"),
    )
    .await;
    create(
        NewUser::new("beta")
            .display_name("Nightly job")
            .email("PAYROLL@corp.example"),
    )
    .await;
    create(NewUser::new("xpay")).await;
    create(
        NewUser::new("gamma")
            .display_name("Other")
            .email("gamma@example.test"),
    )
    .await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let page = session.get("/users?q=pAy").await.text();
    let listed = |page: &str, name: &str| page.contains(&format!("\">{name}</a></td>"));
    for name in ["alpha", "beta", "xpay"] {
        assert!(listed(&page, name), "{name} matches: {page}");
    }
    assert!(!listed(&page, "gamma"), "gamma does not: {page}");
    assert!(
        page.contains("<td>Payments Team</td>"),
        "display names shown"
    );
    assert!(
        tag_with_id(&page, "q").contains("value=\"pAy\""),
        "the search is kept in its field"
    );
    // Text that is no username is no error: it just matches nothing.
    let odd = session.get("/users?q=100%25%20sure%3F%20%C3%A9").await;
    assert_eq!(odd.status, 200, "{}", odd.text());
    assert!(odd.text().contains("No users match."));
    // The prefix of older links still works.
    let page = session.get("/users?prefix=gam").await.text();
    assert!(listed(&page, "gamma") && !listed(&page, "alpha"));
}

/// A refused create, edit or key generation says what is wrong beside
/// the field concerned, for people, and marks the field for assistive
/// technology.
async fn refused_forms_show_each_error_beside_its_field(server: TestServer) {
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let field_error = |page: &str, field: &str, words: &str| {
        let input = tag_with_id(page, field);
        assert!(
            input.contains("aria-invalid=\"true\"")
                && input.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{field} marked invalid: {input}"
        );
        let error = text_of(page, &format!("{field}-error"));
        assert!(error.contains(words), "{field}: {error:?} in {page}");
        assert!(
            !error.contains(&format!("{field}:")),
            "for people, not a field path: {error}"
        );
    };

    let created = session
        .post("/users/new", &[("username", "bad name!")])
        .await;
    assert_eq!(created.status, 400);
    field_error(&created.text(), "username", "Username may contain only");
    assert!(
        !tag_with_id(&created.text(), "email").contains("aria-invalid"),
        "only the field at fault"
    );
    let created = session
        .post(
            "/users/new",
            &[("username", "ok-name"), ("email", "not-an-address")],
        )
        .await;
    field_error(&created.text(), "email", "Email must look like name@domain");
    let taken = session.post("/users/new", &[("username", "ADMIN")]).await;
    field_error(&taken.text(), "username", "already exists");

    let user = server.create_user("orders-service", &[]).await;
    let edited = session
        .post(
            &format!("/users/{}", user.id),
            &[
                ("display_name", &"x".repeat(200)),
                ("etag", &user.etag),
                ("email", ""),
            ],
        )
        .await;
    assert_eq!(edited.status, 400);
    field_error(
        &edited.text(),
        "display_name",
        "Display name must be at most 128 characters",
    );

    let generated = session
        .post(
            &format!("/users/{}/generate", user.id),
            &[("expires_on", "2020-01-01")],
        )
        .await;
    assert_eq!(generated.status, 400);
    field_error(&generated.text(), "expires_on", "must be in the future");
}

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
    each_users_row_has_an_actions_menu_with_what_the_viewer_may_do,
    the_key_dialog_names_the_user_the_key_id_and_the_expiry,
    the_users_page_searches_usernames_display_names_and_emails,
    refused_forms_show_each_error_beside_its_field,
    the_audit_trail_names_users_by_username,
    the_favicon_is_a_static_asset,
);
