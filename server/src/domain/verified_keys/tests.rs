//! The verified-key cache: slots, freshness, usage and single flight.

use std::time::Duration;

use super::*;
use crate::domain::model::{Principal, Username};

/// A waiter woken for its turn but cancelled before it ran used to
/// leave its key's entry in the in-flight map for good (an attacker
/// cancelling at the right moment could grow it without bound).
#[tokio::test]
async fn no_in_flight_entry_outlives_its_tasks() {
    let cache = Arc::new(VerifiedKeys::new(Freshness::Snapshot, 16).expect("csprng"));

    // A waiter cancelled while it waits.
    let holder = cache.single_flight("k").await;
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(10),
        cache.single_flight("k"),
    )
    .await;
    assert!(waiting.is_err(), "still waiting");
    drop(holder);
    assert_eq!(cache.in_flight_len(), 0);

    // A waiter woken for its turn, then cancelled before it runs.
    let holder = cache.single_flight("k").await;
    let waiter = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move {
            let _turn = cache.single_flight("k").await;
        }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    drop(holder);
    waiter.abort();
    assert!(waiter.await.is_err_and(|error| error.is_cancelled()));
    assert_eq!(cache.in_flight_len(), 0, "the entry outlived every task");

    // And the plain case: the waiter takes its turn and ends.
    let holder = cache.single_flight("k").await;
    let waiter = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move {
            let _turn = cache.single_flight("k").await;
        }
    });
    tokio::task::yield_now().await;
    drop(holder);
    waiter.await.expect("the waiter ran");
    assert_eq!(cache.in_flight_len(), 0);
}

fn credential(key: &AccessKey, disabled: bool) -> Credential {
    Credential {
        principal: Principal {
            user_id: 7,
            username: Username::from_stored("svc".to_owned()),
            permissions: Arc::new(PermissionSet::default()),
            key_id: key.key_id().clone(),
            expire_time: None,
        },
        secret_hash: "$argon2id$…".to_owned(),
        secret_fingerprint: None,
        user_disabled: disabled,
    }
}

#[test]
fn only_the_exact_key_is_known_and_writes_make_snapshots_stale() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let now = Timestamp::now();
    assert!(matches!(cache.lookup(&key, &text, now), Known::Unknown));

    cache.remember(&text, &credential(&key, false), cache.generation(), now);
    assert!(matches!(cache.lookup(&key, &text, now), Known::Current(c) if !c.user_disabled));

    // Same key id, another secret: known wrong, never a hit.
    let impostor = key.with_secret_of(&AccessKey::generate().expect("csprng"));
    assert!(matches!(
        cache.lookup(&impostor, &impostor.expose_plaintext(), now),
        Known::WrongSecret
    ));

    cache.invalidate();
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
}

#[test]
fn a_snapshot_read_before_a_write_is_never_current() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let before_read = cache.generation();
    cache.invalidate(); // a write lands between the read and remember()
    cache.remember(
        &text,
        &credential(&key, false),
        before_read,
        Timestamp::now(),
    );
    assert!(matches!(
        cache.lookup(&key, &text, Timestamp::now()),
        Known::SecretOnly
    ));
}

#[test]
fn no_snapshot_is_current_while_a_write_is_in_progress() {
    let cache = Arc::new(VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng"));
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let now = Timestamp::now();
    cache.remember(&text, &credential(&key, false), cache.generation(), now);
    assert!(cache.is_current(key.key_id()));

    let first = cache.begin_write();
    let second = cache.begin_write();
    // The write may have committed already: nothing comes from memory.
    assert!(!cache.is_current(key.key_id()));
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
    // A snapshot read during the write is not current before it ends...
    cache.remember(&text, &credential(&key, false), cache.generation(), now);
    drop(first);
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
    // ...nor after: its end moved the generation on.
    drop(second);
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));

    cache.remember(&text, &credential(&key, false), cache.generation(), now);
    assert!(matches!(cache.lookup(&key, &text, now), Known::Current(c) if !c.user_disabled));
}

#[test]
fn a_new_generation_epoch_drops_every_snapshot() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let now = Timestamp::now();
    let last_of_epoch = u64::from(u32::MAX);
    cache.generation.store(last_of_epoch, Ordering::SeqCst);
    cache.remember(&text, &credential(&key, false), last_of_epoch, now);
    assert!(matches!(cache.lookup(&key, &text, now), Known::Current(_)));

    cache.invalidate(); // generation 2^32: low bits 0 again
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
    // A snapshot read in the old epoch is not taken in the new one...
    cache.remember(&text, &credential(&key, false), last_of_epoch, now);
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
    // ...not even when the low bits come round to it again.
    cache
        .generation
        .store(last_of_epoch + (1 << 32), Ordering::SeqCst);
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
}

#[test]
fn revalidate_mode_never_answers_from_memory() {
    let cache = VerifiedKeys::new(Freshness::Revalidate, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    cache.remember(
        &text,
        &credential(&key, false),
        cache.generation(),
        Timestamp::now(),
    );
    assert!(matches!(
        cache.lookup(&key, &text, Timestamp::now()),
        Known::SecretOnly
    ));
}

const HOUR: Duration = Duration::from_secs(3_600);

#[test]
fn capacity_is_a_hard_bound_and_usage_is_taken_once() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 3).expect("csprng");
    for _ in 0..10 {
        let key = AccessKey::generate().expect("csprng");
        cache.remember(
            &key.expose_plaintext(),
            &credential(&key, false),
            0,
            Timestamp::now(),
        );
    }
    assert_eq!(cache.len(), 3);
    let (first, rest) = cache.take_usage(0, 2, HOUR);
    assert_eq!(first.len(), 2);
    let (last, done) = cache.take_usage(rest.expect("one left"), 2, HOUR);
    assert_eq!((last.len(), done), (1, None));
    assert!(cache.take_usage(0, 10, Duration::ZERO).0.is_empty());
}

