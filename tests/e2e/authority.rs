//! Who may act on whom: the power order (a caller acts on another user only
//! if it holds every service permission that user holds), a last
//! administrator that always remains, recovery on the host, permission
//! edits that cannot be lost, and self-rotation that keeps the caller alive.
//! Each test is an attack a partial admin (or a hurried operator) would try.

use std::time::{Duration, SystemTime};

use accesskey_client::{Client, UserChanges};
use tonic::Code;

use crate::harness::{
    Backend, Replica, TestDatabase, TestServer, new_user, on_every_backend, run_accesskeyd,
    run_cli_at,
};

/// accesskey's own permissions: an administrator holds all of them.
const ALL_SERVICE: [&str; 4] = ["keys.issue", "keys.verify", "users.read", "users.write"];

/// The bootstrap admin's user id.
async fn admin_id(server: &TestServer) -> i64 {
    server.admin.who_am_i().await.expect("whoami").user_id
}

/// Asserts `result` is PERMISSION_DENIED and its message names `permission`.
fn assert_denied_naming<T: std::fmt::Debug>(
    result: Result<T, accesskey_client::Error>,
    permission: &str,
) {
    let err = result.expect_err("a less powerful caller must be refused");
    assert_eq!(err.code(), Some(Code::PermissionDenied), "{err}");
    assert!(
        err.to_string().contains(permission),
        "{err} should name {permission}"
    );
}

/// Whether `key` still authenticates.
async fn works(server: &TestServer, key: &str) -> bool {
    server.client_with_key(key).who_am_i().await.is_ok()
}

