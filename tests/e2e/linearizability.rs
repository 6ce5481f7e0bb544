//! Changes to a key take effect atomically for everyone: with every cache
//! warm and 32 workers using a key at full speed (half verifying it, half
//! presenting it as their own credential), a revoke, regenerate, disable,
//! delete or permission removal is seen by every request that starts after
//! the change returned, and by every request that starts after any other
//! request already saw it. Repeated over many rounds on every backend.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

use accesskey_client::{Client, UserChanges};
use tonic::Code;

use crate::harness::{TestServer, eventually, on_every_backend};

const ROUNDS: usize = 20;
const WORKERS: usize = 32;
/// Separate HTTP/2 connections the workers are spread over.
const CONNECTIONS: usize = 4;
/// Requests wanted on each side of a change, per round.
const REQUESTS_PER_PHASE: usize = WORKERS;
/// What the key's user needs for a worker's request to succeed.
const REQUIRED: [&str; 1] = ["orders.read"];
const GRANTED: [&str; 2] = ["keys.verify", "orders.read"];

/// The kinds of change, cycled through round after round.
#[derive(Debug, Clone, Copy)]
enum Change {
    Revoke,
    Regenerate,
    Disable,
    Delete,
    RemovePermissions,
}

const CHANGES: [Change; 5] = [
    Change::Revoke,
    Change::Regenerate,
    Change::Disable,
    Change::Delete,
    Change::RemovePermissions,
];

impl Change {
    async fn apply(self, admin: &Client, user_id: i64) -> Result<(), accesskey_client::Error> {
        match self {
            Self::Revoke => admin.revoke_access_key(user_id).await,
            Self::Regenerate => admin.generate_access_key(user_id, None).await.map(drop),
            Self::Disable => admin
                .update_user(user_id, UserChanges::new().disabled(true))
                .await
                .map(drop),
            Self::Delete => admin.delete_user(user_id).await,
            Self::RemovePermissions => admin
                .update_user(user_id, UserChanges::new().permissions(["orders.write"]))
                .await
                .map(drop),
        }
    }
}

/// What one round's workers share and report.
#[derive(Default)]
struct Round {
    /// Set just before the change call is sent.
    change_sent: AtomicBool,
    /// Set as soon as the change call returned.
    change_returned: AtomicBool,
    /// Set by the first worker that got a "no" for the key.
    refusal_seen: AtomicBool,
    stop: AtomicBool,
    /// Answers to requests that completed before the change was sent.
    before: AtomicUsize,
    /// Answers to requests that started after the change returned.
    after: AtomicUsize,
    /// VALID for a request that started after the change returned, or
    /// after another request had already been refused.
    stale: AtomicUsize,
    /// A refusal for a request that completed before the change was sent.
    spurious: AtomicUsize,
    /// Any other failure, by gRPC code (never a message: no key in output).
    unexpected: Mutex<Vec<Option<Code>>>,
}

/// A worker's request: `Ok(true)` when the key was accepted, `Ok(false)`
/// when it was refused the way the change implies.
async fn attempt(client: &Client, key: &str, as_caller: bool) -> Result<bool, Option<Code>> {
    if as_caller {
        // The key is the caller's own credential; the presented key is
        // malformed, so the answer costs nothing past authentication.
        match client.verify("akey_x", REQUIRED).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_unauthenticated() || err.is_permission_denied() => Ok(false),
            Err(err) => Err(err.code()),
        }
    } else {
        match client.verify(key, REQUIRED).await {
            Ok(verdict) => Ok(verdict.is_valid()),
            Err(err) => Err(err.code()),
        }
    }
}

async fn work(round: Arc<Round>, client: Client, key: Arc<str>, as_caller: bool) {
    while !round.stop.load(SeqCst) {
        // Read before the request is sent: if either is set, the request
        // started after the change (or a refusal) was already visible.
        let after_change = round.change_returned.load(SeqCst);
        let after_refusal = round.refusal_seen.load(SeqCst);
        let outcome = attempt(&client, &key, as_caller).await;
        let completed_before_change = !round.change_sent.load(SeqCst);
        match outcome {
            Ok(true) => {
                if after_change || after_refusal {
                    round.stale.fetch_add(1, SeqCst);
                }
            }
            Ok(false) => {
                round.refusal_seen.store(true, SeqCst);
                if completed_before_change {
                    round.spurious.fetch_add(1, SeqCst);
                }
            }
            Err(code) => round
                .unexpected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(code),
        }
        if completed_before_change {
            round.before.fetch_add(1, SeqCst);
        }
        if after_change {
            round.after.fetch_add(1, SeqCst);
        }
    }
}

