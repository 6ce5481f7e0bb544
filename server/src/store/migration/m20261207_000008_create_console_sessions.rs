//! Creates `console_sessions`, the admin console's server-side sessions,
//! and removes the cookie-sealing key that sessions held in their cookies
//! before: with it gone, a cookie captured before this migration opens
//! nothing, whoever also reads the database.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261126_000001_create_users::Users;

/// The retired `settings` row (was `store::users::CONSOLE_SEALING_KEY_SETTING`).
const CONSOLE_SEALING_KEY: &str = "console_sealing_key";

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::create_table(
            manager,
            Table::create()
                .table(ConsoleSessions::Table)
                // SHA-256 of the session id, hex: the id itself is only
                // ever in the browser's cookie.
                .col(string_len(ConsoleSessions::IdHash, 64).primary_key())
                .col(big_integer(ConsoleSessions::UserId))
                // The key the session was opened with: the session lives
                // only while it is the user's current key.
                .col(string_len(ConsoleSessions::KeyId, 16))
                .col(string_len(ConsoleSessions::Csrf, 64))
                // Microseconds since the Unix epoch, UTC.
                .col(big_integer(ConsoleSessions::CreateTime))
                .col(big_integer(ConsoleSessions::SeenTime))
                // A just-generated key on its way to the one page that
                // shows it: sealed under a key derived from the session id
                // (which the database never holds), taken once.
                .col(big_integer_null(ConsoleSessions::NewKeyUserId))
                .col(text_null(ConsoleSessions::NewKeySealed))
                .col(big_integer_null(ConsoleSessions::NewKeyTime))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_console_sessions_user_id")
                        .from(ConsoleSessions::Table, ConsoleSessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_console_sessions_user")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::UserId)
                    .to_owned(),
            )
            .await?;
        let retired = Query::delete()
            .from_table(Settings::Table)
            .and_where(Expr::col(Settings::Name).eq(CONSOLE_SEALING_KEY))
            .to_owned();
        manager.exec_stmt(retired).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The sealing key is created again on first use by the older code.
        manager
            .drop_table(Table::drop().table(ConsoleSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    IdHash,
    UserId,
    KeyId,
    Csrf,
    CreateTime,
    SeenTime,
    NewKeyUserId,
    NewKeySealed,
    NewKeyTime,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
}
