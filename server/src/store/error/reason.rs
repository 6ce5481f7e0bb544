//! The first words of a [`StoreError`](super::StoreError): what the store
//! was doing when the database failed it, or what it found wrong. The
//! error that caused it, if any, is the `source()`, never repeated here.

use std::{fmt, path::PathBuf, time::Duration};

use sea_orm::DbBackend;

/// What the store was doing, or what went wrong when nothing else failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Waiting for a pooled connection.
    Acquire,
    /// Opening a connection.
    Connect,
    /// Running a statement that writes.
    Statement,
    /// Running a query.
    Query,
    /// Applying a migration.
    Migration,
    /// A row the operation needed was not there, or not written.
    RowMissing,
    /// Any other database call.
    DatabaseCall,
    /// A unique index other than the username's or the key id's refused a
    /// write.
    UnexpectedUniqueConstraint,
    /// The pool gave up after waiting this long for a connection.
    NoConnectionWithin(Duration),
    /// An operation (or the probe) had no answer within this bound.
    NoAnswerWithin(Duration),
    /// The batched key read had no answer within the statement timeout.
    KeyReadNoAnswerWithin(Duration),
    /// As many key reads wait as the queue holds.
    KeyReadsQueued { most: usize },
    /// The connection (or the pool) was closed.
    ConnectionClosed,
    /// The key reads' own connection could not be had.
    KeyReadConnection,
    /// SQLite's own connection for watching outside writes.
    OpenDatabase,
    /// The probe lost its connection between opening and asking.
    NoProbeConnection,
    /// A backend the key reads do not speak.
    UnsupportedBackend(DbBackend),
    /// The lock file beside a SQLite database.
    LockFile { path: PathBuf, step: LockStep },
    /// The OS random number generator.
    Randomness,
    /// A settings row the server writes before reading.
    Setting {
        name: &'static str,
        problem: SettingProblem,
    },
    /// The database's clock, asked for and not given.
    NoDatabaseTime,
    /// A stored audit event that is not what the server writes.
    CorruptAuditEvent { id: i64, problem: &'static str },
}

/// What was done to the lock file when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStep {
    Open,
    Lock,
}

/// What is wrong with a settings row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingProblem {
    Missing,
    NotHex,
    NotANumber,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Acquire => f.write_str("no database connection became free"),
            Self::Connect => f.write_str("could not connect"),
            Self::Statement => f.write_str("a statement failed"),
            Self::Query => f.write_str("a query failed"),
            Self::Migration => f.write_str("a migration failed"),
            Self::RowMissing => f.write_str("a row was not where it should be"),
            Self::DatabaseCall => f.write_str("the database call failed"),
            Self::UnexpectedUniqueConstraint => f.write_str("an unexpected unique constraint"),
            Self::NoConnectionWithin(limit) => {
                write!(f, "no connection within {} ms", limit.as_millis())
            }
            Self::NoAnswerWithin(limit) => write!(
                f,
                "the database did not answer within {} ms",
                limit.as_millis()
            ),
            Self::KeyReadNoAnswerWithin(limit) => write!(
                f,
                "the database did not answer a key read within {} ms",
                limit.as_millis()
            ),
            Self::KeyReadsQueued { most } => {
                write!(f, "more than {most} key reads are waiting; shedding load")
            }
            Self::ConnectionClosed => f.write_str("the database connection is closed"),
            Self::KeyReadConnection => f.write_str("could not get a database connection"),
            Self::OpenDatabase => f.write_str("could not open the database"),
            Self::NoProbeConnection => f.write_str("no probe connection"),
            Self::UnsupportedBackend(backend) => {
                write!(f, "unsupported database backend {backend:?}")
            }
            Self::LockFile { path, step } => {
                let verb = match step {
                    LockStep::Open => "open",
                    LockStep::Lock => "lock",
                };
                write!(f, "cannot {verb} {}", path.display())
            }
            Self::Randomness => f.write_str("no OS randomness"),
            Self::Setting { name, problem } => match problem {
                SettingProblem::Missing => write!(f, "no `{name}` setting"),
                SettingProblem::NotHex => write!(f, "the stored `{name}` is not hex"),
                SettingProblem::NotANumber => write!(f, "`{name}` is not a number"),
            },
            Self::NoDatabaseTime => f.write_str("the database told no time"),
            Self::CorruptAuditEvent { id, problem } => write!(f, "audit event {id}: {problem}"),
        }
    }
}
