//! What guards the console's role changes, over plain HTTP: deleting a
//! role that users hold only with those users confirmed, and the CSRF
//! token and origin on every role change.

use crate::harness::{ConsoleSession, TestServer, code, new_user, on_every_backend};

async fn deleting_a_held_role_needs_its_members_confirmed(server: TestServer) {
    server.create_role("ops", &["ops.run"]).await;
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
    let role = server.create_role("kept", &["orders.read"]).await;
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
    deleting_a_held_role_needs_its_members_confirmed,
    role_changes_need_the_csrf_token,
);
