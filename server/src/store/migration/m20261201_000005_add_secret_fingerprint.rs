//! Adds `access_keys.secret_fingerprint`: a 64-bit fingerprint of the
//! secret, so a wrong secret is refused without argon2. Keys issued before
//! keep NULL (no plaintext exists to compute it from) until their first
//! successful verification records it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessKeys::Table)
                    .add_column(big_integer_null(AccessKeys::SecretFingerprint))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessKeys::Table)
                    .drop_column(AccessKeys::SecretFingerprint)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AccessKeys {
    Table,
    SecretFingerprint,
}
