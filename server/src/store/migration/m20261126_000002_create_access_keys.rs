//! Creates `access_keys`: at most one key per user, unique key ids, and keys
//! that disappear with their user.

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
                .table(AccessKeys::Table)
                .if_not_exists()
                .col(big_pk_auto(AccessKeys::Id))
                // Unique: the database itself guarantees one key per user,
                // whatever races between requests or replicas.
                .col(big_integer_uniq(AccessKeys::UserId))
                .col(string_len_uniq(AccessKeys::KeyId, 16))
                .col(string_len(AccessKeys::SecretHash, 255))
                .col(big_integer(AccessKeys::CreateTime))
                .col(big_integer_null(AccessKeys::ExpireTime))
                .col(big_integer_null(AccessKeys::LastUsedTime))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_access_keys_user_id")
                        .from(AccessKeys::Table, AccessKeys::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccessKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AccessKeys {
    Table,
    Id,
    UserId,
    KeyId,
    SecretHash,
    CreateTime,
    ExpireTime,
    LastUsedTime,
}
