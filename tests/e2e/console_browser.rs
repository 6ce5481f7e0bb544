//! The console in a real headless Chromium: what an administrator does, and
//! what an attacker's page tries against a signed-in browser, click by
//! click. Screenshots of every page land in `target/console-screenshots/`.
//! Cookie tossing is in `console_browser_cookies`.

use std::{net::SocketAddr, time::Duration};

use accesskey_client::Verification;

use crate::harness::{
    Browser, EVERY_SERVICE_PERMISSION, SESSION_COOKIE, TestServer, code, eventually, http_request,
};

/// Another site: one page with a form that posts to the console.
async fn serve_attacker_page(console: SocketAddr) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let page = format!(
        "<!DOCTYPE html><html><body><h1>Win a prize</h1>\
         <form method=\"post\" action=\"http://{console}/users/new\">\
         <input type=\"hidden\" name=\"username\" value=\"planted\">\
         <input type=\"hidden\" name=\"permission\" value=\"users.write\">\
         <button type=\"submit\">Claim</button></form></body></html>"
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    address
}

#[tokio::test]
async fn an_administrator_issues_verifies_and_revokes_a_key_in_a_browser() {
    let server = TestServer::start().await;
    let Some(mut browser) = Browser::start(&server.endpoint(), "administrator").await else {
        return;
    };
    let (console_admin, admin_key) = server
        .user_with_key("console-admin", &EVERY_SERVICE_PERMISSION)
        .await;

    // Sign in with the keyboard alone: the key field has focus, Enter submits.
    browser.goto("/").await;
    browser.wait_for_path("/sign-in").await;
    browser.assert_labelled("sign-in").await;
    browser.screenshot("sign-in").await;
    browser.press(&format!("{admin_key}\u{E007}")).await;
    browser.wait_for_path("/users").await;
    browser.screenshot("users").await;

    // Create a user, reaching the form by keyboard: Tab to "Create user",
    // Enter.
    for _ in 0..30 {
        let focused = browser
            .run("return document.activeElement.getAttribute('href');")
            .await;
        if focused == serde_json::json!("/users/new") {
            break;
        }
        browser.press("\u{E004}").await;
    }
    browser.press("\u{E007}").await;
    browser.wait_for_path("/users/new").await;
    browser.fill("#username", "orders-service").await;
    browser.fill("#email", "orders@example.com").await;
    browser.fill("#other_permissions", "orders.read").await;
    browser.assert_labelled("create user").await;
    browser.screenshot("create-user").await;
    browser
        .click("form[action='/users/new'] button[type=submit]")
        .await;
    browser
        .wait_for_page("a new user's page", |path| {
            path.starts_with("/users/") && path.ends_with("?notice=created")
        })
        .await;
    let user = server
        .admin
        .get_user_by_name("orders-service")
        .await
        .expect("created through the console");
    assert_eq!(user.permissions, ["orders.read"]);
    assert!(browser.source().await.contains("The user was created."));
    browser.assert_labelled("user detail").await;
    browser.screenshot("user-created").await;

    // Actions » Generate access key, and the dialog that shows it once.
    browser
        .click(&format!("a[href='/users/{}/generate']", user.id))
        .await;
    browser.screenshot("generate-access-key").await;
    browser
        .click("form[action$='/generate'] button[type=submit]")
        .await;
    let key_page = browser
        .wait_for_path(&format!("/users/{}/new-key", user.id))
        .await;
    let key = browser.value("#new-key").await;
    assert_eq!(key.len(), 71, "a whole key in the dialog: {key:?}");
    assert!(!key_page.contains(&key[22..]), "never in the URL");
    assert!(
        browser
            .source()
            .await
            .contains("You will not see this key again")
    );
    browser.click("button[data-copy]").await;
    let copied = browser.find(".copied").await;
    eventually(Duration::from_secs(5), "the Copy button copies", || async {
        match copied.text().await.expect("text") {
            text if text == "Copied." => Ok(()),
            text => Err(format!("{text:?}")),
        }
    })
    .await;
    browser.screenshot("key-dialog").await;
    assert!(matches!(
        server.verdict(&key, ["orders.read"]).await,
        Verification::Valid(_)
    ));

    // Reload, back, forward: the key is on none of them.
    browser.client.refresh().await.expect("reload");
    assert!(!browser.source().await.contains(&key[22..]), "after reload");
    browser.screenshot("key-page-reloaded").await;
    browser.client.back().await.expect("back");
    assert!(!browser.source().await.contains(&key[22..]), "after back");
    browser.client.forward().await.expect("forward");
    assert!(
        !browser.source().await.contains(&key[22..]),
        "after forward"
    );

    // Revoke: the key stops working.
    browser.goto(&format!("/users/{}", user.id)).await;
    browser
        .click(&format!("a[href='/users/{}/revoke']", user.id))
        .await;
    assert!(browser.source().await.contains("stops working at once"));
    browser.screenshot("revoke-key").await;
    browser
        .click(&format!("form[action='/users/{}/revoke'] button", user.id))
        .await;
    browser
        .wait_for_path(&format!("/users/{}?notice=revoked", user.id))
        .await;
    browser.screenshot("key-revoked").await;
    assert_eq!(
        server.verdict(&key, ["orders.read"]).await,
        Verification::NotFound
    );

    // WhoAmI and the audit trail.
    browser.click("a[href='/whoami']").await;
    browser.wait_for_path("/whoami").await;
    assert!(browser.source().await.contains(&console_admin.username));
    browser.screenshot("whoami").await;
    browser.click("a[href='/audit']").await;
    browser.wait_for_path("/audit").await;
    let audit = browser.source().await;
    assert!(audit.contains("key.generated") && audit.contains("key.revoked"));
    browser.screenshot("audit-trail").await;

    // Readable at 360 px.
    browser
        .client
        .set_window_size(360, 800)
        .await
        .expect("resize");
    for (path, name) in [
        ("/users".to_owned(), "users-360px"),
        (format!("/users/{}", user.id), "user-360px"),
        ("/audit".to_owned(), "audit-360px"),
    ] {
        browser.goto(&path).await;
        browser.assert_fits(&path).await;
        browser.screenshot(name).await;
    }
    browser
        .client
        .set_window_size(1200, 900)
        .await
        .expect("resize");

    // Another site's form, posted from this signed-in browser: refused.
    let attacker = serve_attacker_page(server.address).await;
    browser
        .client
        .goto(&format!("http://{attacker}/"))
        .await
        .expect("the attacker's page");
    browser.click("button[type=submit]").await;
    browser.wait_for_path("/users/new").await;
    assert!(browser.source().await.contains("Refused"));
    browser.screenshot("cross-origin-post-refused").await;
    assert_eq!(
        code(server.admin.get_user_by_name("planted").await),
        tonic::Code::NotFound
    );

    // Another administrator revokes this session's key: the next click
    // lands on sign-in.
    browser.goto("/users").await;
    server
        .admin
        .revoke_access_key(console_admin.id)
        .await
        .expect("revoke the console admin's key");
    browser.click("header a[href='/users']").await;
    browser.wait_for_path("/sign-in?ended=revoked").await;
    assert!(browser.source().await.contains("no longer signs in"));
    browser.screenshot("session-ended-by-revocation").await;

    // A user without users.write or keys.issue sees no controls for them,
    // and a crafted post with its own session is refused.
    let (_, reader_key) = server.user_with_key("reader", &["users.read"]).await;
    browser.fill("#access_key", &reader_key).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.wait_for_path("/users").await;
    assert_eq!(browser.count("a[href='/users/new']").await, 0);
    browser.goto(&format!("/users/{}", user.id)).await;
    assert_eq!(
        browser
            .count(&format!("form[action='/users/{}']", user.id))
            .await,
        0
    );
    assert_eq!(
        browser
            .count("a[href$='/generate'], a[href$='/delete']")
            .await,
        0
    );
    browser.screenshot("read-only-user").await;
    let cookie = browser
        .client
        .get_named_cookie(SESSION_COOKIE)
        .await
        .expect("the session cookie");
    let csrf = browser.value("input[name=csrf]").await;
    let origin = server.endpoint();
    let crafted = http_request(
        &server.address,
        "POST",
        &format!("/users/{}", user.id),
        &[
            ("Origin", &origin),
            ("Cookie", &format!("{SESSION_COOKIE}={}", cookie.value())),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("email=x%40evil.example&permission=users.write&etag=&csrf={csrf}").as_bytes(),
    )
    .await;
    assert_eq!(crafted.status, 403, "{}", crafted.text());
    assert!(crafted.text().contains("users.write"));
    let unchanged = server.admin.get_user(user.id).await.expect("read");
    assert_eq!(unchanged.email, "orders@example.com");

    // Sign out.
    browser.click("form[action='/sign-out'] button").await;
    browser.wait_for_path("/sign-in?ended=signed-out").await;
    assert!(
        browser
            .client
            .get_named_cookie(SESSION_COOKIE)
            .await
            .is_err()
    );
    browser.screenshot("signed-out").await;
    browser.close().await;
}

/// *Administration » Users » Actions » Generate access key*, as the CMS
/// documents it: the row's Actions menu opens without script, Generate
/// leads to the form, and the dialog names the user, the key id and the
/// expiry, with the whole key in view at 1280 px and at 320 px.
#[tokio::test]
async fn users_actions_generate_access_key_shows_the_whole_key_at_any_width() {
    let server = TestServer::start().await;
    let Some(mut browser) = Browser::start(&server.endpoint(), "actions-generate").await else {
        return;
    };
    let user = server.create_user("orders-service", &["orders.read"]).await;
    let id = user.id;
    browser.sign_in(&server.admin_key, "/users").await;
    for (width, expiry) in [(1280, Some("2099-03-31")), (320, None)] {
        browser
            .client
            .set_window_size(width, 900)
            .await
            .expect("resize");
        browser.goto("/users").await;
        let inner = browser.run("return window.innerWidth;").await;
        assert!(
            inner.as_u64().is_some_and(|w| w <= width.into()),
            "a {width} px window: {inner}"
        );
        let menu = format!("#actions-{id}");
        let generate = format!("{menu} a[href='/users/{id}/generate']");
        let open = format!("return document.querySelector(\"{menu}\").open;");
        assert_eq!(browser.run(&open).await, serde_json::json!(false));
        browser.click(&format!("{menu} summary")).await;
        assert_eq!(browser.run(&open).await, serde_json::json!(true));
        browser.screenshot(&format!("actions-menu-{width}px")).await;
        browser.click(&generate).await;
        browser
            .wait_for_path(&format!("/users/{id}/generate"))
            .await;
        if let Some(date) = expiry {
            // A date field's typing order follows the locale; its value
            // does not.
            browser
                .run(&format!(
                    "document.getElementById('expires_on').value = '{date}'; return null;"
                ))
                .await;
        }
        browser
            .click("form[action$='/generate'] button[type=submit]")
            .await;
        browser.wait_for_path(&format!("/users/{id}/new-key")).await;
        let key = browser.value("#new-key").await;
        assert_eq!(key.len(), 71, "the whole key: {key:?}");
        let dialog = browser
            .find("dialog")
            .await
            .text()
            .await
            .expect("the dialog's text");
        assert!(dialog.contains("orders-service"), "the user: {dialog}");
        assert!(dialog.contains(&key[5..21]), "the key id: {dialog}");
        let expiry_text = match expiry {
            Some(date) => format!("until the end of {date} (UTC)"),
            None => "does not expire".to_owned(),
        };
        assert!(dialog.contains(&expiry_text), "{expiry_text}: {dialog}");
        let fit = browser
            .run(
                "const key = document.getElementById('new-key');\
                 const box = key.getBoundingClientRect();\
                 return {\
                   wide: key.scrollWidth <= key.clientWidth,\
                   tall: key.scrollHeight <= key.clientHeight,\
                   inside: box.left >= 0 && box.right <= document.documentElement.clientWidth,\
                   page: document.documentElement.scrollWidth <= window.innerWidth\
                 };",
            )
            .await;
        assert_eq!(
            fit,
            serde_json::json!({"wide": true, "tall": true, "inside": true, "page": true}),
            "the whole key in view at {width} px"
        );
        browser.assert_labelled("key dialog").await;
        browser.screenshot(&format!("key-dialog-{width}px")).await;
        assert!(matches!(
            server.verdict(&key, ["orders.read"]).await,
            Verification::Valid(_)
        ));
    }
    browser.close().await;
}
