//! SQLite storage faults under a running `accesskeyd` (a separate process):
//! the database locked by another process, and the database files made
//! read-only. Writes fail with UNAVAILABLE (retryable) within the deadline,
//! never INTERNAL, and leave nothing half-done; verification never answers
//! VALID for a key that is not; the service recovers by itself.
//!
//! In WAL mode another process can block SQLite's writers but never its
//! readers, so reads (verification, GetUser) keep answering correctly
//! during both faults: that is tested too. Failing closed on a read error
//! is tested where a read can fail, on PostgreSQL
//! (`storage::an_unreachable_database_gives_unavailable_and_the_service_recovers`).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use accesskey_client::{Client, UserChanges, Verification};
use sea_orm::sqlx::{Connection as _, Executor as _, SqliteConnection};
use tonic::Code;

use crate::harness::{
    Backend, Replica, TestDatabase, bootstrap, eventually, new_user, wrong_secret,
};

const NONE: [&str; 0] = [];
/// The server's SQLite busy timeout is 5 s; a blocked write must be
/// answered well within the client's deadline.
const CLIENT_DEADLINE: Duration = Duration::from_secs(20);
const ANSWERED_WITHIN: Duration = Duration::from_secs(12);

/// The users and keys a fault scenario works on, made before the fault.
struct Fixture {
    admin: Client,
    /// A key never verified: the server has nothing of it in memory.
    cold_key: String,
    /// A key revoked before the fault.
    revoked_key: String,
    /// A user with a key in use, target of the writes during the fault.
    target_id: i64,
    target_key: String,
}

async fn fixture(server: &Replica, admin_key: &str) -> Fixture {
    let admin = Client::builder(format!("http://{}", server.address))
        .access_key(admin_key)
        .timeout(CLIENT_DEADLINE)
        .connect()
        .await
        .expect("connect");
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for name in ["cold", "revoked", "target"] {
        let user = admin
            .create_user(new_user(name, &["orders.read"]))
            .await
            .expect("create");
        let key = admin
            .generate_access_key(user.id, None)
            .await
            .expect("key")
            .into_key();
        ids.push(user.id);
        keys.push(key);
    }
    admin.revoke_access_key(ids[1]).await.expect("revoke");
    assert!(admin.verify(&keys[2], NONE).await.expect("warm").is_valid());
    let target_key = keys.pop().expect("three keys");
    let revoked_key = keys.pop().expect("three keys");
    let cold_key = keys.pop().expect("three keys");
    Fixture {
        admin,
        cold_key,
        revoked_key,
        target_id: ids[2],
        target_key,
    }
}

/// Which writes [`writes_fail_with_unavailable`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpcs {
    All,
    /// CreateUser is left out where it is known to be acknowledged without
    /// being stored (see the ignored test below).
    AllButCreate,
}

/// Every kind of write, at once, while storage refuses writes: each fails
/// with UNAVAILABLE and a retry hint, within [`ANSWERED_WITHIN`].
async fn writes_fail_with_unavailable(fixture: &Fixture, rpcs: Rpcs) {
    let admin = &fixture.admin;
    let id = fixture.target_id;
    let started = Instant::now();
    let create = async {
        match rpcs {
            Rpcs::All => Some(admin.create_user(new_user("during-fault", &[])).await),
            Rpcs::AllButCreate => None,
        }
    };
    let (created, generated, updated, revoked, deleted) = tokio::join!(
        create,
        admin.generate_access_key(id, None),
        admin.update_user(
            id,
            UserChanges::new().display_name("changed during the fault")
        ),
        admin.revoke_access_key(id),
        admin.delete_user(id),
    );
    let elapsed = started.elapsed();
    let mut errors = vec![
        ("GenerateAccessKey", generated.err()),
        ("UpdateUser", updated.err()),
        ("RevokeAccessKey", revoked.err()),
        ("DeleteUser", deleted.err()),
    ];
    if let Some(created) = created {
        errors.push(("CreateUser", created.err()));
    }
    for (rpc, error) in errors {
        let error =
            error.unwrap_or_else(|| panic!("{rpc} succeeded although storage refuses writes"));
        assert_eq!(error.code(), Some(Code::Unavailable), "{rpc}: {error}");
        assert!(error.to_string().contains("retry"), "{rpc}: {error}");
    }
    assert!(
        elapsed < ANSWERED_WITHIN,
        "writes were answered after {elapsed:?}"
    );
}

