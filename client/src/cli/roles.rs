//! `accesskey role create|get|list|update|delete`: roles, the named sets
//! of permissions that users hold.

use tonic::Code;

use super::{
    ListEdit,
    args::RoleCommand,
    failure::{Failure, Subject},
    output::Printer,
};
use crate::{Client, Error, ListUsers, NewRole, RoleChanges, pb};

/// Runs `command`.
pub(super) async fn role_command(
    client: &Client,
    printer: &Printer,
    command: RoleCommand,
    endpoint: &str,
) -> Result<(), Failure> {
    let fail = |error: Error| Failure::from_error(&error, endpoint, Subject::Role);
    match command {
        RoleCommand::Create {
            name,
            description,
            permissions,
        } => {
            let role = NewRole::new(name)
                .description(description)
                .permissions(permissions);
            printer.role(&client.create_role(role).await.map_err(fail)?, None);
        }
        RoleCommand::Get(role) => {
            let role = client.get_role(&role.name).await.map_err(fail)?;
            let members = client
                .list_every_user(ListUsers::new().role(role.name.clone()))
                .await
                .map_err(fail)?;
            let usernames: Vec<String> = members.into_iter().map(|user| user.username).collect();
            printer.role(&role, Some(&usernames));
        }
        RoleCommand::List { prefix } => {
            printer.roles(&client.list_all_roles(&prefix).await.map_err(fail)?);
        }
        RoleCommand::Update {
            role,
            description,
            permissions,
        } => {
            let permissions = ListEdit::from(permissions);
            let fixed = description.map_or_else(RoleChanges::new, |text| {
                RoleChanges::new().description(text)
            });
            let edit = |role: &pb::Role| match permissions.applied_to(&role.permissions) {
                Some(list) => fixed.clone().permissions(list),
                None => fixed.clone(),
            };
            let updated = if permissions.is_relative() {
                // As `user update` does: no concurrent edit is lost.
                client.modify_role(&role.name, edit).await
            } else {
                // Nothing relative: the role's current permissions play no part.
                let changes = edit(&pb::Role::default());
                if changes.is_empty() {
                    printer.role(&client.get_role(&role.name).await.map_err(fail)?, None);
                    eprintln!("accesskey: nothing to change (see `accesskey role update --help`)");
                    return Ok(());
                }
                client.update_role(&role.name, changes).await
            };
            printer.role(&updated.map_err(fail)?, None);
        }
        RoleCommand::Delete { role, force } => {
            let removed_from = client
                .delete_role(&role.name, force)
                .await
                .map_err(|error| {
                    let held = !force && error.code() == Some(Code::FailedPrecondition);
                    let failure = fail(error);
                    if held {
                        failure.hint(format!(
                            "`accesskey role get {0}` lists who holds it; `accesskey role delete {0} --force` takes it from all of them",
                            role.name
                        ))
                    } else {
                        failure
                    }
                })?;
            printer.role_deleted(&role.name, &removed_from);
        }
    }
    Ok(())
}
