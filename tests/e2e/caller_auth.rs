//! How callers authenticate: exactly one key, in either metadata form, and
//! what each bad credential gets.

use accesskey_client::{
    ListUsers, UserChanges,
    pb::{self, key_auth_client::KeyAuthClient},
};
use accesskey_server::testing::key_format::AccessKey;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::harness::{TestServer, code, on_every_backend, wrong_secret};

/// Calls WhoAmI with exactly the given metadata entries.
async fn who_am_i_with(
    server: &TestServer,
    entries: &[(&'static str, String)],
) -> Result<pb::Principal, tonic::Status> {
    let mut request = Request::new(pb::WhoAmIRequest {});
    for (name, value) in entries {
        let value = MetadataValue::try_from(value.as_str()).expect("ascii metadata");
        request.metadata_mut().append(*name, value);
    }
    let mut client = KeyAuthClient::new(server.admin.channel());
    Ok(client
        .who_am_i(request)
        .await?
        .into_inner()
        .principal
        .expect("principal"))
}

const NO_PERMISSIONS: [&str; 0] = [];

async fn both_metadata_forms_authenticate(server: TestServer) {
    let key = server.admin_key.clone();
    let by_header = who_am_i_with(&server, &[("x-access-key", key.clone())])
        .await
        .expect("x-access-key");
    let by_bearer = who_am_i_with(&server, &[("authorization", format!("Bearer {key}"))])
        .await
        .expect("bearer");
    assert_eq!(by_header, by_bearer);
    assert_eq!(by_header.username, "admin");
    assert_eq!(
        by_header.permissions,
        [
            "audit.read",
            "keys.issue",
            "keys.verify",
            "users.read",
            "users.write"
        ]
    );
}

async fn bad_or_missing_credentials_are_unauthenticated(server: TestServer) {
    let key = server.admin_key.clone();
    let stranger = AccessKey::generate().expect("csprng").expose_plaintext();
    let wrong_secret = wrong_secret(&key);
    let cases: Vec<Vec<(&'static str, String)>> = vec![
        vec![],
        vec![("x-access-key", "not-a-key".to_owned())],
        vec![("x-access-key", stranger)],
        vec![("x-access-key", wrong_secret)],
        vec![("x-access-key", key.to_uppercase())],
        vec![("x-access-key", format!("{key} "))],
        vec![("authorization", format!("Basic {key}"))],
        vec![("authorization", key.clone())],
        // Two credentials, in any order and combination.
        vec![("x-access-key", key.clone()), ("x-access-key", key.clone())],
        vec![
            ("x-access-key", key.clone()),
            ("authorization", format!("Bearer {key}")),
        ],
        vec![
            ("authorization", format!("Bearer {key}")),
            ("x-access-key", key.clone()),
        ],
    ];
    for entries in cases {
        let status = who_am_i_with(&server, &entries)
            .await
            .expect_err("must be refused");
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{:?}",
            entries.iter().map(|e| e.0).collect::<Vec<_>>()
        );
        assert!(
            !status.message().contains(&key),
            "the key must not be echoed"
        );
    }
}

async fn every_rpc_requires_a_key(server: TestServer) {
    let anonymous = server.client_with_key("");
    assert_eq!(
        code(
            anonymous
                .create_user(crate::harness::new_user("x", &[]))
                .await
        ),
        Code::Unauthenticated
    );
    assert_eq!(code(anonymous.get_user(1).await), Code::Unauthenticated);
    assert_eq!(
        code(anonymous.list_users(ListUsers::new()).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(anonymous.update_user(1, UserChanges::new().email("")).await),
        Code::Unauthenticated
    );
    assert_eq!(code(anonymous.delete_user(1).await), Code::Unauthenticated);
    assert_eq!(
        code(anonymous.generate_access_key(1, None).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(anonymous.revoke_access_key(1).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(anonymous.verify("x", ["a"]).await),
        Code::Unauthenticated
    );
    assert_eq!(code(anonymous.who_am_i().await), Code::Unauthenticated);
}

async fn each_rpc_needs_its_permission_and_says_which(server: TestServer) {
    let (_, key) = server.user_with_key("nobody", &["orders.read"]).await;
    let weak = server.client_with_key(&key);
    let expect_denied = |result: Result<(), accesskey_client::Error>, permission: &str| {
        let err = result.expect_err("denied");
        assert_eq!(err.code(), Some(Code::PermissionDenied), "{err}");
        assert!(
            err.to_string().contains(permission),
            "{err} should name {permission}"
        );
    };
    expect_denied(
        weak.create_user(crate::harness::new_user("x", &[]))
            .await
            .map(drop),
        "users.write",
    );
    expect_denied(weak.get_user(1).await.map(drop), "users.read");
    expect_denied(
        weak.list_users(ListUsers::new()).await.map(drop),
        "users.read",
    );
    expect_denied(
        weak.update_user(1, UserChanges::new().email(""))
            .await
            .map(drop),
        "users.write",
    );
    expect_denied(weak.delete_user(1).await, "users.write");
    expect_denied(
        weak.generate_access_key(1, None).await.map(drop),
        "keys.issue",
    );
    expect_denied(weak.revoke_access_key(1).await, "keys.issue");
    expect_denied(weak.verify(&key, ["a"]).await.map(drop), "keys.verify");
    // WhoAmI needs only a valid key.
    assert_eq!(weak.who_am_i().await.expect("whoami").username, "nobody");
}

async fn disabled_callers_and_removed_permissions_lose_access_on_the_next_call(server: TestServer) {
    let (user, key) = server.user_with_key("ops", &["users.read"]).await;
    let ops = server.client_with_key(&key);
    ops.get_user(user.id).await.expect("allowed");

    let user = server
        .admin
        .update_user(user.id, UserChanges::new().permissions(NO_PERMISSIONS))
        .await
        .expect("demote");
    assert_eq!(code(ops.get_user(user.id).await), Code::PermissionDenied);

    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    let err = ops.who_am_i().await.expect_err("disabled");
    assert!(err.is_unauthenticated(), "{err}");
    assert!(err.to_string().contains("disabled"), "{err}");
}

on_every_backend!(
    both_metadata_forms_authenticate,
    bad_or_missing_credentials_are_unauthenticated,
    every_rpc_requires_a_key,
    each_rpc_needs_its_permission_and_says_which,
    disabled_callers_and_removed_permissions_lose_access_on_the_next_call
);
