//! How the console meets the network: on its own listener or the gRPC
//! port, behind a TLS proxy at a pinned origin, only at host names nobody
//! else can point here, never taking a key over plain HTTP from afar, with
//! a page, not a gRPC reply, for oversized requests; gRPC-Web beside it on
//! the same port; and none of it with `--console false`.

use std::net::IpAddr;

use accesskey_server::Config;

use crate::harness::{
    Backend, ConsoleSession, Replica, SESSION_COOKIE, TestDatabase, TestServer, bootstrap,
    http_request, http_request_to, http1_answer, sign_in,
};

/// Five planted 3.9 KB cookies (a "cookie bomb" from a sibling subdomain or
/// another port) put a page request's headers over the limit: the browser
/// gets a 431 page that says what to do, not an empty `application/grpc`
/// reply it would save as a download; gRPC callers still get their status.
#[tokio::test]
async fn oversized_headers_on_a_page_get_a_431_page() {
    let server = TestServer::start().await;
    let planted: Vec<String> = (0..5)
        .map(|i| format!("bomb{i}={}", "x".repeat(3_900)))
        .collect();
    let cookie = planted.join("; ");
    for path in ["/users", "/sign-in", "/no-such-page"] {
        let reply = http_request(&server.address, "GET", path, &[("Cookie", &cookie)], b"").await;
        assert_eq!(reply.status, 431, "{path}: {}", reply.text());
        assert!(
            reply
                .header("content-type")
                .is_some_and(|kind| kind.starts_with("text/html")),
            "{path}: a page, not {:?}",
            reply.header("content-type")
        );
        assert!(reply.text().contains("cookies"), "{path}: says why");
        assert!(reply.header("content-security-policy").is_some(), "{path}");
    }
    assert!(server.admin.who_am_i().await.is_ok(), "gRPC still served");
}

/// `--console-listen`: the console (pages and gRPC-Web) on a listener of its
/// own; the gRPC port then serves gRPC alone, and no page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_listen_moves_every_page_off_the_grpc_port() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    let replica =
        Replica::spawn_with(&database.url, "info", &["--console-listen", "127.0.0.1:0"]).await;
    let console = replica.announced("console").await;
    assert_ne!(console, replica.address, "a listener of its own");

    let page = http_request(&console, "GET", "/sign-in", &[], b"").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Access key"), "the sign-in form");
    let session = ConsoleSession::sign_in(console, &admin_key).await;
    assert_eq!(session.get("/users").await.status, 200, "signed in there");

    // The gRPC port speaks only HTTP/2: a browser's HTTP/1.1 gets no page.
    let answer = http1_answer(&replica.address, "/sign-in").await;
    assert!(
        !answer.contains("<html") && !answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    let admin = replica.client(&admin_key).await;
    assert!(admin.who_am_i().await.is_ok(), "gRPC on the gRPC port");
}

/// DNS rebinding: a page of `evil.example` whose name is re-pointed at this
/// server's address reaches the console with `Host: evil.example`. Over
/// plain HTTP only IP literals and `localhost` are served, so it gets a 421
/// page: no form, no cookie, no data, even with the victim's cookie.
#[tokio::test]
async fn a_rebound_host_name_gets_no_page() {
    let server = TestServer::start().await;
    let session = ConsoleSession::sign_in(server.address, &server.admin_key).await;
    let port = server.address.port();
    for (host, served) in [
        (format!("127.0.0.1:{port}"), true),
        (format!("localhost:{port}"), true),
        (format!("evil.example:{port}"), false),
        (format!("127.0.0.1.nip.io:{port}"), false),
    ] {
        let reply = http_request_to(
            &server.address,
            &host,
            "GET",
            "/users",
            &[("Cookie", &session.cookie_header())],
            b"",
        )
        .await;
        if served {
            assert_eq!(reply.status, 200, "{host}: {}", reply.text());
            continue;
        }
        assert_eq!(reply.status, 421, "{host}: {}", reply.text());
        assert!(!reply.text().contains("admin"), "{host}: no user shown");
        assert!(reply.header("set-cookie").is_none(), "{host}: no cookie");
        let form = http_request_to(&server.address, &host, "GET", "/sign-in", &[], b"").await;
        assert_eq!(form.status, 421, "{host}: no sign-in form either");
    }
    assert!(server.admin.who_am_i().await.is_ok(), "gRPC is not a page");
}

