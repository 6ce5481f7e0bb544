//! `last_used_time`: uses noted in memory, written in batches.

use std::time::Duration;

use crate::domain::DomainError;

use super::Directory;

/// Key uses converted and written per round of [`Directory::flush_key_usage`].
const FLUSH_CHUNK: usize = 10_000;

impl Directory {
    /// Writes the key uses that are due (see [`VerifiedKeys::take_usage`]),
    /// in batches. Called periodically and, with a zero `precision`, on
    /// shutdown, so verification itself never writes.
    pub async fn flush_key_usage(&self, precision: Duration) -> Result<usize, DomainError> {
        let mut written = 0;
        let mut next = Some(0);
        while let Some(start) = next {
            let (uses, rest) = self.verified.take_usage(start, FLUSH_CHUNK, precision);
            if uses.is_empty() {
                next = rest;
                continue;
            }
            let batch: Vec<_> = uses
                .iter()
                .map(|key_use| (key_use.key_id(), key_use.time))
                .collect();
            if let Err(error) = self.store.record_key_uses(&batch).await {
                // Noted again for the next flush, like every later chunk.
                self.verified.restore_usage(&uses);
                return Err(error.into());
            }
            written += uses.len();
            next = rest;
        }
        Ok(written)
    }
}
