//! Users, permissions and keys as the rules see them, and the validation that
//! turns untrusted input into them. A value of these types is valid by
//! construction.

mod audit;
mod console;
mod keys;
mod permissions;
mod roles;
mod time;
mod user_fields;
mod users;

pub use audit::{
    Actor, AuditAction, AuditEvent, AuditFilter, ChainLink, FieldChange, NewAuditEvent, Origin,
};
pub use console::{
    ConsoleSession, MAX_SESSIONS_PER_USER, NEW_KEY_TTL_SECS, SESSION_ABSOLUTE_TIMEOUT_SECS,
    SESSION_IDLE_TIMEOUT_SECS, SessionEnded, SessionId,
};
pub use keys::{Credential, KeyInfo, NewKey, Principal};
pub use permissions::{Permission, PermissionSet, ServicePermission};
pub use roles::{
    Member, MemberAfter, NewRole, ROLE_DESCRIPTION_MAX_CHARS, Role, RoleBook, RoleFilter, RoleName,
    RolePatch, RoleSet, RoleTarget, effective_permissions, parse_role_description,
};
pub use time::Timestamp;
pub use user_fields::{
    DISPLAY_NAME_MAX_CHARS, EMAIL_MAX_LEN, IdentityProvider, UserSearch, Username, UsernamePrefix,
    parse_display_name, parse_email,
};
pub use users::{
    Etag, MAX_EFFECTIVE_PERMISSIONS, NewUser, Target, User, UserFilter, UserPatch, UserRef,
    ensure_holdable, is_administrator,
};
