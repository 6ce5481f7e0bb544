//! Hostile callers: what a flood of wrong secrets can and cannot do.

use accesskey_client::Verification;
use tonic::Code;

use crate::harness::{TestServer, on_every_backend, wrong_secret};

const NONE: [&str; 0] = [];

async fn wrong_secrets_for_a_key_id_do_not_lock_its_key_out(server: TestServer) {
    // Key ids are public (GetUser, logs, Principal.key_id). A key just
    // issued is not warm in this process: before fingerprints, ~10
    // wrong secrets for its key id made it RESOURCE_EXHAUSTED for as
    // long as the attack went on, with no credentials at all.
    let (_, key) = server.user_with_key("svc", &["orders.read"]).await;
    let (_, other) = server.user_with_key("other", &[]).await;
    for round in 0..100 {
        // As a caller's own credential: anonymous, so to speak.
        let attacker = server.client_with_key(&wrong_secret(&key));
        let err = attacker.who_am_i().await.expect_err("a wrong secret");
        assert_eq!(
            err.code(),
            Some(Code::Unauthenticated),
            "round {round}: {err}"
        );
        // As the subject of a verification.
        let verdict = server
            .admin
            .verify(&wrong_secret(&other), NONE)
            .await
            .expect("an answer");
        assert_eq!(verdict, Verification::NotFound, "round {round}");
    }
    // Both genuine keys work on their very first use.
    let me = server
        .client_with_key(&key)
        .who_am_i()
        .await
        .expect("not locked out");
    assert_eq!(me.username, "svc");
    assert!(server.verdict(&other, NONE).await.is_valid());
}

on_every_backend!(wrong_secrets_for_a_key_id_do_not_lock_its_key_out);

/// Every refusal leaves a line an operator can act on: the key id that was
/// tried (public, never the key) and the outcome, shed calls included, and
/// which permissions a change added and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_name_the_key_id_the_outcome_and_what_changed() {
    let server = crate::harness::TestServer::start().await;
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    let key_id = &key[5..21];
    let lines_with = |needles: &[&str]| {
        crate::harness::captured_logs()
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .count()
    };

    let wrong = wrong_secret(&key);
    let err = server
        .client_with_key(&wrong)
        .who_am_i()
        .await
        .expect_err("a wrong secret");
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert_eq!(
        lines_with(&[
            "event=\"auth\"",
            "outcome=\"failure\"",
            &format!("key_id={key_id}")
        ]),
        1,
        "the failed attempt names the key id it tried"
    );

    server
        .admin
        .update_user(
            user.id,
            accesskey_client::UserChanges::new().permissions(["orders.write", "payments.read"]),
        )
        .await
        .expect("update");
    assert_eq!(
        lines_with(&[
            "event=\"user_updated\"",
            &format!("user_id={}", user.id),
            "permissions_added=orders.write,payments.read",
            "permissions_removed=orders.read",
        ]),
        1
    );

    // A key from before fingerprints: its wrong secrets are still throttled,
    // and each refusal is logged as shed.
    server.forget_fingerprint(&key).await;
    let mut shed = 0;
    for _ in 0..30 {
        if let Err(err) = server.admin.verify(&wrong_secret(&key), NONE).await {
            assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
            shed += 1;
        }
    }
    assert!(shed > 0, "the throttle refused some");
    assert_eq!(
        lines_with(&[
            "event=\"shed\"",
            "rpc=\"VerifyAccessKey\"",
            &format!("key_id={}", &server.admin_key[5..21]),
        ]),
        shed,
        "every shed call is logged"
    );
    assert!(
        !crate::harness::captured_logs().contains(&key[22..]),
        "never the secret"
    );
}
