//! The tower layer, as shipped in the client crate's examples: an axum HTTP
//! service and a tonic gRPC service, each a real process protected by a real
//! accesskeyd. Allowed, unauthenticated, denied and accesskey-down cases.

use accesskey_client::NewUser;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::harness::{Example, TestServer, eventually, http_get};

/// A running accesskeyd with a service user (for the example) and two
/// callers: one holding `orders.read`, one not.
struct Setup {
    server: TestServer,
    service_key: String,
    reader_key: String,
    stranger_key: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let (_, service_key) = server
        .user_with_key("orders-service", &["keys.verify"])
        .await;
    let (_, reader_key) = server.user_with_key("reader", &["orders.read"]).await;
    let (_, stranger_key) = server.user_with_key("stranger", &["billing.read"]).await;
    Setup {
        server,
        service_key,
        reader_key,
        stranger_key,
    }
}

#[tokio::test]
async fn http_example_admits_valid_keys_and_rejects_the_rest() {
    let setup = setup().await;
    let service =
        Example::spawn("http_service", &setup.server.endpoint(), &setup.service_key).await;

    let ok = http_get(
        &service.address,
        "/orders",
        &[("x-access-key", &setup.reader_key)],
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        ok.body.contains("\"caller\":\"reader\""),
        "the handler sees the principal: {ok:?}"
    );

    let bearer = format!("Bearer {}", setup.reader_key);
    let ok = http_get(&service.address, "/orders", &[("authorization", &bearer)]).await;
    assert_eq!(ok.status, 200, "{ok:?}");

    let missing = http_get(&service.address, "/orders", &[]).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    assert!(
        missing.body.contains("\"error\":\"unauthenticated\""),
        "{missing:?}"
    );
    let bogus = http_get(
        &service.address,
        "/orders",
        &[("x-access-key", "akey_nonsense")],
    )
    .await;
    assert_eq!(bogus.status, 401, "{bogus:?}");

    let denied = http_get(
        &service.address,
        "/orders",
        &[("x-access-key", &setup.stranger_key)],
    )
    .await;
    assert_eq!(denied.status, 403, "{denied:?}");
    assert!(
        denied.body.contains("orders.read"),
        "names what is missing: {denied:?}"
    );

    // accesskey goes away: fail closed.
    let Setup {
        server, reader_key, ..
    } = setup;
    let _database = server.stop().await;
    let down = http_get(
        &service.address,
        "/orders",
        &[("x-access-key", &reader_key)],
    )
    .await;
    assert_eq!(down.status, 503, "{down:?}");
}

#[tokio::test]
async fn grpc_example_admits_valid_keys_and_rejects_the_rest() {
    let setup = setup().await;
    let service =
        Example::spawn("grpc_service", &setup.server.endpoint(), &setup.service_key).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", service.address))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the example");
    let check = |key: Option<String>| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            let mut request = tonic::Request::new(HealthCheckRequest::default());
            if let Some(key) = key {
                request
                    .metadata_mut()
                    .insert("x-access-key", key.parse().expect("ascii"));
            }
            client.check(request).await.map(|_| ())
        }
    };

    check(Some(setup.reader_key.clone()))
        .await
        .expect("a reader is served");
    assert_eq!(
        check(None).await.expect_err("no key").code(),
        Code::Unauthenticated
    );
    let denied = check(Some(setup.stranger_key.clone()))
        .await
        .expect_err("denied");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("orders.read"), "{denied:?}");

    // Revocation in accesskey is seen on the next call (no cache by default).
    let reader = setup
        .server
        .admin
        .get_user_by_name("reader")
        .await
        .expect("reader");
    setup
        .server
        .admin
        .revoke_access_key(reader.id)
        .await
        .expect("revoke");
    assert_eq!(
        check(Some(setup.reader_key.clone()))
            .await
            .expect_err("revoked")
            .code(),
        Code::Unauthenticated
    );
    let other = setup
        .server
        .admin
        .create_user(NewUser::new("other").permissions(["orders.read"]))
        .await
        .expect("create");
    let other_key = setup
        .server
        .admin
        .generate_access_key(other.id, None)
        .await
        .expect("key")
        .into_key();

    let Setup { server, .. } = setup;
    let _database = server.stop().await;
    assert_eq!(
        check(Some(other_key)).await.expect_err("down").code(),
        Code::Unavailable
    );
}

