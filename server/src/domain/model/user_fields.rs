//! A user's fields as validated: its name, the texts people read, where
//! its identity comes from, and the name prefix and search text that
//! ListUsers filters by.

use crate::domain::InvalidField;

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
    fn display_names_reject_controls_and_bidi_overrides() {
        assert!(parse_display_name("display_name", "Ünïcødé 🙂").is_ok());
        for bad in ["a\nb", "a\0", "\u{202E}evil"] {
            assert!(parse_display_name("display_name", bad).is_err());
        }
    }
}
