//! The `audit_events` table: one row per change, written in the change's
//! own transaction.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// From the `audit_sequence` settings row: increasing in commit order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub time: i64,
    /// `None` for the server's host.
    pub actor_user_id: Option<i64>,
    pub actor_username: String,
    pub actor_key_id: String,
    pub action: String,
    pub target_user_id: i64,
    pub target_username: String,
    /// The role changed, for `role.*` events; empty otherwise.
    pub target_role: String,
    /// A JSON array of `{"field", "old", "new"}` objects.
    pub changes: String,
    /// The request id the server generated for the call.
    pub request_id: String,
    /// The `x-request-id` the caller sent, if any (`""`): the caller's word.
    pub client_request_id: String,
    /// The hash chain (see `domain::audit_chain`): the previous event's
    /// link and this one's, 64 hex digits; empty before the chain existed.
    pub previous_link: String,
    pub link: String,
    pub peer: String,
}

impl ActiveModelBehavior for ActiveModel {}
