//! Storage behaviour every backend must share: migrations from an empty
//! database, and concurrent writers that never see a locking error.

use accesskey_client::{ListUsers, UserChanges};
use tonic::Code;

use crate::harness::{
    Backend, TestDatabase, TestServer, new_user, on_every_backend, run_accesskeyd,
};

on_every_backend! {
    async fn sixty_four_concurrent_writers_all_succeed(server: TestServer) {
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let admin = server.admin.clone();
                tokio::spawn(async move {
                    let user = admin.create_user(new_user(&format!("writer{i}"), &["w.x"])).await?;
                                        // Issuing a key runs argon2, which sheds load past its
                    // queue bound; a client retries that, as told. Any other
                    // failure (a locked database above all) fails the test.
                                        let mut attempts = 0;
                    let key = loop {
                        attempts += 1;
                        match admin.generate_access_key(user.id, None).await {
                            Err(err) if err.code() == Some(Code::ResourceExhausted) && attempts < 300 => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            other => break other?.into_key(),
                        }
                    };
                    let edit = UserChanges::new().display_name(format!("Writer number {i}"));
                    admin.update_user(user.id, edit).await?;
                    Ok::<_, accesskey_client::Error>(key)
                })
            })
            .collect();
        let mut keys = Vec::new();
        for writer in writers {
            match writer.await.expect("task") {
                Ok(key) => keys.push(key),
                Err(err) => panic!("a concurrent write failed: {err}"),
            }
        }
        let page = server
            .admin
            .list_users(ListUsers::new().page_size(100))
            .await
            .expect("list");
        assert_eq!(page.users.len(), 65, "64 writers plus the admin");
        for key in &keys {
            assert!(server.admin.verify(key, ["w.x"]).await.expect("verify").is_valid());
        }
    }
}

/// Runs `scenario` on a fresh database of every configured backend.
async fn for_each_backend(scenario: impl AsyncFn(TestDatabase)) {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        if let Some(database) = TestDatabase::create(backend).await {
            scenario(database).await;
        }
    }
}

