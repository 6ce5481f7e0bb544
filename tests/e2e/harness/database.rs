//! Throwaway databases: a SQLite file, or a database of its own on the
//! PostgreSQL or MySQL server the environment names.

use std::path::PathBuf;

use sea_orm::{ConnectionTrait as _, Database};
use tempfile::TempDir;

/// A database engine the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    fn server_url_variable(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("ACCESSKEY_TEST_POSTGRES_URL"),
            Self::Mysql => Some("ACCESSKEY_TEST_MYSQL_URL"),
        }
    }
}

/// A database made for one test and dropped after it.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    /// For SQLite: the directory holding the file. For servers: the admin URL
    /// and the database's name, to drop it.
    dir: Option<TempDir>,
    server: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database on `backend`, or `None` when that backend is not
    /// configured (outside CI only).
    pub async fn create(backend: Backend) -> Option<Self> {
        let Some(variable) = backend.server_url_variable() else {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("accesskey.db");
            return Some(Self {
                url: format!("sqlite://{}", path.display()),
                backend,
                dir: Some(dir),
                server: None,
            });
        };
        let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
        let admin_url = match std::env::var(variable) {
            Ok(url) if !url.is_empty() => url,
            _ if in_ci => panic!("{variable} is not set: CI must test every backend"),
            _ => {
                eprintln!("skipped: set {variable} to run this test on {backend:?}");
                return None;
            }
        };
        let name = format!("accesskey_test_{}", random_suffix());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach {backend:?} at {variable}: {e}"));
        let create = match backend {
            Backend::Mysql => {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
            _ => format!("CREATE DATABASE {name}"),
        };
        admin
            .execute_unprepared(&create)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database_name(&admin_url, &name),
            backend,
            dir: None,
            server: Some((admin_url, name)),
        })
    }

    /// For SQLite: the database file.
    /// For PostgreSQL and MySQL: the admin URL and the database's name.
    pub fn server_database(&self) -> Option<(&str, &str)> {
        self.server
            .as_ref()
            .map(|(url, name)| (url.as_str(), name.as_str()))
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.path().join("accesskey.db"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.server.take() else {
            return;
        };
        let drop = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        // Drop runs inside a test's runtime, which cannot be blocked on; a
        // thread with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    if let Err(error) = admin.execute_unprepared(&drop).await {
                        eprintln!("could not drop test database {name}: {error}");
                    }
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// `url` with its database (the last path segment) replaced by `name`.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}
