//! `accesskey`: the admin command line, for people and for scripts.
//!
//! The caller's own key comes from `ACCESSKEY_KEY` or a key file
//! (`--key-file` / `ACCESSKEY_KEY_FILE`), never from an argument, so it does
//! not land in shell history. Exit codes: 0 success, 1 rejected request,
//! 2 usage, 3 not found, 4 denied (or, for `verify`, a key that is not
//! valid), 5 accesskey unreachable.

mod output;

use std::{
    io::Read as _,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, SystemTime},
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tonic::Code;

use crate::{Client, Error, ListUsers, NewUser, UserChanges, pb};
use output::Printer;

/// Administer accesskey users and keys.
#[derive(Debug, Parser)]
#[command(name = "accesskey", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// accesskey's gRPC endpoint.
    #[arg(
        long,
        env = "ACCESSKEY_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    endpoint: String,

    /// File holding your access key (else ACCESSKEY_KEY is used).
    #[arg(long, env = "ACCESSKEY_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table, global = true)]
    output: Format,

    /// PEM CA certificate to trust for accesskey's TLS certificate (else the
    /// system roots, for https:// endpoints).
    #[arg(long, env = "ACCESSKEY_TLS_CA_CERT", global = true)]
    tls_ca_cert: Option<PathBuf>,

    /// PEM client certificate, for servers that require mutual TLS.
    #[arg(
        long,
        env = "ACCESSKEY_TLS_CLIENT_CERT",
        requires = "tls_client_key",
        global = true
    )]
    tls_client_cert: Option<PathBuf>,

    /// PEM key of --tls-client-cert.
    #[arg(
        long,
        env = "ACCESSKEY_TLS_CLIENT_KEY",
        requires = "tls_client_cert",
        global = true
    )]
    tls_client_key: Option<PathBuf>,

    /// Seconds to wait for each call.
    #[arg(long, default_value_t = 10, global = true)]
    timeout: u64,

    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 request rejected, 2 usage error, 3 not found, \
4 denied (verify: key not valid), 5 accesskey unreachable.\n\
Your own key: ACCESSKEY_KEY, or a file named by --key-file / ACCESSKEY_KEY_FILE.";

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for people.
    Table,
    /// Stable JSON for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Issue and revoke access keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check a key as a backend service would (reads it from stdin when KEY
    /// is `-` or omitted, keeping it out of shell history).
    Verify {
        /// The key to check, or `-` for stdin.
        key: Option<String>,
        /// A permission the key's user must hold (repeatable).
        #[arg(long = "require", value_name = "PERMISSION")]
        required: Vec<String>,
    },
    /// Show who your own key belongs to.
    Whoami,
}

