//! SIGKILL at random moments under a mixed write load, twenty times over
//! one SQLite file: every acknowledged write survives, every acknowledged
//! revoke or regenerate stays in force, no user ever has two valid keys,
//! every change has its audit event and every event its change, and the
//! file passes `PRAGMA integrity_check`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use accesskey_client::{Client, UserChanges, Verification};
use sea_orm::{ConnectionTrait as _, Database, Statement};

use crate::harness::{Backend, Replica, TestDatabase, bootstrap, eventually, new_user};

const NONE: [&str; 0] = [];
const ROUNDS: usize = 20;
const WRITERS: usize = 4;

/// What a writer knows was acknowledged for its user.
#[derive(Debug, Default)]
struct Acknowledged {
    user_id: Option<i64>,
    /// Every key issued and acknowledged, oldest first.
    keys: Vec<String>,
    /// Whether the newest acknowledged key operation was a revoke.
    revoked: bool,
    disabled: bool,
    /// How many steps of the cycle were acknowledged.
    steps: usize,
}

/// One writer's loop: generate, regenerate, revoke, disable, enable, …,
/// until the server dies under it.
async fn write_until_killed(
    client: Client,
    name: String,
    progress: Arc<AtomicUsize>,
) -> Acknowledged {
    let mut acked = Acknowledged::default();
    let Ok(user) = client.create_user(new_user(&name, &["orders.read"])).await else {
        return acked;
    };
    acked.user_id = Some(user.id);
    for step in 0.. {
        let result = match step % 5 {
            0 | 1 => client.generate_access_key(user.id, None).await.map(|key| {
                acked.keys.push(key.into_key());
                acked.revoked = false;
            }),
            2 => client
                .revoke_access_key(user.id)
                .await
                .map(|()| acked.revoked = true),
            3 => client
                .update_user(user.id, UserChanges::new().disabled(true))
                .await
                .map(|_| acked.disabled = true),
            _ => client
                .update_user(user.id, UserChanges::new().disabled(false))
                .await
                .map(|_| acked.disabled = false),
        };
        if result.is_err() {
            break;
        }
        acked.steps += 1;
        progress.fetch_add(1, Ordering::Relaxed);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_write_load_loses_no_acknowledged_write() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut acknowledged_steps = 0;

    for round in 0..ROUNDS {
        let mut server = Replica::spawn(&database.url).await;
        let client = Client::builder(format!("http://{}", server.address))
            .access_key(&admin_key)
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect");
        let progress = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let name = format!("r{round}w{w}");
                tokio::spawn(write_until_killed(
                    client.clone(),
                    name,
                    Arc::clone(&progress),
                ))
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A random moment, but only once some writes were acknowledged, so
        // that a slow machine still tests something in every round.
        let (at_least, then) = (2 + seed % 6, seed % 200);
        let what = format!("round {round}: {at_least} writes acknowledged");
        eventually(Duration::from_secs(60), &what, || async {
            match progress.load(Ordering::Relaxed) as u64 {
                acknowledged if acknowledged >= at_least => Ok(()),
                acknowledged => Err(format!("{acknowledged}")),
            }
        })
        .await;
        // The random moment itself: the kill's timing is what is tested.
        tokio::time::sleep(Duration::from_millis(then)).await;
        server.kill().await;
        let mut outcomes = Vec::new();
        for writer in writers {
            outcomes.push(writer.await.expect("writer task"));
        }

        let mut restarted = Replica::spawn(&database.url).await;
        let admin = restarted.client(&admin_key).await;
        for acked in outcomes {
            acknowledged_steps += acked.steps;
            let Some(user_id) = acked.user_id else {
                continue;
            };
            let user = admin
                .get_user(user_id)
                .await
                .expect("an acknowledged user exists");
            let mut valid = 0;
            for (i, key) in acked.keys.iter().enumerate() {
                let verdict = admin.verify(key, NONE).await.expect("verify");
                let newest = i + 1 == acked.keys.len();
                if !newest || acked.revoked {
                    // Replaced or revoked, acknowledged: must stay dead.
                    assert_eq!(
                        verdict,
                        Verification::NotFound,
                        "round {round}: a dead key came back"
                    );
                }
                if !matches!(verdict, Verification::NotFound) {
                    valid += 1;
                }
            }
            assert!(valid <= 1, "round {round}: {valid} live keys for one user");
            // Only an in-flight disable (step 3) or enable (step 4) may have
            // changed `disabled` past what was acknowledged.
            let in_flight_toggles = matches!(acked.steps % 5, 3 | 4);
            assert!(
                in_flight_toggles || user.disabled == acked.disabled,
                "round {round}: an acknowledged disable/enable was lost"
            );
        }
        // Waits for the exit, so the next round's server gets the lock.
        restarted.kill().await;
    }

    assert!(
        acknowledged_steps >= 2 * ROUNDS,
        "the load was too light to mean anything: {acknowledged_steps}"
    );
    let path = database.sqlite_path().expect("SQLite file");
    let db = Database::connect(format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .expect("integrity_check")
        .expect("a row");
    let verdict: String = row.try_get_by_index(0).expect("text");
    assert_eq!(verdict, "ok");

    // Every change bumps its user's revision and records one event, in one
    // transaction: after twenty kills, the two still agree for every user,
    // and no event names a user that never existed.
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT u.username, u.revision, \
             (SELECT COUNT(*) FROM audit_events e WHERE e.target_user_id = u.id \
              AND e.action IN ('user.updated', 'key.generated', 'key.revoked')), \
             (SELECT COUNT(*) FROM audit_events e WHERE e.target_user_id = u.id \
              AND e.action = 'user.created') \
             FROM users u",
        ))
        .await
        .expect("revisions and events");
    assert!(rows.len() > ROUNDS, "users were created: {}", rows.len());
    for row in rows {
        let username: String = row.try_get_by_index(0).expect("username");
        let revision: i64 = row.try_get_by_index(1).expect("revision");
        let changes: i64 = row.try_get_by_index(2).expect("count");
        let created: i64 = row.try_get_by_index(3).expect("count");
        assert_eq!(
            (created, changes),
            (1, revision - 1),
            "{username}: a change without its event, or an event without its change"
        );
    }
    let orphans = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM audit_events WHERE target_user_id NOT IN (SELECT id FROM users)",
        ))
        .await
        .expect("orphans")
        .expect("a row");
    let orphans: i64 = orphans.try_get_by_index(0).expect("count");
    assert_eq!(orphans, 0, "events of changes that never happened");
}

