//! Storage: sea-orm entities, migrations, and the domain-level queries the
//! [`crate::domain::Directory`] runs. Nothing above this module sees sea-orm.
//!
//! One code path serves SQLite, PostgreSQL and MySQL/MariaDB. Creating a
//! user and recording key uses are single statements, atomic without
//! explicit transactions; the schema's unique and foreign keys (not a
//! read-then-write) enforce one key per user and case-insensitive usernames.
//! Changes the authority rules must approve run in one short transaction
//! that locks the row they change ([`changes`]).
//!
//! By area: [`connection`] (connecting, deadlines, health probe, which
//! connections to retire), [`users`], [`keys`], [`usage`] (batched
//! `last_used_time` writes), [`changes`] (the checked transactions),
//! [`key_reads`] (the batched hot-path read), [`error`].

mod audit;
mod changes;
mod connection;
pub mod entity;
mod error;
mod exclusive;
mod key_reads;
mod keys;
pub(crate) mod migration;
mod outside_writes;
mod usage;
mod users;

pub(crate) use connection::StoreOptions;
pub(crate) use error::{StoreError, redacted_url};
pub(crate) use exclusive::{ExclusiveUse, sqlite_path};
pub(crate) use outside_writes::OutsideWrites;

use std::{path::PathBuf, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use connection::Discards;
use key_reads::KeyReads;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// How long one storage operation may take before it fails with
    /// Unavailable (`None`: no bound, for SQLite).
    deadline: Option<Duration>,
    /// The SQLite database file, if the database is one.
    sqlite_file: Option<PathBuf>,
    key_reads: KeyReads,
    discards: Arc<Discards>,
    /// The health probe's own connection (see [`Store::ping`]).
    probe: Arc<tokio::sync::Mutex<Option<DatabaseConnection>>>,
    options: StoreOptions,
}