/// A user, by username or as `id:<number>`.
#[derive(Debug, Clone, Args)]
struct UserArg {
    /// Username (case-insensitive) or `id:<number>`.
    user: String,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        /// 1-64 of A-Z a-z 0-9 . _ @ + -
        username: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// External identity provider (such users cannot have a key).
        #[arg(long, default_value = "")]
        identity_provider: String,
        /// A permission to grant (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Show one user.
    Get(UserArg),
    /// List users (every page unless --page-size is given).
    List {
        /// Only usernames starting with this (case-insensitive).
        #[arg(long, default_value = "")]
        prefix: String,
        /// One page of at most this many users.
        #[arg(long)]
        page_size: Option<i32>,
        /// Continue after a previous page.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Change a user; only the options given change.
    Update {
        #[command(flatten)]
        user: UserArg,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Replace all permissions with these (repeatable; `--permissions ''` clears).
        #[arg(long = "permissions", value_name = "PERMISSION", num_args = 0.., value_delimiter = ',')]
        set_permissions: Option<Vec<String>>,
        /// Add a permission (repeatable).
        #[arg(long = "add-permission", value_name = "PERMISSION")]
        add: Vec<String>,
        /// Remove a permission (repeatable).
        #[arg(long = "remove-permission", value_name = "PERMISSION")]
        remove: Vec<String>,
        /// Disable the user: its key stops working.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the user again.
        #[arg(long)]
        enable: bool,
    },
    /// Delete a user and its key.
    Delete(UserArg),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Issue a new key, replacing the user's previous one at once. Prints the
    /// key alone on stdout: `KEY=$(accesskey key generate svc)`.
    Generate {
        #[command(flatten)]
        user: UserArg,
        /// Expire after this long: e.g. 90d, 12h, 30m, 45s.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<Duration>,
        /// Write the key to this new file (mode 0600, never overwriting)
        /// instead of stdout. Checked before the key is replaced.
        #[arg(long, value_name = "FILE")]
        key_out: Option<PathBuf>,
    },
    /// Remove the user's key.
    Revoke(UserArg),
}

/// A failure, with the exit code it maps to and advice for the reader.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    fn from_error(error: &Error, endpoint: &str) -> Self {
        let (code, advice) = match error.code() {
            _ if matches!(error, Error::Transport(_)) || error.is_unavailable() => (
                5,
                format!("is accesskeyd running at {endpoint}? Set --endpoint or ACCESSKEY_ENDPOINT"),
            ),
            Some(Code::NotFound) => (3, "`accesskey user list` shows who exists".to_owned()),
            Some(Code::Unauthenticated) => (
                4,
                "check your key in ACCESSKEY_KEY or --key-file (it may be revoked, replaced or expired)"
                    .to_owned(),
            ),
            Some(Code::PermissionDenied) => {
                (4, "ask an admin to grant your user that permission".to_owned())
            }
            Some(Code::InvalidArgument) => (1, "fix the value named above".to_owned()),
            Some(Code::AlreadyExists) => (1, "pick another name, or update the existing user".to_owned()),
            Some(Code::FailedPrecondition) => (1, "the request conflicts with the user's state".to_owned()),
            Some(Code::Aborted) => (
                1,
                "the user kept changing while this command edited it; run it again".to_owned(),
            ),
            _ => (1, "see the server log for details".to_owned()),
        };
        let what = match error {
            Error::Status { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Self {
            code,
            message: format!("{what}\nhint: {advice}"),
        }
    }
}

/// Runs the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("accesskey: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("accesskey: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let key = own_key(cli.key_file.as_ref())?;
    let endpoint = cli.endpoint.clone();
    let mut builder = Client::builder(cli.endpoint.clone())
        .access_key(key)
        .timeout(Duration::from_secs(cli.timeout))
        .connect_timeout(Duration::from_secs(cli.timeout));
    if let Some(path) = &cli.tls_ca_cert {
        builder = builder.tls_ca_certificate(read_file(path, "TLS CA certificate")?);
    }
    if let (Some(cert), Some(key)) = (&cli.tls_client_cert, &cli.tls_client_key) {
        builder = builder.tls_client_identity(
            read_file(cert, "TLS client certificate")?,
            read_file(key, "TLS client key")?,
        );
    }
    let client = builder
        .connect_lazy()
        .map_err(|e| Failure::usage(format!("bad --endpoint {endpoint}: {e}")))?;
    let printer = Printer::new(cli.output);
    let fail = |error: Error| Failure::from_error(&error, &endpoint);
    match cli.command {
        Command::Whoami => {
            printer.principal(&client.who_am_i().await.map_err(fail)?);
        }
        Command::Verify { key, required } => {
            let presented = subject_key(key)?;
            let verdict = client.verify(&presented, required).await.map_err(fail)?;
            printer.verification(&verdict);
            return Ok(if verdict.is_valid() { 0 } else { 4 });
        }
        Command::User(command) => user_command(&client, &printer, command)
            .await
            .map_err(fail)?,
        Command::Key(command) => key_command(&client, &printer, command, &endpoint).await?,
    }
    Ok(0)
}

async fn user_command(
    client: &Client,
    printer: &Printer,
    command: UserCommand,
) -> Result<(), Error> {
    match command {
        UserCommand::Create {
            username,
            email,
            display_name,
            identity_provider,
            permissions,
        } => {
            let user = NewUser::new(username)
                .email(email)
                .display_name(display_name)
                .identity_provider(identity_provider)
                .permissions(permissions);
            printer.user(&client.create_user(user).await?);
        }
        UserCommand::Get(user) => printer.user(&resolve(client, &user).await?),
        UserCommand::List {
            prefix,
            page_size,
            page_token,
        } => match page_size {
            None => printer.users(&client.list_all_users(&prefix).await?, ""),
            Some(size) => {
                let query = ListUsers::new()
                    .prefix(prefix)
                    .page_size(size)
                    .page_token(page_token);
                let page = client.list_users(query).await?;
                printer.users(&page.users, &page.next_page_token);
            }
        },
        UserCommand::Update {
            user,
            email,
            display_name,
            set_permissions,
            add,
            remove,
            disable,
            enable,
        } => {
            let current = resolve(client, &user).await?;
            let mut changes = UserChanges::new();
            if let Some(email) = email {
                changes = changes.email(email);
            }
            if let Some(name) = display_name {
                changes = changes.display_name(name);
            }
            if disable || enable {
                changes = changes.disabled(disable);
            }
            let updated = match set_permissions {
                Some(set) => {
                    let mut permissions: Vec<String> =
                        set.into_iter().filter(|p| !p.is_empty()).collect();
                    permissions.extend(add);
                    permissions.retain(|p| !remove.contains(p));
                    Some(changes.permissions(permissions))
                }
                // Computed from what was read: applied only to the user as
                // read, and recomputed from a fresh read when another change
                // landed first, so no concurrent edit is lost.
                None if !add.is_empty() || !remove.is_empty() => {
                    let edited = client
                        .modify_read_user(current.clone(), |user| {
                            let mut permissions = user.permissions.clone();
                            permissions.extend(add.iter().cloned());
                            permissions.retain(|p| !remove.contains(p));
                            changes.clone().permissions(permissions)
                        })
                        .await?;
                    printer.user(&edited);
                    None
                }
                None => Some(changes),
            };
            match updated {
                Some(changes) if changes.is_empty() => {
                    printer.user(&current);
                    eprintln!("accesskey: nothing to change (see `accesskey user update --help`)");
                }
                Some(changes) => printer.user(&client.update_user(current.id, changes).await?),
                None => {}
            }
        }
        UserCommand::Delete(user) => {
            let target = resolve(client, &user).await?;
            client.delete_user(target.id).await?;
            printer.done(&format!(
                "deleted user {} (id {})",
                target.username, target.id
            ));
        }
    }
    Ok(())
}

