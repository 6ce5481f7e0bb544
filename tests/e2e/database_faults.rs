//! A database server that misbehaves under a running `accesskeyd`, through
//! the fault-injection proxy: silent (black-holed), slow, and cut. Calls
//! fail fast and honestly (UNAVAILABLE, with a RetryInfo), health says
//! NOT_SERVING while it lasts, the outage is logged once each way, no
//! revoked key is ever VALID, and no acknowledged write is lost.

use std::time::{Duration, Instant};

use accesskey_client::{Client, Verification};
use accesskey_server::Config;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt as _;

use crate::{
    fault_proxy::{Fault, FaultProxy, upstream_of},
    harness::{
        Backend, TestServer, captured_logs, eventually, new_user, on_every_backend, run_accesskeyd,
    },
};

const ACQUIRE_MS: u64 = 1_000;
const STATEMENT_MS: u64 = 1_000;

/// A server on a fresh database of `backend`, reaching it through a proxy
/// (with the server's default database timeouts); `None` when the backend
/// is not configured (outside CI).
async fn proxied(backend: Backend) -> Option<(FaultProxy, TestServer)> {
    proxied_with(backend, |_| {}).await
}

/// Like [`proxied`], with short database timeouts, so that a database that
/// stops answering fails calls within a couple of seconds.
async fn proxied_with_short_timeouts(backend: Backend) -> Option<(FaultProxy, TestServer)> {
    proxied_with(backend, |config| {
        config.db_acquire_timeout_ms = ACQUIRE_MS;
        config.db_statement_timeout_ms = STATEMENT_MS;
    })
    .await
}

async fn proxied_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> Option<(FaultProxy, TestServer)> {
    let variable = match backend {
        Backend::Postgres => "ACCESSKEY_TEST_POSTGRES_URL",
        Backend::Mysql => "ACCESSKEY_TEST_MYSQL_URL",
        Backend::Sqlite => unreachable!("SQLite has no network to fail"),
    };
    let admin_url = std::env::var(variable).ok().filter(|url| !url.is_empty());
    let proxy = FaultProxy::start(upstream_of(
        admin_url.as_deref().unwrap_or("tcp://127.0.0.1:1"),
    ))
    .await;
    let server = TestServer::start_configured(backend, |config| {
        config.database_url = proxy.route(&config.database_url);
        configure(config);
    })
    .await?;
    Some((proxy, server))
}

/// The health of the accesskey services and of the whole server, or
/// `None` if health itself did not answer within a second.
async fn health(server: &TestServer) -> Option<ServingStatus> {
    let mut health = HealthClient::new(server.admin.channel());
    let mut statuses = Vec::new();
    for service in ["accesskey.v1.UserAdmin", "accesskey.v1.KeyAuth", ""] {
        let check = health.check(HealthCheckRequest {
            service: service.to_owned(),
        });
        let response = tokio::time::timeout(Duration::from_secs(1), check)
            .await
            .ok()?
            .ok()?;
        statuses.push(response.into_inner().status());
    }
    statuses.dedup();
    (statuses.len() == 1).then(|| statuses[0])
}

