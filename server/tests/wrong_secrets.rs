//! A wrong secret never reaches argon2: its fingerprint differs from the
//! stored one, and that settles it. Counted on a real [`Directory`] over a
//! SQLite file, including keys issued before fingerprints existed, which
//! pay argon2 until their genuine secret matches once.

use std::time::{Duration, Instant};

use accesskey_server::{
    Config,
    testing::{
        Directory, DomainError, Verdict,
        key_format::AccessKey,
        model::{IdentityProvider, NewUser, Origin, PermissionSet, Principal, RoleSet, Username},
    },
};
use sea_orm::{ConnectionTrait as _, Database};

const NOTHING: fn() -> PermissionSet = PermissionSet::default;

struct Fixture {
    url: String,
    directory: Directory,
    admin: Principal,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

/// A directory over a fresh SQLite file, configured by `configure`, with
/// the bootstrap admin as caller.
async fn fixture_with(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("accesskey.db").display());
    let mut config = Config::for_database(url.clone());
    configure(&mut config);
    let (_store, directory) = accesskey_server::open(&config).await.expect("open");
    let admin_key = directory
        .bootstrap(Username::parse("username", "admin").expect("valid name"))
        .await
        .expect("bootstrap")
        .expose_plaintext();
    let admin = directory
        .authenticate(&admin_key)
        .await
        .expect("the admin authenticates");
    Fixture {
        url,
        directory,
        admin,
        _dir: dir,
    }
}

/// A new user with a key never verified in this process.
async fn user_with_key(fixture: &Fixture, name: &str) -> String {
    let user = fixture
        .directory
        .create_user(
            &fixture.admin,
            &Origin::host(),
            NewUser {
                username: Username::parse("username", name).expect("valid name"),
                email: String::new(),
                display_name: String::new(),
                identity_provider: IdentityProvider::Local,
                permissions: PermissionSet::default(),
                roles: RoleSet::default(),
            },
        )
        .await
        .expect("create");
    let (key, _) = fixture
        .directory
        .generate_key(&fixture.admin, &Origin::host(), user.id, None)
        .await
        .expect("generate");
    key.expose_plaintext()
}

