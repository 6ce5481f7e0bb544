//! TLS and mutual TLS between clients and accesskeyd, with certificates made
//! in the test: the typed client and the CLI, accepted and refused.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use accesskey_client::Client;
use accesskey_server::Config;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::net::TcpListener;

use crate::harness::{Backend, Browser, SESSION_COOKIE, TestDatabase, bootstrap, run_cli_at};

/// A private CA and PEM files for a server and a client certificate.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let ca = new_ca();
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write PEM")
        };
        write("ca.pem", ca.pem());
        for (name, purpose) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let mut params =
                CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .expect("valid names");
            params.extended_key_usages.push(purpose);
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("sign");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        write("other-ca.pem", new_ca().pem());
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read PEM")
    }
}

fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("no names");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("self-sign")
}

/// Starts accesskeyd with TLS (and mutual TLS when `client_ca` is given);
/// returns its https endpoint and the admin key.
async fn start_tls_server(pki: &Pki, client_ca: Option<&Path>) -> (String, String, TestDatabase) {
    start_tls_server_configured(pki, client_ca, |_| {}).await
}

async fn start_tls_server_configured(
    pki: &Pki,
    client_ca: Option<&Path>,
    configure: impl FnOnce(&mut Config),
) -> (String, String, TestDatabase) {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let mut config = Config::for_database(database.url.clone());
    configure(&mut config);
    config.tls_cert = Some(pki.path("server.pem"));
    config.tls_key = Some(pki.path("server.key"));
    config.tls_client_ca = client_ca.map(Path::to_owned);
    let admin_key = bootstrap(&config).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("https://{}", listener.local_addr().expect("address"));
    tokio::spawn(accesskey_server::run(
        config,
        listener,
        std::future::pending(),
    ));
    (endpoint, admin_key, database)
}

#[tokio::test]
async fn tls_clients_must_trust_the_servers_ca() {
    let pki = Pki::new();
    let (endpoint, admin_key, _database) = start_tls_server(&pki, None).await;

    let trusting = Client::builder(&endpoint)
        .access_key(&admin_key)
        .tls_ca_certificate(pki.read("ca.pem"))
        .connect()
        .await
        .expect("TLS handshake with the right CA");
    assert_eq!(trusting.who_am_i().await.expect("whoami").username, "admin");

    let wrong_ca = Client::builder(&endpoint)
        .access_key(&admin_key)
        .tls_ca_certificate(pki.read("other-ca.pem"))
        .connect()
        .await;
    assert!(
        wrong_ca.is_err(),
        "a server certificate from an untrusted CA is refused"
    );

    let plaintext = Client::builder(endpoint.replace("https://", "http://"))
        .access_key(&admin_key)
        .connect_lazy()
        .expect("lazy");
    assert!(
        plaintext.who_am_i().await.is_err(),
        "plaintext is not served on a TLS port"
    );

    let ca = pki.path("ca.pem");
    let cli = run_cli_at(
        &endpoint,
        &admin_key,
        &["whoami", "--tls-ca-cert", ca.to_str().expect("utf-8")],
        None,
    )
    .await;
    assert_eq!(cli.code, 0, "{cli:?}");
    assert!(cli.stdout.contains("admin"), "{cli:?}");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_configured_ca() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let (endpoint, admin_key, _database) = start_tls_server(&pki, Some(&ca)).await;

    let anonymous = Client::builder(&endpoint)
        .access_key(&admin_key)
        .tls_ca_certificate(pki.read("ca.pem"))
        .connect_lazy()
        .expect("lazy");
    assert!(
        anonymous.who_am_i().await.is_err(),
        "no client certificate: refused"
    );

    let identified = Client::builder(&endpoint)
        .access_key(&admin_key)
        .tls_ca_certificate(pki.read("ca.pem"))
        .tls_client_identity(pki.read("client.pem"), pki.read("client.key"))
        .connect()
        .await
        .expect("mutual TLS handshake");
    assert_eq!(
        identified.who_am_i().await.expect("whoami").username,
        "admin"
    );

    let path = |name: &str| pki.path(name).to_str().expect("utf-8").to_owned();
    let (ca, cert, key) = (path("ca.pem"), path("client.pem"), path("client.key"));
    let cli = run_cli_at(
        &endpoint,
        &admin_key,
        &[
            "whoami",
            "--tls-ca-cert",
            &ca,
            "--tls-client-cert",
            &cert,
            "--tls-client-key",
            &key,
        ],
        None,
    )
    .await;
    assert_eq!(cli.code, 0, "{cli:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_stalls_is_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let pki = Pki::new();
    let (endpoint, admin_key, _database) =
        start_tls_server_configured(&pki, None, |config| config.handshake_timeout_ms = 1_000).await;
    let address = endpoint.trim_start_matches("https://").to_owned();
    let client = Client::builder(&endpoint)
        .access_key(&admin_key)
        .tls_ca_certificate(pki.read("ca.pem"))
        .connect()
        .await
        .expect("TLS handshake");

    // The start of a ClientHello record (more than the 24 bytes a plaintext
    // preface needs), and then nothing: the server cannot answer it.
    let mut stalled = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let mut partial = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    partial.extend([7u8; 40]);
    stalled.write_all(&partial).await.expect("write");
    let opened = Instant::now();

    while opened.elapsed() < Duration::from_millis(1_000) {
        assert_eq!(client.who_am_i().await.expect("served").username, "admin");
        // Calls spread over the timeout, not a wait for anything.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a stalled TLS handshake was still open after {:?}",
        opened.elapsed()
    );

    // A client that finished its handshake may idle past the timeout (the
    // idling is the behaviour under test).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(client.who_am_i().await.expect("kept").username, "admin");
}

/// The console over TLS, in a real browser: HTTP/2 (ALPN), cookies marked
/// `Secure`, and changes accepted from the `https://` origin (whose host
/// HTTP/2 carries in `:authority`, not `Host`).
#[tokio::test]
async fn the_console_over_tls_speaks_http2_and_sets_secure_cookies() {
    let pki = Pki::new();
    let (endpoint, admin_key, _database) = start_tls_server(&pki, None).await;
    // The test CA is not in Chromium's trust store.
    let Some(mut browser) =
        Browser::start_with(&endpoint, "over-tls", &["--ignore-certificate-errors"]).await
    else {
        return;
    };
    browser.goto("/sign-in").await;
    browser.fill("#access_key", &admin_key).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.wait_for_path("/users").await;
    let protocol = browser
        .run("return performance.getEntriesByType('navigation')[0].nextHopProtocol;")
        .await;
    assert_eq!(protocol, serde_json::json!("h2"));
    let cookie = browser
        .client
        .get_named_cookie(SESSION_COOKIE)
        .await
        .expect("the session cookie");
    assert_eq!(cookie.secure(), Some(true), "Secure over TLS");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie
            .same_site()
            .map(|policy| policy.to_string())
            .as_deref(),
        Some("Strict")
    );

    browser.click("a[href='/users/new']").await;
    browser.fill("#username", "over-tls").await;
    browser
        .click("form[action='/users/new'] button[type=submit]")
        .await;
    browser
        .wait_for_page("the new user's page", |path| {
            path.ends_with("?notice=created")
        })
        .await;
    browser.screenshot("over-tls-user-created").await;
    browser.close().await;
}
