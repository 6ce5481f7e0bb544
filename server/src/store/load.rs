//! What the store reports about itself, for the metrics: how long its
//! operations take, and its pool's connections.

use prometheus_client::metrics::histogram::Histogram;
use sea_orm::DbBackend;

use super::Store;

impl Store {
    /// How long storage operations took (each statement or short
    /// transaction, with its wait for a connection), for the metrics.
    pub fn operation_seconds(&self) -> Histogram {
        self.operations.clone()
    }

    /// The pool's connections: (open, idle).
    pub fn pool_connections(&self) -> (u32, usize) {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }
}
