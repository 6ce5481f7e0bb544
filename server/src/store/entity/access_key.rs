//! The `access_keys` table: at most one row per user (unique `user_id`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub user_id: i64,
    /// The public key id embedded in the key: the indexed lookup key.
    #[sea_orm(unique)]
    pub key_id: String,
    /// argon2id PHC string of the key's secret. Never the secret itself.
    pub secret_hash: String,
    /// 64-bit fingerprint of the secret (see `secret_hash::Fingerprint`);
    /// NULL for keys issued before fingerprints, until their first use.
    pub secret_fingerprint: Option<i64>,
    /// Microseconds since the Unix epoch, UTC.
    pub create_time: i64,
    pub expire_time: Option<i64>,
    pub last_used_time: Option<i64>,
    #[sea_orm(belongs_to, from = "user_id", to = "id", on_delete = "Cascade")]
    pub user: HasOne<super::user::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
