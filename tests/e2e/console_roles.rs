//! The console's roles pages over plain HTTP (no browser): the list, a
//! role's page and a user's effective permissions with their source; the
//! power order over roles as the RPCs apply it; deleting a role only with
//! its members confirmed; and the CSRF defence on every role change.

use accesskey_client::{NewRole, RoleChanges, UserChanges, pb};

use crate::harness::{
    ConsoleSession, TestServer, assert_not_stored, code, new_user, on_every_backend,
};

/// Creates role `name` carrying `permission`.
async fn create_role(server: &TestServer, name: &str, permission: &str) -> pb::Role {
    server
        .admin
        .create_role(NewRole::new(name).permissions([permission]))
        .await
        .expect("a role")
}

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
    let role = create_role(&server, "readers", "orders.read").await;
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
    create_role(&server, "issuers", "keys.issue").await;
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

async fn deleting_a_held_role_needs_its_members_confirmed(server: TestServer) {
    create_role(&server, "ops", "ops.run").await;
    let mut members = Vec::new();
    for name in ["ops-a", "ops-b"] {
        let user = server
            .admin
            .create_user(new_user(name, &[]).roles(["ops"]))
            .await
            .expect("a member");
        members.push(user);
    }
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let page = session.get("/roles/ops/delete").await.text();
    for member in &members {
        assert!(
            page.contains(&format!(
                "<a href=\"/users/{}\">{}</a>",
                member.id, member.username
            )),
            "names {}: {page}",
            member.username
        );
    }
    assert!(
        page.contains("Take the role from these 2 user(s)"),
        "{page}"
    );
    let etag = server.admin.get_role("ops").await.expect("read").etag;
    let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();

    // The name typed, but taking it from its members not confirmed.
    let unconfirmed = session
        .post(
            "/roles/ops/delete",
            &[("confirm", "ops"), ("etag", &etag), ("member_count", "2")],
        )
        .await;
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.text());
    assert!(
        unconfirmed.text().contains("2 user(s) hold this role"),
        "{}",
        unconfirmed.text()
    );
    assert!(server.admin.get_role("ops").await.is_ok(), "not deleted");

    // Confirmed for other members than hold it now.
    let wrong_members = session
        .post(
            "/roles/ops/delete",
            &[
                ("confirm", "ops"),
                ("etag", &etag),
                ("force", "true"),
                ("member_count", "1"),
                ("member", &ids[0]),
            ],
        )
        .await;
    assert_eq!(wrong_members.status, 409, "{}", wrong_members.text());
    assert!(server.admin.get_role("ops").await.is_ok(), "not deleted");

    // The name not typed.
    let untyped = session
        .post(
            "/roles/ops/delete",
            &[
                ("confirm", "nope"),
                ("force", "true"),
                ("member_count", "2"),
                ("member", &ids[0]),
                ("member", &ids[1]),
            ],
        )
        .await;
    assert_eq!(untyped.status, 400);
    assert!(server.admin.get_role("ops").await.is_ok(), "not deleted");

    let confirmed = session
        .post(
            "/roles/ops/delete",
            &[
                ("confirm", "ops"),
                ("etag", &etag),
                ("force", "true"),
                ("member_count", "2"),
                ("member", &ids[1]),
                ("member", &ids[0]),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.text());
    assert_eq!(
        confirmed.header("location"),
        Some("/roles?notice=role-deleted")
    );
    assert_eq!(
        code(server.admin.get_role("ops").await),
        tonic::Code::NotFound
    );
    for member in &members {
        let user = server.admin.get_user(member.id).await.expect("read");
        assert!(user.roles.is_empty() && user.effective_permissions.is_empty());
    }
}

/// Every role change needs the session's CSRF token and the console's own
/// origin.
async fn role_changes_need_the_csrf_token(server: TestServer) {
    let role = create_role(&server, "kept", "orders.read").await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let own = format!("http://{}", server.address);
    let posts: [(&str, Vec<(&str, &str)>); 3] = [
        ("/roles", vec![("name", "planted")]),
        (
            "/roles/kept",
            vec![("description", "forged"), ("permission", "users.write")],
        ),
        ("/roles/kept/delete", vec![("confirm", "kept")]),
    ];
    for (path, fields) in &posts {
        for (origin, with_token, what) in [
            (Some(own.as_str()), false, "no token"),
            (Some("http://evil.example"), true, "another origin"),
            (None, true, "no origin"),
        ] {
            let reply = session
                .post_from(path, fields, origin, None, with_token)
                .await;
            assert_eq!(reply.status, 403, "{path}, {what}: {}", reply.text());
            assert!(
                reply
                    .text()
                    .contains("did not come from a page of this console"),
                "{path}, {what}"
            );
        }
        let wrong_token = [fields.as_slice(), &[("csrf", "0")]].concat();
        let reply = session.post(path, &wrong_token).await;
        assert_eq!(reply.status, 403, "{path}, a wrong token first");
    }
    assert_eq!(
        code(server.admin.get_role("planted").await),
        tonic::Code::NotFound
    );
    let after = server.admin.get_role("kept").await.expect("not deleted");
    assert_eq!(after, role, "unchanged");
}

on_every_backend!(
    the_roles_pages_list_show_and_create_roles,
    a_stale_edit_says_the_role_or_user_changed,
    a_partial_admin_cannot_change_a_role_carrying_what_it_lacks,
    deleting_a_held_role_needs_its_members_confirmed,
    role_changes_need_the_csrf_token,
);
