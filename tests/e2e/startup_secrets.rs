//! Secrets given to accesskeyd at start, the pepper file and the database
//! URL's password, are used as given and never printed.

use crate::harness::run_accesskeyd;

/// `--pepper-file`: keys are hashed with the file's secret (they verify on
/// the server that has it; the unit test `a_peppered_hash_verifies_only_with_the_same_pepper`
/// shows they verify nowhere else), and a pepper too short to matter is
/// refused at start.
#[tokio::test]
async fn a_pepper_file_is_used_and_a_short_one_refused() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let pepper = directory.path().join("pepper");
    std::fs::write(&pepper, [42u8; 32]).expect("write the pepper");
    let server =
        crate::harness::TestServer::start_configured(crate::harness::Backend::Sqlite, |config| {
            config.pepper_file = Some(pepper.clone())
        })
        .await
        .expect("SQLite");
    let (_, key) = server.user_with_key("peppered", &[]).await;
    let verdict = server.verdict(&key, Vec::<String>::new()).await;
    assert!(verdict.is_valid(), "{verdict:?}");
    // Its fingerprint is logged at start, never the pepper itself (32 bytes
    // of 42, which print as `*`).
    let logs = crate::harness::captured_logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("pepper_fingerprint=") && !line.contains("********")),
        "the pepper's fingerprint is logged at start"
    );

    let short = directory.path().join("short");
    std::fs::write(&short, b"too short").expect("write");
    let database = format!("sqlite://{}", directory.path().join("refused.db").display());
    let refused = crate::harness::run_accesskeyd(&[
        "--database-url",
        &database,
        "--listen",
        "127.0.0.1:0",
        "--pepper-file",
        short.to_str().expect("UTF-8 path"),
    ])
    .await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("at least 16 bytes"),
        "the refusal says why"
    );
}

#[tokio::test]
async fn a_database_url_is_never_printed_with_its_password() {
    for url in [
        "postgres://user:s3cret@[bad/db",
        "redis://user:s3cret@localhost/db",
        "postgres://user@127.0.0.1:1/db?password=s3cret",
    ] {
        let run = run_accesskeyd(&[
            "--database-url",
            url,
            "--db-acquire-timeout-ms",
            "300",
            "migrate",
        ])
        .await;
        assert!(!run.status.success(), "{url}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
