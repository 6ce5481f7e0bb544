//! The command line's shape: commands, their arguments and how they parse.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Administer accesskey users and keys.
#[derive(Debug, Parser)]
#[command(name = "accesskey", version, about, after_help = EXIT_CODES)]
pub(super) struct Cli {
    /// accesskey's gRPC endpoint.
    #[arg(
        long,
        env = "ACCESSKEY_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub(super) endpoint: String,

    /// File holding your access key (else ACCESSKEY_KEY is used).
    #[arg(long, env = "ACCESSKEY_KEY_FILE", global = true)]
    pub(super) key_file: Option<PathBuf>,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table, global = true)]
    pub(super) output: Format,

    /// PEM CA certificate to trust for accesskey's TLS certificate (else the
    /// system roots, for https:// endpoints).
    #[arg(long, env = "ACCESSKEY_TLS_CA_CERT", global = true)]
    pub(super) tls_ca_cert: Option<PathBuf>,

    /// PEM client certificate, for servers that require mutual TLS.
    #[arg(
        long,
        env = "ACCESSKEY_TLS_CLIENT_CERT",
        requires = "tls_client_key",
        global = true
    )]
    pub(super) tls_client_cert: Option<PathBuf>,

    /// PEM key of --tls-client-cert.
    #[arg(
        long,
        env = "ACCESSKEY_TLS_CLIENT_KEY",
        requires = "tls_client_cert",
        global = true
    )]
    pub(super) tls_client_key: Option<PathBuf>,

    /// Seconds to wait for each call.
    #[arg(long, default_value_t = 10, global = true)]
    pub(super) timeout: u64,

    #[command(subcommand)]
    pub(super) command: Command,
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
pub(super) enum Command {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles: named sets of permissions that users hold.
    #[command(subcommand)]
    Role(RoleCommand),
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
    /// Read the audit trail (needs `audit.read`).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// List recorded changes, newest first.
    List {
        #[command(flatten)]
        filters: AuditFilters,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print changes as they are recorded, oldest first, until interrupted
    /// (JSON output: one object per line).
    Watch {
        /// Start after this event id (0: every event kept); by default,
        /// only changes from now on.
        #[arg(long)]
        after: Option<i64>,
    },
    /// Check the trail's hash chain end to end: exit 0 if intact, 6 naming
    /// the first event edited, removed or inserted.
    Verify,
}

/// Which events `audit list` shows.
#[derive(Debug, Clone, Args)]
pub(super) struct AuditFilters {
    /// Changes made to this user (username, or `id:<number>` for a deleted
    /// one).
    #[arg(long)]
    pub(super) user: Option<String>,
    /// Changes made by this user (username or `id:<number>`).
    #[arg(long)]
    pub(super) actor: Option<String>,
    /// Only this action: user.created, user.updated, user.deleted,
    /// key.generated, key.revoked, role.created, role.updated, role.deleted,
    /// console.signed_in, console.signed_out, audit.pruned.
    #[arg(long)]
    pub(super) action: Option<String>,
    /// Only events since this long ago (e.g. 24h, 7d) or this RFC 3339 time.
    #[arg(long, value_parser = parse_point_in_time)]
    pub(super) since: Option<SystemTime>,
    /// Only events before this long ago or this RFC 3339 time.
    #[arg(long, value_parser = parse_point_in_time)]
    pub(super) until: Option<SystemTime>,
}

/// A user, by username or as `id:<number>`.
#[derive(Debug, Clone, Args)]
pub(super) struct UserArg {
    /// Username (case-insensitive) or `id:<number>`.
    pub(super) user: String,
}

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
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
        /// A role to give, by name (repeatable; it must exist).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Show one user.
    Get(UserArg),
    /// List users (every page unless --page-size is given).
    List {
        /// Only usernames starting with this (case-insensitive).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only users whose username, display name or email contains this
        /// (case-insensitive, literal).
        #[arg(long, default_value = "")]
        search: String,
        /// Only users holding this role (case-insensitive; it must exist).
        #[arg(long, default_value = "")]
        role: String,
        /// Only users holding this permission, directly or through a role.
        #[arg(long, default_value = "")]
        permission: String,
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
        #[command(flatten)]
        permissions: PermissionEdits,
        #[command(flatten)]
        roles: RoleEdits,
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

/// How `update` changes a permission list: replace it, or add to and
/// remove from it as read.
#[derive(Debug, Clone, Args)]
pub(super) struct PermissionEdits {
    /// Replace all permissions with these (repeatable; `--permissions ''` clears).
    #[arg(id = "set_permissions", long = "permissions", value_name = "PERMISSION", num_args = 0.., value_delimiter = ',')]
    pub(super) set: Option<Vec<String>>,
    /// Add a permission (repeatable).
    #[arg(
        id = "add_permissions",
        long = "add-permission",
        value_name = "PERMISSION"
    )]
    pub(super) add: Vec<String>,
    /// Remove a permission (repeatable).
    #[arg(
        id = "remove_permissions",
        long = "remove-permission",
        value_name = "PERMISSION"
    )]
    pub(super) remove: Vec<String>,
}

