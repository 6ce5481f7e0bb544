//! Floods and limits: argon2 work is bounded and sheds load quickly, wrong
//! secrets cost nothing (and, for keys from before fingerprints, are
//! throttled per key id) without locking out the genuine key, and oversized
//! requests are refused while other callers stay served.

use std::time::{Duration, Instant};

use accesskey_client::{Verification, pb};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{Backend, TestServer, new_user, wrong_secret};

const NONE: [&str; 0] = [];

/// Whether the genuine key is in use while its key id is flooded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Genuine {
    /// Used before the flood and throughout it, answered normally.
    InUse,
    /// Never presented.
    Idle,
}

/// 200 wrong secrets for `key`'s id at once, from a connection of their
/// own. Returns how many were answered NOT_FOUND and how many
/// RESOURCE_EXHAUSTED (with a RetryInfo); nothing else is allowed.
async fn flood_wrong_secrets(server: &TestServer, key: &str, genuine: Genuine) -> (usize, usize) {
    if genuine == Genuine::InUse {
        assert!(
            server
                .admin
                .verify(key, NONE)
                .await
                .expect("warm")
                .is_valid()
        );
    }
    // The attackers come on a connection of their own, as they would: what
    // is measured is the server, not 200 streams queued ahead of the
    // genuine call on one shared connection.
    let attacker = accesskey_client::Client::builder(server.endpoint())
        .access_key(&server.admin_key)
        .connect()
        .await
        .expect("connect");
    let attackers: Vec<_> = (0..200)
        .map(|_| {
            let stub = attacker.key_auth_stub();
            let forged = wrong_secret(key);
            tokio::spawn(async move {
                let mut stub = stub;
                stub.verify_access_key(pb::VerifyAccessKeyRequest {
                    access_key: forged,
                    required_permissions: vec![],
                })
                .await
            })
        })
        .collect();
    for _ in 0..if genuine == Genuine::InUse { 20 } else { 0 } {
        let started = Instant::now();
        assert!(
            server
                .admin
                .verify(key, ["orders.read"])
                .await
                .expect("genuine")
                .is_valid()
        );
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    let (mut not_found, mut throttled) = (0, 0);
    for attacker in attackers {
        match attacker.await.expect("task") {
            Ok(response) => {
                assert_eq!(response.into_inner().result(), pb::VerifyResult::NotFound);
                not_found += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                let retry = status.get_details_retry_info().expect("RetryInfo detail");
                assert!(
                    retry
                        .retry_delay
                        .is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(1))
                );
                throttled += 1;
            }
        }
    }
    (not_found, throttled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_flood_is_all_not_found_and_the_genuine_key_keeps_working() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key("target", &["orders.read"]).await;
    // Each wrong secret fails its fingerprint (or, the key being in use,
    // is known wrong from memory): nothing reaches argon2, so there is
    // nothing to throttle.
    assert_eq!(
        flood_wrong_secrets(&server, &key, Genuine::InUse).await,
        (200, 0)
    );
    let (_, idle) = server.user_with_key("idle", &[]).await;
    assert_eq!(
        flood_wrong_secrets(&server, &idle, Genuine::Idle).await,
        (200, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_for_a_key_from_before_fingerprints_are_throttled_per_key_id() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key("target", &["orders.read"]).await;
    server.forget_fingerprint(&key).await;
    // Not yet used in this process, so nothing about its secret is known:
    // each wrong secret costs argon2, and at most the burst of 10 (plus a
    // couple earned back meanwhile) get that far, however many arrive at
    // once.
    let (not_found, throttled) = flood_wrong_secrets(&server, &key, Genuine::Idle).await;
    assert!(
        (1..=13).contains(&not_found),
        "{not_found} wrong secrets reached argon2"
    );
    assert_eq!(
        not_found + throttled,
        200,
        "no attempt lost or double-counted"
    );
    // Once the genuine key is used (its fingerprint recorded, its secret
    // known), its wrong secrets cost nothing and are never throttled.
    // First a second for the flood's throttle to refill (the limit's
    // behaviour, not a wait for background work), so the genuine use passes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(server.verdict(&key, NONE).await.is_valid());
    assert_eq!(
        flood_wrong_secrets(&server, &key, Genuine::InUse).await,
        (200, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argon2_work_is_bounded_and_sheds_load_with_resource_exhausted() {
    let Some(server) = TestServer::start_configured(Backend::Sqlite, |config| {
        config.hash_workers = std::num::NonZeroUsize::new(1);
        config.hash_queue_timeout_ms = 20;
    })
    .await
    else {
        unreachable!("SQLite is always available");
    };
    let mut keys = Vec::new();
    for i in 0..12 {
        keys.push(server.user_with_key(&format!("cold{i}"), &[]).await.1);
    }
    // Every key is cold (never verified): each needs one argon2 run, but
    // only one runs at a time and a call waits at most 20 ms for its turn.
    let started = Instant::now();
    let checks: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let admin = server.admin.clone();
            tokio::spawn(async move { admin.verify(&key, NONE).await })
        })
        .collect();
    let (mut answered, mut shed) = (0, 0);
    for check in checks {
        match check.await.expect("task") {
            Ok(verdict) => {
                assert!(verdict.is_valid());
                answered += 1;
            }
            Err(err) => {
                assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
                shed += 1;
            }
        }
    }
    assert!(
        answered >= 1 && shed >= 1,
        "answered {answered}, shed {shed}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shedding is quick"
    );
}

#[tokio::test]
async fn oversized_requests_are_refused_and_others_stay_served() {
    let server = TestServer::start().await;
    let huge = accesskey_client::NewUser::new("big").display_name("x".repeat(1024 * 1024));
    let err = server
        .admin
        .create_user(huge)
        .await
        .expect_err("1 MiB request");
    assert!(
        matches!(err.code(), Some(Code::ResourceExhausted | Code::OutOfRange)),
        "{err}"
    );
    assert!(
        server
            .admin
            .get_user_by_name("big")
            .await
            .expect_err("not created")
            .is_not_found()
    );

    // A control client is served throughout.
    assert_eq!(
        server.admin.who_am_i().await.expect("control").username,
        "admin"
    );
    server
        .admin
        .create_user(new_user("normal", &[]))
        .await
        .expect("normal request");
    let verdict = server.admin.verify("akey_x", NONE).await.expect("verify");
    assert_eq!(verdict, Verification::Malformed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_stalled_connections_are_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const TIMEOUT: Duration = Duration::from_millis(1_000);
    let Some(server) = TestServer::start_configured(Backend::Sqlite, |config| {
        config.handshake_timeout_ms = 1_000;
    })
    .await
    else {
        return;
    };
    let (_, key) = server.user_with_key("control", &["orders.read"]).await;

    // One peer sends nothing; another sends half the HTTP/2 preface.
    let mut silent = tokio::net::TcpStream::connect(server.address)
        .await
        .expect("connect");
    let mut stalled = tokio::net::TcpStream::connect(server.address)
        .await
        .expect("connect");
    stalled
        .write_all(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..12])
        .await
        .expect("write");
    let opened = Instant::now();

    // A control client keeps being served meanwhile.
    while opened.elapsed() < TIMEOUT {
        assert!(
            server
                .admin
                .verify(&key, NONE)
                .await
                .expect("served")
                .is_valid()
        );
        // Calls spread over the timeout, not a wait for anything.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Both are closed soon after the timeout (a read sees EOF or a reset),
    // never held until the one-hour connection age limit.
    for peer in [&mut silent, &mut stalled] {
        let mut buffer = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match peer.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // e.g. the server's SETTINGS frame
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a silent peer was still connected after {:?}",
            opened.elapsed()
        );
    }

    // A client that completed its handshake may then idle past the timeout
    // (the idling is the behaviour under test).
    tokio::time::sleep(TIMEOUT + Duration::from_millis(500)).await;
    assert!(
        server
            .admin
            .verify(&key, NONE)
            .await
            .expect("an idle, established connection is kept")
            .is_valid()
    );
}

/// A WhoAmI whose metadata carries `entries` extra headers of `each` bytes.
fn padded_who_am_i(entries: usize, each: usize) -> tonic::Request<pb::WhoAmIRequest> {
    let mut request = tonic::Request::new(pb::WhoAmIRequest {});
    for entry in 0..entries {
        let name: tonic::metadata::MetadataKey<_> =
            format!("x-padding-{entry}").parse().expect("a header name");
        request
            .metadata_mut()
            .insert(name, "p".repeat(each).parse().expect("ascii"));
    }
    request
}

/// Oversized metadata fails that call alone, with a status that says so,
/// while calls in flight on the same connection carry on. (It used to
/// answer HTTP 431, which clients see as UNKNOWN, or from 64 KiB on close
/// the whole connection with GOAWAY, failing every other call on it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_metadata_fails_its_own_call_and_no_other() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key("bystander", &[]).await;
    let stub = server.admin.key_auth_stub();
    // (entries, bytes each): one large header, the old GOAWAY size, and
    // many small ones adding up.
    for (entries, each) in [(1, 20 * 1024), (1, 64 * 1024), (40, 1024), (100, 1000)] {
        // Calls in flight on the same connection while the oversized one
        // is refused: a cold verification (argon2) and a stream of
        // WhoAmIs.
        let bystanders: Vec<_> = (0..20)
            .map(|_| {
                let admin = server.admin.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    admin.verify(&key, NONE).await.map(|v| v.is_valid())?;
                    admin.who_am_i().await.map(|_| true)
                })
            })
            .collect();
        let refused = stub
            .clone()
            .who_am_i(padded_who_am_i(entries, each))
            .await
            .expect_err("oversized metadata");
        assert_eq!(
            refused.code(),
            Code::ResourceExhausted,
            "{entries} × {each} bytes: {refused:?}"
        );
        assert!(
            refused.message().contains("metadata") && refused.message().contains("16384"),
            "the status names the problem and the limit: {}",
            refused.message()
        );
        for bystander in bystanders {
            assert!(bystander.await.expect("task").expect("a bystander call"));
        }
    }
    // Just under the limit is served.
    let served = stub
        .clone()
        .who_am_i(padded_who_am_i(1, 15 * 1024))
        .await
        .expect("15 KiB of metadata");
    assert_eq!(
        served.into_inner().principal.expect("principal").username,
        "admin"
    );

    // Far over it, the HTTP/2 layer refuses the call itself (an HTTP 431,
    // which gRPC clients report as UNKNOWN); still that call alone.
    let bystanders: Vec<_> = (0..20)
        .map(|_| {
            let admin = server.admin.clone();
            tokio::spawn(async move { admin.who_am_i().await })
        })
        .collect();
    let refused = stub
        .clone()
        .who_am_i(padded_who_am_i(1, 160 * 1024))
        .await
        .expect_err("160 KiB of metadata");
    assert!(
        matches!(refused.code(), Code::Unknown | Code::ResourceExhausted),
        "{refused:?}"
    );
    for bystander in bystanders {
        bystander.await.expect("task").expect("a bystander call");
    }
}
