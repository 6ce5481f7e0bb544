//! Roles: named permission sets that users hold, and what a user holds
//! through them.

use std::collections::BTreeMap;

use super::permissions::PermissionSet;
use super::time::Timestamp;
use super::user_fields::{Username, parse_text};
use super::users::{Etag, User};
use crate::domain::InvalidField;

/// A role's name: the username rules (1-64 characters of
/// `A-Z a-z 0-9 . _ @ + -`), unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        let name = Username::parse(field, value)?;
        // `.` and `..` cannot name a page: browsers and proxies resolve
        // them out of a URL path (`/roles/..`).
        if name.as_str().bytes().all(|c| c == b'.') {
            return Err(InvalidField::new(
                field,
                "must contain a character other than `.`",
            ));
        }
        Ok(Self(name.as_str().to_owned()))
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness and lookups use.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// The longest role description, in characters.
pub const ROLE_DESCRIPTION_MAX_CHARS: usize = 256;

pub fn parse_role_description(field: &str, value: &str) -> Result<String, InvalidField> {
    parse_text(field, value, ROLE_DESCRIPTION_MAX_CHARS)
}

/// The roles a user holds: distinct case-insensitively, in folded-name
/// order, at most [`RoleSet::MAX_COUNT`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleSet(BTreeMap<String, RoleName>);

impl RoleSet {
    pub const MAX_COUNT: usize = 32;

    /// Validates untrusted role names; `field` names them in errors. The
    /// same role named twice (in any case) is held once.
    pub fn parse<S: AsRef<str>>(field: &str, values: &[S]) -> Result<Self, InvalidField> {
        let mut roles = BTreeMap::new();
        for (index, value) in values.iter().enumerate() {
            let name = RoleName::parse(&format!("{field}[{index}]"), value.as_ref())?;
            roles.entry(name.folded()).or_insert(name);
        }
        if roles.len() > Self::MAX_COUNT {
            return Err(InvalidField::new(
                field,
                format!("a user holds at most {} roles", Self::MAX_COUNT),
            ));
        }
        Ok(Self(roles))
    }

    pub fn from_names(names: impl IntoIterator<Item = RoleName>) -> Self {
        Self(
            names
                .into_iter()
                .map(|name| (name.folded(), name))
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = &RoleName> {
        self.0.values()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, name: &RoleName) -> bool {
        self.0.contains_key(&name.folded())
    }

    /// The roles of `self` that `other` lacks, in order.
    pub fn missing_from<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a RoleName> {
        self.0
            .iter()
            .filter(|(folded, _)| !other.0.contains_key(*folded))
            .map(|(_, name)| name)
    }
}

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: i64,
    pub name: RoleName,
    pub description: String,
    pub permissions: PermissionSet,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    /// Counts the changes made to the role: the version its etag names.
    pub revision: i64,
    /// How many users hold it.
    pub member_count: u64,
}

impl Role {
    /// The role as it is now, for preconditions on later changes. Unlike
    /// any user's etag (which starts with its id).
    pub fn etag(&self) -> Etag {
        Etag::from_version(&format!("role.{}.{}", self.id, self.revision))
    }
}

/// A validated request to create a role.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: RoleName,
    pub description: String,
    pub permissions: PermissionSet,
}

/// A validated partial update of a role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    pub description: Option<String>,
    pub permissions: Option<PermissionSet>,
}

impl RolePatch {
    /// `role` with this patch applied, at `now`, as its next revision.
    pub fn applied_to(&self, role: &Role, now: Timestamp) -> Role {
        Role {
            description: self
                .description
                .clone()
                .unwrap_or_else(|| role.description.clone()),
            permissions: self
                .permissions
                .clone()
                .unwrap_or_else(|| role.permissions.clone()),
            update_time: now,
            revision: role.revision + 1,
            ..role.clone()
        }
    }
}

/// A case-insensitive role-name prefix for listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleFilter {
    folded_prefix: String,
}

