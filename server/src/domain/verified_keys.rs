//! Keys whose secret has already been checked with argon2, so checking them
//! again costs a hash lookup instead of ~17 ms of CPU.
//!
//! An entry is keyed by the key id and holds a keyed BLAKE2b MAC (per-process
//! random key) of the *whole presented key*: never the key or its secret. A
//! presented key is "known" only if its key id has an entry and the MAC of
//! the whole key matches it (compared in constant time). Only keys whose
//! secret matched are ever entered; wrong secrets always take the full path.
//!
//! Key ids are random and never reused, so a known secret stays valid exactly
//! as long as a row with that key id exists: a regenerated key gets a new id,
//! and a revoked one loses its row. What the entry may also carry is a
//! *snapshot* of the key's and user's state (permissions, disabled, expiry),
//! used only in [`Freshness::Snapshot`] mode, when this process is the only
//! writer (SQLite). Every write bumps a generation counter; a snapshot taken
//! before the latest write is stale and is refreshed from the database. The
//! generation is read before the database read that fills a snapshot, so a
//! write that lands in between always makes that snapshot stale.
//!
//! `last_used_time` is noted here (an atomic store on the entry) and written
//! to the database in batches by [`VerifiedKeys::take_usage`]'s caller.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

use blake2::{
    Blake2bMac,
    digest::{Mac as _, consts::U16},
};
use subtle::ConstantTimeEq as _;

use super::{
    key_format::{AccessKey, KEY_ID_LEN, KeyId},
    model::{Credential, PermissionSet, Principal, Timestamp, Username},
};

type KeyMac = Blake2bMac<U16>;
/// A key id as its 16 ASCII bytes: the cache's key, with no allocation.
pub type IdBytes = [u8; KEY_ID_LEN];

/// At most this many distinct permission sets are shared between snapshots;
/// beyond it each snapshot keeps its own copy (correct, just larger).
const MAX_INTERNED_PERMISSION_SETS: usize = 4_096;

/// Whether a known key's state may be answered from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// This process is the database's only writer: state snapshots are valid
    /// until this process writes anything.
    Snapshot,
    /// Other processes may write (replicas on a shared database): always
    /// re-read the key's and user's state; only argon2 is skipped.
    Revalidate,
}

/// What the cache knows about a presented key.
#[derive(Debug)]
pub enum Known {
    /// Secret known good and state current: no I/O needed.
    Current(Credential),
    /// Secret known good; state must be read from the database.
    SecretOnly,
    /// Nothing: parse, read, argon2.
    Unknown,
}

#[derive(Debug)]
struct Snapshot {
    generation: u64,
    user_id: i64,
    username: Arc<str>,
    permissions: Arc<PermissionSet>,
    expire_micros: Option<i64>,
    disabled: bool,
}

#[derive(Debug)]
struct Entry {
    mac: [u8; 16],
    /// Microseconds of the latest use not yet written to the database; 0
    /// when there is none.
    unrecorded_use: AtomicI64,
    snapshot: Option<Snapshot>,
}

/// The cache. Cheap to share behind an `Arc`.
pub struct VerifiedKeys {
    mac_key: KeyMac,
    freshness: Freshness,
    capacity: usize,
    generation: AtomicU64,
    entries: RwLock<HashMap<IdBytes, Entry>>,
    permission_sets: Mutex<HashSet<Arc<PermissionSet>>>,
    in_flight: Mutex<HashMap<[u8; 16], Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while this task checks a key's secret; others presenting the same
/// key wait for it, then find the answer in the cache.
#[derive(Debug)]
pub struct SingleFlight<'a> {
    cache: &'a VerifiedKeys,
    mac: [u8; 16],
    lock: Arc<tokio::sync::Mutex<()>>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for SingleFlight<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The map, this flight and its guard hold the lock; more means waiters.
        if Arc::strong_count(&self.lock) <= 3 {
            in_flight.remove(&self.mac);
        }
    }
}

