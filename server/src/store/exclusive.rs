//! One `accesskeyd` per SQLite file.
//!
//! With SQLite the server answers warm verifications from memory and keeps
//! that memory current by invalidating it on its own writes. A second server
//! writing the same file would go unnoticed, so serving takes an exclusive
//! lock on `<database>.lock`, beside the database file as the file system
//! resolves it, for the life of the process; the operating system releases
//! it when the process dies, however it dies.

use std::{
    fs::File,
    path::{Path, PathBuf},
    str::FromStr as _,
};

use sea_orm::sqlx::sqlite::SqliteConnectOptions;

use super::StoreError;
use super::error::{LockStep, Reason};

/// Held while serving; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct ExclusiveUse {
    _file: File,
}

/// The file a `sqlite:` URL names, read exactly as sqlx reads it
/// (percent-decoded), or `None` for other backends and for in-memory
/// databases.
pub(crate) fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    if !database_url.starts_with("sqlite:") {
        return None;
    }
    let rest = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = database == ":memory:" || params.split('&').any(|param| param == "mode=memory");
    if in_memory {
        return None;
    }
    let options = SqliteConnectOptions::from_str(database_url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_path_buf())
}

/// `path` as the file system resolves it: absolute, without `.` or `..`,
/// symlinks followed. A file that does not exist yet (SQLite creates it on
/// first connect) is resolved through its directory.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(directory), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_path_buf(),
    }
}

impl ExclusiveUse {
    /// Takes the lock for `database_url` if it is a SQLite file; fails at
    /// once, naming the lock file, if another process holds it.
    pub(crate) fn acquire(database_url: &str) -> Result<Option<Self>, StoreError> {
        let Some(database) = sqlite_path(database_url) else {
            return Ok(None);
        };
        // One lock per file, however the URL spells it: `a.db`,
        // `acc%65ss.db`, `./x/../a.db` and a symlink all lock the same file.
        let mut lock_path = canonical(&database).into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::database_because(
                    Reason::LockFile {
                        path: lock_path.clone(),
                        step: LockStep::Open,
                    },
                    e,
                )
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse { lock: lock_path }),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::database_because(
                Reason::LockFile {
                    path: lock_path,
                    step: LockStep::Lock,
                },
                e,
            )),
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
        assert_eq!(sqlite_path("sqlite://x.db?mode=memory"), None);
        assert_eq!(
            sqlite_path("sqlite://acc%65sskey.db"),
            Some(PathBuf::from("accesskey.db")),
            "percent-decoded as sqlx decodes it"
        );
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
            Err(StoreError::InUse { .. })
        ));
        drop(first);
        assert!(ExclusiveUse::acquire(&url).expect("free again").is_some());
    }

    #[test]
    fn every_spelling_of_one_file_takes_the_same_lock() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("sub")).expect("subdirectory");
        std::fs::write(dir.path().join("accesskey.db"), b"").expect("the database file");
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("accesskey.db"), dir.path().join("link.db"))
            .expect("symlink");
        let first = ExclusiveUse::acquire(&format!("sqlite://{root}/accesskey.db"))
            .expect("first")
            .expect("a SQLite file");
        let mut spellings = vec![
            format!("sqlite://{root}/acc%65sskey.db"),
            format!("sqlite://{root}/sub/../accesskey.db"),
            format!("sqlite://{root}/./accesskey.db?mode=rwc"),
            format!("sqlite:{root}/accesskey.db"),
        ];
        if cfg!(unix) {
            spellings.push(format!("sqlite://{root}/link.db"));
        }
        for spelling in spellings {
            assert!(
                matches!(
                    ExclusiveUse::acquire(&spelling),
                    Err(StoreError::InUse { .. })
                ),
                "{spelling} took a second lock"
            );
        }
        drop(first);
    }
}