/// `--console-origin https://…`, behind a proxy that terminates TLS: pages
/// answer only to that host, form posts only from that origin, the cookie
/// is `__Host-` and `Secure`, and every page carries HSTS.
#[tokio::test]
async fn a_pinned_origin_is_the_only_one_served_and_gets_secure_cookies_and_hsts() {
    let server = TestServer::start_configured(Backend::Sqlite, |config| {
        config.console_origin = Some("https://admin.example.test".to_owned());
    })
    .await
    .expect("SQLite");
    let host = "admin.example.test";
    let direct = http_request(&server.address, "GET", "/sign-in", &[], b"").await;
    assert_eq!(direct.status, 421, "not at the server's own address");
    assert!(
        direct.text().contains("https://admin.example.test"),
        "says where"
    );

    let page = http_request_to(&server.address, host, "GET", "/sign-in", &[], b"").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    let form = format!("access_key={}", server.admin_key);
    let post = |origin: &'static str| {
        let form = form.clone();
        let address = server.address;
        async move {
            http_request_to(
                &address,
                host,
                "POST",
                "/sign-in",
                &[
                    ("Origin", origin),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                form.as_bytes(),
            )
            .await
        }
    };
    let forged = post("http://admin.example.test").await;
    assert_eq!(forged.status, 403, "another scheme is another origin");
    assert!(forged.header("set-cookie").is_none());
    let signed_in = post("https://admin.example.test").await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    let cookie = signed_in
        .set_cookie(SESSION_COOKIE)
        .expect("the __Host- session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

/// An address on this machine that is neither loopback nor private, as an
/// internet peer's would be: TEST-NET-2's 198.51.100.7 added to `lo`
/// (needs root; skipped without it, failed under CI).
fn external_address() -> Option<IpAddr> {
    let address: IpAddr = "198.51.100.7".parse().expect("an address");
    let added = std::process::Command::new("ip")
        .args(["addr", "add", "198.51.100.7/32", "dev", "lo"])
        .output();
    let present = std::process::Command::new("ip")
        .args(["-br", "addr", "show", "dev", "lo"])
        .output()
        .is_ok_and(|shown| String::from_utf8_lossy(&shown.stdout).contains("198.51.100.7"));
    if present {
        return Some(address);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot add {address} to lo: {added:?}"
    );
    None
}

/// Over plain HTTP, a browser that is neither on this machine nor on a
/// private network is refused the sign-in form and a posted key is refused
/// unread, with the reason and what to do; `--console-allow-plain-http`
/// lets it sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_over_plain_http_from_afar_is_refused_unless_allowed() {
    let Some(external) = external_address() else {
        return;
    };
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
    let listen = format!("{external}:0");
    for allowed in [false, true] {
        let mut flags = vec!["--console-listen", listen.as_str()];
        if allowed {
            flags.extend(["--console-allow-plain-http", "true"]);
        }
        let mut replica = Replica::spawn_with(&database.url, "info", &flags).await;
        let console = replica.announced("console").await;
        assert_eq!(console.ip(), external);
        let form = http_request(&console, "GET", "/sign-in", &[], b"").await;
        let posted = sign_in(console, &admin_key, &format!("http://{console}")).await;
        if allowed {
            assert_eq!(form.status, 200, "{}", form.text());
            assert_eq!(posted.status, 303, "{}", posted.text());
        } else {
            assert_eq!(form.status, 403, "{}", form.text());
            assert!(!form.text().contains("<form"), "no field to type a key in");
            assert!(
                form.text().contains("--console-allow-plain-http"),
                "says why"
            );
            assert_eq!(posted.status, 403, "{}", posted.text());
            assert!(posted.header("set-cookie").is_none(), "no session");
        }
        replica.terminate().await;
    }
}

/// gRPC-Web on the same port: VerifyAccessKey over HTTP/1.1, as a browser
/// or `curl` would call it.
#[tokio::test]
async fn grpc_web_calls_verify_access_key_on_the_same_port() {
    use accesskey_client::pb;
    use prost::Message as _;

    let server = TestServer::start().await;
    let (_, key) = server
        .user_with_key("orders-service", &["orders.read"])
        .await;
    let message = pb::VerifyAccessKeyRequest {
        access_key: key.clone(),
        required_permissions: vec!["orders.read".to_owned()],
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&message);
    let reply = http_request(
        &server.address,
        "POST",
        "/accesskey.v1.KeyAuth/VerifyAccessKey",
        &[
            ("Content-Type", "application/grpc-web+proto"),
            ("X-Grpc-Web", "1"),
            ("x-access-key", &server.admin_key),
            // As a page on another site would send it: no CORS grant comes
            // back, so a browser would not hand that page the answer.
            ("Origin", "http://evil.example"),
        ],
        &body,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("access-control-")),
        "no CORS headers: {:?}",
        reply.headers
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/grpc-web"))
    );
    let frames = reply.body;
    assert_eq!(frames[0], 0, "a data frame first");
    let length = u32::from_be_bytes(frames[1..5].try_into().expect("4 bytes")) as usize;
    let response = pb::VerifyAccessKeyResponse::decode(&frames[5..5 + length]).expect("decode");
    assert_eq!(response.result(), pb::VerifyResult::Valid);
    let trailers = String::from_utf8_lossy(&frames[5 + length + 5..]).to_ascii_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// `--console false`: no pages and no HTTP/1.1, native gRPC unchanged.
#[tokio::test]
async fn the_console_can_be_turned_off() {
    let server = TestServer::start_configured(Backend::Sqlite, |config: &mut Config| {
        config.console = false;
    })
    .await
    .expect("SQLite");
    // `/sign-in`, a page with the console on (`/` would only redirect).
    let answer = http1_answer(&server.address, "/sign-in").await;
    assert!(
        !answer.contains("<html") && !answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(server.admin.who_am_i().await.is_ok(), "gRPC still served");
}