on_every_backend! {
    async fn keys_issue_cannot_take_over_a_more_powerful_user(server: TestServer) {
        let (_, issuer_key) = server
            .user_with_key("issuer", &["users.read", "keys.issue"])
            .await;
        let issuer = server.client_with_key(&issuer_key);
        let (service, service_key) = server.user_with_key("orders-service", &["keys.verify"]).await;

        // The bootstrap admin: its key stays the only one, and it keeps working.
        let admin = admin_id(&server).await;
        assert_denied_naming(issuer.generate_access_key(admin, None).await, "keys.verify");
        assert!(works(&server, &server.admin_key).await, "the admin's key survived");

        // A service account holding a service permission the issuer lacks.
        assert_denied_naming(issuer.generate_access_key(service.id, None).await, "keys.verify");
        assert!(works(&server, &service_key).await);
        assert_eq!(
            server.admin.get_user(service.id).await.expect("get").access_key.expect("key").key_id,
            server.client_with_key(&service_key).who_am_i().await.expect("whoami").key_id,
        );

        // Application permissions do not count: an issuer needs no payments.write
        // to issue payments-service its key.
        let payments = server.create_user("payments-service", &["payments.write"]).await;
        issuer.generate_access_key(payments.id, None).await.expect("application permissions do not count");
    }

    async fn keys_issue_cannot_revoke_a_more_powerful_users_key(server: TestServer) {
        let (_, issuer_key) = server.user_with_key("issuer", &["keys.issue"]).await;
        let issuer = server.client_with_key(&issuer_key);
        let admin = admin_id(&server).await;
        assert_denied_naming(issuer.revoke_access_key(admin).await, "keys.verify");
        assert!(works(&server, &server.admin_key).await);

        // An equal or weaker user is fair game.
        let (peer, peer_key) = server.user_with_key("peer", &["keys.issue", "orders.read"]).await;
        issuer.revoke_access_key(peer.id).await.expect("revoke a peer's key");
        assert!(!works(&server, &peer_key).await);
    }

    async fn users_write_cannot_disable_delete_demote_or_edit_a_key_issuer(server: TestServer) {
        let (_, writer_key) = server
            .user_with_key("writer", &["users.read", "users.write"])
            .await;
        let writer = server.client_with_key(&writer_key);
        let (issuer, issuer_key) = server
            .user_with_key("issuer", &["keys.issue", "users.read"])
            .await;
        let before = server.admin.get_user(issuer.id).await.expect("get");

        assert_denied_naming(
            writer.update_user(issuer.id, UserChanges::new().disabled(true)).await,
            "keys.issue",
        );
        assert_denied_naming(
            writer.update_user(issuer.id, UserChanges::new().permissions(["users.read"])).await,
            "keys.issue",
        );
        assert_denied_naming(
            writer.update_user(issuer.id, UserChanges::new().email("evil@example.test")).await,
            "keys.issue",
        );
        assert_denied_naming(writer.delete_user(issuer.id).await, "keys.issue");
        // And not the full admin either.
        let admin = admin_id(&server).await;
        assert_denied_naming(
            writer.update_user(admin, UserChanges::new().disabled(true)).await,
            "keys.issue",
        );
        assert_denied_naming(writer.delete_user(admin).await, "keys.issue");

        // Nothing changed.
        let after = server.admin.get_user(issuer.id).await.expect("still there");
        assert_eq!(
            (&after.permissions, after.disabled, &after.email, &after.update_time),
            (&before.permissions, before.disabled, &before.email, &before.update_time)
        );
        assert!(works(&server, &issuer_key).await);
        assert!(works(&server, &server.admin_key).await);

        // A user holding only what the writer holds, or application
        // permissions, it may change, disable and delete.
        let app = server.create_user("app", &["orders.read", "users.read"]).await;
        writer
            .update_user(app.id, UserChanges::new().permissions(["orders.read"]).disabled(true))
            .await
            .expect("act on a weaker user");
        writer.delete_user(app.id).await.expect("delete a weaker user");
    }

    async fn regenerating_ones_own_key_needs_an_expiry_at_least_five_minutes_ahead(server: TestServer) {
        let me = admin_id(&server).await;
        for too_soon in [Duration::from_millis(1), Duration::from_secs(60), Duration::from_secs(290)] {
            let err = server
                .admin
                .generate_access_key(me, Some(SystemTime::now() + too_soon))
                .await
                .expect_err("the caller would lock itself out");
            assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
            assert!(err.to_string().contains("expire_time: "), "{err}");
            assert!(works(&server, &server.admin_key).await, "the old key was not replaced");
        }
        let rotated = server
            .admin
            .generate_access_key(me, Some(SystemTime::now() + Duration::from_secs(600)))
            .await
            .expect("ten minutes ahead is fine")
            .into_key();
        assert!(works(&server, &rotated).await);
        assert!(!works(&server, &server.admin_key).await, "rotation replaced the old key");
        // Another user's key may expire as soon as the admin likes.
        let admin = server.client_with_key(&rotated);
        let user = admin
            .create_user(new_user("short-lived", &[]))
            .await
            .expect("create");
        admin
            .generate_access_key(user.id, Some(SystemTime::now() + Duration::from_secs(2)))
            .await
            .expect("short keys for others");
    }

    async fn a_stale_etag_is_aborted_and_changes_nothing(server: TestServer) {
        let (user, key) = server.user_with_key("svc", &["orders.read"]).await;
        let read = server.admin.get_user(user.id).await.expect("get");
        assert!(!read.etag.is_empty());

        // Using the key is not a change to the user.
        assert!(server.admin.verify(&key, ["orders.read"]).await.expect("verify").is_valid());
        assert_eq!(server.admin.get_user(user.id).await.expect("get").etag, read.etag);

        // Another admin's change lands after our read.
        let changed = server
            .admin
            .update_user(user.id, UserChanges::new().permissions(["orders.read", "orders.write"]))
            .await
            .expect("a concurrent edit");
        assert_ne!(changed.etag, read.etag);

        let stale = UserChanges::new().permissions(["payments.admin"]).if_etag(read.etag.clone());
        let err = server.admin.update_user(user.id, stale).await.expect_err("stale");
        assert!(err.is_aborted(), "{err}");
        assert!(err.to_string().contains("user.etag"), "{err}");
        let err = server
            .admin
            .delete_user_if_unchanged(user.id, read.etag.clone())
            .await
            .expect_err("stale");
        assert!(err.is_aborted(), "{err}");
        let now = server.admin.get_user(user.id).await.expect("nothing changed");
        assert_eq!((&now.permissions, &now.etag), (&changed.permissions, &changed.etag));

        // A key issued or revoked changes the user too.
        server.admin.generate_access_key(user.id, None).await.expect("rotate");
        let rotated = server.admin.get_user(user.id).await.expect("get");
        assert_ne!(rotated.etag, changed.etag);
        server.admin.revoke_access_key(user.id).await.expect("revoke");
        let revoked = server.admin.get_user(user.id).await.expect("get");
        assert_ne!(revoked.etag, rotated.etag);

        // Another user's etag never matches; a malformed one is named.
        let other = server.create_user("other", &[]).await;
        let err = server
            .admin
            .update_user(user.id, UserChanges::new().email("").if_etag(other.etag))
            .await
            .expect_err("another user's etag");
        assert!(err.is_aborted(), "{err}");
        let err = server
            .admin
            .delete_user_if_unchanged(user.id, "not an etag")
            .await
            .expect_err("malformed");
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
        assert!(err.to_string().contains("etag"), "{err}");

        // The current etag works.
        let updated = server
            .admin
            .update_user(user.id, UserChanges::new().disabled(true).if_etag(revoked.etag.clone()))
            .await
            .expect("current etag");
        server
            .admin
            .delete_user_if_unchanged(user.id, updated.etag)
            .await
            .expect("current etag");
    }

    async fn concurrent_permission_edits_from_the_cli_are_never_lost(server: TestServer) {
        let target = server.create_user("payments-job", &["payments.admin", "orders.read"]).await;
        let id = format!("id:{}", target.id);
        let key = server.admin_key.clone();
        // One admin removes payments.admin while others add permissions,
        // each from its own read of the user: nothing may come back, nothing
        // may be lost.
        let mut edits = vec![vec!["user".to_owned(), "update".to_owned(), id.clone(), "--remove-permission".to_owned(), "payments.admin".to_owned()]];
        for i in 0..5 {
            edits.push(vec!["user".to_owned(), "update".to_owned(), id.clone(), "--add-permission".to_owned(), format!("orders.p{i}")]);
        }
        let runs = edits.into_iter().map(|args| {
            let (endpoint, key) = (server.endpoint(), key.clone());
            tokio::spawn(async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_cli_at(&endpoint, &key, &args, None).await
            })
        });
        for run in futures_util::future::join_all(runs).await {
            let run = run.expect("task");
            assert_eq!(run.code, 0, "{run:?}");
        }
        let after = server.admin.get_user(target.id).await.expect("get");
        assert_eq!(
            after.permissions,
            ["orders.p0", "orders.p1", "orders.p2", "orders.p3", "orders.p4", "orders.read"],
            "every edit applied, the removed permission never came back"
        );
    }

    async fn the_host_can_restore_an_administrator(server: TestServer) {
        let admin = admin_id(&server).await;
        let (_, second_key) = server.user_with_key("second-admin", &ALL_SERVICE).await;
        let second = server.client_with_key(&second_key);
        second
            .update_user(admin, UserChanges::new().permissions(["users.read"]).disabled(true))
            .await
            .expect("one admin demotes and disables the other");
        let old_admin_key = server.admin_key.clone();
        let database = server.stop().await;

        let dir = tempfile::tempdir().expect("temporary directory");
        let key_file = dir.path().join("admin.key");
        let key_path = key_file.to_str().expect("UTF-8 path");
        let base = ["--database-url", database.url.as_str(), "bootstrap", "--reissue", "--username", "admin", "--key-file", key_path];
        let refused = run_accesskeyd(&base).await;
        assert!(!refused.status.success(), "a disabled user gets no key without --restore-admin");
        assert!(!key_file.exists());

        let restored = run_accesskeyd(&[&base[..], &["--restore-admin"]].concat()).await;
        let stderr = String::from_utf8_lossy(&restored.stderr);
        assert!(restored.status.success(), "{stderr}");
        assert!(stderr.contains("WARN"), "logged as a warning: {stderr}");
        let new_key = std::fs::read_to_string(&key_file).expect("key file").trim().to_owned();

        let replica = Replica::spawn(&database.url).await;
        let client: Client = replica.client(&new_key).await;
        let me = client.who_am_i().await.expect("the restored admin authenticates");
        assert_eq!(me.permissions, ALL_SERVICE);
        let user = client.get_user(me.user_id).await.expect("get");
        assert!(!user.disabled);
        assert!(replica.client(&old_admin_key).await.who_am_i().await.is_err(), "the old key is dead");
    }
}

