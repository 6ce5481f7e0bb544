//! Schema migrations: the source of truth for the schema, run by production
//! and tests alike (never schema sync), so entities and schema cannot drift.

// `MigrationTrait` declares `&SchemaManager` with an elided lifetime; an
// explicit `'_` would not match the trait's late-bound lifetime.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

mod m20261126_000001_create_users;
mod m20261126_000002_create_access_keys;
mod m20261126_000003_create_settings;
mod m20261201_000004_add_user_revision_and_administrator;
mod m20261201_000005_add_secret_fingerprint;
mod m20261202_000006_create_audit_events;
mod m20261202_000007_grant_audit_read;
mod m20261207_000008_create_console_sessions;
mod m20261207_000009_add_audit_client_request_id;
mod m20261207_000010_add_audit_chain;
mod m20261207_000011_create_roles;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_users::Migration),
            Box::new(m20261126_000002_create_access_keys::Migration),
            Box::new(m20261126_000003_create_settings::Migration),
            Box::new(m20261201_000004_add_user_revision_and_administrator::Migration),
            Box::new(m20261201_000005_add_secret_fingerprint::Migration),
            Box::new(m20261202_000006_create_audit_events::Migration),
            Box::new(m20261202_000007_grant_audit_read::Migration),
            Box::new(m20261207_000008_create_console_sessions::Migration),
            Box::new(m20261207_000009_add_audit_client_request_id::Migration),
            Box::new(m20261207_000010_add_audit_chain::Migration),
            Box::new(m20261207_000011_create_roles::Migration),
        ]
    }
}

/// Creates `table` with the options a backend needs. On MySQL/MariaDB that is
/// utf8mb4 (display names may hold any Unicode, emoji included) with a binary
/// collation: comparisons are exact, and case folding is ours, not the
/// server's. Other backends take no table options.
async fn create_table(
    manager: &SchemaManager<'_>,
    mut table: TableCreateStatement,
) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm::DbBackend::MySql {
        table.character_set("utf8mb4").collate("utf8mb4_bin");
    }
    manager.create_table(table).await
}
