//! Users, permissions and keys as the rules see them, and the validation that
//! turns untrusted input into them. A value of these types is valid by
//! construction.

use std::{
    collections::BTreeSet,
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use super::{InvalidField, key_format::KeyId, secret_hash::Fingerprint};

/// A point in time, in microseconds since the Unix epoch (UTC).
///
/// Stored as an integer so SQLite, PostgreSQL and MySQL agree on range and
/// precision (MySQL's TIMESTAMP stops in 2038).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The latest representable time: 9999-12-31T23:59:59Z, as protobuf's
    /// Timestamp allows.
    const MAX_SECONDS: i64 = 253_402_300_799;
    const MIN_SECONDS: i64 = -62_135_596_800;

    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(micros)
    }

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// From protobuf's (seconds, nanos), rejecting values it does not allow.
    pub fn from_parts(seconds: i64, nanos: i32) -> Option<Self> {
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&seconds)
            || !(0..1_000_000_000).contains(&nanos)
        {
            return None;
        }
        Some(Self(seconds * 1_000_000 + i64::from(nanos / 1_000)))
    }

    /// To protobuf's (seconds, nanos).
    pub fn to_parts(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        // rem_euclid(1e6) < 1e6, so × 1000 fits in i32.
        (seconds, i32::try_from(micros * 1_000).unwrap_or(0))
    }
}

/// A permission name: 1-128 characters of `a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission(String);

impl Permission {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(format!("must be 1-{} characters long", Self::MAX_LEN));
        }
        let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._:-".contains(&c);
        if !value.bytes().all(allowed) {
            return Err("may contain only lowercase letters, digits and . _ : -".to_owned());
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
}

impl ServicePermission {
    pub const ALL: [Self; 4] = [
        Self::UsersRead,
        Self::UsersWrite,
        Self::KeysIssue,
        Self::KeysVerify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users.read",
            Self::UsersWrite => "users.write",
            Self::KeysIssue => "keys.issue",
            Self::KeysVerify => "keys.verify",
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
                    .map_err(|why| InvalidField::new(format!("{field}[{index}]"), why))
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

    /// The members of `self` that `other` lacks, in order.
    pub fn missing_from<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a Permission> {
        self.0.difference(&other.0)
    }
}

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

/// Free text shown to people (display names): printable, one line, bounded.
fn parse_text(field: &str, value: &str, max_chars: usize) -> Result<String, InvalidField> {
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

pub fn parse_display_name(field: &str, value: &str) -> Result<String, InvalidField> {
    parse_text(field, value, 128)
}

/// An email address, or empty for none. Checked for shape only: accesskey
/// never sends mail, so it does not pretend to know deliverability.
pub fn parse_email(field: &str, value: &str) -> Result<String, InvalidField> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.len() > 254 {
        return Err(InvalidField::new(field, "must be at most 254 characters"));
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

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidField> {
        if value.is_empty() || value == Self::LOCAL {
            return Ok(Self::Local);
        }
        let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._:-".contains(&c);
        if value.len() > 64 || !value.bytes().all(allowed) {
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

/// A user as stored, with the public facts about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub email: String,
    pub display_name: String,
    pub identity_provider: IdentityProvider,
    pub permissions: PermissionSet,
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
        is_administrator(self.disabled, &self.identity_provider, &self.permissions)
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
}

/// What may be known about a key: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: KeyId,
    pub create_time: Timestamp,
    pub expire_time: Option<Timestamp>,
    pub last_used_time: Option<Timestamp>,
}

/// A validated request to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: String,
    pub display_name: String,
    pub identity_provider: IdentityProvider,
    pub permissions: PermissionSet,
}

impl NewUser {
    pub fn is_administrator(&self) -> bool {
        is_administrator(false, &self.identity_provider, &self.permissions)
    }
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub permissions: Option<PermissionSet>,
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// `user` with this patch applied, at `now`, as its next revision.
    pub fn applied_to(&self, user: &User, now: Timestamp) -> User {
        let Self {
            email,
            display_name,
            permissions,
            disabled,
        } = self;
        User {
            email: email.clone().unwrap_or_else(|| user.email.clone()),
            display_name: display_name
                .clone()
                .unwrap_or_else(|| user.display_name.clone()),
            permissions: permissions
                .clone()
                .unwrap_or_else(|| user.permissions.clone()),
            disabled: disabled.unwrap_or(user.disabled),
            update_time: now,
            revision: user.revision + 1,
            ..user.clone()
        }
    }
}

/// How a caller names a user.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(i64),
    Username(Username),
}

/// The identity behind a key whose secret matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: Username,
    /// Shared: verification hands out the same set for every request.
    pub permissions: Arc<PermissionSet>,
    pub key_id: KeyId,
    pub expire_time: Option<Timestamp>,
}

/// Everything verification needs about one key, read in one lookup.
#[derive(Clone)]
pub struct Credential {
    pub principal: Principal,
    pub secret_hash: String,
    /// `None` for keys issued before fingerprints existed, until their
    /// first successful verification records one.
    pub secret_fingerprint: Option<Fingerprint>,
    pub user_disabled: bool,
}

impl Credential {
    /// Whether presenting this key at `now` authenticates: it has not
    /// expired and its user is enabled. Only such a use is a key's
    /// `last_used_time`; a rejected presentation is not a use.
    pub fn authenticates_at(&self, now: Timestamp) -> bool {
        !self.user_disabled && self.principal.expire_time.is_none_or(|expiry| expiry > now)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret_hash", &"<redacted>")
            .field("secret_fingerprint", &self.secret_fingerprint)
            .field("user_disabled", &self.user_disabled)
            .finish()
    }
}

/// A key to store: its id, the argon2id PHC string of its secret, and the
/// secret's fingerprint.
#[derive(Clone)]
pub struct NewKey {
    pub key_id: KeyId,
    pub secret_hash: String,
    pub secret_fingerprint: Fingerprint,
    pub create_time: Timestamp,
    pub expire_time: Option<Timestamp>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .field("secret_hash", &"<redacted>")
            .field("create_time", &self.create_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
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
    fn permissions_are_sorted_deduplicated_and_bounded() {
        let set = PermissionSet::parse("permissions", &["b", "a", "b"]).expect("valid");
        let names: Vec<_> = set.iter().map(Permission::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        let err = PermissionSet::parse("permissions", &["ok", "Not-OK"]).expect_err("uppercase");
        assert_eq!(err.field, "permissions[1]");
        let too_many: Vec<String> = (0..257).map(|i| format!("p{i}")).collect();
        assert!(PermissionSet::parse("permissions", &too_many).is_err());
    }

    #[test]
    fn timestamps_round_trip_through_protobuf_parts() {
        let time = Timestamp::from_parts(1_700_000_000, 123_456_000).expect("in range");
        assert_eq!(time.to_parts(), (1_700_000_000, 123_456_000));
        let before_epoch = Timestamp::from_parts(-1, 500_000_000).expect("in range");
        assert_eq!(before_epoch.to_parts(), (-1, 500_000_000));
        assert!(Timestamp::from_parts(0, -1).is_none());
        assert!(Timestamp::from_parts(i64::MAX, 0).is_none());
    }

    #[test]
    fn display_names_reject_controls_and_bidi_overrides() {
        assert!(parse_display_name("display_name", "Ünïcødé 🙂").is_ok());
        for bad in ["a\nb", "a\0", "\u{202E}evil"] {
            assert!(parse_display_name("display_name", bad).is_err());
        }
    }
}
