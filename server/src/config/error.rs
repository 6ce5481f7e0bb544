//! Why a configuration was refused before anything started, with the
//! flag it came from and the underlying error as its cause.

use std::{io, net::SocketAddr, path::PathBuf};

use crate::{
    console::BadOrigin,
    domain::{
        InvalidField,
        secret_hash::{HashParamsError, PepperTooShort},
    },
};

/// A flag's value, or the file it names, that accesskeyd cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file a flag names cannot be read.
    #[error("cannot read {flag} {}", path.display())]
    UnreadableFile {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A CA file that holds no certificate in PEM.
    #[error("{flag} {}: holds no PEM certificate", path.display())]
    NotPem { flag: &'static str, path: PathBuf },
    /// `--argon2-*` out of range.
    #[error(transparent)]
    HashParams(#[from] HashParamsError),
    /// A pepper file that is text ending in a line break, with
    /// `--pepper-line-break refuse`.
    #[error(
        "--pepper-file {}: the file is text ending in a line break, which would be part of \
         the pepper (and an editor may add or drop it, changing every hash). Remove it \
         (`truncate -s -1 FILE`), or say what it means: --pepper-line-break strip (the \
         pepper is the text without it; keys issued with it included stop verifying) or \
         --pepper-line-break keep (every byte counts, as before this check existed)",
        path.display()
    )]
    PepperLineBreak { path: PathBuf },
    /// A pepper that is not one.
    #[error("--pepper-file {}", path.display())]
    Pepper {
        path: PathBuf,
        #[source]
        source: PepperTooShort,
    },
    /// Migrations are pending and `--auto-migrate false` forbids applying
    /// them.
    #[error(
        "the database schema is {pending} migration(s) behind and --auto-migrate is off; \
         run `accesskeyd migrate` first"
    )]
    MigrationsPending { pending: usize },
    /// An address a flag names cannot be listened on.
    #[error("cannot listen on {flag} {address}")]
    Listen {
        flag: &'static str,
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// `--console-listen` with `--console false`.
    #[error("--console-listen serves the console, which --console false turns off")]
    ConsoleListenWithoutConsole,
    #[error(transparent)]
    ConsoleOrigin(#[from] BadOrigin),
    /// `bootstrap --username` is not a username (the field names the flag).
    #[error("{0}")]
    Username(InvalidField),
}
