//! Creates `users`, with usernames unique case-insensitively.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_table(
            manager,
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(big_pk_auto(Users::Id))
                .col(string_len(Users::Username, 64))
                // The lowercased name carries the uniqueness, so `Alice` and
                // `alice` collide on every backend regardless of collation,
                // and concurrent creations cannot both succeed.
                .col(string_len_uniq(Users::UsernameFolded, 64))
                .col(string_len(Users::Email, 254))
                .col(string_len(Users::DisplayName, 512))
                .col(string_len(Users::IdentityProvider, 64))
                .col(text(Users::Permissions))
                .col(boolean(Users::Disabled))
                .col(big_integer(Users::CreateTime))
                .col(big_integer(Users::UpdateTime))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(super) enum Users {
    Table,
    Id,
    Username,
    UsernameFolded,
    Email,
    DisplayName,
    IdentityProvider,
    Permissions,
    Disabled,
    CreateTime,
    UpdateTime,
    // Added by m20261201_000004.
    Revision,
    Administrator,
}
