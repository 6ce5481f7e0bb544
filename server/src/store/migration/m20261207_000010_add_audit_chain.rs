//! Adds the audit trail's hash chain: `audit_events.previous_link` (the
//! link of the event before) and `audit_events.link` (this event's, over
//! that and every field). Events recorded before keep both empty; the
//! chain starts at the first event recorded after this migration.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [AuditEvents::PreviousLink, AuditEvents::Link] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(string_len(column, 64).default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditEvents::PreviousLink, AuditEvents::Link] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    PreviousLink,
    Link,
}
