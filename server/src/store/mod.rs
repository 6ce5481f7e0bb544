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
//! By area: [`connection`] (connecting, deadlines, which connections to
//! retire), [`probe`] (the health probe's own connection), [`users`], [`roles`] and
//! [`memberships`] (who holds which role), [`keys`], [`usage`] (batched
//! `last_used_time` writes), [`changes`] (the checked transactions),
//! [`console_sessions`] (the admin console's sessions),
//! [`key_reads`] (the batched hot-path read), [`error`].

mod audit;
mod changes;
mod connection;
mod console_sessions;
pub mod entity;
mod error;
mod exclusive;
mod key_reads;
mod keys;
mod load;
mod memberships;
pub(crate) mod migration;
mod outside_writes;
mod probe;
mod roles;
mod unreachable;
mod usage;
mod users;

pub(crate) use connection::StoreOptions;
pub(crate) use console_sessions::SessionCutoffs;
pub(crate) use error::{StoreError, redacted_url};
pub(crate) use exclusive::{ExclusiveUse, sqlite_path};
pub(crate) use load::OPERATION_BUCKETS;
pub(crate) use outside_writes::OutsideWrites;

use std::{path::PathBuf, sync::Arc, time::Duration};

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait as _,
};

use crate::domain::audit_chain::AuditChain;
use connection::Discards;
use key_reads::KeyReads;
use load::OperationTimes;

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
    /// Every operation's duration (see [`Store::operation_times`]).
    operations: Arc<OperationTimes>,
    /// Links every audit event it records into the chain.
    audit_chain: AuditChain,
}

impl Store {
    /// This store, linking the audit events it records with `chain` (keyed
    /// by the pepper, when there is one).
    pub fn with_audit_chain(mut self, chain: AuditChain) -> Self {
        self.audit_chain = chain;
        self
    }

    /// How audit events are linked.
    pub fn audit_chain(&self) -> &AuditChain {
        &self.audit_chain
    }

    /// A transaction for a write that reads first: on SQLite `BEGIN
    /// IMMEDIATE`, which takes the write lock at once (a deferred one that
    /// read and then wrote would fail with SQLITE_BUSY as soon as another
    /// writer went first, whatever the busy timeout).
    pub(super) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }
}
