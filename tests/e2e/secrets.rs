//! Plaintext keys exist in the generate response and the caller's request,
//! nowhere else: not in the database files, not in any log line.

use accesskey_server::domain::key_format::{KEY_ID_LEN, KEY_PREFIX};

use crate::harness::{TestServer, captured_logs};

#[tokio::test]
async fn no_plaintext_key_reaches_the_database_or_the_logs() {
    let server = TestServer::start().await;
    let mut keys = vec![server.admin_key.clone()];
    for i in 0..3 {
        let (user, key) = server
            .user_with_key(&format!("canary{i}"), &["keys.verify"])
            .await;
        // Use each key as caller and as subject, then replace it.
        server
            .client_with_key(&key)
            .verify(&key, ["nope"])
            .await
            .expect("verify");
        server
            .admin
            .verify(&key, Vec::<String>::new())
            .await
            .expect("verify");
        keys.push(key);
        keys.push(
            server
                .admin
                .generate_access_key(user.id, None)
                .await
                .expect("regenerate")
                .into_key(),
        );
    }
    let database_path = server.database().sqlite_path().expect("a SQLite test");
    let database_dir = database_path.parent().expect("dir").to_owned();
    // Read the files while the server still runs (WAL not yet checkpointed)...
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&database_dir).expect("read dir") {
        stored.extend(std::fs::read(entry.expect("entry").path()).expect("read file"));
    }
    // ...and after shutdown.
    let _kept = server.stop().await;
    stored.extend(std::fs::read(&database_path).expect("database file"));
    let stored = String::from_utf8_lossy(&stored);
    let logs = captured_logs();
    assert!(
        logs.contains("event=\"key_issued\"") || logs.contains("key_issued"),
        "logs were captured"
    );
    for key in &keys {
        let secret = &key[KEY_PREFIX.len() + KEY_ID_LEN + 1..];
        assert!(
            !stored.contains(secret),
            "a key's secret is in the database files"
        );
        assert!(!logs.contains(secret), "a key's secret is in the logs");
    }
    assert!(
        stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "hashes are what is stored"
    );
}
