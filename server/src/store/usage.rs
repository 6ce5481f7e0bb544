//! `last_used_time`: key uses written in batches, one statement per chunk.

use sea_orm::{ConnectionTrait as _, DbBackend, Statement, Value};

use crate::domain::{key_format::KeyId, model::Timestamp};

use super::{Store, StoreError};

/// Key uses written per transaction by [`Store::record_key_uses`].
const USAGE_FLUSH_CHUNK: usize = 500;

impl Store {
    /// Writes a batch of key uses in one transaction. A time never moves
    /// backwards, so replicas flushing in any order converge on the latest.
    pub async fn record_key_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        // Small chunks keep SQLite's write lock short, so a million keys'
        // flush never stalls other writers past their busy timeout.
        for chunk in uses.chunks(USAGE_FLUSH_CHUNK) {
            self.record_key_use_chunk(chunk).await?;
        }
        Ok(())
    }

    /// One UPDATE for a whole chunk, joined to the chunk's (key id, time)
    /// pairs, so each pair costs one index probe. (A `CASE WHEN key_id = …`
    /// per pair, the portable alternative, compares every row with every
    /// pair: five times the CPU, ~40 s for a million keys on SQLite.)
    async fn record_key_use_chunk(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        self.bounded(async {
            let backend = self.db.get_database_backend();
            let values = uses.iter().flat_map(|(key_id, time)| {
                [
                    Value::from(key_id.as_str().to_owned()),
                    Value::from(time.as_micros()),
                ]
            });
            let statement = Statement::from_sql_and_values(
                backend,
                key_uses_update(backend, uses.len()),
                values,
            );
            self.written(self.db.execute_raw(statement).await)?;
            Ok(())
        })
        .await
    }
}

/// `UPDATE access_keys` from `pairs` bound (key id, time) pairs; a time
/// never moves backwards.
fn key_uses_update(backend: DbBackend, pairs: usize) -> String {
    const NEWER: &str = "(access_keys.last_used_time IS NULL \
                         OR access_keys.last_used_time < used.used_at)";
    match backend {
        DbBackend::Postgres => {
            let rows: Vec<String> = (0..pairs)
                .map(|i| format!("(${}, ${}::BIGINT)", 2 * i + 1, 2 * i + 2))
                .collect();
            format!(
                "UPDATE access_keys SET last_used_time = used.used_at \
                 FROM (VALUES {}) AS used (key_id, used_at) \
                 WHERE access_keys.key_id = used.key_id AND {NEWER}",
                rows.join(", ")
            )
        }
        DbBackend::MySql => {
            let rows = vec!["SELECT ?, ?"; pairs.saturating_sub(1)];
            let rest: String = rows.iter().map(|row| format!(" UNION ALL {row}")).collect();
            format!(
                "UPDATE access_keys JOIN (SELECT ? AS key_id, ? AS used_at{rest}) AS used \
                 ON access_keys.key_id = used.key_id COLLATE utf8mb4_bin \
                 SET access_keys.last_used_time = used.used_at WHERE {NEWER}"
            )
        }
        _ => {
            // SQLite names a VALUES table's columns column1, column2, ….
            let rows = vec!["(?, ?)"; pairs];
            format!(
                "UPDATE access_keys SET last_used_time = used.column2 \
                 FROM (VALUES {}) AS used \
                 WHERE access_keys.key_id = used.column1 AND {}",
                rows.join(", "),
                NEWER.replace("used.used_at", "used.column2")
            )
        }
    }
}
