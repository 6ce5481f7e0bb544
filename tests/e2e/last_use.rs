//! Key uses: which presentations count as a use, how `last_used_time` is
//! reported, and how uses reach the database (in batches, once per second
//! of precision, and on shutdown) on every backend.

use std::time::{Duration, SystemTime};

use accesskey_client::{ListUsers, UserChanges, Verification};
use accesskey_server::testing::entity::access_key;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use tonic::Code;

use crate::harness::{Backend, TestServer, code, eventually, on_every_backend};

const NO_PERMISSIONS: [&str; 0] = [];

async fn only_presentations_that_authenticate_are_uses(server: TestServer) {
    // `last_used_time` is kept to the second: each rejected
    // presentation below comes over a second after the last real use,
    // so recording it would move the time.
    let last_used = |user_id: i64| {
        let admin = server.admin.clone();
        async move {
            admin
                .get_user(user_id)
                .await
                .expect("get")
                .access_key
                .expect("key")
                .last_used_time
        }
    };
    let (user, key) = server.user_with_key("switched-off", &[]).await;
    assert!(server.verdict(&key, NO_PERMISSIONS).await.is_valid());
    let used = last_used(user.id).await.expect("a use");

    // A disabled user's key, known from memory and then read again.
    server
        .admin
        .update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    // Into a later second, so that a use recorded now would show (the
    // clock passing is the point, not a wait for the server).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        server.verdict(&key, NO_PERMISSIONS).await,
        Verification::UserDisabled(_)
    ));
    assert!(server.client_with_key(&key).who_am_i().await.is_err());
    assert_eq!(
        last_used(user.id).await,
        Some(used),
        "a disabled user's key was not used"
    );

    // A disabled user's key presented for the first time.
    let (idle, key) = server.user_with_key("idle", &[]).await;
    server
        .admin
        .update_user(idle.id, UserChanges::new().disabled(true))
        .await
        .expect("disable");
    assert!(matches!(
        server.verdict(&key, NO_PERMISSIONS).await,
        Verification::UserDisabled(_)
    ));
    assert_eq!(last_used(idle.id).await, None, "never used");

    // An expired key, answered from memory after its last real use.
    let (brief, _) = server.user_with_key("brief-use", &[]).await;
    let key = server
        .admin
        .generate_access_key(
            brief.id,
            Some(SystemTime::now() + Duration::from_millis(1500)),
        )
        .await
        .expect("generate")
        .into_key();
    assert!(server.verdict(&key, NO_PERMISSIONS).await.is_valid());
    let used = last_used(brief.id).await.expect("a use");
    // The clock passing the expiry is the behaviour under test.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    for _ in 0..2 {
        assert!(matches!(
            server.verdict(&key, NO_PERMISSIONS).await,
            Verification::Expired(_)
        ));
    }
    assert_eq!(
        last_used(brief.id).await,
        Some(used),
        "an expired key was not used"
    );
}

async fn last_used_time_is_recorded(server: TestServer) {
    let (user, key) = server.user_with_key("used", &[]).await;
    let before = server
        .admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key");
    assert!(before.last_used_time.is_none());
    server.verdict(&key, NO_PERMISSIONS).await;
    let after = server
        .admin
        .get_user(user.id)
        .await
        .expect("get")
        .access_key
        .expect("key");
    assert!(after.last_used_time.is_some());
    assert_eq!(
        code(server.admin.verify(&key, ["UPPER"]).await),
        Code::InvalidArgument
    );
}

on_every_backend!(
    only_presentations_that_authenticate_are_uses,
    last_used_time_is_recorded
);

