//! Keys issued in the console over plain HTTP (no browser): a new key is
//! shown once, only to the session that generated it, and never in a URL,
//! a cookie or a log; replacing one's own key keeps the session.

use accesskey_client::Verification;

use crate::harness::{
    ConsoleSession, EVERY_SERVICE_PERMISSION, HttpReply, TestServer, assert_not_stored,
    captured_logs, on_every_backend, text_area,
};

const NONE: [&str; 0] = [];

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

on_every_backend!(
    a_new_key_is_shown_only_to_the_session_that_generated_it,
    a_generated_key_is_shown_once_and_never_in_a_url_or_a_log,
    replacing_ones_own_key_keeps_the_session_and_shows_the_new_key,
);
