//! Roles in a real headless Chromium: an administrator creates a role,
//! gives it to a user, sees the user's effective permissions with the role
//! as their source, and takes a permission from the role: the user no
//! longer holds it. Screenshots land in
//! `target/console-screenshots/roles/`.

use accesskey_client::Verification;

use crate::harness::{Browser, TestServer};

/// The effective-permissions row of `permission` on a user's page, as
/// its cells' text (`["deploy.run", "role deployers"]`), if there is one.
async fn effective_row(browser: &Browser, permission: &str) -> Option<Vec<String>> {
    let script = format!(
        "const rows = [...document.querySelectorAll('#effective tbody tr')];\
         const row = rows.find(r => r.cells[0].textContent === '{permission}');\
         return row ? [...row.cells].map(c => c.textContent) : null;"
    );
    serde_json::from_value(browser.run(&script).await).expect("cells or null")
}

#[tokio::test]
async fn an_administrator_gives_a_user_a_role_and_sees_where_its_permissions_come_from() {
    let server = TestServer::start().await;
    let Some(mut browser) = Browser::start(&server.endpoint(), "roles").await else {
        return;
    };
    let (user, key) = server.user_with_key("release-bot", &["orders.read"]).await;
    browser.sign_in(&server.admin_key, "/users").await;

    // Roles, from the navigation: create one carrying deploy.run.
    browser.click("header a[href='/roles']").await;
    browser.wait_for_path("/roles").await;
    assert!(browser.source().await.contains("No roles yet."));
    browser.fill("#name", "deployers").await;
    browser.fill("#description", "Ships releases").await;
    browser.fill("#other_permissions", "deploy.run").await;
    browser.assert_labelled("roles").await;
    browser.screenshot("roles-empty").await;
    browser.submit("/roles").await;
    browser
        .wait_for_path("/roles/deployers?notice=role-created")
        .await;
    assert!(browser.source().await.contains("The role was created."));
    browser.assert_labelled("role").await;
    browser.screenshot("role-created").await;
    let role = server.admin.get_role("deployers").await.expect("created");
    assert_eq!(role.permissions, ["deploy.run"]);

    // The user's page: tick the role, save.
    let user_page = format!("/users/{}", user.id);
    browser.goto(&user_page).await;
    assert_eq!(effective_row(&browser, "deploy.run").await, None);
    browser.click("input[name=role][value=deployers]").await;
    browser.submit(&user_page).await;
    browser
        .wait_for_path(&format!("{user_page}?notice=updated"))
        .await;
    assert_eq!(
        effective_row(&browser, "deploy.run").await,
        Some(vec!["deploy.run".to_owned(), "role deployers".to_owned()]),
        "the role is the permission's source"
    );
    assert_eq!(
        effective_row(&browser, "orders.read").await,
        Some(vec!["orders.read".to_owned(), "direct".to_owned()])
    );
    browser.assert_labelled("user with a role").await;
    browser.screenshot("user-with-role").await;
    assert!(matches!(
        server.verdict(&key, ["deploy.run"]).await,
        Verification::Valid(_)
    ));

    // Follow the source to the role, and take deploy.run from it.
    browser.click("#effective a[href='/roles/deployers']").await;
    browser.wait_for_path("/roles/deployers").await;
    assert!(browser.source().await.contains("release-bot"), "a member");
    browser.fill("#other_permissions", "deploy.read").await;
    browser.screenshot("role-edit").await;
    browser.submit("/roles/deployers").await;
    browser
        .wait_for_path("/roles/deployers?notice=updated")
        .await;
    browser.screenshot("role-updated").await;

    // Reload the user's page: deploy.run is gone, deploy.read came.
    browser.goto(&user_page).await;
    browser.client.refresh().await.expect("reload");
    assert_eq!(effective_row(&browser, "deploy.run").await, None);
    assert_eq!(
        effective_row(&browser, "deploy.read").await,
        Some(vec!["deploy.read".to_owned(), "role deployers".to_owned()])
    );
    browser.screenshot("user-after-role-change").await;
    assert!(!matches!(
        server.verdict(&key, ["deploy.run"]).await,
        Verification::Valid(_)
    ));

    // Readable at 360 px.
    browser
        .client
        .set_window_size(360, 800)
        .await
        .expect("resize");
    for (path, name) in [
        ("/roles", "roles-360px"),
        ("/roles/deployers", "role-360px"),
        ("/roles/deployers/delete", "role-delete-360px"),
    ] {
        browser.goto(path).await;
        browser.assert_fits(path).await;
        browser.screenshot(name).await;
    }
    browser.close().await;
}