/// `key`'s key id with a fresh random secret.
fn wrong_secret(key: &str) -> String {
    AccessKey::parse(key)
        .expect("a genuine key")
        .with_secret_of(&AccessKey::generate().expect("csprng"))
        .expose_plaintext()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_cost_no_argon2_and_lock_nobody_out() {
    let fixture = fixture().await;
    let key = user_with_key(&fixture, "svc").await;
    let directory = &fixture.directory;
    let before = directory.argon2_verifications();

    // Far past the failure throttle's burst of 10, as verified keys and as
    // callers' own credentials.
    for _ in 0..200 {
        let verdict = directory
            .verify(&wrong_secret(&key), &NOTHING())
            .await
            .expect("an answer");
        assert_eq!(verdict, Verdict::NotFound);
        let refused = directory
            .authenticate(&wrong_secret(&key))
            .await
            .expect_err("a wrong secret");
        assert!(
            matches!(refused, DomainError::Unauthenticated(_)),
            "{refused:?}"
        );
    }
    assert_eq!(
        directory.argon2_verifications(),
        before,
        "no argon2 for a wrong secret"
    );

    // The genuine key, never used before, works on its first try: one argon2.
    let verdict = directory.verify(&key, &NOTHING()).await.expect("an answer");
    assert!(matches!(verdict, Verdict::Valid(_)), "{verdict:?}");
    assert_eq!(directory.argon2_verifications(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_issued_before_fingerprints_gets_one_on_its_first_use() {
    let fixture = fixture().await;
    let key = user_with_key(&fixture, "legacy").await;
    let key_id = AccessKey::parse(&key)
        .expect("a genuine key")
        .key_id()
        .as_str()
        .to_owned();
    let db = Database::connect(&fixture.url).await.expect("connect");
    db.execute_unprepared(&format!(
        "UPDATE access_keys SET secret_fingerprint = NULL WHERE key_id = '{key_id}'"
    ))
    .await
    .expect("make it a key from before fingerprints");
    let directory = &fixture.directory;

    // Without a fingerprint, a wrong secret still costs argon2.
    let before = directory.argon2_verifications();
    let verdict = directory
        .verify(&wrong_secret(&key), &NOTHING())
        .await
        .expect("an answer");
    assert_eq!(verdict, Verdict::NotFound);
    assert_eq!(directory.argon2_verifications(), before + 1);

    // The genuine secret records the fingerprint (in the background)…
    let verdict = directory.verify(&key, &NOTHING()).await.expect("an answer");
    assert!(matches!(verdict, Verdict::Valid(_)), "{verdict:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT secret_fingerprint IS NOT NULL FROM access_keys WHERE key_id = '{key_id}'"
                ),
            ))
            .await
            .expect("read")
            .expect("the key's row");
        if row.try_get_by_index::<bool>(0).expect("a boolean") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fingerprint was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // …and from then on wrong secrets cost nothing.
    let before = directory.argon2_verifications();
    for _ in 0..50 {
        let verdict = directory
            .verify(&wrong_secret(&key), &NOTHING())
            .await
            .expect("an answer");
        assert_eq!(verdict, Verdict::NotFound);
    }
    assert_eq!(directory.argon2_verifications(), before);
}

/// Cancelled checks leave no argon2 work behind. Each call below gives up
/// after 5 ms, as a caller with a 5 ms deadline does; before, each took an
/// argon2 permit, queued its job, and released the permit when it gave up
/// while the job stayed queued, so 300 such calls left seconds of argon2
/// burning after they were all gone (and first-time keys waited behind it).
/// The keys are from before fingerprints, the one case where a wrong secret
/// still reaches argon2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_checks_leave_no_argon2_backlog() {
    // One argon2 worker, as on a 2-core machine.
    let fixture = fixture_with(|config| config.hash_workers = std::num::NonZeroUsize::new(1)).await;
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push(user_with_key(&fixture, &format!("legacy{i}")).await);
    }
    let db = Database::connect(&fixture.url).await.expect("connect");
    db.execute_unprepared("UPDATE access_keys SET secret_fingerprint = NULL")
        .await
        .expect("make them keys from before fingerprints");
    let directory = &fixture.directory;

    let resident_before = resident_bytes();
    let started = directory.argon2_verifications();
    // 10,000 calls, 100 at a time.
    for batch in 0..100 {
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..100 {
            let wrong = wrong_secret(&keys[(batch * 100 + i) % keys.len()]);
            let directory = directory.clone();
            calls.spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_millis(5),
                    directory.verify(&wrong, &NOTHING()),
                )
                .await;
            });
        }
        calls.join_all().await;
    }
    // What was running when the last call gave up finishes; nothing after.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = directory.argon2_verifications();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        directory.argon2_verifications(),
        settled,
        "argon2 kept running for callers that were gone"
    );
    // One worker runs argon2 for a few of them (about 17 ms each, at most
    // one at a time), not for thousands.
    let ran = settled - started;
    assert!(ran < 1_000, "{ran} argon2 runs for 10,000 cancelled calls");
    // Other tests share this process, so only a backlog-sized growth counts.
    let grown = resident_bytes().saturating_sub(resident_before);
    assert!(
        grown < 128 << 20,
        "resident memory grew by {} MiB",
        grown >> 20
    );
}

/// The process's resident memory, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib * 1024)
}

/// A caller that gives up while argon2 checks its genuine secret still
/// leaves the finding behind: the next presentation of that key costs no
/// second argon2 run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_secret_found_for_a_cancelled_call_is_remembered() {
    let fixture = fixture_with(|config| config.hash_workers = std::num::NonZeroUsize::new(1)).await;
    let key = user_with_key(&fixture, "impatient").await;
    let directory = &fixture.directory;
    let before = directory.argon2_verifications();
    // Give up 1 ms in, until one attempt gave up with its argon2 run
    // started (earlier ones may give up while still reading the row).
    let deadline = Instant::now() + Duration::from_secs(10);
    while directory.argon2_verifications() == before {
        assert!(Instant::now() < deadline, "argon2 never started");
        let gave_up =
            tokio::time::timeout(Duration::from_millis(1), directory.verify(&key, &NOTHING()))
                .await
                .is_err();
        assert!(gave_up, "argon2 should take longer than 1 ms");
        // Let a started run finish.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(directory.argon2_verifications(), before + 1);
    let verdict = directory.verify(&key, &NOTHING()).await.expect("an answer");
    assert!(matches!(verdict, Verdict::Valid(_)), "{verdict:?}");
    assert_eq!(
        directory.argon2_verifications(),
        before + 1,
        "the genuine secret was checked again"
    );
}