impl RoleFilter {
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() {
            return Ok(Self::default());
        }
        RoleName::parse(field, value).map(|name| Self {
            folded_prefix: name.folded(),
        })
    }

    /// The case-folded prefix; empty means every role.
    pub fn folded_prefix(&self) -> &str {
        &self.folded_prefix
    }

    /// The filter as text, to bind page tokens to it (apart from every
    /// ListUsers and ListAuditEvents filter, which never hold a NUL).
    pub fn canonical(&self) -> String {
        format!("roles\0{}", self.folded_prefix)
    }
}

/// The roles a change to a user names, as read in its transaction: every
/// role the user holds or is given that exists, by folded name.
#[derive(Debug, Clone, Default)]
pub struct RoleBook(BTreeMap<String, Role>);

impl RoleBook {
    pub fn from_roles(roles: impl IntoIterator<Item = Role>) -> Self {
        Self(
            roles
                .into_iter()
                .map(|role| (role.name.folded(), role))
                .collect(),
        )
    }

    pub fn get(&self, name: &RoleName) -> Option<&Role> {
        self.0.get(&name.folded())
    }

    /// `roles` named as the roles are (`deployers` asked for is `Deployers`
    /// held); a name not in the book stays as given.
    pub fn as_named(&self, roles: &RoleSet) -> RoleSet {
        RoleSet::from_names(roles.iter().map(|name| {
            self.get(name)
                .map_or_else(|| name.clone(), |role| role.name.clone())
        }))
    }
}

/// Every permission of `direct` and of `roles`: what a user holds.
pub fn effective_permissions<'a>(
    direct: &PermissionSet,
    roles: impl IntoIterator<Item = &'a PermissionSet>,
) -> PermissionSet {
    roles
        .into_iter()
        .fold(direct.clone(), |held, role| held.union(role))
}

/// A user holding a role about to change, as read (locked) in the
/// transaction that changes it.
#[derive(Debug, Clone)]
pub struct Member {
    pub user: User,
    /// What the user's other roles carry.
    pub other_roles: PermissionSet,
}

impl Member {
    /// The member's effective permissions once the role carries
    /// `role_after` (`None`: the role is taken from it).
    pub fn effective_with(&self, role_after: Option<&PermissionSet>) -> PermissionSet {
        effective_permissions(
            &self.user.permissions,
            std::iter::once(&self.other_roles).chain(role_after),
        )
    }
}

/// A role about to be changed or deleted, with its members, as read in the
/// transaction that does it.
#[derive(Debug, Clone)]
pub struct RoleTarget {
    pub role: Role,
    pub members: Vec<Member>,
    /// Whether an administrator exists that does not hold the role.
    pub administrator_outside: bool,
}

/// A member's state after a role change, as the domain decided it.
#[derive(Debug, Clone)]
pub struct MemberAfter {
    pub user_id: i64,
    pub effective_permissions: PermissionSet,
    /// Whether it still holds any role (else its effective permissions are
    /// its direct ones, and stored as such).
    pub holds_roles: bool,
    pub administrator: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sets_fold_case_and_are_bounded() {
        let set = RoleSet::parse("roles", &["Deploy", "deploy", "audit"]).expect("valid");
        let names: Vec<_> = set.iter().map(RoleName::as_str).collect();
        assert_eq!(names, ["audit", "Deploy"]);
        let bad = RoleSet::parse("roles", &["ok", "no space"]).expect_err("space");
        assert_eq!(bad.field, "roles[1]");
        assert!(RoleName::parse("name", "..").is_err());
        assert!(RoleName::parse("name", ".a.").is_ok());
        let many: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
        assert!(RoleSet::parse("roles", &many).is_err());
    }

    #[test]
    fn effective_permissions_are_the_union() {
        let set = |names: &[&str]| PermissionSet::parse("p", names).expect("valid");
        let held = effective_permissions(&set(&["a"]), [&set(&["b", "a"]), &set(&["c"])]);
        assert_eq!(held, set(&["a", "b", "c"]));
    }
}
