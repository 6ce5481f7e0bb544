//! What the flags name, read and checked: the argon2 parameters, the TLS
//! certificate and key, the pepper file, the database's CA file. Each
//! failure is a [`ConfigError`] that names its flag and keeps its cause.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::{Config, ConfigError, PepperLineBreak};
use crate::domain::secret_hash::{HashParams, Pepper};

/// The bytes of the file `flag` names.
fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::UnreadableFile {
        flag,
        path: path.to_owned(),
        source,
    })
}

impl Config {
    /// The argon2 parameters, refused below the OWASP floor.
    pub fn hash_params(&self) -> Result<HashParams, ConfigError> {
        Ok(HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
        .validate()?)
    }

    /// The TLS settings, read from their files; `None` for plaintext.
    pub fn tls(&self) -> Result<Option<ServerTlsConfig>, ConfigError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
            read("--tls-cert", cert)?,
            read("--tls-key", key)?,
        ));
        if let Some(ca) = &self.tls_client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read("--tls-client-ca", ca)?));
        }
        Ok(Some(tls))
    }

    /// Checks that `--database-ca-file`, if given, holds a PEM
    /// certificate: the database driver would otherwise say only that TLS
    /// failed.
    pub fn check_database_ca_file(&self) -> Result<(), ConfigError> {
        const FLAG: &str = "--database-ca-file";
        let Some(ca) = &self.database_ca_file else {
            return Ok(());
        };
        let pem = read(FLAG, ca)?;
        if !pem
            .windows(PEM_CERTIFICATE.len())
            .any(|window| window == PEM_CERTIFICATE)
        {
            return Err(ConfigError::NotPem {
                flag: FLAG,
                path: ca.clone(),
            });
        }
        Ok(())
    }

    /// The pepper from `--pepper-file`, if any, and whether a final line
    /// break was stripped from it.
    pub fn pepper(&self) -> Result<Option<(Pepper, bool)>, ConfigError> {
        let Some(path) = &self.pepper_file else {
            return Ok(None);
        };
        let mut bytes = read("--pepper-file", path)?;
        let line_break = trailing_line_break(&bytes);
        let stripped = line_break > 0 && self.pepper_line_break == PepperLineBreak::Strip;
        if line_break > 0 && self.pepper_line_break == PepperLineBreak::Refuse {
            return Err(ConfigError::PepperLineBreak {
                path: PathBuf::from(path),
            });
        }
        if stripped {
            bytes.truncate(bytes.len() - line_break);
        }
        let pepper = Pepper::new(bytes).map_err(|source| ConfigError::Pepper {
            path: path.clone(),
            source,
        })?;
        Ok(Some((pepper, stripped)))
    }
}

/// How a PEM certificate starts.
const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The length of the line break (`\n` or `\r\n`) that ends `bytes`, if
/// they are text (UTF-8); 0 otherwise. Random bytes are almost never UTF-8
/// (for 32 of them, well under one chance in a million), so a binary pepper
/// that happens to end in 0x0a is used as it is.
fn trailing_line_break(bytes: &[u8]) -> usize {
    if std::str::from_utf8(bytes).is_err() {
        return 0;
    }
    if bytes.ends_with(b"\r\n") {
        2
    } else if bytes.ends_with(b"\n") {
        1
    } else {
        0
    }
}
