//! Users: their names and texts as validated, who counts as an
//! administrator, and the requests that create and change them.

use super::keys::KeyInfo;
use super::permissions::{Permission, PermissionSet};
use super::roles::{RoleBook, RoleName, RoleSet, effective_permissions};
use super::time::Timestamp;
use crate::domain::{DomainError, InvalidField, Missing, Refusal};

/// A username: 1-64 characters of `A-Z a-z 0-9 . _ @ + -`, unique
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(InvalidField::new(
                field,
                format!("must be 1-{} characters long", Self::MAX_LEN),
            ));
        }
        if !value.bytes().all(Self::allowed_byte) {
            return Err(InvalidField::new(
                field,
                "may contain only letters A-Z a-z, digits and . _ @ + -",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    fn allowed_byte(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"._@+-".contains(&c)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness and lookups use.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A case-insensitive username prefix for listing; `_` matches literally.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsernamePrefix(String);

impl UsernamePrefix {
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() {
            return Ok(Self::default());
        }
        Username::parse(field, value).map(|username| Self(username.folded()))
    }

    /// The case-folded prefix; empty means every user.
    pub fn folded(&self) -> &str {
        &self.0
    }
}

/// Free text to look for in usernames, display names and emails, ignoring
/// case: what a person types in a search box, so anything printable goes
/// (a `%`, `_` or `\` is looked for literally, never a wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSearch(String);

impl UserSearch {
    /// Longer than any username (64), display name (128) or email (254)
    /// worth typing a part of.
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.chars().count() > Self::MAX_CHARS {
            return Err(InvalidField::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        // No stored text holds one, and PostgreSQL refuses a NUL outright.
        if value.chars().any(char::is_control) {
            return Err(InvalidField::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_lowercase()))
    }

    /// The lowercased text; empty means every user.
    pub fn folded(&self) -> &str {
        &self.0
    }
}

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

/// Free text shown to people (display names): printable, one line, bounded.
pub(super) fn parse_text(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<String, InvalidField> {
    if value.chars().count() > max_chars {
        return Err(InvalidField::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    // Bidirectional overrides and isolates can make a name display as another.
    let is_bidi_control = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
    if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(InvalidField::new(
            field,
            "must not contain control or bidirectional-override characters",
        ));
    }
    Ok(value.to_owned())
}

/// The longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 128;
/// The longest email address, in bytes (printable ASCII).
pub const EMAIL_MAX_LEN: usize = 254;

pub fn parse_display_name(field: &str, value: &str) -> Result<String, InvalidField> {
    parse_text(field, value, DISPLAY_NAME_MAX_CHARS)
}

/// An email address, or empty for none. Checked for shape only: accesskey
/// never sends mail, so it does not pretend to know deliverability.
pub fn parse_email(field: &str, value: &str) -> Result<String, InvalidField> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.len() > EMAIL_MAX_LEN {
        return Err(InvalidField::new(
            field,
            format!("must be at most {EMAIL_MAX_LEN} characters"),
        ));
    }
    let well_shaped = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && value.bytes().all(|b| b.is_ascii_graphic());
    if !well_shaped {
        return Err(InvalidField::new(
            field,
            "must look like name@domain (printable ASCII, no spaces), or be empty",
        ));
    }
    Ok(value.to_owned())
}

/// Where a user's identity comes from. Only local users may hold a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityProvider {
    Local,
    External(String),
}

impl IdentityProvider {
    pub const LOCAL: &'static str = "local";
    /// The longest provider name.
    pub const MAX_LEN: usize = 64;

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() || value == Self::LOCAL {
            return Ok(Self::Local);
        }
        let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._:-".contains(&c);
        if value.len() > Self::MAX_LEN || !value.bytes().all(allowed) {
            return Err(InvalidField::new(
                field,
                "must be empty, `local`, or 1-64 characters of lowercase letters, digits and . _ : -",
            ));
        }
        Ok(Self::External(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Local => Self::LOCAL,
            Self::External(name) => name,
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
    if held.len() > MAX_EFFECTIVE_PERMISSIONS {
        return Err(DomainError::Refused(Refusal::TooManyPermissions {
            username: None,
            held: held.len(),
        }));
    }
    Ok(held)
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
    fn usernames_fold_case_and_reject_other_characters() {
        let name = Username::parse("username", "Alice.B_c@x+y-z").expect("valid");
        assert_eq!(name.folded(), "alice.b_c@x+y-z");
        for bad in ["", "a b", "a%b", "é", "a\0", &"a".repeat(65)] {
            assert!(
                Username::parse("username", bad).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(Username::parse("username", &"a".repeat(64)).is_ok());
    }

    #[test]
    fn a_search_takes_any_typed_text_up_to_its_bound() {
        for typed in ["Zoë O'Brien", "100% _sure_ \\o/", "a@b.c", ""] {
            let search = UserSearch::parse("search", typed).expect("typed text");
            assert_eq!(search.folded(), typed.to_lowercase());
        }
        assert!(UserSearch::parse("search", &"é".repeat(256)).is_ok());
        let long = UserSearch::parse("search", &"a".repeat(257)).expect_err("too long");
        assert_eq!(long.field, "search");
        assert!(UserSearch::parse("search", "a\0b").is_err());
    }

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
    }

    #[test]
    fn display_names_reject_controls_and_bidi_overrides() {
        assert!(parse_display_name("display_name", "Ünïcødé 🙂").is_ok());
        for bad in ["a\nb", "a\0", "\u{202E}evil"] {
            assert!(parse_display_name("display_name", bad).is_err());
        }
    }
}