/// The layer in process, with the optional answer cache on: a revoked key
/// keeps working for at most the cache lifetime, then is rejected.
#[tokio::test]
async fn cached_answers_expire_within_their_bound() {
    use std::time::{Duration, Instant};

    use accesskey_client::{AccessKeyLayer, pb::Principal};
    use axum::{Extension, Router, routing::get};

    let setup = setup().await;
    let verifier = setup.server.client_with_key(&setup.service_key);
    let ttl = Duration::from_millis(700);
    let app = Router::new()
        .route(
            "/who",
            get(async |Extension(caller): Extension<Principal>| caller.username),
        )
        .route_layer(
            AccessKeyLayer::new(verifier)
                .require(["orders.read"])
                .cache_valid_for(ttl),
        );
    let address = serve(app).await;

    let who = http_get(&address, "/who", &[("x-access-key", &setup.reader_key)]).await;
    assert_eq!((who.status, who.body.as_str()), (200, "reader"));
    let reader = setup
        .server
        .admin
        .get_user_by_name("reader")
        .await
        .expect("reader");
    setup
        .server
        .admin
        .revoke_access_key(reader.id)
        .await
        .expect("revoke");
    let revoked_at = Instant::now();

    // Within the bound the cached answer may still admit it; past it, never.
    // (The margin covers the response's own travel time.)
    let bound = ttl + Duration::from_millis(200);
    eventually(
        bound,
        "a revoked key is refused within the cache bound",
        || async {
            let response = http_get(&address, "/who", &[("x-access-key", &setup.reader_key)]).await;
            match response.status {
                401 => Ok(()),
                200 => Err("200 (the cached answer)".to_owned()),
                _ => panic!("{response:?}"),
            }
        },
    )
    .await;
    assert!(revoked_at.elapsed() < ttl + Duration::from_secs(1));
    // Denials are never cached as successes: a stranger is refused each time.
    let denied = http_get(&address, "/who", &[("x-access-key", &setup.stranger_key)]).await;
    assert_eq!(denied.status, 403);
}

/// Per-path permissions (longest prefix wins) and anonymous paths.
#[tokio::test]
async fn permissions_follow_the_longest_matching_path_and_public_paths_need_no_key() {
    use accesskey_client::AccessKeyLayer;
    use axum::{Router, routing::get};

    let setup = setup().await;
    let verifier = setup.server.client_with_key(&setup.service_key);
    let app = Router::new()
        .route("/orders", get(async || "orders"))
        .route("/orders/admin", get(async || "admin"))
        .route("/healthz", get(async || "ok"))
        .layer(
            AccessKeyLayer::new(verifier)
                .require(["orders.read"])
                .require_for("/orders/admin", ["orders.admin"])
                .allow_anonymous("/healthz"),
        );
    let address = serve(app).await;

    let reader = [("x-access-key", setup.reader_key.as_str())];
    assert_eq!(http_get(&address, "/orders", &reader).await.status, 200);
    let admin = http_get(&address, "/orders/admin", &reader).await;
    assert_eq!(admin.status, 403, "{admin:?}");
    assert!(admin.body.contains("orders.admin"), "{admin:?}");
    assert_eq!(http_get(&address, "/healthz", &[]).await.status, 200);
    assert_eq!(http_get(&address, "/orders", &[]).await.status, 401);
}

/// Serves an axum app on an ephemeral port for the rest of the test.
async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// Which paths the layer protects: whole path segments, one longest-match
/// rule over public and protected prefixes, and no guessing at paths that
/// could mean something else to the service behind it.
#[tokio::test]
async fn paths_are_matched_by_whole_segments_and_ambiguous_ones_refused() {
    use accesskey_client::{AccessKeyLayer, Client};

    let setup = setup().await;
    let verifier = Client::builder(setup.server.endpoint())
        .access_key(&setup.service_key)
        .connect_lazy()
        .expect("client");
    let app = axum::Router::new().fallback(|| async { "served" }).layer(
        AccessKeyLayer::new(verifier)
            .require(["orders.read"])
            .allow_anonymous("/healthz")
            .require_for("/healthz/admin", ["users.write"]),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let reader = [("x-access-key", setup.reader_key.as_str())];
    for (path, headers, expected) in [
        ("/healthz", &[][..], 200),
        ("/healthz/live", &[][..], 200),
        // Not below /healthz: a different segment.
        ("/healthz-debug", &[][..], 401),
        // The more specific protected prefix wins over the anonymous one.
        ("/healthz/admin", &[][..], 401),
        ("/healthz/admin", &reader[..], 403),
        ("/orders", &reader[..], 200),
        ("/orders", &[][..], 401),
        // Paths the service might read differently: refused, not guessed.
        ("//orders", &reader[..], 400),
        ("/healthz/../orders", &[][..], 400),
        ("/healthz/%2e%2e/orders", &[][..], 400),
        ("/healthz%2Fadmin", &[][..], 400),
    ] {
        let response = http_get(&address, path, headers).await;
        assert_eq!(response.status, expected, "{path}: {response:?}");
    }
}
