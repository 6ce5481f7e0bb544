//! GenerateAccessKey and RevokeAccessKey: one key per user, shown once,
//! replaced atomically, refused for external and disabled users.

use std::time::{Duration, SystemTime};

use accesskey_client::{UserChanges, Verification, pb};
use accesskey_server::testing::key_format::{AccessKey, KEY_PREFIX};
use tonic::Code;

use crate::harness::{
    TestServer, code, count_valid, new_user, on_every_backend, race_generate_keys, raw,
};

const NO_PERMISSIONS: [&str; 0] = [];

async fn generated_key_is_shown_once_and_described_without_its_secret(server: TestServer) {
    let user = server.create_user("svc", &[]).await;
    let generated = server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("generate");
    let (key, info) = (generated.expose_key(), generated.info());
    let parsed = AccessKey::parse(key).expect("well-formed");
    assert!(key.starts_with(KEY_PREFIX));
    assert_eq!(info.key_id, parsed.key_id().as_str());
    assert!(info.expire_time.is_none() && info.last_used_time.is_none());

    let described = server.admin.get_user(user.id).await.expect("get");
    let described_key = described.access_key.clone().expect("has a key now");
    assert_eq!(described_key.key_id, info.key_id);
    let rendered = format!("{described:?}");
    assert!(
        !rendered.contains(&key[KEY_PREFIX.len() + 17..]),
        "the secret must not come back"
    );
}

async fn regenerating_replaces_the_old_key_at_once(server: TestServer) {
    let (user, first) = server.user_with_key("rotating", &[]).await;
    let second = server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("regenerate")
        .into_key();
    assert_ne!(first, second);
    assert_eq!(
        server.verdict(&first, NO_PERMISSIONS).await,
        Verification::NotFound
    );
    assert!(server.verdict(&second, NO_PERMISSIONS).await.is_valid());
}

async fn concurrent_regeneration_leaves_exactly_one_valid_key(server: TestServer) {
    let user = server.create_user("raced", &[]).await;
    let keys = race_generate_keys(std::slice::from_ref(&server.admin), user.id, 8).await;
    let valid = count_valid(&server.admin, &keys).await;
    assert_eq!(
        valid,
        1,
        "exactly one of {} racing keys may be valid",
        keys.len()
    );
    let current = server
        .admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key");
    let survivor = keys
        .iter()
        .find(|key| AccessKey::parse(key).expect("parse").key_id().as_str() == current.key_id);
    assert!(
        survivor.is_some(),
        "the stored key is one of those returned"
    );
}

async fn revoked_keys_stop_working_and_revoking_twice_is_not_found(server: TestServer) {
    let (user, key) = server.user_with_key("revoked", &[]).await;
    server
        .admin
        .revoke_access_key(user.id)
        .await
        .expect("revoke");
    assert_eq!(
        server.verdict(&key, NO_PERMISSIONS).await,
        Verification::NotFound
    );
    assert!(
        server
            .admin
            .get_user(user.id)
            .await
            .expect("get")
            .access_key
            .is_none()
    );
    assert_eq!(
        code(server.admin.revoke_access_key(user.id).await),
        Code::NotFound
    );
}

async fn external_identity_provider_users_cannot_have_a_key(server: TestServer) {
    let external = new_user("sso.user", &["orders.read"]).identity_provider("okta");
    let user = server
        .admin
        .create_user(external)
        .await
        .expect("external users may exist");
    assert_eq!(user.identity_provider, "okta");
    let err = server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    assert!(
        err.to_string().contains("external identity provider"),
        "{err}"
    );

    let explicit_local = new_user("local.user", &[]).identity_provider("local");
    let local = server
        .admin
        .create_user(explicit_local)
        .await
        .expect("create");
    server
        .admin
        .generate_access_key(local.id, None)
        .await
        .expect("local users may");
}

async fn disabled_users_cannot_be_issued_a_key(server: TestServer) {
    let user = server.create_user("sleepy", &[]).await;
    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    assert_eq!(
        code(server.admin.generate_access_key(user.id, None).await),
        Code::FailedPrecondition
    );
}

async fn expire_time_must_be_in_the_future(server: TestServer) {
    let user = server.create_user("timed", &[]).await;
    let past = SystemTime::now() - Duration::from_secs(60);
    let err = server
        .admin
        .generate_access_key(user.id, Some(past))
        .await
        .expect_err("past");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert!(err.to_string().contains("expire_time"), "{err}");
    // Not a valid timestamp at all: only the raw stub can send it.
    let nonsense = pb::GenerateAccessKeyRequest {
        user_id: user.id,
        expire_time: Some(prost_types::Timestamp {
            seconds: 1,
            nanos: -5,
        }),
    };
    assert_eq!(
        code(raw(server
            .admin
            .user_admin_stub()
            .generate_access_key(nonsense)
            .await)),
        Code::InvalidArgument
    );

    let future = SystemTime::now() + Duration::from_secs(3600);
    let generated = server
        .admin
        .generate_access_key(user.id, Some(future))
        .await
        .expect("future");
    assert_eq!(
        generated.info().expire_time.map(|t| t.seconds),
        Some(prost_types::Timestamp::from(future).seconds)
    );
}

on_every_backend!(
    generated_key_is_shown_once_and_described_without_its_secret,
    regenerating_replaces_the_old_key_at_once,
    concurrent_regeneration_leaves_exactly_one_valid_key,
    revoked_keys_stop_working_and_revoking_twice_is_not_found,
    external_identity_provider_users_cannot_have_a_key,
    disabled_users_cannot_be_issued_a_key,
    expire_time_must_be_in_the_future
);
