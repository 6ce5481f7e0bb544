//! The health probe's own connection: whether the database answers,
//! asked outside the pool so that a probe never waits behind calls.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DbBackend};

use super::error::Reason;
use super::{Store, StoreError, connection::with_server_settings};

impl Store {
    /// Whether the database answers a trivial query within `limit`. On a
    /// database server, asked on a connection of its own, outside the
    /// pool, opened when needed and dropped on any failure: a probe given
    /// up on must not leave a pooled connection with an answer on the way.
    pub async fn ping(&self, limit: Duration) -> Result<(), StoreError> {
        let silent = || StoreError::unavailable(Reason::NoAnswerWithin(limit));
        if self.db.get_database_backend() == DbBackend::Sqlite {
            return tokio::time::timeout(limit, self.db.ping())
                .await
                .map_err(|_| silent())?
                .map_err(StoreError::from);
        }
        let mut probe = self.probe.lock().await;
        let answered = tokio::time::timeout(limit, async {
            if probe.is_none() {
                let mut options = ConnectOptions::new(self.options.database_url.clone());
                options
                    .max_connections(1)
                    .connect_timeout(limit)
                    .acquire_timeout(limit)
                    .test_before_acquire(false)
                    .sqlx_logging(false);
                with_server_settings(&mut options, &self.options);
                *probe = Some(Database::connect(options).await.map_err(|error| {
                    StoreError::from(error).scrubbed(&self.options.database_url)
                })?);
            }
            match probe.as_ref() {
                Some(db) => Ok(db.ping().await?),
                None => Err(StoreError::unavailable(Reason::NoProbeConnection)),
            }
        })
        .await
        .unwrap_or_else(|_| Err(silent()));
        if answered.is_err() {
            // Dropped, not closed: closing would wait for the connection.
            *probe = None;
        }
        answered
    }
}
