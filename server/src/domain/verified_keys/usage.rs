//! Key uses: the latest use of each key, noted on its slot to the second,
//! and taken in bounded batches for writing.

use std::{sync::atomic::Ordering, time::Duration};

use crate::domain::{key_format::KeyId, model::Timestamp};

use super::{IdBytes, MICROS_PER_SECOND, SCAN_SLOTS, VACANT, VerifiedKeys, id_bytes};

/// One key's use, taken for writing: which key, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUse {
    id: IdBytes,
    pub time: Timestamp,
}

impl KeyUse {
    /// The key id, for writing to the database.
    pub fn key_id(&self) -> KeyId {
        KeyId::from_stored(String::from_utf8_lossy(&self.id).into_owned())
    }
}

impl VerifiedKeys {
    /// The latest use of `key_id` seen by this process, written or not.
    pub fn latest_use(&self, key_id: &KeyId) -> Option<Timestamp> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let seconds = self
            .find(&entries, &id_bytes(key_id))?
            .latest_use
            .load(Ordering::Relaxed);
        from_use_seconds(seconds)
    }

    /// Takes up to `max` uses due for writing, from slot `start` on, to be
    /// written as one batch; also returns the slot to continue from, if any
    /// are left. A use is due if it was never written, or if it is at least
    /// `precision` later than the use last written: a key used all the time
    /// is written once per `precision`, and a zero precision takes every
    /// newer use (for shutdown). Taken uses count as written; put them back
    /// with [`restore_usage`](Self::restore_usage) if the write fails.
    ///
    /// One call looks at no more than [`SCAN_SLOTS`] slots, so that the read
    /// lock is short even when a million keys have nothing due.
    pub fn take_usage(
        &self,
        start: usize,
        max: usize,
        precision: Duration,
    ) -> (Vec<KeyUse>, Option<usize>) {
        let precision = u32::try_from(precision.as_secs()).unwrap_or(u32::MAX);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let slab = &entries.slab;
        let end = slab.high_water.min(start.saturating_add(SCAN_SLOTS));
        let mut uses = Vec::new();
        for index in start..end {
            let slot = slab.get(u32::try_from(index).unwrap_or(u32::MAX));
            if slot.id == VACANT {
                continue;
            }
            let latest = slot.latest_use.load(Ordering::Relaxed);
            let recorded = slot.recorded_use.load(Ordering::Relaxed);
            let due = latest > recorded && (recorded == 0 || latest - recorded >= precision);
            if due && let Some(time) = from_use_seconds(latest) {
                slot.recorded_use.store(latest, Ordering::Relaxed);
                uses.push(KeyUse { id: slot.id, time });
                if uses.len() == max {
                    return (uses, Some(index + 1));
                }
            }
        }
        (uses, (end < slab.high_water).then_some(end))
    }

    /// Marks uses whose write failed as not written, so that the next
    /// flush takes them whatever its precision.
    pub fn restore_usage(&self, uses: &[KeyUse]) {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        for KeyUse { id, time } in uses {
            if let Some(slot) = self.find(&entries, id) {
                let _ = slot.recorded_use.compare_exchange(
                    to_use_seconds(*time),
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// `time` in whole seconds for a slot, never 0 (which means "no use").
pub(super) fn to_use_seconds(time: Timestamp) -> u32 {
    u32::try_from(time.as_micros() / MICROS_PER_SECOND)
        .unwrap_or(u32::MAX)
        .max(1)
}

pub(super) fn from_use_seconds(seconds: u32) -> Option<Timestamp> {
    (seconds != 0).then(|| Timestamp::from_micros(i64::from(seconds) * MICROS_PER_SECOND))
}
