//! Users: who counts as an administrator, the user as stored, and the
//! requests that create, change and list them. Their fields as validated
//! are in [`super::user_fields`].

use super::keys::KeyInfo;
use super::permissions::{Permission, PermissionSet};
use super::roles::{RoleBook, RoleName, RoleSet, effective_permissions};
use super::time::Timestamp;
use super::user_fields::{IdentityProvider, UserSearch, Username, UsernamePrefix};
use crate::domain::{DomainError, InvalidField, Missing, Refusal};

/// Which users ListUsers returns: every part given must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilter {
    pub prefix: UsernamePrefix,
    pub search: UserSearch,
    /// Only holders of this role.
    pub role: Option<RoleName>,
    /// Only users holding this permission, directly or through a role.
    pub permission: Option<Permission>,
}

impl UserFilter {
    /// The filter as text, to bind page tokens to it. With the prefix
    /// alone it is the prefix, as tokens issued before search existed were
    /// bound; otherwise NULs (which no part holds) keep the parts and
    /// ListAuditEvents' `audit\0…` apart.
    pub fn canonical(&self) -> String {
        let role = self.role.as_ref().map(RoleName::folded);
        let permission = self.permission.as_ref().map(Permission::as_str);
        match (self.search.folded(), role, permission) {
            ("", None, None) => self.prefix.folded().to_owned(),
            (search, None, None) => format!("users\0{}\0{search}", self.prefix.folded()),
            (search, role, permission) => format!(
                "users\0{}\0{search}\0{}\0{}",
                self.prefix.folded(),
                role.unwrap_or_default(),
                permission.unwrap_or_default(),
            ),
        }
    }
}

/// Whether a user with these facts is an *administrator*: an enabled, local
/// user holding every service permission. At least one always remains.
pub fn is_administrator(
    disabled: bool,
    identity_provider: &IdentityProvider,
    permissions: &PermissionSet,
) -> bool {
    !disabled
        && *identity_provider == IdentityProvider::Local
        && permissions.holds_every_service_permission()
}

/// The most permissions a user holds, directly and through its roles
/// together.
pub const MAX_EFFECTIVE_PERMISSIONS: usize = PermissionSet::MAX_COUNT;

/// A user as stored, with the public facts about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub email: String,
    pub display_name: String,
    pub identity_provider: IdentityProvider,
    /// The permissions given to the user itself.
    pub permissions: PermissionSet,
    pub roles: RoleSet,
    /// `permissions` and every permission its roles carry: what it holds,
    /// for verification and for every authority rule.
    pub effective_permissions: PermissionSet,
    pub disabled: bool,
    pub access_key: Option<KeyInfo>,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    /// Counts the changes made to the user (not its key's uses): the
    /// version its [`Etag`] names.
    pub revision: i64,
}

impl User {
    pub fn is_administrator(&self) -> bool {
        is_administrator(
            self.disabled,
            &self.identity_provider,
            &self.effective_permissions,
        )
    }

    /// The user as it is now, for preconditions on later changes.
    pub fn etag(&self) -> Etag {
        Etag(format!("{}.{}", self.id, self.revision))
    }
}

/// An opaque version of a user (AIP-154): it changes on every change made
/// to the user, so a change made with a stale one can be refused. It names
/// the user too, so another user's etag never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etag(String);

impl Etag {
    const MAX_LEN: usize = 64;

    /// The etag naming `version` (see [`User::etag`], `Role::etag`).
    pub(super) fn from_version(version: &str) -> Self {
        Self(version.to_owned())
    }

