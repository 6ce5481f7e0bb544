//! VerifyAccessKey: every result, and that only the holder of the real
//! secret learns anything about a key.

use std::time::{Duration, SystemTime};

use accesskey_client::{UserChanges, Verification};
use accesskey_server::testing::key_format::AccessKey;
use tonic::Code;

use crate::harness::{TestServer, code, eventually, on_every_backend, wrong_secret};

const NO_PERMISSIONS: [&str; 0] = [];

async fn valid_key_with_held_permissions_is_valid_with_its_principal(server: TestServer) {
    let (user, key) = server
        .user_with_key("orders", &["orders.read", "orders.write"])
        .await;
    let Verification::Valid(principal) = server.verdict(&key, ["orders.read"]).await else {
        panic!("expected VALID");
    };
    assert_eq!(principal.user_id, user.id);
    assert_eq!(principal.username, "orders");
    assert_eq!(principal.permissions, ["orders.read", "orders.write"]);
    assert_eq!(
        principal.key_id,
        AccessKey::parse(&key).expect("parse").key_id().as_str()
    );
}

async fn a_service_may_verify_its_own_key_and_its_callers_in_one_call(server: TestServer) {
    // The caller's key and the presented one are read together; the
    // same key in both places, or two different keys, must both work,
    // cold and warm.
    let (service, service_key) = server.user_with_key("gateway", &["keys.verify"]).await;
    let (_, other_key) = server.user_with_key("orders", &["orders.read"]).await;
    let gateway = server.client_with_key(&service_key);
    for round in 0..2 {
        let own = gateway
            .verify(&service_key, ["keys.verify"])
            .await
            .expect("verify");
        let Verification::Valid(principal) = own else {
            panic!("round {round}: a caller's own key is VALID, got {own:?}");
        };
        assert_eq!(principal.user_id, service.id);
        let other = gateway
            .verify(&other_key, ["orders.read"])
            .await
            .expect("verify");
        assert!(other.is_valid(), "round {round}: {other:?}");
    }
    // Revoked: as a caller and as a presented key, the warm key is dead.
    server
        .admin
        .revoke_access_key(service.id)
        .await
        .expect("revoke");
    assert_eq!(
        code(gateway.verify(&other_key, ["orders.read"]).await),
        Code::Unauthenticated
    );
    let after = server.verdict(&service_key, NO_PERMISSIONS).await;
    assert_eq!(after, Verification::NotFound);
}

async fn missing_permissions_are_listed(server: TestServer) {
    let (_, key) = server.user_with_key("reader", &["orders.read"]).await;
    let verdict = server
        .verdict(&key, ["orders.read", "orders.write", "billing.read"])
        .await;
    let Verification::PermissionDenied { principal, missing } = verdict else {
        panic!("expected PERMISSION_DENIED, got {verdict:?}");
    };
    assert_eq!(principal.username, "reader");
    assert_eq!(missing, ["billing.read", "orders.write"]);
}

async fn malformed_keys_are_malformed(server: TestServer) {
    let (_, key) = server.user_with_key("typo", &[]).await;
    let mut typo = key.clone().into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    for bad in [
        String::new(),
        "hello".to_owned(),
        typo,
        key[..key.len() - 1].to_owned(),
        format!("{key} "),
        key.to_uppercase(),
    ] {
        assert_eq!(
            server.verdict(&bad, NO_PERMISSIONS).await,
            Verification::Malformed,
            "{bad:?}"
        );
    }
}

async fn unknown_keys_and_wrong_secrets_are_not_found_whatever_the_user_state(server: TestServer) {
    let (user, key) = server.user_with_key("target", &["orders.read"]).await;
    let real = AccessKey::parse(&key).expect("parse");
    let stranger = AccessKey::generate().expect("csprng");
    let wrong_secret = real.with_secret_of(&stranger).expose_plaintext();

    assert_eq!(
        server
            .verdict(&stranger.expose_plaintext(), NO_PERMISSIONS)
            .await,
        Verification::NotFound
    );
    assert_eq!(
        server.verdict(&wrong_secret, NO_PERMISSIONS).await,
        Verification::NotFound
    );

    // A disabled user's key: the holder learns it is disabled, a guesser does not.
    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    assert_eq!(
        server.verdict(&wrong_secret, ["orders.read"]).await,
        Verification::NotFound
    );
    assert!(matches!(
        server.admin.verify(&key, ["orders.read"]).await.expect("verify"),
        Verification::UserDisabled(p) if p.user_id == user.id
    ));

    // Enabled again, the same key works again.
    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(false))
        .await
        .expect("enable");
    assert!(server.verdict(&key, ["orders.read"]).await.is_valid());
}

async fn expired_keys_are_expired_once_the_secret_matches(server: TestServer) {
    let user = server.create_user("brief", &[]).await;
    let soon = SystemTime::now() + Duration::from_millis(1500);
    let key = server
        .admin
        .generate_access_key(user.id, Some(soon))
        .await
        .expect("generate")
        .into_key();
    assert!(server.verdict(&key, NO_PERMISSIONS).await.is_valid());

    // Wait for the expiry to pass (bounded), then it must be EXPIRED.
    let verdict = eventually(
        Duration::from_secs(10),
        "the key stops being valid",
        || async {
            match server.verdict(&key, NO_PERMISSIONS).await {
                verdict if verdict.is_valid() => Err(format!("{verdict:?}")),
                verdict => Ok(verdict),
            }
        },
    )
    .await;
    assert!(
        matches!(verdict, Verification::Expired(ref p) if p.user_id == user.id),
        "{verdict:?}"
    );
    let wrong = wrong_secret(&key);
    assert_eq!(
        server.verdict(&wrong, NO_PERMISSIONS).await,
        Verification::NotFound
    );
    // An expired key cannot authenticate a caller either.
    assert!(
        server
            .client_with_key(&key)
            .who_am_i()
            .await
            .expect_err("expired")
            .is_unauthenticated()
    );
}

async fn verify_needs_the_keys_verify_permission_and_valid_required_permissions(
    server: TestServer,
) {
    let (_, subject) = server.user_with_key("subject", &[]).await;
    let (_, backend_key) = server.user_with_key("backend", &["keys.verify"]).await;
    let (_, bystander_key) = server.user_with_key("bystander", &["users.read"]).await;

    let backend = server.client_with_key(&backend_key);
    assert!(
        backend
            .verify(&subject, NO_PERMISSIONS)
            .await
            .expect("verify")
            .is_valid()
    );
    let err = server
        .client_with_key(&bystander_key)
        .verify(&subject, NO_PERMISSIONS)
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    assert!(err.to_string().contains("keys.verify"), "{err}");

    let err = backend
        .verify(&subject, ["Not Valid"])
        .await
        .expect_err("bad permission");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert!(err.to_string().contains("required_permissions[0]"), "{err}");
}

on_every_backend!(
    valid_key_with_held_permissions_is_valid_with_its_principal,
    a_service_may_verify_its_own_key_and_its_callers_in_one_call,
    missing_permissions_are_listed,
    malformed_keys_are_malformed,
    unknown_keys_and_wrong_secrets_are_not_found_whatever_the_user_state,
    expired_keys_are_expired_once_the_secret_matches,
    verify_needs_the_keys_verify_permission_and_valid_required_permissions
);