/// Reads keep answering, and answering right, while writes are refused.
async fn verification_stays_correct(fixture: &Fixture) {
    let admin = &fixture.admin;
    let verdict = admin.verify(&fixture.cold_key, NONE).await.expect("verify");
    assert!(verdict.is_valid(), "a genuine key read from storage");
    let impostor = wrong_secret(&fixture.cold_key);
    let verdict = admin.verify(&impostor, NONE).await.expect("verify");
    assert_eq!(verdict, Verification::NotFound);
    let verdict = admin
        .verify(&fixture.revoked_key, NONE)
        .await
        .expect("verify");
    assert_eq!(verdict, Verification::NotFound);
    let verdict = admin
        .verify(&fixture.target_key, NONE)
        .await
        .expect("verify");
    assert!(verdict.is_valid(), "the failed writes did not land");
}

/// After the fault: nothing of the failed writes happened, and writes work
/// again without a restart.
async fn recovered_with_nothing_half_done(fixture: &Fixture) {
    let admin = &fixture.admin;
    assert!(
        admin
            .get_user_by_name("during-fault")
            .await
            .expect_err("the failed create did not happen")
            .is_not_found()
    );
    let target = admin
        .get_user(fixture.target_id)
        .await
        .expect("not deleted");
    assert_eq!(
        target.display_name, "User target",
        "the failed update did not happen"
    );
    assert!(
        admin
            .verify(&fixture.target_key, NONE)
            .await
            .expect("verify")
            .is_valid(),
        "neither the failed regenerate nor the failed revoke landed"
    );

    let created = retried("CreateUser", || {
        admin.create_user(new_user("after-fault", &[]))
    })
    .await;
    let key = retried("GenerateAccessKey", || {
        admin.generate_access_key(created.id, None)
    })
    .await
    .into_key();
    assert!(admin.verify(&key, NONE).await.expect("verify").is_valid());
    let rename = || admin.update_user(created.id, UserChanges::new().display_name("renamed"));
    retried("UpdateUser", rename).await;
    retried("RevokeAccessKey", || {
        admin.revoke_access_key(fixture.target_id)
    })
    .await;
    assert_eq!(
        admin
            .verify(&fixture.target_key, NONE)
            .await
            .expect("verify"),
        Verification::NotFound
    );
    retried("DeleteUser", || admin.delete_user(created.id)).await;
}

/// `call`, retried on UNAVAILABLE as a client would, for at most 10 s: the
/// service must recover by itself once storage is back.
async fn retried<T, F: Future<Output = Result<T, accesskey_client::Error>>>(
    rpc: &str,
    mut call: impl FnMut() -> F,
) -> T {
    eventually(Duration::from_secs(10), &format!("{rpc} recovers"), || {
        let answer = call();
        async move {
            answer.await.map_err(|err| {
                assert_eq!(err.code(), Some(Code::Unavailable), "{rpc}: {err}");
                err.to_string()
            })
        }
    })
    .await
}