async fn key_command(
    client: &Client,
    printer: &Printer,
    command: KeyCommand,
    endpoint: &str,
) -> Result<(), Failure> {
    let fail = |error: Error| Failure::from_error(&error, endpoint);
    match command {
        KeyCommand::Generate {
            user,
            expires_in,
            key_out,
        } => {
            // Made first: a file that exists already (or cannot be made)
            // stops the command before the user's key is replaced.
            let out = key_out.as_deref().map(KeyOut::create).transpose()?;
            let target = resolve(client, &user).await.map_err(fail)?;
            let expire_time = expires_in.map(|after| SystemTime::now() + after);
            let generated = client
                .generate_access_key(target.id, expire_time)
                .await
                .map_err(fail)?;
            match out {
                Some(out) => {
                    let path = out.write(generated.expose_key())?;
                    eprintln!(
                        "accesskey: key {} of {} is in {} (mode 0600); it is shown nowhere else",
                        generated.info().key_id,
                        target.username,
                        path.display()
                    );
                }
                None => {
                    printer.generated_key(&generated);
                    eprintln!(
                        "accesskey: this is the only time key {} of {} is shown; store it now (a lost key can only be replaced)",
                        generated.info().key_id,
                        target.username
                    );
                }
            }
        }
        KeyCommand::Revoke(user) => {
            let target = resolve(client, &user).await.map_err(fail)?;
            client.revoke_access_key(target.id).await.map_err(fail)?;
            printer.done(&format!(
                "revoked the key of {} (id {})",
                target.username, target.id
            ));
        }
    }
    Ok(())
}

/// A new private file for a generated key, made before the key exists;
/// removed again unless the key was written to it.
struct KeyOut {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl KeyOut {
    fn create(path: &std::path::Path) -> Result<Self, Failure> {
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
    fn write(mut self, key: &str) -> Result<PathBuf, Failure> {
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
                    "the key was issued but could not be written to {}: {e}\nhint: generate it again",
                    self.path.display()
                ),
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

/// Looks a user up by `id:<n>` or by name.
async fn resolve(client: &Client, user: &UserArg) -> Result<pb::User, Error> {
    match user.user.strip_prefix("id:").map(str::parse::<i64>) {
        Some(Ok(id)) => client.get_user(id).await,
        _ => client.get_user_by_name(&user.user).await,
    }
}

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The caller's own key: from the key file if given, else ACCESSKEY_KEY.
fn own_key(key_file: Option<&PathBuf>) -> Result<String, Failure> {
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
fn warn_if_readable_by_others(path: &std::path::Path) {
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
fn subject_key(argument: Option<String>) -> Result<String, Failure> {
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

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number and a unit, e.g. 90d, 12h, 30m, 45s"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    // A key expiring centuries ahead is a typo, and far enough ahead the
    // expiry time cannot even be represented (it used to panic).
    number
        .checked_mul(seconds)
        .filter(|&total| total <= MAX_EXPIRES_IN_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            format!(
                "`{text}` is too long: at most {}d (omit --expires-in for a key that never expires)",
                MAX_EXPIRES_IN_SECS / 86_400
            )
        })
}

/// The longest `--expires-in`: 100 years.
const MAX_EXPIRES_IN_SECS: u64 = 100 * 365 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("12").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5w").is_err());
        assert_eq!(
            parse_duration("36500d"),
            Ok(Duration::from_secs(36_500 * 86_400))
        );
        for absurd in ["36501d", "200000000000000d", "18446744073709551615s"] {
            let err = parse_duration(absurd).expect_err("too long");
            assert!(err.contains("too long"), "{err}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
