//! Adds `users.revision` (the version a user's etag names) and
//! `users.administrator` (kept by every write, so the last-administrator rule
//! is one indexed query), and the `settings` row that changes to
//! administrators lock so that two of them can never race past the rule.

use sea_orm::ConnectionTrait as _;
use sea_orm_migration::{prelude::*, schema::*};

use super::m20261126_000001_create_users::Users;

/// The `settings` row locked by every change that can remove an
/// administrator. Must match `store::ADMINISTRATOR_GUARD`.
const ADMINISTRATOR_GUARD: &str = "administrator_guard";

/// accesskey's service permissions as of this migration: a user holding all
/// of them (enabled and local) is an administrator.
const SERVICE_PERMISSIONS: [&str; 4] = ["users.read", "users.write", "keys.issue", "keys.verify"];

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Users::Revision).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::Administrator).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_administrator")
                    .table(Users::Table)
                    .col(Users::Administrator)
                    .to_owned(),
            )
            .await?;
        mark_administrators(manager).await?;
        let guard = Query::insert()
            .into_table(Settings::Table)
            .columns([Settings::Name, Settings::Value])
            .values_panic([ADMINISTRATOR_GUARD.into(), "".into()])
            .to_owned();
        manager.exec_stmt(guard).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let guard = Query::delete()
            .from_table(Settings::Table)
            .and_where(Expr::col(Settings::Name).eq(ADMINISTRATOR_GUARD))
            .to_owned();
        manager.exec_stmt(guard).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_administrator")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::Administrator, Users::Revision] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Sets `administrator` on the existing users who are administrators. The
/// candidates are few (enabled, local), and the permission list is checked
/// exactly here rather than with LIKE patterns.
async fn mark_administrators(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let candidates = Query::select()
        .columns([Users::Id, Users::Permissions])
        .from(Users::Table)
        .and_where(Expr::col(Users::Disabled).eq(false))
        .and_where(Expr::col(Users::IdentityProvider).eq("local"))
        .to_owned();
    let backend = manager.get_database_backend();
    for row in db.query_all_raw(backend.build(&candidates)).await? {
        let id: i64 = row.try_get_by_index(0)?;
        let permissions: String = row.try_get_by_index(1)?;
        let held: Vec<&str> = permissions.split('\n').collect();
        if SERVICE_PERMISSIONS.iter().all(|p| held.contains(p)) {
            let mark = Query::update()
                .table(Users::Table)
                .value(Users::Administrator, true)
                .and_where(Expr::col(Users::Id).eq(id))
                .to_owned();
            db.execute_raw(backend.build(&mark)).await?;
        }
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
    Value,
}