/// SIGTERM under load: accepted calls finish or fail cleanly, the process
/// flushes and exits 0 well within the 30 s grace (the request timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_calls_and_exits_zero() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let mut server = Replica::spawn(&database.url).await;
    let client = server.client(&admin_key).await;
    let user = client
        .create_user(new_user("svc", &[]))
        .await
        .expect("create");
    let key = client
        .generate_access_key(user.id, None)
        .await
        .expect("key")
        .into_key();

    let served_so_far = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let key = key.clone();
            let served_so_far = Arc::clone(&served_so_far);
            tokio::spawn(async move {
                let (mut ok, mut refused) = (0, 0);
                loop {
                    match client.verify(&key, NONE).await {
                        Ok(verdict) => {
                            assert!(verdict.is_valid(), "never a wrong answer: {verdict:?}");
                            ok += 1;
                            served_so_far.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused before reaching a handler: UNAVAILABLE, or the
                        // HTTP/2 GOAWAY that tonic reports as INTERNAL.
                        Err(err)
                            if err.is_unavailable()
                                || err.code() == Some(tonic::Code::Cancelled)
                                || err.to_string().contains("h2 protocol error") =>
                        {
                            refused += 1;
                            if refused > 3 {
                                return ok;
                            }
                        }
                        Err(err) => panic!("unclean failure during shutdown: {err}"),
                    }
                }
            })
        })
        .collect();
    // Under load: the load is running (as many calls served as there are
    // load tasks) before the SIGTERM.
    eventually(Duration::from_secs(30), "the load is served", || async {
        match served_so_far.load(Ordering::Relaxed) {
            served if served >= 8 => Ok(()),
            served => Err(format!("{served} calls served")),
        }
    })
    .await;
    let started = Instant::now();
    server.terminate().await;
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut served = 0;
    for task in load {
        served += task.await.expect("load task");
    }
    assert!(served > 0, "the load ran before the shutdown");
}