    /// An etag from a request: `None` when empty (no precondition).
    pub fn parse(field: &str, value: &str) -> Result<Option<Self>, InvalidField> {
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() > Self::MAX_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidField::new(
                field,
                "is not an etag this server issued; send back the `etag` of a user you read, or none",
            ));
        }
        Ok(Some(Self(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user about to be changed, as read inside the transaction that
/// changes it.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: User,
    /// Whether it is the only administrator there is.
    pub sole_administrator: bool,
    /// The roles it holds or is given that exist, read with it.
    pub roles: RoleBook,
}

/// A validated request to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: String,
    pub display_name: String,
    pub identity_provider: IdentityProvider,
    pub permissions: PermissionSet,
    pub roles: RoleSet,
}

impl NewUser {
    /// What the new user holds with the roles in `book`, or the first role
    /// it names that does not exist.
    pub fn effective_permissions(&self, book: &RoleBook) -> Result<PermissionSet, DomainError> {
        held_with_roles(&self.permissions, &self.roles, book)
    }
}

/// What a user with `direct` permissions and `roles` holds, the roles read
/// from `book`: refused if a role does not exist or the total passes
/// [`MAX_EFFECTIVE_PERMISSIONS`].
fn held_with_roles(
    direct: &PermissionSet,
    roles: &RoleSet,
    book: &RoleBook,
) -> Result<PermissionSet, DomainError> {
    let carried = roles
        .iter()
        .map(|name| {
            book.get(name)
                .map(|role| &role.permissions)
                .ok_or_else(|| DomainError::NotFound(Missing::Role(name.clone())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let held = effective_permissions(direct, carried);
    ensure_holdable(&held, None)?;
    Ok(held)
}

/// Refuses `held` for a user (`username`, or the one being created or
/// changed) when it passes [`MAX_EFFECTIVE_PERMISSIONS`].
pub fn ensure_holdable(held: &PermissionSet, username: Option<&str>) -> Result<(), DomainError> {
    if held.len() > MAX_EFFECTIVE_PERMISSIONS {
        return Err(DomainError::Refused(Refusal::TooManyPermissions {
            username: username.map(str::to_owned),
            held: held.len(),
        }));
    }
    Ok(())
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub permissions: Option<PermissionSet>,
    pub roles: Option<RoleSet>,
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// `user` with this patch applied, at `now`, as its next revision, its
    /// roles read from `book`: refused if a role it names does not exist.
    pub fn applied_to(
        &self,
        user: &User,
        now: Timestamp,
        book: &RoleBook,
    ) -> Result<User, DomainError> {
        let Self {
            email,
            display_name,
            permissions,
            roles,
            disabled,
        } = self;
        let permissions = permissions
            .clone()
            .unwrap_or_else(|| user.permissions.clone());
        let roles = roles
            .as_ref()
            .map_or_else(|| user.roles.clone(), |roles| book.as_named(roles));
        let effective_permissions = held_with_roles(&permissions, &roles, book)?;
        Ok(User {
            email: email.clone().unwrap_or_else(|| user.email.clone()),
            display_name: display_name
                .clone()
                .unwrap_or_else(|| user.display_name.clone()),
            permissions,
            roles,
            effective_permissions,
            disabled: disabled.unwrap_or(user.disabled),
            update_time: now,
            revision: user.revision + 1,
            ..user.clone()
        })
    }
}

/// How a caller names a user.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(i64),
    Username(Username),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_binds_page_tokens_to_prefix_and_search() {
        let prefix = |p| UsernamePrefix::parse("username_prefix", p).expect("valid");
        let search = |s| UserSearch::parse("search", s).expect("valid");
        let filter = |p, s| UserFilter {
            prefix: prefix(p),
            search: search(s),
            ..UserFilter::default()
        };
        assert_eq!(filter("Svc", "").canonical(), "svc", "as before search");
        assert_ne!(
            filter("svc", "a").canonical(),
            filter("svca", "").canonical()
        );
        assert_ne!(filter("a", "b").canonical(), filter("", "ab").canonical());
        // The role and permission filters are bound too, each in its place.
        let with = |role: &str, permission: &str| UserFilter {
            role: (!role.is_empty()).then(|| RoleName::from_stored(role.to_owned())),
            permission: (!permission.is_empty()).then(|| Permission::from_stored(permission)),
            ..UserFilter::default()
        };
        assert_ne!(with("ops", "").canonical(), with("", "").canonical());
        assert_ne!(with("ops", "").canonical(), with("", "ops").canonical());
        assert_ne!(with("Ops", "").canonical(), filter("", "ops").canonical());
        assert_eq!(with("Ops", "").canonical(), with("ops", "").canonical());
    }
}
