//! Freshness: every write bumps a generation, and a snapshot read before
//! the latest write (or while one is in progress) is never current.

use std::sync::{Arc, atomic::Ordering};

use super::{Freshness, VerifiedKeys};

impl VerifiedKeys {
    /// The current write generation; read it before a database read whose
    /// result will be passed to [`remember`](Self::remember).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Announces a write to users or keys, before it starts. Until the
    /// returned guard is dropped (after the write finished, or failed, or
    /// was abandoned) no snapshot is current; dropping it marks every
    /// snapshot stale.
    pub fn begin_write(self: &Arc<Self>) -> WriteInProgress {
        self.writes_in_progress.fetch_add(1, Ordering::SeqCst);
        WriteInProgress {
            cache: Arc::clone(self),
        }
    }

    /// Whether snapshots taken at the current generation may be used now.
    pub(super) fn snapshots_usable(&self) -> bool {
        self.freshness == Freshness::Snapshot && self.writes_in_progress.load(Ordering::SeqCst) == 0
    }

    /// Marks every snapshot stale. Called after every write to users or keys.
    pub fn invalidate(&self) {
        let now = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if low_bits(now) == 0 {
            // A new epoch (once per 2^32 writes): drop every snapshot, so
            // that equal low bits keep meaning the same generation.
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            let slab = &mut entries.slab;
            for index in 0..slab.high_water {
                slab.get_mut(u32::try_from(index).unwrap_or(u32::MAX))
                    .permissions = None;
            }
        }
    }
}

/// A write in progress, from [`VerifiedKeys::begin_write`].
#[derive(Debug)]
#[must_use = "snapshots are usable again as soon as the guard is dropped"]
pub struct WriteInProgress {
    cache: Arc<VerifiedKeys>,
}

impl Drop for WriteInProgress {
    fn drop(&mut self) {
        // Stale first, then usable: no moment in between lets an old
        // snapshot be current.
        self.cache.invalidate();
        self.cache.writes_in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The low 32 bits of a write generation.
pub(super) fn low_bits(generation: u64) -> u32 {
    u32::try_from(generation & u64::from(u32::MAX)).unwrap_or_default()
}
