//! A graceful shutdown (a restart, a rolling deploy) fails only the calls it
//! catches, and the client reports those as UNAVAILABLE, which a caller
//! retries, never as an INTERNAL fault of the server.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinSet;

use crate::harness::{TestServer, eventually};

/// Calls kept in flight on one connection while its server shuts down:
/// some are answered, some meet the GOAWAY or the closed port.
#[tokio::test]
async fn calls_caught_by_a_graceful_shutdown_are_unavailable_never_internal() {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut not_retryable = Vec::new();
    for _ in 0..3 {
        let server = TestServer::start().await;
        let mut callers = JoinSet::new();
        let answered = Arc::new(AtomicUsize::new(0));
        for _ in 0..16 {
            let client = server.admin.clone();
            let answered = Arc::clone(&answered);
            callers.spawn(async move {
                // Until the first failure: a caller that saw one would
                // retry, on a new connection, which the test does not need.
                loop {
                    if let Err(error) = client.who_am_i().await {
                        return error;
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The shutdown must catch calls in flight: wait until the callers
        // are being answered (as many answers as there are callers).
        eventually(
            Duration::from_secs(10),
            "the callers are answered",
            || async {
                match answered.load(Ordering::Relaxed) {
                    count if count >= 16 => Ok(()),
                    count => Err(format!("{count} answers")),
                }
            },
        )
        .await;
        drop(server.stop().await);
        while let Some(error) = callers.join_next().await {
            let error = error.expect("caller task");
            *outcomes.entry(format!("{:?}", error.code())).or_default() += 1;
            if !error.is_unavailable() {
                not_retryable.push(error.to_string());
            }
        }
    }
    assert!(
        not_retryable.is_empty(),
        "every call a shutdown caught is retryable; got {not_retryable:?} (all: {outcomes:?})"
    );
}

/// SIGTERM while a health watch is open (a load balancer's or Kubernetes'
/// gRPC probe keeps one, unauthenticated, for as long as it likes): the
/// watch ends with UNAVAILABLE, the process exits well within its grace,
/// and the key use it saw is written to the database on the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_open_health_watch_exits_within_the_grace_and_writes_the_last_uses() {
    use std::time::{Duration, Instant};

    use accesskey_server::{Config, testing::entity::access_key};
    use sea_orm::{ColumnTrait as _, Database, EntityTrait as _, QueryFilter as _};
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    use crate::harness::{Backend, Replica, TestDatabase, bootstrap};

    let database = TestDatabase::create(Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    // Uses are flushed hourly here: only the final flush can write this one.
    let mut replica = Replica::spawn_with(
        &database.url,
        "info",
        &[
            "--shutdown-grace-secs",
            "20",
            "--last-used-flush-secs",
            "3600",
            // One connection: the prune at start, the call and the final
            // flush all take it, so one left inside a transaction shows.
            "--db-max-connections",
            "1",
        ],
    )
    .await;
    let admin = replica.client(&admin_key).await;
    admin.who_am_i().await.expect("a use of the admin key");
    let mut watch = HealthClient::new(admin.channel())
        .watch(HealthCheckRequest::default())
        .await
        .expect("watch health")
        .into_inner();
    let first = watch.message().await.expect("a status").expect("a status");
    assert_eq!(first.status, 1, "SERVING");

    let asked = Instant::now();
    replica.terminate().await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "exits promptly, not after the 20 s grace: {took:?}"
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the watch has ended");
    assert!(
        !matches!(ended, Ok(Some(_))),
        "the watch ends with the server: {ended:?}"
    );

    let key_id = accesskey_server::testing::key_format::AccessKey::parse(&admin_key)
        .expect("well-formed")
        .key_id()
        .as_str()
        .to_owned();
    let db = Database::connect(&database.url).await.expect("connect");
    let stored = access_key::Entity::find()
        .filter(access_key::Column::KeyId.eq(key_id.as_str()))
        .one(&db)
        .await
        .expect("query")
        .expect("the admin key's row");
    assert!(
        stored.last_used_time.is_some(),
        "the last use was written on the way out"
    );
    let _ = db.close().await;
    // A start, a call and a stop that went as planned leave no warning
    // (the prune at start once left its transaction to a drop, and the
    // pool closed that connection with one).
    let output = String::from_utf8_lossy(&replica.output()).into_owned();
    let warnings: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
