//! Adds roles: `roles` (named permission sets), `user_roles` (who holds
//! which), `users.effective_permissions` (what a user holds directly and
//! through its roles, kept by every write so that verification reads one
//! column of one row, as before roles), and `audit_events.target_role`.
//!
//! `effective_permissions` is NULL for a user holding no role: its
//! effective permissions are then its `permissions`. So users written by a
//! replica older than this migration (during a rolling upgrade) stay right,
//! and this migration rewrites no row.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261126_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_table(
            manager,
            Table::create()
                .table(Roles::Table)
                .if_not_exists()
                .col(big_pk_auto(Roles::Id))
                .col(string_len(Roles::Name, 64))
                // As for usernames: the folded name carries the uniqueness.
                .col(string_len_uniq(Roles::NameFolded, 64))
                .col(string_len(Roles::Description, 1024))
                .col(text(Roles::Permissions))
                .col(big_integer(Roles::CreateTime))
                .col(big_integer(Roles::UpdateTime))
                .col(big_integer(Roles::Revision))
                .to_owned(),
        )
        .await?;
        super::create_table(
            manager,
            Table::create()
                .table(UserRoles::Table)
                .if_not_exists()
                .col(big_integer(UserRoles::UserId))
                .col(big_integer(UserRoles::RoleId))
                .primary_key(
                    Index::create()
                        .name("pk_user_roles")
                        .col(UserRoles::UserId)
                        .col(UserRoles::RoleId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_roles_user_id")
                        .from(UserRoles::Table, UserRoles::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                // Deleting a role rewrites its members first; the database
                // refuses to leave a membership pointing nowhere.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_roles_role_id")
                        .from(UserRoles::Table, UserRoles::RoleId)
                        .to(Roles::Table, Roles::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        // "Who holds this role?": members and member counts.
        manager
            .create_index(
                Index::create()
                    .name("idx_user_roles_role_id")
                    .table(UserRoles::Table)
                    .col(UserRoles::RoleId)
                    .col(UserRoles::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(text_null(RoleColumns::EffectivePermissions))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(string_len(AuditEvents::TargetRole, 64).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::TargetRole)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(RoleColumns::EffectivePermissions)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(UserRoles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Roles::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    NameFolded,
    Description,
    Permissions,
    CreateTime,
    UpdateTime,
    Revision,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
}

/// The column this migration adds to `users`.
#[derive(DeriveIden)]
enum RoleColumns {
    EffectivePermissions,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    TargetRole,
}
