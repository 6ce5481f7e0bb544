//! Introduces the service permission `audit.read`: every user who holds all
//! the other service permissions is given it, so that an existing
//! database keeps its administrators (who, from now on, hold all five).

use sea_orm::ConnectionTrait as _;
use sea_orm_migration::prelude::*;

use super::m20261126_000001_create_users::Users;

const AUDIT_READ: &str = "audit.read";
/// The service permissions before this migration.
const EARLIER_SERVICE_PERMISSIONS: [&str; 4] =
    ["users.read", "users.write", "keys.issue", "keys.verify"];

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let everyone = Query::select()
            .columns([Users::Id, Users::Permissions])
            .from(Users::Table)
            .to_owned();
        for row in db.query_all_raw(backend.build(&everyone)).await? {
            let id: i64 = row.try_get_by_index(0)?;
            let permissions: String = row.try_get_by_index(1)?;
            let mut held: Vec<&str> = permissions.split('\n').filter(|p| !p.is_empty()).collect();
            if held.contains(&AUDIT_READ)
                || !EARLIER_SERVICE_PERMISSIONS.iter().all(|p| held.contains(p))
            {
                continue;
            }
            // Stored sorted, as the server writes them.
            held.push(AUDIT_READ);
            held.sort_unstable();
            // `administrator` stays as it was: whoever held the four before
            // holds all five now.
            let grant = Query::update()
                .table(Users::Table)
                .value(Users::Permissions, held.join("\n"))
                .and_where(Expr::col(Users::Id).eq(id))
                .to_owned();
            db.execute_raw(backend.build(&grant)).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Taking `audit.read` back from those who may have been given it
        // since would be guesswork; earlier versions ignore it anyway.
        Ok(())
    }
}