#[test]
fn slots_are_reused_and_names_of_any_length_survive() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 100).expect("csprng");
    let now = Timestamp::now();
    for name in ["a", "exactly-twenty-two-ch", &"long".repeat(16)] {
        let key = AccessKey::generate().expect("csprng");
        let text = key.expose_plaintext();
        let mut stored = credential(&key, false);
        stored.principal.username = Username::from_stored(name.to_owned());
        cache.remember(&text, &stored, cache.generation(), now);
        let Known::Current(found) = cache.lookup(&key, &text, now) else {
            panic!("a remembered key is current");
        };
        assert_eq!(found.principal.username.as_str(), name);
        assert_eq!(found.principal.user_id, 7);
        cache.forget(key.key_id());
        assert!(matches!(cache.lookup(&key, &text, now), Known::Unknown));
    }
    assert!(cache.is_empty());
    let entries = cache.entries.read().expect("not poisoned");
    assert_eq!(entries.slab.high_water, 1, "a forgotten slot is reused");
}

#[test]
fn a_use_is_written_again_only_after_the_precision_or_at_shutdown() {
    let cache = VerifiedKeys::new(Freshness::Revalidate, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let at = |seconds: i64| Timestamp::from_micros((1_700_000_000 + seconds) * 1_000_000);
    let taken = |precision| -> Vec<Timestamp> {
        let (uses, rest) = cache.take_usage(0, 10, precision);
        assert_eq!(rest, None);
        uses.into_iter().map(|key_use| key_use.time).collect()
    };
    // As verification does: the lookup finds the secret known, and the
    // row read again says the key still authenticates.
    let use_at = |time| {
        assert!(matches!(cache.lookup(&key, &text, time), Known::SecretOnly));
        cache.refresh(&text, &credential(&key, false), cache.generation(), time);
    };
    cache.remember(&text, &credential(&key, false), 0, at(0));
    assert_eq!(taken(HOUR), [at(0)], "a first use is always due");
    assert_eq!(taken(HOUR), []);

    use_at(at(3_599));
    assert_eq!(cache.latest_use(key.key_id()), Some(at(3_599)));
    assert_eq!(taken(HOUR), [], "within the precision of the written use");
    use_at(at(3_600));
    assert_eq!(taken(HOUR), [at(3_600)]);

    // A presentation that does not authenticate is no use.
    cache.lookup(&key, &text, at(3_601));
    cache.refresh(
        &text,
        &credential(&key, true),
        cache.generation(),
        at(3_601),
    );
    assert_eq!(taken(Duration::ZERO), []);

    use_at(at(3_601));
    assert_eq!(
        taken(Duration::ZERO),
        [at(3_601)],
        "shutdown takes any newer use"
    );
    assert_eq!(taken(Duration::ZERO), []);
}

#[test]
fn a_new_snapshot_keeps_what_was_written_and_a_failed_write_is_retried() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    // Kept to the second.
    let used = Timestamp::from_micros(1_700_000_000_654_321);
    let second = Timestamp::from_micros(1_700_000_000_000_000);
    cache.remember(&text, &credential(&key, false), 0, used);
    assert_eq!(cache.latest_use(key.key_id()), Some(second));
    let (written, _) = cache.take_usage(0, 10, HOUR);
    assert_eq!(written.len(), 1);

    // A write elsewhere, then a refreshed snapshot: nothing new is due.
    cache.invalidate();
    cache.remember(&text, &credential(&key, false), cache.generation(), used);
    assert!(cache.take_usage(0, 10, HOUR).0.is_empty());

    cache.restore_usage(&written);
    assert_eq!(cache.take_usage(0, 10, HOUR).0, written);
    assert_eq!(cache.latest_use(key.key_id()), Some(second));
}

#[test]
fn one_call_looks_at_a_bounded_number_of_slots() {
    let cache = VerifiedKeys::new(Freshness::Revalidate, SCAN_SLOTS + 2).expect("csprng");
    let now = Timestamp::now();
    for _ in 0..SCAN_SLOTS + 2 {
        let key = AccessKey::generate().expect("csprng");
        cache.remember(&key.expose_plaintext(), &credential(&key, false), 0, now);
    }
    let (first, rest) = cache.take_usage(0, usize::MAX, HOUR);
    assert_eq!((first.len(), rest), (SCAN_SLOTS, Some(SCAN_SLOTS)));
    let (last, done) = cache.take_usage(SCAN_SLOTS, usize::MAX, HOUR);
    assert_eq!((last.len(), done), (2, None));
}

#[test]
fn a_disabled_users_key_is_never_answered_from_memory() {
    let cache = VerifiedKeys::new(Freshness::Snapshot, 10).expect("csprng");
    let key = AccessKey::generate().expect("csprng");
    let text = key.expose_plaintext();
    let now = Timestamp::now();
    cache.remember(&text, &credential(&key, true), cache.generation(), now);
    assert!(matches!(cache.lookup(&key, &text, now), Known::SecretOnly));
}