impl std::fmt::Debug for VerifiedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedKeys")
            .field("freshness", &self.freshness)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl VerifiedKeys {
    pub fn new(freshness: Freshness, capacity: usize) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let mac_key = <KeyMac as blake2::digest::KeyInit>::new_from_slice(&secret)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid BLAKE2b key length"));
        Ok(Self {
            mac_key,
            freshness,
            capacity,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            permission_sets: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, presented: &str) -> [u8; 16] {
        let mut mac = self.mac_key.clone();
        mac.update(presented.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Waits for any other check of this exact key to finish.
    pub async fn single_flight(&self, presented: &str) -> SingleFlight<'_> {
        let mac = self.mac(presented);
        let lock = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(in_flight.entry(mac).or_default())
        };
        let turn = Arc::clone(&lock).lock_owned().await;
        SingleFlight {
            cache: self,
            mac,
            lock,
            _turn: turn,
        }
    }

    /// The current write generation; read it before a database read whose
    /// result will be passed to [`remember`](Self::remember).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Marks every snapshot stale. Called after every write to users or keys.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// What is known about `key` (presented as `presented`), noting its use.
    pub fn lookup(&self, key: &AccessKey, presented: &str, now: Timestamp) -> Known {
        let id = id_bytes(key.key_id());
        let mac = self.mac(presented);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get(&id) else {
            return Known::Unknown;
        };
        if !bool::from(entry.mac.ct_eq(&mac)) {
            return Known::Unknown;
        }
        entry
            .unrecorded_use
            .store(now.as_micros(), Ordering::Relaxed);
        let current = self.generation();
        match (&entry.snapshot, self.freshness) {
            (Some(snapshot), Freshness::Snapshot) if snapshot.generation == current => {
                Known::Current(snapshot.to_credential(key.key_id()))
            }
            _ => Known::SecretOnly,
        }
    }

    /// Records that `presented` matched `credential`, read from the database
    /// at `generation`.
    pub fn remember(
        &self,
        presented: &str,
        credential: &Credential,
        generation: u64,
        now: Timestamp,
    ) {
        let id = id_bytes(&credential.principal.key_id);
        let snapshot = (self.freshness == Freshness::Snapshot).then(|| Snapshot {
            generation,
            user_id: credential.principal.user_id,
            username: Arc::from(credential.principal.username.as_str()),
            permissions: self.intern(&credential.principal.permissions),
            expire_micros: credential.principal.expire_time.map(Timestamp::as_micros),
            disabled: credential.user_disabled,
        });
        let entry = Entry {
            mac: self.mac(presented),
            unrecorded_use: AtomicI64::new(now.as_micros()),
            snapshot,
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&id) {
            // Evict an arbitrary entry: it only costs that key one argon2
            // verification the next time it is seen.
            if let Some(victim) = entries.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(id, entry);
    }

    /// Forgets `key_id` (its row is gone: revoked, replaced or deleted).
    pub fn forget(&self, key_id: &KeyId) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&id_bytes(key_id));
    }

    /// The latest use of `key_id` not yet written to the database.
    pub fn unrecorded_use(&self, key_id: &KeyId) -> Option<Timestamp> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let micros = entries
            .get(&id_bytes(key_id))?
            .unrecorded_use
            .load(Ordering::Relaxed);
        (micros != 0).then(|| Timestamp::from_micros(micros))
    }

    /// Takes every unrecorded use, to be written in batches. Compact (no
    /// allocation per key): a million keys' uses take 24 MB while flushed.
    pub fn take_usage(&self) -> Vec<(IdBytes, Timestamp)> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter_map(|(id, entry)| {
                let micros = entry.unrecorded_use.swap(0, Ordering::Relaxed);
                (micros != 0).then(|| (*id, Timestamp::from_micros(micros)))
            })
            .collect()
    }

    /// Puts back uses whose write failed, unless a newer use arrived meanwhile.
    pub fn restore_usage(&self, uses: &[(IdBytes, Timestamp)]) {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        for (id, time) in uses {
            if let Some(entry) = entries.get(id) {
                let _ = entry.unrecorded_use.compare_exchange(
                    0,
                    time.as_micros(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn intern(&self, permissions: &Arc<PermissionSet>) -> Arc<PermissionSet> {
        let mut sets = self
            .permission_sets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = sets.get(permissions.as_ref()) {
            return Arc::clone(shared);
        }
        if sets.len() < MAX_INTERNED_PERMISSION_SETS {
            sets.insert(Arc::clone(permissions));
        }
        Arc::clone(permissions)
    }
}

impl Snapshot {
    fn to_credential(&self, key_id: &KeyId) -> Credential {
        Credential {
            principal: Principal {
                user_id: self.user_id,
                username: Username::from_stored(self.username.to_string()),
                permissions: Arc::clone(&self.permissions),
                key_id: key_id.clone(),
                expire_time: self.expire_micros.map(Timestamp::from_micros),
            },
            // Verification does not read the hash for a known secret.
            secret_hash: String::new(),
            user_disabled: self.disabled,
        }
    }
}

/// The key id of `id`, for writing to the database.
pub fn key_id_of(id: &IdBytes) -> KeyId {
    KeyId::from_stored(String::from_utf8_lossy(id).into_owned())
}

fn id_bytes(key_id: &KeyId) -> IdBytes {
    let mut id = [0u8; KEY_ID_LEN];
    let bytes = key_id.as_str().as_bytes();
    let len = bytes.len().min(KEY_ID_LEN);
    id[..len].copy_from_slice(&bytes[..len]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

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

        // Same key id, another secret: unknown, never a hit.
        let impostor = key.with_secret_of(&AccessKey::generate().expect("csprng"));
        assert!(matches!(
            cache.lookup(&impostor, &impostor.expose_plaintext(), now),
            Known::Unknown
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
        assert_eq!(cache.take_usage().len(), 3);
        assert!(cache.take_usage().is_empty());
    }
}
