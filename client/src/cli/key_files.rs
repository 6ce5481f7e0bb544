//! Where keys come from and go to: the caller's own key (environment or
//! key file), the key to verify (argument or stdin), and the private file
//! a generated key is written to.

use std::{io::Read as _, path::PathBuf};

use super::failure::Failure;

/// A new private file for a generated key, made before the key exists;
/// removed again unless the key was written to it.
pub(super) struct KeyOut {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl KeyOut {
    pub(super) fn create(path: &std::path::Path) -> Result<Self, Failure> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| {
            Failure::usage(format!(
                "cannot create the key file {} (it must not exist yet): {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    /// Writes `key` and keeps the file.
    pub(super) fn write(mut self, key: &str) -> Result<PathBuf, Failure> {
        use std::io::Write as _;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Failure::usage("the key file is gone"))?;
        writeln!(file, "{key}")
            .and_then(|()| file.sync_all())
            .map_err(|e| Failure {
                code: 1,
                message: format!(
                    "the key was issued but could not be written to {}: {e}",
                    self.path.display()
                ),
                hint: Some("generate it again".to_owned()),
            })?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for KeyOut {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The caller's own key: from the key file if given, else ACCESSKEY_KEY.
pub(super) fn own_key(key_file: Option<&PathBuf>) -> Result<String, Failure> {
    if let Some(path) = key_file {
        warn_if_readable_by_others(path);
        return std::fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .map_err(|e| {
                Failure::usage(format!("cannot read the key file {}: {e}", path.display()))
            });
    }
    match std::env::var("ACCESSKEY_KEY") {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_owned()),
        _ => Err(Failure::usage(
            "no access key: set ACCESSKEY_KEY or pass --key-file PATH (never the key itself as an argument)",
        )),
    }
}

/// Warns, as ssh does of a private key, about a key file that other users
/// may read: whoever reads it can act as its user.
pub(super) fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                eprintln!(
                    "accesskey: warning: the key file {} can be read by other users (mode {mode:03o}); \
                     anyone who reads it can act as its user: chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The key to verify: the argument, or stdin for `-` or none.
pub(super) fn subject_key(argument: Option<String>) -> Result<String, Failure> {
    match argument.as_deref() {
        Some(key) if key != "-" => Ok(key.to_owned()),
        _ => {
            let mut key = String::new();
            std::io::stdin()
                .read_to_string(&mut key)
                .map_err(|e| Failure::usage(format!("cannot read the key from stdin: {e}")))?;
            Ok(key.trim_end_matches(['\n', '\r']).to_owned())
        }
    }
}
