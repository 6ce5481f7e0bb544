//! One `accesskeyd` per SQLite file.
//!
//! With SQLite the server answers warm verifications from memory and keeps
//! that memory current by invalidating it on its own writes. A second server
//! writing the same file would go unnoticed, so serving takes an exclusive
//! lock on `<database>.lock` for the life of the process; the operating
//! system releases it when the process dies, however it dies.

use std::{fs::File, path::PathBuf};

use super::StoreError;

/// Held while serving; dropping it releases the lock.
#[derive(Debug)]
pub struct ExclusiveUse {
    _file: File,
}

/// The file path of a `sqlite:` URL, or `None` for other backends and for
/// in-memory databases.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

impl ExclusiveUse {
    /// Takes the lock for `database_url` if it is a SQLite file; fails at
    /// once, naming the lock file, if another process holds it.
    pub fn acquire(database_url: &str) -> Result<Option<Self>, StoreError> {
        let Some(database) = sqlite_path(database_url) else {
            return Ok(None);
        };
        let mut lock_path = database.into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::Database(format!("cannot open {}: {e}", lock_path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
                "another accesskeyd is already serving this SQLite database (it holds {}); \
                 a SQLite database belongs to one server: stop the other one, or use \
                 PostgreSQL or MySQL to run several replicas",
                lock_path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Database(format!(
                "cannot lock {}: {e}",
                lock_path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_are_locked() {
        assert_eq!(
            sqlite_path("sqlite://a/b.db?mode=rwc"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(sqlite_path("sqlite:b.db"), Some(PathBuf::from("b.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let first = ExclusiveUse::acquire(&url)
            .expect("first")
            .expect("a SQLite file");
        assert!(matches!(
            ExclusiveUse::acquire(&url),
            Err(StoreError::InUse(_))
        ));
        drop(first);
        assert!(ExclusiveUse::acquire(&url).expect("free again").is_some());
    }
}
