//! The `roles` table: named permission sets.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the role was created, for display.
    pub name: String,
    /// ASCII-lowercased name; unique, as usernames' folded names are.
    #[sea_orm(unique)]
    pub name_folded: String,
    pub description: String,
    /// Sorted permission names joined by `\n`, as in `users.permissions`.
    pub permissions: String,
    /// Microseconds since the Unix epoch, UTC.
    pub create_time: i64,
    pub update_time: i64,
    /// Incremented by every change made to the role: what its etag names.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