#[tokio::test]
async fn migrate_builds_the_schema_from_empty_and_is_idempotent() {
    for_each_backend(async |database| {
        let url = database.url.as_str();
        let refused = run_accesskeyd(&[
            "--database-url",
            url,
            "--auto-migrate",
            "false",
            "bootstrap",
        ])
        .await;
        assert!(!refused.status.success());
        let refused = run_accesskeyd(&["--database-url", url, "--auto-migrate", "false"]).await;
        assert!(
            !refused.status.success(),
            "serving on an unmigrated schema must be refused"
        );
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(
            message.contains("accesskeyd migrate"),
            "the error says what to do: {message}"
        );

        for _ in 0..2 {
            let migrated = run_accesskeyd(&["--database-url", url, "migrate"]).await;
            assert!(
                migrated.status.success(),
                "{}",
                String::from_utf8_lossy(&migrated.stderr)
            );
        }
        let bootstrapped = run_accesskeyd(&[
            "--database-url",
            url,
            "--auto-migrate",
            "false",
            "bootstrap",
        ])
        .await;
        assert!(
            bootstrapped.status.success(),
            "{}",
            String::from_utf8_lossy(&bootstrapped.stderr)
        );
        let key = String::from_utf8_lossy(&bootstrapped.stdout)
            .trim()
            .to_owned();
        assert!(
            key.starts_with("akey_"),
            "bootstrap prints the key alone on stdout"
        );

        let again = run_accesskeyd(&["--database-url", url, "bootstrap"]).await;
        assert!(!again.status.success(), "bootstrap must not happen twice");
        assert!(
            String::from_utf8_lossy(&again.stdout).trim().is_empty(),
            "no second key"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_gives_unavailable_and_the_service_recovers() {
    use sea_orm::{ConnectionTrait as _, Database};

    let Some(server) = TestServer::start_on(Backend::Postgres).await else {
        return;
    };
    let (_, key) = server.user_with_key("svc", &["orders.read"]).await;
    assert!(
        server
            .admin
            .verify(&key, ["orders.read"])
            .await
            .expect("verify")
            .is_valid()
    );

    let (admin_url, name) = server.database().server_database().expect("PostgreSQL");
    let admin = Database::connect(admin_url)
        .await
        .expect("admin connection");
    let cut = format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    );
    admin
        .execute_unprepared(&cut)
        .await
        .expect("cut the database off");

    // Fails closed, with a retryable status, never VALID.
    for _ in 0..3 {
        let err = server
            .admin
            .verify(&key, ["orders.read"])
            .await
            .expect_err("no database");
        assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
        assert!(err.to_string().contains("retry"), "{err}");
    }
    let write = server
        .admin
        .create_user(new_user("during-outage", &[]))
        .await;
    assert_eq!(
        write.expect_err("no database").code(),
        Some(Code::Unavailable)
    );

    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .expect("restore");
    let _ = admin.close().await;

    // Recovers by itself: no restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match server.admin.verify(&key, ["orders.read"]).await {
            Ok(verdict) => {
                assert!(verdict.is_valid());
                break;
            }
            Err(err) if std::time::Instant::now() < deadline => {
                assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(err) => panic!("did not recover: {err}"),
        }
    }
    server
        .admin
        .create_user(new_user("after-outage", &[]))
        .await
        .expect("writes again");
}

/// The verification reads keep their database connections from one read to
/// the next. A kept connection that dies meanwhile (a database restart, a
/// killed backend, an idle-session timeout) is replaced on the spot: no
/// verification fails for it.
#[tokio::test]
async fn verification_survives_its_kept_connections_being_killed() {
    use sea_orm::{ConnectionTrait as _, Database, Statement};

    for backend in [Backend::Postgres, Backend::Mysql] {
        let Some(server) = TestServer::start_on(backend).await else {
            continue;
        };
        let (_, key) = server.user_with_key("svc", &["orders.read"]).await;
        let verify_valid = || async {
            let verdict = server
                .admin
                .verify(&key, ["orders.read"])
                .await
                .unwrap_or_else(|err| panic!("{backend:?}: verify failed: {err}"));
            assert!(verdict.is_valid(), "{backend:?}: {verdict:?}");
        };
        // Concurrent calls make the reads take (and keep) both connections.
        futures_util::future::join_all((0..16).map(|_| verify_valid())).await;

        let (admin_url, name) = server.database().server_database().expect("a server");
        let admin = Database::connect(admin_url)
            .await
            .expect("admin connection");
        let killed = match backend {
            Backend::Postgres => admin
                .query_all_raw(Statement::from_string(
                    admin.get_database_backend(),
                    format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ),
                ))
                .await
                .expect("terminate the server's connections")
                .len(),
            _ => {
                let ids = admin
                    .query_all_raw(Statement::from_string(
                        admin.get_database_backend(),
                        format!(
                            "SELECT id FROM information_schema.processlist \
                             WHERE db = '{name}' AND id <> CONNECTION_ID()"
                        ),
                    ))
                    .await
                    .expect("list the server's connections");
                for row in &ids {
                    let id: i64 = row.try_get("", "id").expect("id");
                    admin
                        .execute_unprepared(&format!("KILL {id}"))
                        .await
                        .expect("kill a connection");
                }
                ids.len()
            }
        };
        let _ = admin.close().await;
        assert!(
            killed >= 2,
            "{backend:?}: only {killed} connections to kill"
        );

        // Every call succeeds at once: one at a time, then concurrently.
        for _ in 0..4 {
            verify_valid().await;
        }
        futures_util::future::join_all((0..16).map(|_| verify_valid())).await;
    }
}

/// Key uses reach the database in batches, on every backend, without a
/// write per verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_uses_are_flushed_to_the_database_in_batches() {
    use accesskey_server::domain::key_format::AccessKey;
    use sea_orm::{ConnectionTrait as _, Database, Statement};

    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(server) = TestServer::start_configured(backend, |config| {
            config.last_used_flush_secs = 1;
        })
        .await
        else {
            continue;
        };
        let mut key_ids = Vec::new();
        for i in 0..3 {
            let (_, key) = server.user_with_key(&format!("svc{i}"), &[]).await;
            assert!(
                server
                    .admin
                    .verify(&key, Vec::<String>::new())
                    .await
                    .expect("verify")
                    .is_valid()
            );
            key_ids.push(
                AccessKey::parse(&key)
                    .expect("parse")
                    .key_id()
                    .as_str()
                    .to_owned(),
            );
        }
        let db = Database::connect(&server.database().url)
            .await
            .expect("connect");
        let query = format!(
            "SELECT COUNT(*) FROM access_keys WHERE last_used_time IS NOT NULL AND key_id IN ('{}')",
            key_ids.join("','")
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    query.clone(),
                ))
                .await
                .expect("query")
                .expect("a row");
            let flushed: i64 = row.try_get_by_index(0).expect("count");
            if flushed == 3 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{backend:?}: only {flushed} of 3 uses flushed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let _ = db.close().await;
    }
}

