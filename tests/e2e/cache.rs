//! The verified-key cache never outlives a change: with every cache warm, a
//! revoked, replaced, expired or disabled key, and a removed permission, are
//! refused on the very next call, on every backend.

use std::time::{Duration, Instant, SystemTime};

use accesskey_client::{UserChanges, Verification};

use crate::harness::{
    Backend, Replica, TestDatabase, TestServer, bootstrap, new_user, on_every_backend,
    run_accesskeyd, wrong_secret,
};

const NONE: [&str; 0] = [];

/// Verifies `key` twice, so its secret and state are cached.
async fn warm(client: &accesskey_client::Client, key: &str, required: &[&str]) {
    for _ in 0..2 {
        let verdict = client
            .verify(key, required.iter().copied())
            .await
            .expect("verify");
        assert!(verdict.is_valid(), "{verdict:?}");
    }
}

async fn warm_keys_are_refused_right_after_revocation_or_replacement(server: TestServer) {
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    warm(&server.admin, &key, &["orders.read"]).await;
    let replacement = server
        .admin
        .generate_access_key(user.id, None)
        .await
        .expect("regenerate")
        .into_key();
    assert_eq!(
        server.admin.verify(&key, NONE).await.expect("verify"),
        Verification::NotFound
    );
    warm(&server.admin, &replacement, &[]).await;
    server
        .admin
        .revoke_access_key(user.id)
        .await
        .expect("revoke");
    assert_eq!(
        server.verdict(&replacement, NONE).await,
        Verification::NotFound
    );
}

async fn warm_keys_see_disabling_deletion_and_permission_changes_at_once(server: TestServer) {
    let (user, key) = server
        .user_with_key("svc", &["orders.read", "orders.write"])
        .await;
    warm(&server.admin, &key, &["orders.write"]).await;

    server
        .admin
        .update_user(user.id, UserChanges::new().permissions(["orders.read"]))
        .await
        .expect("demote");
    let verdict = server.verdict(&key, ["orders.write"]).await;
    assert!(
        matches!(verdict, Verification::PermissionDenied { .. }),
        "{verdict:?}"
    );

    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    let verdict = server.verdict(&key, ["orders.read"]).await;
    assert!(
        matches!(verdict, Verification::UserDisabled(_)),
        "{verdict:?}"
    );

    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(false))
        .await
        .expect("enable");
    warm(&server.admin, &key, &["orders.read"]).await;
    server.admin.delete_user(user.id).await.expect("delete");
    assert_eq!(
        server.admin.verify(&key, NONE).await.expect("verify"),
        Verification::NotFound
    );
}

async fn warm_keys_expire_on_time(server: TestServer) {
    let user = server
        .admin
        .create_user(new_user("brief", &[]))
        .await
        .expect("create");
    let expiry = SystemTime::now() + Duration::from_millis(1500);
    let key = server
        .admin
        .generate_access_key(user.id, Some(expiry))
        .await
        .expect("generate")
        .into_key();
    warm(&server.admin, &key, &[]).await;
    // The clock passing the expiry is the behaviour under test; no call
    // in between, so the cache stays as warm as it was.
    let deadline = Instant::now() + Duration::from_secs(10);
    while SystemTime::now() < expiry && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verdict = server.admin.verify(&key, NONE).await.expect("verify");
    assert!(matches!(verdict, Verification::Expired(_)), "{verdict:?}");
}

async fn a_wrong_secret_for_a_warm_key_id_is_still_not_found(server: TestServer) {
    let (_, key) = server.user_with_key("svc", &[]).await;
    warm(&server.admin, &key, &[]).await;
    let impostor = wrong_secret(&key);
    assert_eq!(
        server.admin.verify(&impostor, NONE).await.expect("verify"),
        Verification::NotFound
    );
    assert!(
        server.verdict(&key, NONE).await.is_valid(),
        "the genuine key still works"
    );
}

on_every_backend!(
    warm_keys_are_refused_right_after_revocation_or_replacement,
    warm_keys_see_disabling_deletion_and_permission_changes_at_once,
    warm_keys_expire_on_time,
    a_wrong_secret_for_a_warm_key_id_is_still_not_found
);

/// SQLite is written by one server only, which therefore answers warm
/// keys from memory; an operator may still edit the file behind its back
/// (an emergency `sqlite3` session disabling a user). Every such edit
/// counts from the very next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_around_the_server_counts_from_the_next_call() {
    let server = crate::harness::TestServer::start().await;
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    let verify = || server.admin.verify(&key, ["orders.read"]);

    warm(&server.admin, &key, &["orders.read"]).await;
    server
        .edit_around_the_server(&format!(
            "UPDATE users SET disabled = 1 WHERE id = {}",
            user.id
        ))
        .await;
    let verdict = verify().await.expect("verify");
    assert!(
        matches!(verdict, Verification::UserDisabled(_)),
        "{verdict:?}"
    );
    assert!(
        server.client_with_key(&key).who_am_i().await.is_err(),
        "a disabled user's key authenticates nothing"
    );

    server
        .edit_around_the_server(&format!(
            "UPDATE users SET disabled = 0 WHERE id = {}",
            user.id
        ))
        .await;
    warm(&server.admin, &key, &["orders.read"]).await;
    server
        .edit_around_the_server(&format!(
            "UPDATE users SET permissions = 'orders.write' WHERE id = {}",
            user.id
        ))
        .await;
    let verdict = verify().await.expect("verify");
    assert!(
        matches!(verdict, Verification::PermissionDenied { .. }),
        "{verdict:?}"
    );

    warm(&server.admin, &key, &[]).await;
    server
        .edit_around_the_server(&format!(
            "DELETE FROM access_keys WHERE user_id = {}",
            user.id
        ))
        .await;
    assert_eq!(verify().await.expect("verify"), Verification::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let _first = Replica::spawn(&database.url).await;
    let second =
        run_accesskeyd(&["--database-url", &database.url, "--listen", "127.0.0.1:0"]).await;
    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("another accesskeyd is already serving"),
        "{message}"
    );
    // The same file spelt otherwise: sqlx percent-decodes the path, and the
    // lock is taken on the file the path resolves to.
    let respelt = database.url.replace("accesskey.db", "acc%65sskey.db");
    assert_ne!(respelt, database.url);
    // A server that does start would serve until killed: give it 10 s.
    let second = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskeyd"))
            .args(["--database-url", &respelt, "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{respelt} served the same database under a second lock"))
    .expect("run accesskeyd");
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another accesskeyd is already serving"),
        "{second:?}"
    );
    let reissue =
        run_accesskeyd(&["--database-url", &database.url, "bootstrap", "--reissue"]).await;
    assert!(
        !reissue.status.success(),
        "a key cannot be replaced behind a running server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_time_advances_and_survives_a_graceful_restart() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let mut first = Replica::spawn(&database.url).await;
    let admin = first.client(&admin_key).await;
    let user = admin
        .create_user(new_user("svc", &[]))
        .await
        .expect("create");
    let key = admin
        .generate_access_key(user.id, None)
        .await
        .expect("generate")
        .into_key();
    let before = admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key");
    assert!(before.last_used_time.is_none());

    assert!(admin.verify(&key, NONE).await.expect("verify").is_valid());
    let used = admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key")
        .last_used_time;
    assert!(used.is_some(), "the use shows at once, before any flush");

    first.terminate().await;
    let second = Replica::spawn(&database.url).await;
    let admin = second.client(&admin_key).await;
    let after = admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key")
        .last_used_time;
    assert_eq!(
        after.map(|t| t.seconds),
        used.map(|t| t.seconds),
        "flushed on shutdown"
    );
}