/// Waits (at most 30 s: a hang fails the test instead of stalling it) until
/// `counter` reaches `target`.
async fn wait_for(counter: &AtomicUsize, target: usize) {
    eventually(
        Duration::from_secs(30),
        "the workers make progress",
        || async {
            match counter.load(SeqCst) {
                reached if reached >= target => Ok(()),
                reached => Err(format!("{reached} of {target} requests")),
            }
        },
    )
    .await;
}

async fn changes_are_linearizable_under_32_workers(server: TestServer) {
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        connections.push(
            Client::builder(server.endpoint())
                .access_key(&server.admin_key)
                .connect()
                .await
                .expect("connect"),
        );
    }
    let started = Instant::now();
    let (mut total_before, mut total_after) = (0, 0);
    for round_number in 0..ROUNDS {
        let change = CHANGES[round_number % CHANGES.len()];
        let (user, key) = server
            .user_with_key(&format!("lin{round_number}"), &GRANTED)
            .await;
        let key: Arc<str> = Arc::from(key);
        // Warm both paths: the key as the subject and as the caller.
        assert_eq!(attempt(&server.admin, &key, false).await, Ok(true));
        let as_caller = server.client_with_key(&key);
        assert_eq!(attempt(&as_caller, &key, true).await, Ok(true));

        let round = Arc::new(Round::default());
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let connection = &connections[w % CONNECTIONS];
                let caller_side = w % 2 == 1;
                let client = if caller_side {
                    connection.with_access_key(&key).expect("ASCII key")
                } else {
                    connection.clone()
                };
                tokio::spawn(work(
                    Arc::clone(&round),
                    client,
                    Arc::clone(&key),
                    caller_side,
                ))
            })
            .collect();

        wait_for(&round.before, REQUESTS_PER_PHASE).await;
        round.change_sent.store(true, SeqCst);
        change
            .apply(&server.admin, user.id)
            .await
            .expect("the change");
        round.change_returned.store(true, SeqCst);
        wait_for(&round.after, REQUESTS_PER_PHASE).await;
        round.stop.store(true, SeqCst);
        for worker in workers {
            worker.await.expect("worker task");
        }

        let unexpected = round
            .unexpected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(
            unexpected.is_empty(),
            "round {round_number} ({change:?}): failed calls {unexpected:?}"
        );
        assert_eq!(
            round.stale.load(SeqCst),
            0,
            "round {round_number} ({change:?}): the old state was served after the change was visible"
        );
        assert_eq!(
            round.spurious.load(SeqCst),
            0,
            "round {round_number} ({change:?}): the key was refused before any change"
        );
        total_before += round.before.load(SeqCst);
        total_after += round.after.load(SeqCst);
    }
    assert!(
        total_before >= ROUNDS * REQUESTS_PER_PHASE && total_after >= ROUNDS * REQUESTS_PER_PHASE
    );
    eprintln!(
        "{ROUNDS} rounds, {total_before} requests before and {total_after} after the changes, in {:?}",
        started.elapsed()
    );
}

async fn a_caller_loses_a_removed_permission_on_its_very_next_call(server: TestServer) {
    let (caller_user, caller_key) = server
        .user_with_key("auditor", &["keys.verify", "users.read"])
        .await;
    let caller = server.client_with_key(&caller_key);
    for _ in 0..2 {
        caller
            .get_user(caller_user.id)
            .await
            .expect("users.read is held");
        caller
            .verify("akey_x", REQUIRED)
            .await
            .expect("keys.verify is held");
    }

    let demote = UserChanges::new().permissions(["keys.verify"]);
    server
        .admin
        .update_user(caller_user.id, demote)
        .await
        .expect("remove users.read");
    let err = caller
        .get_user(caller_user.id)
        .await
        .expect_err("users.read was removed");
    assert!(err.is_permission_denied(), "{err}");
    caller
        .verify("akey_x", REQUIRED)
        .await
        .expect("keys.verify is still held");

    let demote = UserChanges::new().permissions(["orders.read"]);
    server
        .admin
        .update_user(caller_user.id, demote)
        .await
        .expect("remove keys.verify");
    let err = caller
        .verify("akey_x", REQUIRED)
        .await
        .expect_err("keys.verify was removed");
    assert!(err.is_permission_denied(), "{err}");

    let restore = UserChanges::new().permissions(["keys.verify", "users.read"]);
    server
        .admin
        .update_user(caller_user.id, restore)
        .await
        .expect("grant again");
    caller
        .get_user(caller_user.id)
        .await
        .expect("granted again, at once");
}

on_every_backend!(multi_thread; changes_are_linearizable_under_32_workers, a_caller_loses_a_removed_permission_on_its_very_next_call);
