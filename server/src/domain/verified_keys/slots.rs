//! The entries' storage: fixed-size slots in a slab that grows a chunk
//! at a time and reuses freed slots, and the index over them.

use std::sync::{Arc, atomic::AtomicU32};

use hashbrown::HashTable;

use crate::domain::{
    key_format::KeyId,
    model::{Credential, PermissionSet, Principal, Timestamp, Username},
};

use super::{CHUNK_SLOTS, INLINE_NAME, IdBytes, MacBytes, NEVER, VACANT};

/// A username, inline when short so that a slot needs no allocation.
pub(super) enum StoredName {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Heap(Box<str>),
}

impl StoredName {
    const EMPTY: Self = Self::Inline {
        len: 0,
        bytes: [0; INLINE_NAME],
    };

    pub(super) fn new(name: &str) -> Self {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE_NAME => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(name.into()),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            // A prefix copied from a `str` at its full length: always UTF-8.
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(name) => name,
        }
    }
}

/// One cached key. The snapshot fields are meaningful only while
/// `permissions` is set. Only enabled users' keys get a snapshot, which
/// saves a field: a disabled user's key is rare, and is rejected after one
/// indexed read (no argon2) like a key whose snapshot is stale.
pub(super) struct Slot {
    pub(super) id: IdBytes,
    pub(super) mac: MacBytes,
    /// The low 32 bits of the write generation the snapshot was read at.
    /// All snapshots are from the current epoch (high 32 bits): they are
    /// dropped when it changes, so the low bits identify the generation.
    pub(super) generation: u32,
    pub(super) user_id: i64,
    pub(super) expire_micros: i64,
    pub(super) permissions: Option<Arc<PermissionSet>>,
    pub(super) username: StoredName,
    /// Seconds since the Unix epoch of the latest use seen by this process;
    /// 0 when there is none.
    pub(super) latest_use: AtomicU32,
    /// The use this process last wrote to the database, in the same unit; 0
    /// when it has written none for this key (or the write failed).
    pub(super) recorded_use: AtomicU32,
}

// The layout is the memory budget: keep a slot at 88 bytes.
const _: () = assert!(std::mem::size_of::<Slot>() <= 88);

impl Slot {
    pub(super) const fn vacant() -> Self {
        Self {
            id: VACANT,
            mac: [0; 12],
            generation: 0,
            user_id: 0,
            expire_micros: NEVER,
            permissions: None,
            username: StoredName::EMPTY,
            latest_use: AtomicU32::new(0),
            recorded_use: AtomicU32::new(0),
        }
    }

    pub(super) fn to_credential(&self, key_id: &KeyId) -> Credential {
        Credential {
            principal: Principal {
                user_id: self.user_id,
                username: Username::from_stored(self.username.as_str().to_owned()),
                permissions: self.permissions.clone().unwrap_or_default(),
                key_id: key_id.clone(),
                expire_time: (self.expire_micros != NEVER)
                    .then(|| Timestamp::from_micros(self.expire_micros)),
            },
            // Verification does not read the hash for a known secret.
            secret_hash: String::new(),
            secret_fingerprint: None,
            // Disabled users' keys have no snapshot (see `Slot`).
            user_disabled: false,
        }
    }
}

/// Slots, allocated a chunk at a time and reused through a free list, so
/// growing never moves (or briefly doubles) the slots already there.
#[derive(Default)]
pub(super) struct Slab {
    pub(super) chunks: Vec<Box<[Slot]>>,
    /// Slots handed out so far, vacant ones included.
    pub(super) high_water: usize,
    pub(super) free: Vec<u32>,
    /// Where the search for an eviction victim resumes.
    pub(super) evict_cursor: usize,
}

impl Slab {
    pub(super) fn get(&self, index: u32) -> &Slot {
        let index = index as usize;
        &self.chunks[index / CHUNK_SLOTS][index % CHUNK_SLOTS]
    }

    pub(super) fn get_mut(&mut self, index: u32) -> &mut Slot {
        let index = index as usize;
        &mut self.chunks[index / CHUNK_SLOTS][index % CHUNK_SLOTS]
    }

    /// A vacant slot's index. Callers keep the count of occupied slots
    /// within `u32` (see [`VerifiedKeys::new`]).
    pub(super) fn allocate(&mut self) -> u32 {
        if let Some(index) = self.free.pop() {
            return index;
        }
        if self.high_water == self.chunks.len() * CHUNK_SLOTS {
            self.chunks
                .push((0..CHUNK_SLOTS).map(|_| Slot::vacant()).collect());
        }
        let index = u32::try_from(self.high_water).unwrap_or(u32::MAX);
        self.high_water += 1;
        index
    }

    pub(super) fn release(&mut self, index: u32) {
        *self.get_mut(index) = Slot::vacant();
        self.free.push(index);
    }

    /// The next occupied slot after the previous victim, round robin.
    pub(super) fn next_victim(&mut self) -> Option<u32> {
        for _ in 0..self.high_water {
            let index = self.evict_cursor;
            self.evict_cursor = (self.evict_cursor + 1) % self.high_water;
            let index = u32::try_from(index).ok()?;
            if self.get(index).id != VACANT {
                return Some(index);
            }
        }
        None
    }
}

/// The index (key id → slot number) and the slots.
#[derive(Default)]
pub(super) struct Entries {
    pub(super) index: HashTable<u32>,
    pub(super) slab: Slab,
}
