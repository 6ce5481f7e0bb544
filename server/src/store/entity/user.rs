//! The `users` table.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user was created, for display.
    pub username: String,
    /// ASCII-lowercased username; its unique index makes names unique
    /// case-insensitively on every backend, whatever the collation.
    #[sea_orm(unique)]
    pub username_folded: String,
    pub email: String,
    pub display_name: String,
    pub identity_provider: String,
    /// Sorted permission names joined by `\n` (they cannot contain one).
    pub permissions: String,
    pub disabled: bool,
    /// Microseconds since the Unix epoch, UTC.
    pub create_time: i64,
    pub update_time: i64,
    /// Incremented by every change made to the user: what its etag names.
    pub revision: i64,
    /// Whether the user is an administrator (enabled, local, holding every
    /// service permission); kept by every write, so that "is another
    /// administrator left?" is one indexed query.
    pub administrator: bool,
    /// Every permission the user holds, directly and through its roles,
    /// joined like `permissions`; NULL when it holds no role (they are then
    /// its `permissions`). What verification reads.
    pub effective_permissions: Option<String>,
    #[sea_orm(has_one)]
    pub access_key: HasOne<super::access_key::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
