//! Storage behaviour every backend must share: migrations from an empty
//! database, and concurrent writers that never see a locking error.

use std::time::Duration;

use accesskey_client::{ListUsers, RetryPolicy, UserChanges};
use tonic::Code;

use crate::harness::{
    Backend, TestDatabase, TestServer, eventually, new_user, on_every_backend, run_accesskeyd,
};

async fn sixty_four_concurrent_writers_all_succeed(server: TestServer) {
    let writers: Vec<_> = (0..64)
        .map(|i| {
            // Issuing a key runs argon2, which sheds load past its queue
            // bound; the client's retry policy retries that, as told. Any
            // other failure (a locked database above all) fails the test.
            let admin = server.admin.with_retry(Some(
                RetryPolicy::default()
                    .attempts(300)
                    .first_backoff(Duration::from_millis(100))
                    .max_wait(Duration::from_millis(100)),
            ));
            tokio::spawn(async move {
                let user = admin
                    .create_user(new_user(&format!("writer{i}"), &["w.x"]))
                    .await?;
                let key = admin.generate_access_key(user.id, None).await?.into_key();
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
        assert!(server.verdict(key, ["w.x"]).await.is_valid());
    }
}

on_every_backend!(sixty_four_concurrent_writers_all_succeed);

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
    assert!(server.verdict(&key, ["orders.read"]).await.is_valid());

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
    eventually(Duration::from_secs(20), "verification recovers", || async {
        match server.admin.verify(&key, ["orders.read"]).await {
            Ok(verdict) => {
                assert!(verdict.is_valid());
                Ok(())
            }
            Err(err) => {
                assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
                Err(err.to_string())
            }
        }
    })
    .await;
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