/// Waits up to `limit` for health to report `wanted`; how long it took.
async fn health_becomes(server: &TestServer, wanted: ServingStatus, limit: Duration) -> Duration {
    let started = Instant::now();
    eventually(limit, &format!("health becomes {wanted:?}"), || async {
        match health(server).await {
            Some(status) if status == wanted => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    started.elapsed()
}

/// How many lines logged for the database behind `proxy` name `event`.
fn logged(proxy: &FaultProxy, event: &str) -> usize {
    let port = format!(":{}/", proxy.address.port());
    captured_logs()
        .lines()
        .filter(|line| line.contains(event) && line.contains(&port))
        .count()
}

async fn a_silent_database_fails_calls_fast_and_health_follows(
    (proxy, server): (FaultProxy, TestServer),
) {
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    let (gone, revoked) = server.user_with_key("gone", &[]).await;
    server
        .admin
        .revoke_access_key(gone.id)
        .await
        .expect("revoke");
    assert!(server.verdict(&key, ["orders.read"]).await.is_valid());
    assert_eq!(health(&server).await, Some(ServingStatus::Serving));

    proxy.set(Fault::BlackHole);
    let silent = Instant::now();
    // Every call that needs the database answers UNAVAILABLE within the
    // acquire timeout plus the statement timeout (plus a second of slack),
    // and never says VALID for the revoked key; meanwhile health turns.
    let bound = Duration::from_millis(ACQUIRE_MS + STATEMENT_MS + 1_000);
    let admin = &server.admin;
    let calls = async {
        let timed = |call: &str, outcome: Result<(), accesskey_client::Error>, started: Instant| {
            let took = started.elapsed();
            let error = outcome.expect_err(call);
            assert_eq!(error.code(), Some(Code::Unavailable), "{call}: {error}");
            assert!(took <= bound, "{call} took {took:?}, over {bound:?}");
        };
        let started = Instant::now();
        timed(
            "verify",
            admin.verify(&key, ["orders.read"]).await.map(|_| ()),
            started,
        );
        let started = Instant::now();
        let revoked_outcome = match admin.verify(&revoked, ["orders.read"]).await {
            Ok(Verification::Valid(_)) => panic!("a revoked key was VALID"),
            other => other.map(|_| ()),
        };
        timed("verify revoked", revoked_outcome, started);
        let started = Instant::now();
        timed("who_am_i", admin.who_am_i().await.map(|_| ()), started);
        let started = Instant::now();
        timed(
            "get_user",
            admin.get_user(user.id).await.map(|_| ()),
            started,
        );
        let started = Instant::now();
        let created = admin.create_user(new_user("during", &[])).await.map(|_| ());
        timed("create_user", created, started);
        let status = admin
            .key_auth_stub()
            .who_am_i(accesskey_client::pb::WhoAmIRequest {})
            .await
            .expect_err("silent database");
        let retry = status.get_details_retry_info().expect("a RetryInfo");
        assert!(
            retry
                .retry_delay
                .is_some_and(|delay| delay > Duration::ZERO)
        );
    };
    let ((), noticed) = tokio::join!(
        calls,
        health_becomes(&server, ServingStatus::NotServing, Duration::from_secs(5))
    );
    assert!(
        noticed <= Duration::from_secs(5),
        "NOT_SERVING after {noticed:?}"
    );
    // And a service manager asking `accesskeyd healthcheck` hears it.
    let endpoint = server.endpoint();
    let check = run_accesskeyd(&["healthcheck", "--endpoint", &endpoint]).await;
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("NOT_SERVING"), "{said}");

    // Silent for 10 s in all: the outage's length is the scenario, not a
    // wait for the server.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(silent.elapsed())).await;
    proxy.set(Fault::None);
    health_becomes(&server, ServingStatus::Serving, Duration::from_secs(5)).await;
    let check = run_accesskeyd(&["healthcheck", "--endpoint", &endpoint]).await;
    assert!(check.status.success(), "{check:?}");
    eventually(Duration::from_secs(5), "verification recovers", || async {
        match server.admin.verify(&key, ["orders.read"]).await {
            Ok(verdict) => {
                assert!(verdict.is_valid(), "{verdict:?}");
                Ok(())
            }
            Err(error) => {
                assert_eq!(error.code(), Some(Code::Unavailable), "{error}");
                Err(error.to_string())
            }
        }
    })
    .await;
    assert_eq!(
        server.verdict(&revoked, ["orders.read"]).await,
        Verification::NotFound
    );
    // Writes too, on connections that were never left mid-answer.
    server
        .admin
        .create_user(new_user("after", &[]))
        .await
        .expect("create after");
    server
        .admin
        .update_user(
            user.id,
            accesskey_client::UserChanges::new().display_name("after"),
        )
        .await
        .expect("a transaction after");
    assert_eq!(
        logged(&proxy, "database_down"),
        1,
        "the outage is logged once when it starts"
    );
    assert_eq!(logged(&proxy, "database_up"), 1, "and once when it ends");
}

async fn a_slow_database_still_serves((proxy, server): (FaultProxy, TestServer)) {
    let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
    // 100 ms each way: a 200 ms round trip, slower than any database a
    // service should sit behind. Since creates record an audit event in
    // their transaction, a create at 200 ms each way took 3.7 s on
    // PostgreSQL and 4.9 s on MariaDB, against the operation's 5 s bound
    // (acquire + statement timeouts), and failed on a loaded CI run; at
    // 100 ms it takes 1.9 s on both.
    proxy.set(Fault::Delay(Duration::from_millis(100)));
    assert!(server.verdict(&key, ["orders.read"]).await.is_valid());
    server.admin.who_am_i().await.expect("who am i");
    server.admin.get_user(user.id).await.expect("get");
    server
        .admin
        .update_user(
            user.id,
            accesskey_client::UserChanges::new().display_name("slow"),
        )
        .await
        .expect("update, a transaction of several round trips");
    server
        .admin
        .create_user(new_user("slowly", &[]))
        .await
        .expect("create");
    assert_eq!(health(&server).await, Some(ServingStatus::Serving));
}

async fn cut_connections_lose_no_acknowledged_write((proxy, server): (FaultProxy, TestServer)) {
    let (gone, revoked) = server.user_with_key("gone", &[]).await;
    server
        .admin
        .revoke_access_key(gone.id)
        .await
        .expect("revoke");
    let writer = Client::builder(server.endpoint())
        .access_key(&server.admin_key)
        .connect()
        .await
        .expect("connect");
    let cutting = async {
        for _ in 0..30 {
            // A cut every 100 ms for 3 s: the fault under test.
            tokio::time::sleep(Duration::from_millis(100)).await;
            proxy.cut();
        }
    };
    let writing = async {
        let mut acknowledged = Vec::new();
        let mut failed = 0;
        for i in 0..60 {
            match writer.create_user(new_user(&format!("cut-{i}"), &[])).await {
                Ok(user) => acknowledged.push(user.id),
                Err(error) => {
                    assert_eq!(error.code(), Some(Code::Unavailable), "{error}");
                    failed += 1;
                }
            }
            match writer.verify(&revoked, ["orders.read"]).await {
                Ok(Verification::Valid(_)) => panic!("a revoked key was VALID"),
                Ok(_) => {}
                Err(error) => assert_eq!(error.code(), Some(Code::Unavailable), "{error}"),
            }
            // Writes spread over the cuts, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (acknowledged, failed)
    };
    let ((), (acknowledged, _failed)) = tokio::join!(cutting, writing);
    assert!(!acknowledged.is_empty());
    for id in acknowledged {
        server
            .admin
            .get_user(id)
            .await
            .expect("an acknowledged user exists");
    }
}

on_every_backend!(
    [postgres, mysql] with proxied_with_short_timeouts;
    multi_thread;
    a_silent_database_fails_calls_fast_and_health_follows,
    cut_connections_lose_no_acknowledged_write,
);

on_every_backend!(
    [postgres, mysql] with proxied;
    multi_thread;
    a_slow_database_still_serves,
);