/// How `user update` changes a user's roles, as [`PermissionEdits`] does
/// its permissions.
#[derive(Debug, Clone, Args)]
pub(super) struct RoleEdits {
    /// Replace all roles with these (repeatable; `--roles ''` clears).
    #[arg(id = "set_roles", long = "roles", value_name = "ROLE", num_args = 0.., value_delimiter = ',')]
    pub(super) set: Option<Vec<String>>,
    /// Give a role (repeatable).
    #[arg(id = "add_roles", long = "add-role", value_name = "ROLE")]
    pub(super) add: Vec<String>,
    /// Take a role away (repeatable; case-insensitive).
    #[arg(id = "remove_roles", long = "remove-role", value_name = "ROLE")]
    pub(super) remove: Vec<String>,
}

/// A role, by name.
#[derive(Debug, Clone, Args)]
pub(super) struct RoleArg {
    /// The role's name (case-insensitive).
    pub(super) name: String,
}

#[derive(Debug, Subcommand)]
pub(super) enum RoleCommand {
    /// Create a role.
    Create {
        /// 1-64 of A-Z a-z 0-9 . _ @ + -
        name: String,
        /// What the role is for, in one line.
        #[arg(long, default_value = "")]
        description: String,
        /// A permission the role carries (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Show one role and the users holding it.
    #[command(visible_alias = "show")]
    Get(RoleArg),
    /// List every role.
    List {
        /// Only names starting with this (case-insensitive).
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Change a role; only the options given change. Every member's
    /// permissions change with it.
    Update {
        #[command(flatten)]
        role: RoleArg,
        /// A new description (`--description ''` clears it).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        permissions: PermissionEdits,
    },
    /// Delete a role.
    Delete {
        #[command(flatten)]
        role: RoleArg,
        /// Delete it even while users hold it, taking it from all of them.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum KeyCommand {
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

/// A point in time given as how long ago (`24h`) or as RFC 3339 text.
fn parse_point_in_time(text: &str) -> Result<SystemTime, String> {
    if text.contains('T') {
        let time: prost_types::Timestamp = text
            .parse()
            .map_err(|_| format!("`{text}`: expected RFC 3339, e.g. 2026-12-01T09:00:00Z"))?;
        return SystemTime::try_from(time).map_err(|_| format!("`{text}`: out of range"));
    }
    let ago = parse_duration(text)?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("`{text}`: too long ago"))
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
    fn points_in_time_are_durations_ago_or_rfc3339() {
        let day_ago = parse_point_in_time("24h").expect("a duration");
        let elapsed = SystemTime::now()
            .duration_since(day_ago)
            .expect("in the past");
        assert!(elapsed >= Duration::from_secs(86_400) && elapsed < Duration::from_secs(86_460));
        let exact = parse_point_in_time("2026-12-01T09:00:00Z").expect("RFC 3339");
        assert_eq!(
            exact.duration_since(SystemTime::UNIX_EPOCH).ok(),
            Some(Duration::from_secs(1_796_115_600))
        );
        assert!(parse_point_in_time("yesterday").is_err());
        assert!(parse_point_in_time("2026-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