/// One of the ways an administrator can stop being one.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Disable,
    StripKeysIssue,
    Delete,
}

impl Removal {
    async fn apply(self, by: &Client, target: i64) -> Result<(), accesskey_client::Error> {
        match self {
            Self::Disable => by
                .update_user(target, UserChanges::new().disabled(true))
                .await
                .map(drop),
            Self::StripKeysIssue => by
                .update_user(
                    target,
                    UserChanges::new().permissions(["keys.verify", "users.read", "users.write"]),
                )
                .await
                .map(drop),
            Self::Delete => by.delete_user(target).await,
        }
    }
}

/// An administrator of the race: its user id and a client with its key.
struct Admin {
    id: i64,
    client: Client,
}

on_every_backend! {
    multi_thread;

    async fn two_administrators_removing_each_other_at_once_leave_one(server: TestServer) {
        let mut admins = Vec::new();
        for name in ["admin-a", "admin-b"] {
            let (user, key) = server.user_with_key(name, &ALL_SERVICE).await;
            admins.push(Admin { id: user.id, client: server.client_with_key(&key) });
        }
        // From here on, a and b are the only two administrators.
        let bootstrap_admin = admin_id(&server).await;
        admins[0]
            .client
            .update_user(bootstrap_admin, UserChanges::new().disabled(true))
            .await
            .expect("disable the bootstrap admin");

        let kinds = [Removal::Disable, Removal::StripKeysIssue, Removal::Delete];
        // Rounds where both calls got past authentication and the
        // last-administrator rule itself refused one (rather than the
        // loser's own key being refused because the winner already ran).
        let mut refused_by_the_rule = 0;
        for round in 0..21 {
            let kind = kinds[round % kinds.len()];
            let (a, b) = (&admins[0], &admins[1]);
            let (by_a, by_b) = tokio::join!(kind.apply(&a.client, b.id), kind.apply(&b.client, a.id));
            let succeeded = usize::from(by_a.is_ok()) + usize::from(by_b.is_ok());
            assert_eq!(succeeded, 1, "round {round} ({kind:?}): a → {by_a:?}, b → {by_b:?}");
            let (winner, loser, refusal) = if by_a.is_ok() { (0, 1, by_b) } else { (1, 0, by_a) };
            let refusal = refusal.expect_err("one refused").code().expect("a status");
            refused_by_the_rule += usize::from(refusal == Code::FailedPrecondition);
            assert!(
                matches!(refusal, Code::FailedPrecondition | Code::Unauthenticated | Code::PermissionDenied),
                "round {round} ({kind:?}): the loser got {refusal:?}"
            );

            // The winner is still a full administrator.
            let me = admins[winner].client.who_am_i().await.expect("the winner authenticates");
            assert_eq!(me.permissions, ALL_SERVICE, "round {round}");

            // It restores the loser for the next round.
            let restorer = admins[winner].client.clone();
            let loser_id = admins[loser].id;
            match kind {
                Removal::Disable => {
                    restorer.update_user(loser_id, UserChanges::new().disabled(false)).await.expect("enable");
                }
                Removal::StripKeysIssue => {
                    restorer.update_user(loser_id, UserChanges::new().permissions(ALL_SERVICE)).await.expect("restore");
                }
                Removal::Delete => {
                    let user = restorer
                        .create_user(new_user(&format!("admin-{round}"), &ALL_SERVICE))
                        .await
                        .expect("recreate");
                    let key = restorer.generate_access_key(user.id, None).await.expect("key").into_key();
                    admins[loser] = Admin { id: user.id, client: server.client_with_key(&key) };
                }
            }
        }
        assert!(refused_by_the_rule > 0, "no round raced: the test proved nothing");
    }
}

