//! A last administrator always remains: two administrators removing each
//! other at the same moment leave one, on every backend; the host can
//! restore one when none can act; and a database created before
//! administrators were tracked keeps the ones it has.

use accesskey_client::{Client, UserChanges};
use tonic::Code;

use crate::{
    authority::{ALL_SERVICE, admin_id},
    harness::{
        Backend, Replica, TestDatabase, TestServer, new_user, on_every_backend, run_accesskeyd,
    },
};

async fn the_host_can_restore_an_administrator(server: TestServer) {
    let admin = admin_id(&server).await;
    let (_, second_key) = server.user_with_key("second-admin", &ALL_SERVICE).await;
    let second = server.client_with_key(&second_key);
    second
        .update_user(
            admin,
            UserChanges::new()
                .permissions(["users.read"])
                .disabled(true),
        )
        .await
        .expect("one admin demotes and disables the other");
    let old_admin_key = server.admin_key.clone();
    let database = server.stop().await;

    let dir = tempfile::tempdir().expect("temporary directory");
    let key_file = dir.path().join("admin.key");
    let key_path = key_file.to_str().expect("UTF-8 path");
    let base = [
        "--database-url",
        database.url.as_str(),
        "bootstrap",
        "--reissue",
        "--username",
        "admin",
        "--key-file",
        key_path,
    ];
    let refused = run_accesskeyd(&base).await;
    assert!(
        !refused.status.success(),
        "a disabled user gets no key without --restore-admin"
    );
    assert!(!key_file.exists());

    let restored = run_accesskeyd(&[&base[..], &["--restore-admin"]].concat()).await;
    let stderr = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{stderr}");
    assert!(stderr.contains("WARN"), "logged as a warning: {stderr}");
    let new_key = std::fs::read_to_string(&key_file)
        .expect("key file")
        .trim()
        .to_owned();

    let replica = Replica::spawn(&database.url).await;
    let client: Client = replica.client(&new_key).await;
    let me = client
        .who_am_i()
        .await
        .expect("the restored admin authenticates");
    assert_eq!(me.permissions, ALL_SERVICE);
    let user = client.get_user(me.user_id).await.expect("get");
    assert!(!user.disabled);
    assert!(
        replica
            .client(&old_admin_key)
            .await
            .who_am_i()
            .await
            .is_err(),
        "the old key is dead"
    );
}

on_every_backend!(the_host_can_restore_an_administrator);

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

/// The outcome of a round where two administrators each tried to remove
/// the other at once: exactly one may succeed. Returns the winner's and
/// the loser's index (0 for a, 1 for b), and whether the last-administrator
/// rule itself refused the loser (rather than its own key or permission,
/// already gone because the winner ran first).
pub fn one_winner<T: std::fmt::Debug>(
    round: usize,
    kind: impl std::fmt::Debug,
    by_a: Result<T, accesskey_client::Error>,
    by_b: Result<T, accesskey_client::Error>,
) -> (usize, usize, bool) {
    let succeeded = usize::from(by_a.is_ok()) + usize::from(by_b.is_ok());
    assert_eq!(
        succeeded, 1,
        "round {round} ({kind:?}): a → {by_a:?}, b → {by_b:?}"
    );
    let (winner, loser, refusal) = if by_a.is_ok() {
        (0, 1, by_b)
    } else {
        (1, 0, by_a)
    };
    let refusal = refusal.expect_err("one refused").code().expect("a status");
    assert!(
        matches!(
            refusal,
            Code::FailedPrecondition | Code::Unauthenticated | Code::PermissionDenied
        ),
        "round {round} ({kind:?}): the loser got {refusal:?}"
    );
    (winner, loser, refusal == Code::FailedPrecondition)
}

/// An administrator of the race: its user id and a client with its key.
struct Admin {
    id: i64,
    client: Client,
}

async fn two_administrators_removing_each_other_at_once_leave_one(server: TestServer) {
    let mut admins = Vec::new();
    for name in ["admin-a", "admin-b"] {
        let (user, key) = server.user_with_key(name, &ALL_SERVICE).await;
        admins.push(Admin {
            id: user.id,
            client: server.client_with_key(&key),
        });
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
        let (winner, loser, by_the_rule) = one_winner(round, kind, by_a, by_b);
        refused_by_the_rule += usize::from(by_the_rule);

        // The winner is still a full administrator.
        let me = admins[winner]
            .client
            .who_am_i()
            .await
            .expect("the winner authenticates");
        assert_eq!(me.permissions, ALL_SERVICE, "round {round}");

        // It restores the loser for the next round.
        let restorer = admins[winner].client.clone();
        let loser_id = admins[loser].id;
        match kind {
            Removal::Disable => {
                restorer
                    .update_user(loser_id, UserChanges::new().disabled(false))
                    .await
                    .expect("enable");
            }
            Removal::StripKeysIssue => {
                restorer
                    .update_user(loser_id, UserChanges::new().permissions(ALL_SERVICE))
                    .await
                    .expect("restore");
            }
            Removal::Delete => {
                let user = restorer
                    .create_user(new_user(&format!("admin-{round}"), &ALL_SERVICE))
                    .await
                    .expect("recreate");
                let key = restorer
                    .generate_access_key(user.id, None)
                    .await
                    .expect("key")
                    .into_key();
                admins[loser] = Admin {
                    id: user.id,
                    client: server.client_with_key(&key),
                };
            }
        }
    }
    assert!(
        refused_by_the_rule > 0,
        "no round raced: the test proved nothing"
    );
}

on_every_backend!(multi_thread; two_administrators_removing_each_other_at_once_leave_one);

/// A database created before administrators were tracked keeps them: the
/// migration marks exactly the enabled, local users holding every service
/// permission, so the last-administrator rule counts them from the start;
/// and the later one that introduced `audit.read` gave it to exactly the
/// users holding every earlier service permission.
async fn upgrading_keeps_the_existing_administrators(backend: Backend) {
    use accesskey_server::testing::Migrator;
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
    // The service permissions before `audit.read` existed.
    let all = "keys.issue\nkeys.verify\nusers.read\nusers.write";
    for (name, permissions, disabled, provider) in [
        ("old-admin", all, false, "local"),
        ("second-admin", all, false, "local"),
        ("disabled-admin", all, true, "local"),
        ("external-admin", all, false, "okta"),
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
    // `audit.read` came later: whoever held every earlier service
    // permission was given it; nobody else was.
    let granted = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT username, permissions FROM users ORDER BY username",
        ))
        .await
        .expect("read the permissions");
    let granted: Vec<(String, String)> = granted
        .iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("username"),
                row.try_get_by_index(1).expect("permissions"),
            )
        })
        .collect();
    let with_audit = ALL_SERVICE.join("\n");
    assert_eq!(
        granted,
        [
            ("disabled-admin".to_owned(), with_audit.clone()),
            ("external-admin".to_owned(), with_audit.clone()),
            ("old-admin".to_owned(), with_audit.clone()),
            (
                "operator".to_owned(),
                "keys.issue\norders.read\nusers.read\nusers.write".to_owned()
            ),
            ("second-admin".to_owned(), with_audit),
        ]
    );
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
