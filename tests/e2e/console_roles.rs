//! The console's roles pages over plain HTTP (no browser): the list, a
//! role's page and a user's effective permissions with their source, a
//! stale edit, and the power order over roles as the RPCs apply it.
//! Deleting and the CSRF defence are in `console_roles_guards`.

use accesskey_client::{RoleChanges, UserChanges};

use crate::harness::{ConsoleSession, TestServer, assert_not_stored, new_user, on_every_backend};

/// Whether `page` has a form posting to `action`.
fn has_form(page: &str, action: &str) -> bool {
    page.contains(&format!("method=\"post\" action=\"{action}\""))
}

async fn the_roles_pages_list_show_and_create_roles(server: TestServer) {
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let created = session
        .post(
            "/roles",
            &[
                ("name", "deployers"),
                ("description", "Ships releases"),
                ("permission", "keys.verify"),
                ("other_permissions", "deploy.run, deploy.read"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text());
    assert_eq!(
        created.header("location"),
        Some("/roles/deployers?notice=role-created")
    );
    let role = server.admin.get_role("deployers").await.expect("created");
    assert_eq!(
        role.permissions,
        ["deploy.read", "deploy.run", "keys.verify"]
    );

    let list = session.get("/roles").await;
    assert_eq!(list.status, 200);
    assert_not_stored(&list, "/roles");
    let page = list.text();
    assert!(
        page.contains("<a href=\"/roles\">Roles</a>"),
        "in the navigation"
    );
    assert!(
        page.contains("<td><a href=\"/roles/deployers\">deployers</a></td><td>Ships releases</td><td>0</td><td>deploy.read, deploy.run, keys.verify</td>"),
        "name, description, members, permissions: {page}"
    );
    assert!(has_form(&page, "/roles"), "the create form");

    let user = server.create_user("release-bot", &["orders.read"]).await;
    server
        .admin
        .update_user(user.id, UserChanges::new().roles(["deployers"]))
        .await
        .expect("give the role");
    let shown = session.get("/roles/deployers?notice=role-created").await;
    assert_eq!(shown.status, 200);
    assert_not_stored(&shown, "a role");
    let page = shown.text();
    assert!(page.contains("The role was created."), "{page}");
    assert!(page.contains("Ships releases"));
    assert!(
        page.contains(&format!("<a href=\"/users/{}\">release-bot</a>", user.id)),
        "its members: {page}"
    );
    assert!(has_form(&page, "/roles/deployers"), "the edit form: {page}");
    // Read after the member joined: who holds a role is part of its etag.
    let role = server.admin.get_role("deployers").await.expect("read");
    assert!(
        page.contains(&format!("value=\"{}\"", role.etag)),
        "its etag"
    );
    assert!(page.contains("href=\"/roles/deployers/delete\""));

    // The user's page: its roles, and each effective permission's source.
    let page = session.get(&format!("/users/{}", user.id)).await.text();
    assert!(page.contains("Effective permissions"), "{page}");
    assert!(
        page.contains("<td><code>deploy.run</code></td><td>role <a href=\"/roles/deployers\">deployers</a></td>"),
        "a role's permission names the role: {page}"
    );
    assert!(
        page.contains("<td><code>orders.read</code></td><td>direct</td>"),
        "a direct one says so: {page}"
    );
    assert!(
        page.contains("name=\"role\" value=\"deployers\" checked"),
        "the role's checkbox, checked: {page}"
    );

    // A refused create: the field at fault, what was typed kept.
    let refused = session
        .post(
            "/roles",
            &[("name", "no spaces"), ("description", "kept text")],
        )
        .await;
    assert_eq!(refused.status, 400);
    let page = refused.text();
    assert!(page.contains("Name may contain only"), "{page}");
    assert!(page.contains("kept text"));
    let taken = session.post("/roles", &[("name", "DEPLOYERS")]).await;
    assert_eq!(taken.status, 409);
    assert!(taken.text().contains("already exists"));
    for path in ["/roles/deployers/delete", "/roles/no-such-role"] {
        let reply = session.get(path).await;
        assert_not_stored(&reply, path);
        assert!(reply.text().starts_with("<!DOCTYPE html>"), "{path}");
    }
    assert_eq!(session.get("/roles/no-such-role").await.status, 404);
}

/// An edit saved against a role (or user) changed since the page was read
/// says so, and shows it as it is now, with the etag that saves it.
async fn a_stale_edit_says_the_role_or_user_changed(server: TestServer) {
    let role = server.create_role("readers", &["orders.read"]).await;
    server
        .admin
        .update_role(
            "readers",
            RoleChanges::new().description("changed meanwhile"),
        )
        .await
        .expect("a concurrent edit");
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let stale = session
        .post(
            "/roles/readers",
            &[
                ("description", "mine"),
                ("other_permissions", "orders.write"),
                ("etag", &role.etag),
            ],
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text());
    let page = stale.text();
    assert!(
        page.contains("changed by someone else after you loaded the page"),
        "{page}"
    );
    let now = server.admin.get_role("readers").await.expect("read");
    assert_eq!(now.description, "changed meanwhile", "nothing was saved");
    assert!(
        page.contains(&format!("value=\"{}\"", now.etag)),
        "the form saves against the role as it is now"
    );

    // The user page does the same, roles included.
    let user = server.create_user("stale-bot", &[]).await;
    server
        .admin
        .update_user(user.id, UserChanges::new().roles(["readers"]))
        .await
        .expect("a concurrent edit");
    let stale = session
        .post(
            &format!("/users/{}", user.id),
            &[("display_name", "mine"), ("etag", &user.etag)],
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text());
    let page = stale.text();
    assert!(
        page.contains("This user was changed by someone else after you loaded the page"),
        "{page}"
    );
    let now = server.admin.get_user(user.id).await.expect("read");
    assert_eq!(now.roles, ["readers"], "nothing was saved");
    assert!(page.contains(&format!("value=\"{}\"", now.etag)));
    assert!(page.contains("name=\"role\" value=\"readers\" checked"));
}

/// A key with users.read and users.write but not keys.issue: a role
/// carrying keys.issue, and a user holding it through the role, are out
/// of its reach, and a crafted change gets the RPC's refusal.
async fn a_partial_admin_cannot_change_a_role_carrying_what_it_lacks(server: TestServer) {
    server.create_role("issuers", &["keys.issue"]).await;
    let holder = server
        .admin
        .create_user(new_user("issuing-bot", &[]).roles(["issuers"]))
        .await
        .expect("a member");
    let (_, key) = server
        .user_with_key("partial", &["users.read", "users.write"])
        .await;
    let partial = ConsoleSession::sign_in(server.address, &key).await;

    let page = partial.get("/roles/issuers").await.text();
    assert!(
        page.contains("You cannot change this role: it carries keys.issue, which you do not."),
        "{page}"
    );
    assert!(!has_form(&page, "/roles/issuers"), "no edit form");
    assert!(!page.contains("/roles/issuers/delete"), "no delete");
    let page = partial.get("/roles/issuers/delete").await.text();
    assert!(!has_form(&page, "/roles/issuers/delete"), "{page}");
    let page = partial.get(&format!("/users/{}", holder.id)).await.text();
    assert!(
        page.contains("You cannot change this user: it holds keys.issue, which you do not."),
        "held through a role counts: {page}"
    );

    let role = server.admin.get_role("issuers").await.expect("read");
    let crafted = partial
        .post(
            "/roles/issuers",
            &[
                ("description", "taken over"),
                ("permission", "users.read"),
                ("etag", &role.etag),
            ],
        )
        .await;
    assert_eq!(crafted.status, 403, "{}", crafted.text());
    assert!(
        crafted
            .text()
            .contains("the role carries `keys.issue`, which the caller lacks"),
        "the RPC's own words: {}",
        crafted.text()
    );
    // Confirmed as the page would have it: the RPC refuses.
    let holder_id = holder.id.to_string();
    let deleted = partial
        .post(
            "/roles/issuers/delete",
            &[
                ("confirm", "issuers"),
                ("force", "true"),
                ("member_count", "1"),
                ("member", &holder_id),
            ],
        )
        .await;
    assert_eq!(deleted.status, 403, "{}", deleted.text());
    assert!(
        deleted
            .text()
            .contains("the role carries `keys.issue`, which the caller lacks")
    );
    let after = server.admin.get_role("issuers").await.expect("still there");
    assert_eq!(after, role, "nothing changed");
}

on_every_backend!(
    the_roles_pages_list_show_and_create_roles,
    a_stale_edit_says_the_role_or_user_changed,
    a_partial_admin_cannot_change_a_role_carrying_what_it_lacks,
);