/// A database created before administrators were tracked keeps them: the
/// migration marks exactly the enabled, local users holding every service
/// permission, so the last-administrator rule counts them from the start.
async fn upgrading_keeps_the_existing_administrators(backend: Backend) {
    use accesskey_server::store::migration::Migrator;
    use sea_orm::{ConnectionTrait as _, Database};
    use sea_orm_migration::MigratorTrait as _;

    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    // The server creates a missing SQLite file itself; this first
    // connection must ask for it.
    let create = match backend {
        Backend::Sqlite => format!("{}?mode=rwc", database.url),
        _ => database.url.clone(),
    };
    let db = Database::connect(&create).await.expect("connect");
    Migrator::up(&db, Some(3))
        .await
        .expect("the schema before administrators were tracked");
    let all = ALL_SERVICE.join("\n");
    for (name, permissions, disabled, provider) in [
        ("old-admin", all.as_str(), false, "local"),
        ("second-admin", all.as_str(), false, "local"),
        ("disabled-admin", all.as_str(), true, "local"),
        ("external-admin", all.as_str(), false, "okta"),
        (
            "operator",
            "keys.issue\norders.read\nusers.read\nusers.write",
            false,
            "local",
        ),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO users (username, username_folded, email, display_name, identity_provider, \
             permissions, disabled, create_time, update_time) \
             VALUES ('{name}', '{name}', '', '', '{provider}', '{permissions}', {disabled}, 0, 0)"
        ))
        .await
        .expect("insert an old-schema user");
    }
    db.close().await.expect("close");

    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("admin.key");
    let key_path = key_file.to_str().expect("UTF-8 path");
    let reissued = run_accesskeyd(&[
        "--database-url",
        &database.url,
        "bootstrap",
        "--reissue",
        "--username",
        "old-admin",
        "--key-file",
        key_path,
    ])
    .await;
    assert!(
        reissued.status.success(),
        "{}",
        String::from_utf8_lossy(&reissued.stderr)
    );

    let db = Database::connect(&database.url).await.expect("connect");
    let marked = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT username FROM users WHERE administrator = TRUE ORDER BY username",
        ))
        .await
        .expect("read the marks");
    let marked: Vec<String> = marked
        .iter()
        .map(|row| row.try_get_by_index(0).expect("username"))
        .collect();
    assert_eq!(marked, ["old-admin", "second-admin"]);
    db.close().await.expect("close");

    // The rule sees the other administrator: disabling it is allowed.
    let key = std::fs::read_to_string(&key_file)
        .expect("key file")
        .trim()
        .to_owned();
    let replica = Replica::spawn(&database.url).await;
    let admin = replica.client(&key).await;
    let second = admin.get_user_by_name("second-admin").await.expect("get");
    admin
        .update_user(second.id, UserChanges::new().disabled(true))
        .await
        .expect("another administrator remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_the_existing_administrators_sqlite() {
    upgrading_keeps_the_existing_administrators(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_the_existing_administrators_postgres() {
    upgrading_keeps_the_existing_administrators(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_the_existing_administrators_mysql() {
    upgrading_keeps_the_existing_administrators(Backend::Mysql).await;
}
