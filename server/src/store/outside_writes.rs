//! Writes to a SQLite file by anything other than this process's own
//! connections: an operator's `sqlite3` session disabling a user in an
//! emergency, a script.
//!
//! A process answering verifications from memory must see such a write on
//! its next call, so every request looks before it trusts memory. Asking
//! SQLite (`PRAGMA data_version`) costs a round trip to a connection's
//! worker thread: measured, about 9 µs of server CPU per request and 30 %
//! of warm-verification throughput, even with concurrent requests sharing
//! one check. So this reads what `data_version` itself is computed from.
//! In WAL mode, every commit, by any connection of any process, ends by
//! rewriting the *WAL-index header*: the first 48 bytes of the `-shm`
//! file, which every connection maps, and whose `iChange` field counts
//! transactions (<https://www.sqlite.org/walformat.html>, "The WAL-Index
//! Header"; SQLite's own readers notice commits by comparing it). One
//! `pread` of those bytes, compared with the last ones seen, tells whether
//! anything committed since: about a microsecond, no thread hop.
//!
//! The header is written last in a commit, so a commit that completed
//! before a request arrived is always seen by the request's read; a
//! half-written header only reads as a change (a needless re-read, never
//! a missed write). The store keeps one connection open for as long as it
//! is open, so the `-shm` file is never removed and recreated under the
//! open handle. If the header cannot be read or does not look like one,
//! every check reports a change: every verification then reads the
//! database, as with a shared database, never an answer from memory.
//!
//! This process's own writes change the header too. They already make
//! every cached state stale, so that costs nothing extra, except after a
//! batch of `last_used_time` writes.

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _, SqlitePool};
use tracing::warn;

use super::StoreError;
use super::error::Reason;

/// The first of the two copies of the WAL-index header.
const HEADER_LEN: usize = 48;
/// `iVersion`, the header's first field, in every WAL-index SQLite writes.
const WAL_INDEX_VERSION: u32 = 3_007_000;

/// Looks for writes made around this process; cheap to clone.
#[derive(Clone)]
pub struct OutsideWrites {
    shared: Arc<Shared>,
}

struct Shared {
    /// The `-shm` file, read with `pread`; `None` if it could not be opened.
    shm: Option<std::fs::File>,
    last: Mutex<[u8; HEADER_LEN]>,
    on_write: Box<dyn Fn() + Send + Sync>,
    /// Set once the store is closed: nothing may be trusted after that.
    closed: AtomicBool,
    /// Whether the failure to read the header was logged already.
    warned: AtomicBool,
}

impl std::fmt::Debug for OutsideWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsideWrites")
            .field("shm", &self.shared.shm.is_some())
            .finish_non_exhaustive()
    }
}

impl OutsideWrites {
    /// Watches the database at `path` (in WAL mode) that `pool` serves.
    /// `on_write` runs whenever a [`seen`](Self::seen) call finds that
    /// something committed since the previous call, before that call
    /// returns.
    pub(super) async fn start(
        pool: &SqlitePool,
        path: &Path,
        on_write: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Self, StoreError> {
        let unavailable =
            |error: sqlx::Error| StoreError::unavailable_because(Reason::OpenDatabase, error);
        // A connection of its own, open until the pool closes: while one
        // is open, SQLite keeps the `-shm` file (it removes it when the
        // last connection closes). A first read makes sure it exists.
        let mut pin = pool
            .connect_options()
            .connect()
            .await
            .map_err(unavailable)?;
        sqlx::query("SELECT 1")
            .execute(&mut pin)
            .await
            .map_err(unavailable)?;
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let (shm, problem) = match std::fs::File::open(&shm_path) {
            Ok(shm) => (Some(shm), None),
            Err(error) => (
                None,
                Some(format!(
                    "cannot open {}: {error}",
                    Path::new(&shm_path).display()
                )),
            ),
        };
        let shared = Arc::new(Shared {
            shm,
            last: Mutex::new([0; HEADER_LEN]),
            on_write,
            closed: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        });
        if let Some(problem) = problem {
            shared.warn_once(&problem);
        }
        let closing = Arc::clone(&shared);
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.close_event().await;
            closing.closed.store(true, Ordering::SeqCst);
            let _ = pin.close().await;
        });
        let watcher = Self { shared };
        // The baseline; whatever it says, nothing is cached yet.
        let _ = watcher.seen();
        Ok(watcher)
    }

    /// Reports to `on_write`, before returning, any commit made since the
    /// previous call by any other connection. UNAVAILABLE once the store
    /// is closed.
    pub fn seen(&self) -> Result<(), StoreError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(Reason::ConnectionClosed));
        }
        let Some(header) = shared.read_header() else {
            (shared.on_write)();
            return Ok(());
        };
        let mut last = shared.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last != header {
            // Under the lock: a concurrent call that finds the new header
            // already stored returns only after this report.
            (shared.on_write)();
            *last = header;
        }
        Ok(())
    }
}

impl Shared {
    /// The WAL-index header as it is now, or `None` (logged once) if it
    /// cannot be read or is not one.
    fn read_header(&self) -> Option<[u8; HEADER_LEN]> {
        let mut header = [0; HEADER_LEN];
        let read = match &self.shm {
            Some(shm) => read_at(shm, &mut header),
            None => return None,
        };
        if let Err(error) = read {
            self.warn_once(&format!("cannot read the WAL-index header: {error}"));
            return None;
        }
        // Native byte order, as SQLite maps it.
        let version = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        if version != WAL_INDEX_VERSION {
            self.warn_once(&format!(
                "the WAL-index header has version {version}, not {WAL_INDEX_VERSION}"
            ));
            return None;
        }
        Some(header)
    }

    fn warn_once(&self, problem: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            warn!(
                problem,
                "cannot watch the SQLite file for writes made around this server; \
                 every verification reads the database instead"
            );
        }
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buffer: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, 0)
}

#[cfg(not(unix))]
fn read_at(_file: &std::fs::File, _buffer: &mut [u8]) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "reading at an offset needs a Unix system",
    ))
}
