//! Connection limits: idle peers cannot take every file descriptor, and a
//! full listener neither spins nor stops serving.

use std::time::Duration;

use accesskey_server::Config;

use crate::harness::{Backend, Replica, TestDatabase, bootstrap};

/// 100 idle connections against a server that may open 64 files and hold
/// 16 connections: beyond 16 they wait in the backlog, so the descriptors
/// the database needs stay free and no failing accept is retried in a
/// tight loop (without the limit, accepts fail with EMFILE and the accept
/// loop spins a core); as the handshake deadline closes idle ones, the
/// rest are served, and a WhoAmI gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_exhaust_neither_descriptors_nor_a_core() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    let replica = Replica::spawn_with_descriptors(
        &database.url,
        &["--max-connections", "16", "--handshake-timeout-ms", "1000"],
        64,
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(
            tokio::net::TcpStream::connect(replica.address)
                .await
                .expect("connect (queued in the backlog if not accepted)"),
        );
    }
    let before = replica.cpu_time();
    // Idle time is the behaviour under test: what the server spends on it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = replica.cpu_time() - before;
    assert!(
        spent < Duration::from_millis(500),
        "the server spent {spent:?} of CPU in 2 s with idle connections waiting"
    );
    let who = tokio::time::timeout(Duration::from_secs(20), async {
        replica.client(&admin_key).await.who_am_i().await
    })
    .await
    .expect("answered while idle connections come and go")
    .expect("WhoAmI");
    assert_eq!(who.username, "admin");
    let output = String::from_utf8_lossy(&replica.output()).into_owned();
    assert_eq!(
        output.matches("connection limit reached").count(),
        1,
        "one warning a minute while full, not one per connection: {output}"
    );
    assert!(
        !output.contains("accepting a connection failed"),
        "{output}"
    );
    drop(idle);
}
