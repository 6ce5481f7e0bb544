//! Hostile callers: what a flood of wrong secrets can and cannot do.

use accesskey_client::Verification;
use tonic::Code;

use crate::harness::{on_every_backend, wrong_secret};

const NONE: [&str; 0] = [];

on_every_backend! {
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
            assert_eq!(err.code(), Some(Code::Unauthenticated), "round {round}: {err}");
            // As the subject of a verification.
            let verdict = server
                .admin
                .verify(&wrong_secret(&other), NONE)
                .await
                .expect("an answer");
            assert_eq!(verdict, Verification::NotFound, "round {round}");
        }
        // Both genuine keys work on their very first use.
        let me = server.client_with_key(&key).who_am_i().await.expect("not locked out");
        assert_eq!(me.username, "svc");
        assert!(server.admin.verify(&other, NONE).await.expect("verify").is_valid());
    }
}
