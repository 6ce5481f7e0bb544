//! TLS between `accesskeyd` and its database server: used whenever the
//! server offers it (the default `sslmode=prefer` / `ssl-mode=PREFERRED`),
//! required and verified when the URL says so, with `--database-ca-file`
//! for a private CA.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use sea_orm::{ConnectionTrait as _, Database, Statement};

use crate::{
    harness::{Backend, TestDatabase, TestServer, run_accesskeyd},
    startup_errors::{error_chain, occurrences},
};

/// One value of the first row of `sql`, on `url`.
async fn query_one<T: sea_orm::TryGetable>(url: &str, sql: &str) -> T {
    let db = Database::connect(url).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    let value = row.try_get_by_index(0).expect("a value");
    let _ = db.close().await;
    value
}

/// A PEM CA certificate nobody's server certificate is signed by.
fn unrelated_ca(dir: &tempfile::TempDir) -> PathBuf {
    let mut params = CertificateParams::new(Vec::new()).expect("no names");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("self-sign");
    let path = dir.path().join("unrelated-ca.pem");
    std::fs::write(&path, ca.pem()).expect("write the CA");
    path
}

/// `url` with `host` instead of 127.0.0.1 and `query` appended.
fn with(url: &str, host: &str, query: &str) -> String {
    let url = url.replace("@127.0.0.1:", &format!("@{host}:"));
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_use_tls_and_verify_full_checks_the_ca() {
    let Some(server) = TestServer::start_on(Backend::Postgres).await else {
        return;
    };
    let (admin_url, name) = server.database().server_database().expect("PostgreSQL");
    let admin_url = admin_url.to_owned();
    let name = name.to_owned();
    let offered: String = query_one(&admin_url, "SELECT current_setting('ssl')").await;
    if offered != "on" {
        assert!(
            std::env::var("CI").is_err(),
            "the CI PostgreSQL must offer TLS for this test"
        );
        eprintln!("skipped: this PostgreSQL does not offer TLS");
        return;
    }
    // With the default sslmode (prefer), every connection of the server
    // (its pool, its hot-path reads, its health probe) is encrypted.
    server.user_with_key("svc", &[]).await;
    let (encrypted, plain): (i64, i64) = {
        let db = Database::connect(&admin_url).await.expect("connect");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FILTER (WHERE NOT s.ssl) \
                     FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.datname = '{name}'"
                ),
            ))
            .await
            .expect("query")
            .expect("a row");
        let counts = (
            row.try_get_by_index(0).expect("count"),
            row.try_get_by_index(1).expect("count"),
        );
        let _ = db.close().await;
        counts
    };
    assert!(encrypted > 0, "no connection of the server is encrypted");
    assert_eq!(
        plain, 0,
        "{plain} connections of the server are in plaintext"
    );
    drop(server);

    // verify-full, with the CA that signed the server's certificate (a
    // self-signed one here, for `localhost`): serves.
    let certificate: String =
        query_one(&admin_url, "SELECT current_setting('ssl_cert_file')").await;
    let verified = TestServer::start_configured(Backend::Postgres, |config| {
        config.database_url = with(&config.database_url, "localhost", "sslmode=verify-full");
        config.database_ca_file = Some(PathBuf::from(&certificate));
    })
    .await
    .expect("PostgreSQL");
    verified.user_with_key("verified", &[]).await;
    drop(verified);

    // verify-full with a CA that did not sign it: refuses to start, saying why.
    let dir = tempfile::tempdir().expect("dir");
    let wrong = unrelated_ca(&dir);
    let database = TestDatabase::create(Backend::Postgres)
        .await
        .expect("PostgreSQL");
    let url = with(&database.url, "localhost", "sslmode=verify-full");
    let refused = run_accesskeyd(&[
        "--database-url",
        &url,
        "--database-ca-file",
        wrong.to_str().expect("UTF-8 path"),
        "migrate",
    ])
    .await;
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    // Said as what it is, not as a database that is down.
    assert!(message.contains("TLS to the database failed"), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(
        !message.contains("postgres@"),
        "no credentials printed: {message}"
    );
    // The database by its URL, then each cause once.
    let lines = error_chain(&refused);
    assert!(
        lines[0]
            .starts_with("accesskeyd: error: cannot open the database postgres://***@localhost:"),
        "{lines:#?}"
    );
    assert_eq!(
        occurrences(&lines, "TLS to the database failed"),
        1,
        "{lines:#?}"
    );
    assert_eq!(occurrences(&lines, "UnknownIssuer"), 1, "{lines:#?}");

    // A CA file that is not there, or holds no certificate, is a
    // configuration error, named.
    let not_pem = run_accesskeyd(&[
        "--database-url",
        &url,
        "--database-ca-file",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "migrate",
    ])
    .await;
    assert!(
        String::from_utf8_lossy(&not_pem.stderr).contains("holds no PEM certificate"),
        "{not_pem:?}"
    );
    let missing = run_accesskeyd(&[
        "--database-url",
        &url,
        "--database-ca-file",
        "/nonexistent/ca.pem",
        "migrate",
    ])
    .await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("--database-ca-file /nonexistent/ca.pem"),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tls_follows_the_ssl_mode() {
    let Some(database) = TestDatabase::create(Backend::Mysql).await else {
        return;
    };
    let (admin_url, _) = database.server_database().expect("MySQL");
    let have_ssl: String = query_one(admin_url, "SELECT @@have_ssl").await;
    if have_ssl == "YES" {
        // Offered: PREFERRED (the default) encrypts; checked on a session
        // of the same client code the server uses.
        let cipher: String =
            query_one(&database.url, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'").await;
        assert!(!cipher.is_empty(), "PREFERRED did not use the TLS offered");
    } else {
        // Not offered (this machine's MariaDB): PREFERRED serves in
        // plaintext, as every other test shows, and REQUIRED refuses to
        // start rather than send keys' data in the clear.
        let url = with(&database.url, "127.0.0.1", "ssl-mode=REQUIRED");
        let refused = run_accesskeyd(&["--database-url", &url, "migrate"]).await;
        assert!(!refused.status.success());
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(
            message.to_lowercase().contains("tls") || message.to_lowercase().contains("ssl"),
            "{message}"
        );
    }
}
