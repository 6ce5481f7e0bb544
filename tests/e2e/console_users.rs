//! The console's users pages over plain HTTP (no browser): search by
//! prefix and paging, and changes the services refuse, shown in their words
//! beside what was typed.

use crate::harness::{ConsoleSession, TestServer, code, on_every_backend};

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

on_every_backend!(
    refused_changes_show_the_services_words_and_keep_what_was_typed,
    the_users_page_searches_by_prefix_and_pages_through_everyone,
);