async fn serve_fresh_database() -> (TestDatabase, Replica, String) {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let server = Replica::spawn(&database.url).await;
    (database, server, admin_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_locked_by_another_process_refuses_writes_retryably_and_recovers() {
    let (database, server, admin_key) = serve_fresh_database().await;
    let fixture = fixture(&server, &admin_key).await;

    // Another process (this test, beside the accesskeyd child) takes
    // SQLite's write lock and sits on it, as a stuck maintenance job would.
    let mut locker = SqliteConnection::connect(&database.url)
        .await
        .expect("a second connection");
    locker
        .execute("BEGIN EXCLUSIVE")
        .await
        .expect("take the write lock");
    locker
        .execute("UPDATE users SET display_name = display_name")
        .await
        .expect("write under the lock");

    writes_fail_with_unavailable(&fixture, Rpcs::All).await;
    verification_stays_correct(&fixture).await;

    locker.execute("ROLLBACK").await.expect("release the lock");
    locker.close().await.expect("close");
    recovered_with_nothing_half_done(&fixture).await;
}

/// Makes files immutable (`chattr +i`), which stops even root from writing
/// to them, through file descriptors already open too; undone on drop.
struct Immutable {
    paths: Vec<PathBuf>,
}

impl Immutable {
    /// `None` where `chattr +i` is not possible (not root, or a file system
    /// without the attribute).
    fn set(paths: &[&Path]) -> Option<Self> {
        let mut set = Self { paths: Vec::new() };
        for path in paths {
            let done = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !done {
                return None;
            }
            set.paths.push(path.to_path_buf());
        }
        Some(set)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(path)
                .status();
        }
    }
}

/// Makes the SQLite database, its WAL and its directory immutable, or says
/// why it cannot (then the caller skips; under CI as root it fails instead).
///
/// chmod does not stop root, nor a process that opened the files already:
/// the immutable attribute stops both. The shared-memory index (-shm) is
/// left alone: it is mapped into memory, and SQLite needs it for reads.
fn make_read_only(database: &TestDatabase) -> Option<Immutable> {
    let path = database.sqlite_path().expect("SQLite file");
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let directory = path.parent().expect("directory").to_path_buf();
    let read_only = Immutable::set(&[&path, &wal, &directory]);
    if read_only.is_none() {
        let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
        assert!(
            !in_ci || !running_as_root(),
            "chattr +i must work as root in CI"
        );
        eprintln!("skipped: `chattr +i` is not available (needs root on ext2/3/4 or similar)");
    }
    read_only
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_database_refuses_writes_retryably_and_recovers() {
    let (database, server, admin_key) = serve_fresh_database().await;
    let fixture = fixture(&server, &admin_key).await;
    let Some(read_only) = make_read_only(&database) else {
        return;
    };
    writes_fail_with_unavailable(&fixture, Rpcs::AllButCreate).await;
    verification_stays_correct(&fixture).await;
    // Concurrent reads make the pool open connections while the files are
    // read-only; SQLite opens those read-only for good, and they must not
    // keep refusing writes once the fault is gone.
    let reads = (0..32).map(|_| fixture.admin.get_user(fixture.target_id));
    for read in futures_util::future::join_all(reads).await {
        read.expect("reads work during the fault");
    }

    drop(read_only);
    // The first write may land on a connection opened during the fault; its
    // refusal retires every such connection, so the next attempt succeeds.
    let mut refused = 0;
    while let Err(err) = fixture
        .admin
        .create_user(new_user("first-after-fault", &[]))
        .await
    {
        assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
        refused += 1;
        assert!(refused <= 1, "writes still refused after the fault: {err}");
    }
    recovered_with_nothing_half_done(&fixture).await;
}

/// A CreateUser whose commit cannot be written is never acknowledged. (With
/// `INSERT … RETURNING`, sqlx handed back the row and dropped the commit's
/// error on SQLite: every such call was acknowledged with the same id.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_user_whose_commit_fails_is_never_acknowledged() {
    let (database, server, admin_key) = serve_fresh_database().await;
    let fixture = fixture(&server, &admin_key).await;
    let Some(read_only) = make_read_only(&database) else {
        return;
    };
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let name = format!("lost{i}");
        if let Ok(user) = fixture.admin.create_user(new_user(&name, &[])).await {
            acknowledged.push((name, user.id));
        }
    }
    drop(read_only);
    for (name, id) in acknowledged {
        let stored = fixture.admin.get_user(id).await;
        assert!(
            stored.is_ok_and(|user| user.username == name),
            "CreateUser acknowledged {name} (id {id}), which was never stored"
        );
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}
