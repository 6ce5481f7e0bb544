//! sea-orm entities, one per table. The migrations in `store::migration` are
//! the source of truth for the schema; these mirror them.

pub mod access_key;
pub mod audit_event;
pub mod console_session;
pub mod role;
pub mod setting;
pub mod user;
pub mod user_role;
