//! Why a database server could not be reached at start. sqlx's pool
//! retries a refused connection until its acquire timeout, then reports
//! only that it timed out; one direct attempt outside any pool tells what
//! the pool hid (connection refused, no such host, a TLS failure).

use std::str::FromStr as _;

use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};

use super::{
    StoreOptions,
    connection::{mysql_settings, postgres_settings},
};

/// The error one direct connection attempt to `options`' database server
/// meets, within the acquire timeout; `None` if it connects (the server
/// came up meanwhile), stays silent, or is SQLite (which has no server).
pub(super) async fn direct_attempt(options: &StoreOptions) -> Option<sqlx::Error> {
    let url = options.database_url.as_str();
    // The pool's own settings (TLS roots above all), so that the attempt
    // meets what the pool met.
    let attempt = async {
        if url.starts_with("postgres") {
            let connect = sqlx::postgres::PgConnectOptions::from_str(url)?;
            postgres_settings(connect, options)
                .connect()
                .await?
                .close()
                .await
        } else if url.starts_with("mysql") || url.starts_with("mariadb") {
            let connect = sqlx::mysql::MySqlConnectOptions::from_str(url)?;
            mysql_settings(connect, options)
                .connect()
                .await?
                .close()
                .await
        } else {
            Ok(())
        }
    };
    tokio::time::timeout(options.acquire_timeout, attempt)
        .await
        .ok()?
        .err()
}
