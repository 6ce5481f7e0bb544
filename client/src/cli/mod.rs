//! `accesskey`: the admin command line, for people and for scripts.
//!
//! The caller's own key comes from `ACCESSKEY_KEY` or a key file
//! (`--key-file` / `ACCESSKEY_KEY_FILE`), never from an argument, so it does
//! not land in shell history. Exit codes: 0 success, 1 rejected request,
//! 2 usage, 3 not found, 4 denied (or, for `verify`, a key that is not
//! valid), 5 accesskey unreachable.

mod args;
mod audit;
mod failure;
mod key_files;
mod output;
mod roles;

use std::{
    process::ExitCode,
    time::{Duration, SystemTime},
};

use clap::Parser as _;

use crate::{Client, Error, ListUsers, NewUser, UserChanges, pb};
pub(crate) use args::Format;
use args::{Cli, Command, KeyCommand, PermissionEdits, RoleEdits, UserArg, UserCommand};
use failure::{Failure, Subject};
use key_files::{KeyOut, own_key, read_file, subject_key};
use output::Printer;

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
            eprintln!("accesskey: {failure}");
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
    let fail = |error: Error| Failure::from_error(&error, &endpoint, Subject::User);
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
        Command::Role(command) => {
            roles::role_command(&client, &printer, command, &endpoint).await?
        }
        Command::Key(command) => key_command(&client, &printer, command, &endpoint).await?,
        Command::Audit(command) => {
            return audit::audit_command(&client, cli.output, command)
                .await
                .map_err(fail);
        }
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
            roles,
        } => {
            let user = NewUser::new(username)
                .email(email)
                .display_name(display_name)
                .identity_provider(identity_provider)
                .permissions(permissions)
                .roles(roles);
            printer.user(&client.create_user(user).await?);
        }
        UserCommand::Get(user) => printer.user(&resolve(client, &user).await?),
        UserCommand::List {
            prefix,
            search,
            role,
            permission,
            page_size,
            page_token,
        } => {
            let query = ListUsers::new()
                .prefix(prefix)
                .search(search)
                .role(role)
                .permission(permission)
                .page_token(page_token);
            match page_size {
                None => printer.users(&client.list_every_user(query).await?, ""),
                Some(size) => {
                    let page = client.list_users(query.page_size(size)).await?;
                    printer.users(&page.users, &page.next_page_token);
                }
            }
        }
        UserCommand::Update {
            user,
            email,
            display_name,
            permissions,
            roles,
            disable,
            enable,
        } => {
            let current = resolve(client, &user).await?;
            let (permissions, roles) = (ListEdit::from(permissions), ListEdit::from(roles));
            let mut fixed = UserChanges::new();
            if let Some(email) = email {
                fixed = fixed.email(email);
            }
            if let Some(name) = display_name {
                fixed = fixed.display_name(name);
            }
            if disable || enable {
                fixed = fixed.disabled(disable);
            }
            let edit = |user: &pb::User| {
                let mut changes = fixed.clone();
                if let Some(list) = permissions.applied_to(&user.permissions) {
                    changes = changes.permissions(list);
                }
                if let Some(list) = roles.applied_to(&user.roles) {
                    changes = changes.roles(list);
                }
                changes
            };
            let updated = if permissions.is_relative() || roles.is_relative() {
                // Computed from what was read: applied only to the user as
                // read, and recomputed from a fresh read when another change
                // landed first, so no concurrent edit is lost.
                client.modify_read_user(current, edit).await?
            } else {
                let changes = edit(&current);
                if changes.is_empty() {
                    printer.user(&current);
                    eprintln!("accesskey: nothing to change (see `accesskey user update --help`)");
                    return Ok(());
                }
                client.update_user(current.id, changes).await?
            };
            printer.user(&updated);
            // Removing a direct permission does not take what a role gives.
            for permission in &permissions.remove {
                if updated.effective_permissions.contains(permission) {
                    eprintln!(
                        "accesskey: {} still holds {permission} through its roles ({})",
                        updated.username,
                        updated.roles.join(", ")
                    );
                }
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

/// A change to a list of names: replaced, or added to and removed from as
/// read.
pub(super) struct ListEdit {
    set: Option<Vec<String>>,
    add: Vec<String>,
    remove: Vec<String>,
    /// Role names are case-insensitive; permissions are lowercase only.
    ignore_case: bool,
}

impl ListEdit {
    /// Whether the new list depends on the current one, which another
    /// admin may be changing at the same time.
    pub(super) fn is_relative(&self) -> bool {
        self.set.is_none() && !(self.add.is_empty() && self.remove.is_empty())
    }

    /// The new list, given the `current` one; `None` leaves it as it is.
    pub(super) fn applied_to(&self, current: &[String]) -> Option<Vec<String>> {
        let mut list = match &self.set {
            // `--permissions ''` clears: clap hands over one empty name.
            Some(set) => set
                .iter()
                .filter(|name| !name.is_empty())
                .cloned()
                .collect(),
            None if !self.is_relative() => return None,
            None => current.to_vec(),
        };
        list.extend(self.add.iter().cloned());
        list.retain(|name| !self.remove.iter().any(|gone| self.same(gone, name)));
        Some(list)
    }

    fn same(&self, a: &str, b: &str) -> bool {
        if self.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }
}

impl From<PermissionEdits> for ListEdit {
    fn from(PermissionEdits { set, add, remove }: PermissionEdits) -> Self {
        Self {
            set,
            add,
            remove,
            ignore_case: false,
        }
    }
}

impl From<RoleEdits> for ListEdit {
    fn from(RoleEdits { set, add, remove }: RoleEdits) -> Self {
        Self {
            set,
            add,
            remove,
            ignore_case: true,
        }
    }
}

async fn key_command(
    client: &Client,
    printer: &Printer,
    command: KeyCommand,
    endpoint: &str,
) -> Result<(), Failure> {
    let fail = |error: Error| Failure::from_error(&error, endpoint, Subject::User);
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

/// Looks a user up by `id:<n>` or by name.
async fn resolve(client: &Client, user: &UserArg) -> Result<pb::User, Error> {
    match user.user.strip_prefix("id:").map(str::parse::<i64>) {
        Some(Ok(id)) => client.get_user(id).await,
        _ => client.get_user_by_name(&user.user).await,
    }
}