/// The `last_used_time` the database holds for `key_id`, in whole seconds.
async fn stored_last_use(db: &sea_orm::DatabaseConnection, key_id: &str) -> Option<i64> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT last_used_time FROM access_keys WHERE key_id = '{key_id}'"),
        ))
        .await
        .expect("query")
        .expect("the key's row");
    let micros: Option<i64> = row.try_get_by_index(0).expect("last_used_time");
    micros.map(|micros| micros / 1_000_000)
}

/// Polls until the database holds `expected` as the key's last use.
async fn wait_for_stored_last_use(db: &sea_orm::DatabaseConnection, key_id: &str, expected: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stored = stored_last_use(db, key_id).await;
        if stored == Some(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database holds {stored:?}, not the use at {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Verifies `key` in a later second than any use before, and returns the
/// use as GetUser reports it.
async fn use_in_a_new_second(server: &TestServer, user_id: i64, key: &str) -> i64 {
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(
        server
            .admin
            .verify(key, Vec::<String>::new())
            .await
            .expect("verify")
            .is_valid()
    );
    server
        .admin
        .get_user(user_id)
        .await
        .expect("get")
        .access_key
        .expect("a key")
        .last_used_time
        .expect("a use")
        .seconds
}

#[tokio::test]
async fn a_key_in_constant_use_is_written_once_per_precision_and_exactly_on_shutdown() {
    use accesskey_server::domain::key_format::AccessKey;

    for precision_secs in [3_600, 1] {
        let server = TestServer::start_configured(Backend::Sqlite, |config| {
            config.last_used_flush_secs = 1;
            config.last_used_precision_secs = precision_secs;
        })
        .await
        .expect("SQLite");
        let (user, key) = server.user_with_key("svc", &[]).await;
        let key_id = AccessKey::parse(&key)
            .expect("parse")
            .key_id()
            .as_str()
            .to_owned();
        let db = sea_orm::Database::connect(&server.database().url)
            .await
            .expect("connect");

        let first = use_in_a_new_second(&server, user.id, &key).await;
        wait_for_stored_last_use(&db, &key_id, first).await;
        let second = use_in_a_new_second(&server, user.id, &key).await;
        assert!(second > first, "GetUser shows the latest use at once");
        let listed = server
            .admin
            .list_users(ListUsers::new().prefix("svc"))
            .await
            .expect("list")
            .users
            .into_iter()
            .find(|listed| listed.id == user.id)
            .and_then(|listed| listed.access_key?.last_used_time)
            .map(|time| time.seconds);
        assert_eq!(listed, Some(second), "so does ListUsers");
        if precision_secs == 1 {
            wait_for_stored_last_use(&db, &key_id, second).await;
            let _ = db.close().await;
            continue;
        }
        // Two more flushes pass: the second use is within the precision.
        tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
        assert_eq!(stored_last_use(&db, &key_id).await, Some(first));
        let _ = db.close().await;

        let database = server.stop().await;
        let db = sea_orm::Database::connect(&database.url)
            .await
            .expect("connect");
        assert_eq!(
            stored_last_use(&db, &key_id).await,
            Some(second),
            "a graceful shutdown writes the exact last use"
        );
        let _ = db.close().await;
    }
}
