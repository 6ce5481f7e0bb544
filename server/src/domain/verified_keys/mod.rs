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
//! write that lands in between always makes that snapshot stale. And while
//! any write is in progress no snapshot is current at all: a write becomes
//! visible to other readers (GetUser, say) when it commits, a moment before
//! its generation bump, and in that moment a snapshot must not contradict
//! what they saw.
//!
//! `last_used_time` is noted here (an atomic store on the entry, to the
//! second) and written to the database in batches by
//! [`VerifiedKeys::take_usage`]'s caller. The entry also remembers the use
//! last written, so that a key used all the time is written once per
//! precision period (see [`VerifiedKeys::take_usage`]), not once per flush.
//!
//! # Layout
//!
//! A million cached keys must fit in well under 200 MiB, so entries live in
//! fixed-size [`Slot`]s (88 bytes, no allocation of their own for usernames
//! up to 22 bytes) in a slab that grows a chunk at a time, and the index is
//! a table of 4-byte slot numbers (5 bytes a bucket with its control byte).
//! Neither ever copies the slots when it grows.
//!
//! # Files
//!
//! [`slots`]: the slab of fixed-size entries; [`freshness`]: the write
//! generation that makes snapshots stale; [`usage`]: `last_used_time`
//! taken for writing; [`single_flight`]: one argon2 run per key at a time.

mod freshness;
mod single_flight;
mod slots;
mod stats;
mod usage;

use freshness::low_bits;
use slots::{Entries, Slot, StoredName};
pub(crate) use stats::CacheStats;
use usage::to_use_seconds;

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasher as _, RandomState},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
};

use blake2::{
    Blake2bMac,
    digest::{Mac as _, consts::U12},
};
use subtle::ConstantTimeEq as _;

use crate::domain::{
    key_format::{AccessKey, KEY_ID_LEN, KeyId},
    model::{Credential, PermissionSet, Timestamp},
};

/// 96 bits: a forged key must match a known key's MAC under a per-process
/// random key, one throttled guess at a time.
type KeyMac = Blake2bMac<U12>;
type MacBytes = [u8; 12];
/// A key id as its 16 ASCII bytes: the cache's key, with no allocation.
type IdBytes = [u8; KEY_ID_LEN];

/// At most this many distinct permission sets are shared between snapshots;
/// beyond it each snapshot keeps its own copy (correct, just larger).
const MAX_INTERNED_PERMISSION_SETS: usize = 4_096;
/// Slots allocated at a time: 4,096 × 88 B = 352 KiB.
const CHUNK_SLOTS: usize = 4_096;
/// The id of a vacant slot: real key ids are base62 ASCII, never NUL.
const VACANT: IdBytes = [0; KEY_ID_LEN];
/// The expiry of a key that never expires.
const NEVER: i64 = i64::MAX;
/// Slots one [`VerifiedKeys::take_usage`] call looks at, at most.
const SCAN_SLOTS: usize = 65_536;
/// Usernames up to this many bytes are kept inside the slot.
const INLINE_NAME: usize = 22;
const MICROS_PER_SECOND: i64 = 1_000_000;

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
    /// The key id's genuine secret is known and this is not it: the key
    /// is wrong, whatever the database holds. A key id is only ever
    /// issued with one secret (never reused, replaced by a new id), and a
    /// key has one textual form, so another text with this key id cannot
    /// be genuine. No I/O needed.
    WrongSecret,
    /// Nothing: parse, read, argon2.
    Unknown,
}