/// Key uses reach the database in batches, on every backend, without a
/// write per verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_uses_are_flushed_to_the_database_in_batches() {
    use accesskey_server::testing::key_format::AccessKey;
    use sea_orm::Database;

    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(server) = TestServer::start_configured(backend, |config| {
            config.last_used_flush_secs = 1;
        })
        .await
        else {
            continue;
        };
        let mut key_ids = Vec::new();
        for i in 0..3 {
            let (_, key) = server.user_with_key(&format!("svc{i}"), &[]).await;
            assert!(server.verdict(&key, Vec::<String>::new()).await.is_valid());
            key_ids.push(
                AccessKey::parse(&key)
                    .expect("parse")
                    .key_id()
                    .as_str()
                    .to_owned(),
            );
        }
        let db = Database::connect(&server.database().url)
            .await
            .expect("connect");
        let what = format!("{backend:?}: all 3 uses are flushed");
        eventually(Duration::from_secs(10), &what, || async {
            let flushed = access_key::Entity::find()
                .filter(access_key::Column::KeyId.is_in(key_ids.clone()))
                .filter(access_key::Column::LastUsedTime.is_not_null())
                .count(&db)
                .await
                .expect("count");
            if flushed == 3 {
                Ok(())
            } else {
                Err(format!("{flushed} flushed"))
            }
        })
        .await;
        let _ = db.close().await;
    }
}

/// The `last_used_time` the database holds for `key_id`, in whole seconds.
async fn stored_last_use(db: &sea_orm::DatabaseConnection, key_id: &str) -> Option<i64> {
    let row = access_key::Entity::find()
        .filter(access_key::Column::KeyId.eq(key_id))
        .one(db)
        .await
        .expect("query")
        .expect("the key's row");
    row.last_used_time.map(|micros| micros / 1_000_000)
}

/// Polls until the database holds `expected` as the key's last use.
async fn wait_for_stored_last_use(db: &sea_orm::DatabaseConnection, key_id: &str, expected: i64) {
    let what = format!("the database holds the use at {expected}");
    eventually(Duration::from_secs(10), &what, || async {
        match stored_last_use(db, key_id).await {
            Some(stored) if stored == expected => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// Verifies `key` in a later second than any use before, and returns the
/// use as GetUser reports it.
async fn use_in_a_new_second(server: &TestServer, user_id: i64, key: &str) -> i64 {
    // The clock passing into a new second is the point, not a wait.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(server.verdict(key, Vec::<String>::new()).await.is_valid());
    server
        .admin
        .get_user(user_id)
        .await
        .expect("get")
        .access_key
        .expect("a key")
        .last_used_time
        .expect("a use")
        .seconds
}

#[tokio::test]
async fn a_key_in_constant_use_is_written_once_per_precision_and_exactly_on_shutdown() {
    use accesskey_server::testing::key_format::AccessKey;

    for precision_secs in [3_600, 1] {
        let server = TestServer::start_configured(Backend::Sqlite, |config| {
            config.last_used_flush_secs = 1;
            config.last_used_precision_secs = precision_secs;
        })
        .await
        .expect("SQLite");
        let (user, key) = server.user_with_key("svc", &[]).await;
        let key_id = AccessKey::parse(&key)
            .expect("parse")
            .key_id()
            .as_str()
            .to_owned();
        let db = sea_orm::Database::connect(&server.database().url)
            .await
            .expect("connect");

        let first = use_in_a_new_second(&server, user.id, &key).await;
        wait_for_stored_last_use(&db, &key_id, first).await;
        let second = use_in_a_new_second(&server, user.id, &key).await;
        assert!(second > first, "GetUser shows the latest use at once");
        let listed = server
            .admin
            .list_users(ListUsers::new().prefix("svc"))
            .await
            .expect("list")
            .users
            .into_iter()
            .find(|listed| listed.id == user.id)
            .and_then(|listed| listed.access_key?.last_used_time)
            .map(|time| time.seconds);
        assert_eq!(listed, Some(second), "so does ListUsers");
        if precision_secs == 1 {
            wait_for_stored_last_use(&db, &key_id, second).await;
            let _ = db.close().await;
            continue;
        }
        // Two more flushes pass: the second use is within the precision.
        // Nothing is to be written, so no outcome to poll for: the flushes
        // are given the time to write it, and must not.
        tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
        assert_eq!(stored_last_use(&db, &key_id).await, Some(first));
        let _ = db.close().await;

        let database = server.stop().await;
        let db = sea_orm::Database::connect(&database.url)
            .await
            .expect("connect");
        assert_eq!(
            stored_last_use(&db, &key_id).await,
            Some(second),
            "a graceful shutdown writes the exact last use"
        );
        let _ = db.close().await;
    }
}
