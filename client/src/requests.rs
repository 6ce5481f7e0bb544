//! Typed requests: builders that produce well-formed `accesskey.v1` messages,
//! so callers never assemble field masks or oneofs by hand.

use std::{fmt, time::SystemTime};

use crate::pb;

/// A user to create. Only the username is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    username: String,
    email: String,
    display_name: String,
    identity_provider: String,
    permissions: Vec<String>,
    roles: Vec<String>,
}

impl NewUser {
    /// A local user named `username` with no permissions.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            ..Self::default()
        }
    }

    /// Its email address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = email.into();
        self
    }

    /// Its name for people.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// The external identity provider it comes from (such users cannot have
    /// a key). Empty or `local` means a local user.
    pub fn identity_provider(mut self, provider: impl Into<String>) -> Self {
        self.identity_provider = provider.into();
        self
    }

    /// Its permissions.
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// The roles it holds, by name (they must exist).
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn into_request(self) -> pb::CreateUserRequest {
        let Self {
            username,
            email,
            display_name,
            identity_provider,
            permissions,
            roles,
        } = self;
        pb::CreateUserRequest {
            username,
            email,
            display_name,
            identity_provider,
            permissions,
            roles,
        }
    }
}

/// Changes to a user: each setter adds its field to the update mask, and
/// fields not set stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    email: Option<String>,
    display_name: Option<String>,
    permissions: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    disabled: Option<bool>,
    etag: Option<String>,
}

impl UserChanges {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new email address (empty clears it).
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// A new display name.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// The complete new set of permissions.
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// The complete new set of roles, by name.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Disables (`true`) or enables (`false`) the user. A disabled user's
    /// key stops working until it is enabled again.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Applies the changes only if the user is still as it was when its
    /// `etag` was read; otherwise the call fails with ABORTED
    /// ([`Error::is_aborted`](crate::Error::is_aborted)) and nothing changes.
    /// Use it whenever the changes were computed from what you read, such as
    /// a permission list with one entry added.
    pub fn if_etag(mut self, etag: impl Into<String>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        let Self {
            email,
            display_name,
            permissions,
            roles,
            disabled,
            etag: _,
        } = self;
        email.is_none()
            && display_name.is_none()
            && permissions.is_none()
            && roles.is_none()
            && disabled.is_none()
    }

    pub(crate) fn into_request(self, user_id: i64) -> pb::UpdateUserRequest {
        let Self {
            email,
            display_name,
            permissions,
            roles,
            disabled,
            etag,
        } = self;
        let mut paths = Vec::new();
        let mut user = pb::User {
            id: user_id,
            etag: etag.unwrap_or_default(),
            ..pb::User::default()
        };
        if let Some(email) = email {
            user.email = email;
            paths.push("email".to_owned());
        }
        if let Some(display_name) = display_name {
            user.display_name = display_name;
            paths.push("display_name".to_owned());
        }
        if let Some(permissions) = permissions {
            user.permissions = permissions;
            paths.push("permissions".to_owned());
        }
        if let Some(roles) = roles {
            user.roles = roles;
            paths.push("roles".to_owned());
        }
        if let Some(disabled) = disabled {
            user.disabled = disabled;
            paths.push("disabled".to_owned());
        }
        pb::UpdateUserRequest {
            user: Some(user),
            update_mask: Some(prost_types::FieldMask { paths }),
        }
    }
}

/// A ListUsers query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUsers {
    page_size: i32,
    page_token: String,
    prefix: String,
    search: String,
    role: String,
    permission: String,
}

impl ListUsers {
    /// The first page with the server's default size, all users.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most this many users per page (the server caps it at 1000).
    pub fn page_size(mut self, size: i32) -> Self {
        self.page_size = size;
        self
    }

    /// Continue after a previous page.
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.page_token = token.into();
        self
    }

    /// Only usernames starting with `prefix`, ignoring case.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Only users whose username, display name or email contains `text`,
    /// ignoring case (literally: `%` and `_` are no wildcards).
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.search = text.into();
        self
    }

    /// Only users holding the role named `role`.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// Only users holding `permission`, directly or through a role.
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permission = permission.into();
        self
    }

    pub(crate) fn into_request(self) -> pb::ListUsersRequest {
        let Self {
            page_size,
            page_token,
            prefix,
            search,
            role,
            permission,
        } = self;
        pb::ListUsersRequest {
            page_size,
            page_token,
            username_prefix: prefix,
            search,
            role,
            permission,
        }
    }
}

/// A newly generated key: the only copy of it anywhere. Its `Debug` output
/// shows the key id, never the key.
#[derive(Clone)]
pub struct GeneratedKey {
    key: String,
    info: pb::AccessKeyInfo,
}

impl GeneratedKey {
    pub(crate) fn new(key: String, info: pb::AccessKeyInfo) -> Self {
        Self { key, info }
    }

    /// The key itself, to hand to its user and then forget.
    pub fn expose_key(&self) -> &str {
        &self.key
    }

    /// Consumes this, returning the key.
    pub fn into_key(self) -> String {
        self.key
    }

    /// The key's public description (id, times).
    pub fn info(&self) -> &pb::AccessKeyInfo {
        &self.info
    }

    /// When the key expires, if it does.
    pub fn expire_time(&self) -> Option<SystemTime> {
        self.info
            .expire_time
            .and_then(|time| SystemTime::try_from(time).ok())
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_exactly_the_fields_they_set() {
        let request = UserChanges::new()
            .permissions(["a"])
            .disabled(true)
            .into_request(7);
        let mask = request.update_mask.expect("mask");
        assert_eq!(mask.paths, ["permissions", "disabled"]);
        let user = request.user.expect("user");
        assert_eq!(user.id, 7);
        assert_eq!(user.permissions, ["a"]);
        assert!(user.etag.is_empty(), "no precondition unless asked");
        assert!(UserChanges::new().is_empty());
    }

    #[test]
    fn an_etag_is_a_precondition_not_a_change() {
        let changes = UserChanges::new().if_etag("3.7");
        assert!(changes.is_empty());
        let request = changes.disabled(true).into_request(3);
        assert_eq!(request.user.expect("user").etag, "3.7");
        assert_eq!(request.update_mask.expect("mask").paths, ["disabled"]);
    }

    #[test]
    fn generated_keys_do_not_print_the_key() {
        let key = GeneratedKey::new("akey_secret".to_owned(), pb::AccessKeyInfo::default());
        assert!(!format!("{key:?}").contains("akey_secret"));
    }
}
