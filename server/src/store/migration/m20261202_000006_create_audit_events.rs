//! Creates `audit_events`, the record of every change, and the `settings`
//! row that hands out their ids in commit order.

use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

/// The `settings` row holding the last audit event id handed out. Must match
/// `store::audit::AUDIT_SEQUENCE`.
const AUDIT_SEQUENCE: &str = "audit_sequence";

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Old and new permission lists of one update may pass MySQL's 64 KiB
        // TEXT; MEDIUMTEXT holds 16 MiB. Other backends' text is unbounded.
        let mut changes = text(AuditEvents::Changes);
        if manager.get_database_backend() == DbBackend::MySql {
            changes.custom(Alias::new("mediumtext"));
        }
        super::create_table(
            manager,
            Table::create()
                .table(AuditEvents::Table)
                // Not auto-increment: ids come from the sequence row, taken
                // under a lock held to the commit, so they rise in commit
                // order and a watcher reading by id never skips one.
                .col(big_integer(AuditEvents::Id).primary_key())
                .col(big_integer(AuditEvents::Time))
                // NULL for the server's host.
                .col(big_integer_null(AuditEvents::ActorUserId))
                .col(string_len(AuditEvents::ActorUsername, 64))
                .col(string_len(AuditEvents::ActorKeyId, 16))
                .col(string_len(AuditEvents::Action, 32))
                .col(big_integer(AuditEvents::TargetUserId))
                .col(string_len(AuditEvents::TargetUsername, 64))
                .col(changes)
                .col(string_len(AuditEvents::RequestId, 128))
                .col(string_len(AuditEvents::Peer, 64))
                .to_owned(),
        )
        .await?;
        for (name, column) in [
            ("idx_audit_events_target", AuditEvents::TargetUserId),
            ("idx_audit_events_actor", AuditEvents::ActorUserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_time")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Time)
                    .to_owned(),
            )
            .await?;
        let sequence = Query::insert()
            .into_table(Settings::Table)
            .columns([Settings::Name, Settings::Value])
            .values_panic([AUDIT_SEQUENCE.into(), "0".into()])
            .to_owned();
        manager.exec_stmt(sequence).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sequence = Query::delete()
            .from_table(Settings::Table)
            .and_where(Expr::col(Settings::Name).eq(AUDIT_SEQUENCE))
            .to_owned();
        manager.exec_stmt(sequence).await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Time,
    ActorUserId,
    ActorUsername,
    ActorKeyId,
    Action,
    TargetUserId,
    TargetUsername,
    Changes,
    RequestId,
    Peer,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
    Value,
}
