//! The database under test: the one `--database-url` names, or a SQLite
//! file in a temporary directory removed afterwards; and the one thing the
//! benchmark reads back from it, whether the server has written the
//! warm-up's first key uses.

use std::{
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use sea_orm::{ConnectOptions, ConnectionTrait as _, Database as SeaDatabase, Statement};

use crate::BoxError;

/// A temporary directory, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The database under test.
#[derive(Debug)]
pub(crate) struct Database {
    pub(crate) url: String,
    pub(crate) backend: &'static str,
    _temp: Option<TempDir>,
}

impl Database {
    /// The given URL, or a SQLite file in a new temporary directory.
    pub(crate) fn prepare(url: Option<&str>) -> Result<Self, BoxError> {
        let Some(url) = url else {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir()
                .join(format!("accesskey-bench-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            return Ok(Self {
                url: format!("sqlite://{}", dir.join("bench.db").display()),
                backend: "sqlite",
                _temp: Some(TempDir(dir)),
            });
        };
        let backend = if url.starts_with("postgres") {
            "postgres"
        } else if url.starts_with("mysql") {
            "mysql"
        } else if url.starts_with("sqlite") {
            "sqlite"
        } else {
            return Err("--database-url must start with postgres://, mysql:// or sqlite://".into());
        };
        Ok(Self {
            url: url.to_owned(),
            backend,
            _temp: None,
        })
    }
}

/// Waits until the database holds a `last_used_time` for all but `unused`
/// keys (the server writes a key's first use at its next flush), or until
/// `limit` has passed; returns whether it got there.
pub(crate) async fn wait_until_uses_recorded(
    url: &str,
    unused: u64,
    limit: Duration,
) -> Result<bool, BoxError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    let db = SeaDatabase::connect(options).await?;
    let count = Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM access_keys WHERE last_used_time IS NULL",
    );
    let deadline = Instant::now() + limit;
    let recorded = loop {
        let row = db
            .query_one_raw(count.clone())
            .await?
            .ok_or("SELECT COUNT(*) returned no row")?;
        let never_used: i64 = row.try_get("", "n")?;
        if u64::try_from(never_used).unwrap_or(u64::MAX) <= unused {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    db.close().await?;
    Ok(recorded)
}
