//! The `console_sessions` table: one row per signed-in console browser.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    /// SHA-256 of the session id, hex. Never the id itself.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub user_id: i64,
    /// The key the session was opened with.
    pub key_id: String,
    pub csrf: String,
    /// Microseconds since the Unix epoch, UTC.
    pub create_time: i64,
    pub seen_time: i64,
    pub new_key_user_id: Option<i64>,
    /// Sealed under a key derived from the session id; opaque here.
    pub new_key_sealed: Option<String>,
    pub new_key_time: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
