//! Permission names, the service permissions accesskey itself checks, and
//! the sets users hold.

use std::collections::BTreeSet;

use crate::domain::InvalidField;

/// Why a text is not a permission name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPermission {
    #[error("must be 1-{} characters long", Permission::MAX_LEN)]
    Length,
    #[error("may contain only lowercase letters, digits and . _ : -")]
    Characters,
}

/// A permission name: 1-128 characters of `a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission(String);

impl Permission {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, InvalidPermission> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(InvalidPermission::Length);
        }
        let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._:-".contains(&c);
        if !value.bytes().all(allowed) {
            return Err(InvalidPermission::Characters);
        }
        Ok(Self(value.to_owned()))
    }

    /// For values read back from storage, where only parsed values are written.
    pub fn from_stored(value: &str) -> Self {
        Self(value.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of accesskey's own permissions, which only a caller
    /// holding it may grant.
    pub fn is_service_permission(&self) -> bool {
        ServicePermission::ALL
            .iter()
            .any(|service| service.as_str() == self.0)
    }
}

/// accesskey's own permissions, guarding its RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServicePermission {
    UsersRead,
    UsersWrite,
    KeysIssue,
    KeysVerify,
    AuditRead,
}

impl ServicePermission {
    pub const ALL: [Self; 5] = [
        Self::UsersRead,
        Self::UsersWrite,
        Self::KeysIssue,
        Self::KeysVerify,
        Self::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users.read",
            Self::UsersWrite => "users.write",
            Self::KeysIssue => "keys.issue",
            Self::KeysVerify => "keys.verify",
            Self::AuditRead => "audit.read",
        }
    }

    pub fn permission(self) -> Permission {
        Permission(self.as_str().to_owned())
    }
}

/// A user's permissions: sorted, without duplicates, at most 256.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub const MAX_COUNT: usize = 256;

    /// Validates untrusted permission names; `field` names them in errors.
    pub fn parse<S: AsRef<str>>(field: &str, values: &[S]) -> Result<Self, InvalidField> {
        if values.len() > Self::MAX_COUNT {
            return Err(InvalidField::new(
                field,
                format!("at most {} permissions are allowed", Self::MAX_COUNT),
            ));
        }
        values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                Permission::parse(value.as_ref())
                    .map_err(|why| InvalidField::new(format!("{field}[{index}]"), why.to_string()))
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn from_permissions(permissions: impl IntoIterator<Item = Permission>) -> Self {
        Self(permissions.into_iter().collect())
    }

    pub fn contains(&self, permission: &Permission) -> bool {
        self.0.contains(permission)
    }

    pub fn holds(&self, permission: ServicePermission) -> bool {
        self.0
            .iter()
            .any(|held| held.as_str() == permission.as_str())
    }

    /// Whether every service permission is in the set.
    pub fn holds_every_service_permission(&self) -> bool {
        ServicePermission::ALL
            .into_iter()
            .all(|permission| self.holds(permission))
    }

    /// The service permissions in the set, in order.
    pub fn service_permissions(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter().filter(|p| p.is_service_permission())
    }

    /// This set with every service permission added.
    pub fn with_every_service_permission(&self) -> Self {
        let mut all = self.0.clone();
        all.extend(ServicePermission::ALL.map(ServicePermission::permission));
        Self(all)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every permission of `self` and of `other`.
    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The members of `self` that `other` lacks, in order.
    pub fn missing_from<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a Permission> {
        self.0.difference(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_sorted_deduplicated_and_bounded() {
        let set = PermissionSet::parse("permissions", &["b", "a", "b"]).expect("valid");
        let names: Vec<_> = set.iter().map(Permission::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        let err = PermissionSet::parse("permissions", &["ok", "Not-OK"]).expect_err("uppercase");
        assert_eq!(err.field, "permissions[1]");
        let too_many: Vec<String> = (0..257).map(|i| format!("p{i}")).collect();
        assert!(PermissionSet::parse("permissions", &too_many).is_err());
    }
}
