//! The hot read's batching and its kept connections.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database};
use sea_orm_migration::MigratorTrait as _;

use super::*;

/// The queue of reads is bounded: with every read stuck (the pool's one
/// connection held elsewhere), the reads past the bound are refused at
/// once with a retryable UNAVAILABLE, and the queue recovers when the
/// connection comes back.
#[tokio::test]
async fn reads_past_the_bound_are_shed_and_the_queue_recovers() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect");
    super::super::migration::Migrator::up(&db, None)
        .await
        .expect("migrate");
    let reads = KeyReads::start(&db, 1, None).expect("start");
    let key_id = KeyId::from_stored("aaaaaaaaaaaaaaaa".to_owned());

    let held = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .expect("the pool's only connection");
    // The first read takes the batcher's one slot and waits for the
    // connection; the next ones fill the queue (and give up, as callers
    // with short deadlines do).
    let stuck = tokio::spawn({
        let reads = reads.clone();
        let key_id = key_id.clone();
        async move { reads.credentials(&[&key_id]).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let ids = [&key_id];
    for _ in 0..MAX_QUEUED {
        // Polled once (it queues itself), then dropped: a caller that
        // gave up.
        let mut queued = std::pin::pin!(reads.credentials(&ids));
        assert!(queued.as_mut().poll(&mut context).is_pending());
    }
    let shed = tokio::time::timeout(Duration::from_secs(1), reads.credentials(&ids))
        .await
        .expect("refused at once, not queued");
    assert!(
        matches!(shed, Err(StoreError::Unavailable { .. })),
        "{shed:?}"
    );

    drop(held);
    assert!(stuck.await.expect("task").expect("read").is_empty());
    let read = tokio::time::timeout(Duration::from_secs(10), reads.credentials(&[&key_id]))
        .await
        .expect("the queue drained");
    assert!(read.expect("read").is_empty());
}

#[test]
fn the_hot_read_is_the_join_the_entities_describe() {
    use super::hot_pool::credential_read;
    use sea_orm::sea_query::PostgresQueryBuilder;

    assert_eq!(
        credential_read(2).build(PostgresQueryBuilder).0,
        r#"SELECT "access_keys"."key_id", "access_keys"."secret_hash", "access_keys"."secret_fingerprint", "access_keys"."expire_time", "users"."id", "users"."username", COALESCE("users"."effective_permissions", "users"."permissions"), "users"."disabled" FROM "access_keys" INNER JOIN "users" ON "users"."id" = "access_keys"."user_id" WHERE "access_keys"."key_id" IN ($1, $2)"#
    );
}