/// The cache. Cheap to share behind an `Arc`.
pub struct VerifiedKeys {
    mac_key: KeyMac,
    hasher: RandomState,
    freshness: Freshness,
    capacity: usize,
    generation: AtomicU64,
    /// Writes begun and not yet finished (see [`WriteInProgress`]).
    writes_in_progress: AtomicU64,
    entries: RwLock<Entries>,
    permission_sets: Mutex<HashSet<Arc<PermissionSet>>>,
    in_flight: Mutex<HashMap<MacBytes, Arc<tokio::sync::Mutex<()>>>>,
    /// Lookups by outcome, in [`Known`]'s order, and evictions: for the
    /// metrics.
    lookups: [AtomicU64; 4],
    evictions: AtomicU64,
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
    /// A cache of at most `capacity` keys (and at most `u32::MAX`).
    pub fn new(freshness: Freshness, capacity: usize) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        #[expect(
            clippy::expect_used,
            reason = "the key is 32 bytes, and BLAKE2b takes keys of up to 64"
        )]
        let mac_key = <KeyMac as blake2::digest::KeyInit>::new_from_slice(&secret)
            .expect("32 bytes is a valid BLAKE2b key length");
        Ok(Self {
            mac_key,
            hasher: RandomState::new(),
            freshness,
            capacity: capacity.clamp(1, u32::MAX as usize),
            generation: AtomicU64::new(0),
            writes_in_progress: AtomicU64::new(0),
            entries: RwLock::new(Entries::default()),
            permission_sets: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(HashMap::new()),
            lookups: Default::default(),
            evictions: AtomicU64::new(0),
        })
    }

    fn mac(&self, presented: &str) -> MacBytes {
        let mut mac = self.mac_key.clone();
        mac.update(presented.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `key_id`'s state is answered from memory (if the secret
    /// presented with it turns out to be the known one).
    pub fn is_current(&self, key_id: &KeyId) -> bool {
        if !self.snapshots_usable() {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        self.find(&entries, &id_bytes(key_id)).is_some_and(|slot| {
            slot.permissions.is_some() && slot.generation == low_bits(self.generation())
        })
    }

    /// What is known about `key` (presented as `presented`), noting its use
    /// when that is answered from memory and authenticates.
    pub fn lookup(&self, key: &AccessKey, presented: &str, now: Timestamp) -> Known {
        let known = self.look_up(key, presented, now);
        let outcome = match known {
            Known::Current(_) => 0,
            Known::SecretOnly => 1,
            Known::WrongSecret => 2,
            Known::Unknown => 3,
        };
        self.lookups[outcome].fetch_add(1, Ordering::Relaxed);
        known
    }

    /// What the cache has done, and holds.
    pub fn stats(&self) -> CacheStats {
        let count = |outcome: usize| self.lookups[outcome].load(Ordering::Relaxed);
        CacheStats {
            current: count(0),
            secret_only: count(1),
            wrong_secret: count(2),
            unknown: count(3),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.len() as u64,
            capacity: self.capacity as u64,
        }
    }

    fn look_up(&self, key: &AccessKey, presented: &str, now: Timestamp) -> Known {
        let id = id_bytes(key.key_id());
        let mac = self.mac(presented);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = self.find(&entries, &id) else {
            return Known::Unknown;
        };
        if !bool::from(slot.mac.ct_eq(&mac)) {
            return Known::WrongSecret;
        }
        if self.snapshots_usable()
            && slot.permissions.is_some()
            && slot.generation == low_bits(self.generation())
        {
            let credential = slot.to_credential(key.key_id());
            if credential.authenticates_at(now) {
                slot.latest_use
                    .store(to_use_seconds(now), Ordering::Relaxed);
            }
            Known::Current(credential)
        } else {
            // The use is noted by `refresh`, once the row read says whether
            // the key still authenticates.
            Known::SecretOnly
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
        let principal = &credential.principal;
        let id = id_bytes(&principal.key_id);
        // A presentation that did not authenticate (an expired key, a
        // disabled user) is not a use.
        let used = if credential.authenticates_at(now) {
            to_use_seconds(now)
        } else {
            0
        };
        let mut slot = Slot {
            id,
            mac: self.mac(presented),
            latest_use: AtomicU32::new(used),
            ..Slot::vacant()
        };
        if self.freshness == Freshness::Snapshot && !credential.user_disabled {
            slot.generation = low_bits(generation);
            slot.user_id = principal.user_id;
            slot.username = StoredName::new(principal.username.as_str());
            slot.permissions = Some(self.intern(&principal.permissions));
            slot.expire_micros = principal.expire_time.map_or(NEVER, Timestamp::as_micros);
        }
        let hash = self.hasher.hash_one(id);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that invalidate() takes to end an epoch.
        if generation >> 32 != self.generation() >> 32 {
            slot.permissions = None;
        }
        let Entries { index, slab } = &mut *entries;
        if let Some(&existing) = index.find(hash, |&i| slab.get(i).id == id) {
            // The same key row (ids are never reused): what was written of
            // its use stays written, so a new snapshot costs no extra write.
            let old = slab.get_mut(existing);
            slot.recorded_use = AtomicU32::new(*old.recorded_use.get_mut());
            slot.latest_use = AtomicU32::new((*old.latest_use.get_mut()).max(used));
            *old = slot;
            return;
        }
        if index.len() >= self.capacity {
            // Evict another entry: it only costs that key one argon2
            // verification the next time it is seen.
            if let Some(victim) = slab.next_victim() {
                let victim_hash = self.hasher.hash_one(slab.get(victim).id);
                if let Ok(found) = index.find_entry(victim_hash, |&i| i == victim) {
                    found.remove();
                }
                slab.release(victim);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        // The slot is filled before it is indexed: the index rehashes by
        // reading the ids of the slots it points to.
        let fresh = slab.allocate();
        *slab.get_mut(fresh) = slot;
        let slab = &*slab;
        index.insert_unique(hash, fresh, |&i| self.hasher.hash_one(slab.get(i).id));
    }

    /// [`remember`](Self::remember) for a key that [`lookup`](Self::lookup)
    /// found with its secret already known: only a snapshot and the use
    /// need storing, and without snapshots the entry already holds
    /// everything else, so this skips a MAC and a write lock.
    pub fn refresh(
        &self,
        presented: &str,
        credential: &Credential,
        generation: u64,
        now: Timestamp,
    ) {
        if self.freshness == Freshness::Snapshot {
            self.remember(presented, credential, generation, now);
        } else if credential.authenticates_at(now) {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = self.find(&entries, &id_bytes(&credential.principal.key_id)) {
                slot.latest_use
                    .fetch_max(to_use_seconds(now), Ordering::Relaxed);
            }
        }
    }

    /// Forgets `key_id` (its row is gone: revoked, replaced or deleted).
    pub fn forget(&self, key_id: &KeyId) {
        let id = id_bytes(key_id);
        let hash = self.hasher.hash_one(id);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let Entries { index, slab } = &mut *entries;
        if let Ok(found) = index.find_entry(hash, |&i| slab.get(i).id == id) {
            let (gone, _) = found.remove();
            slab.release(gone);
        }
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .index
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find<'e>(&self, entries: &'e Entries, id: &IdBytes) -> Option<&'e Slot> {
        let hash = self.hasher.hash_one(id);
        let &index = entries
            .index
            .find(hash, |&i| entries.slab.get(i).id == *id)?;
        Some(entries.slab.get(index))
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

fn id_bytes(key_id: &KeyId) -> IdBytes {
    let mut id = [0u8; KEY_ID_LEN];
    let bytes = key_id.as_str().as_bytes();
    let len = bytes.len().min(KEY_ID_LEN);
    id[..len].copy_from_slice(&bytes[..len]);
    id
}
#[cfg(test)]
mod tests;
