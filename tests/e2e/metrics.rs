//! `--metrics-listen`: Prometheus metrics on a listener of their own, whose
//! values move as calls are made, with label values from closed sets only.

use std::{collections::BTreeMap, net::SocketAddr};

use accesskey_client::Verification;
use accesskey_server::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{
    Backend, Replica, TestDatabase, bootstrap, http_get, user_with_key, wrong_secret,
};

/// Every sample of an exposition, by `name{labels}` as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// How much `series` grew between two scrapes (absent counts as 0).
fn grew(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    let value = |samples: &BTreeMap<String, f64>| samples.get(series).copied().unwrap_or(0.0);
    value(after) - value(before)
}

async fn scrape(address: &SocketAddr) -> (String, BTreeMap<String, f64>) {
    let response = http_get(address, "/metrics", &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let parsed = samples(&response.body);
    (response.body, parsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_move_with_the_calls_made_and_never_name_a_caller() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    let replica =
        Replica::spawn_with(&database.url, "info", &["--metrics-listen", "127.0.0.1:0"]).await;
    let address = replica.announced("metrics").await;
    assert_ne!(address, replica.address, "a listener of its own");
    let admin = replica.client(&admin_key).await;
    let (text, before) = scrape(&address).await;
    for name in [
        "accesskey_build_info",
        "accesskey_verify_cache_entries",
        "accesskey_argon2_workers",
        "accesskey_argon2_queue_depth",
        "accesskey_db_pool_connections",
        "accesskey_db_operation_duration_seconds_bucket",
        "accesskey_audit_events_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }

    let (_, key) = user_with_key(&admin, "metered-svc", &["orders.read"]).await;
    for _ in 0..3 {
        let verdict = admin.verify(&key, ["orders.read"]).await.expect("verify");
        assert!(verdict.is_valid());
    }
    let verdict = admin
        .verify(&wrong_secret(&key), ["orders.read"])
        .await
        .expect("verify");
    assert_eq!(verdict, Verification::NotFound);
    let verdict = admin
        .verify("not a key", ["orders.read"])
        .await
        .expect("verify");
    assert_eq!(verdict, Verification::Malformed);
    let denied = replica
        .client("akey_this_is_not_a_real_key")
        .await
        .who_am_i()
        .await;
    assert!(denied.is_err());

    let (text, after) = scrape(&address).await;
    let verify_ok = "accesskey_rpc_requests_total{method=\"KeyAuth/VerifyAccessKey\",code=\"OK\"}";
    assert_eq!(grew(&before, &after, verify_ok), 5.0, "{text}");
    assert_eq!(
        grew(
            &before,
            &after,
            "accesskey_rpc_requests_total{method=\"KeyAuth/WhoAmI\",code=\"UNAUTHENTICATED\"}"
        ),
        1.0
    );
    assert!(
        grew(
            &before,
            &after,
            "accesskey_rpc_duration_seconds_count{method=\"KeyAuth/VerifyAccessKey\"}"
        ) >= 5.0
    );
    for (result, count) in [("valid", 3.0), ("not_found", 1.0), ("malformed", 1.0)] {
        let series = format!("accesskey_verifications_total{{result=\"{result}\"}}");
        assert_eq!(grew(&before, &after, &series), count, "{series}");
    }
    for (action, count) in [("user.created", 1.0), ("key.generated", 1.0)] {
        let series = format!("accesskey_audit_events_total{{action=\"{action}\"}}");
        assert_eq!(grew(&before, &after, &series), count, "{series}");
    }
    assert_eq!(
        grew(
            &before,
            &after,
            "accesskey_argon2_runs_total{kind=\"hash\"}"
        ),
        1.0
    );
    assert!(
        grew(
            &before,
            &after,
            "accesskey_verify_cache_lookups_total{outcome=\"current\"}"
        ) >= 1.0,
        "warm verifications are answered from memory"
    );
    assert!(
        grew(
            &before,
            &after,
            "accesskey_db_operation_duration_seconds_count"
        ) >= 1.0
    );

    // Closed label sets: nothing a caller sent or owns is a label value.
    let key_id = &key[5..21];
    for private in ["metered-svc", key_id, "not a key", "akey_this_is_not"] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
    // And the gRPC port serves no metrics (it speaks HTTP/2 only, and
    // resets an HTTP/1.1 request).
    let mut grpc = tokio::net::TcpStream::connect(replica.address)
        .await
        .expect("connect");
    grpc.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    let _ = grpc.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains("accesskey_"));
}
