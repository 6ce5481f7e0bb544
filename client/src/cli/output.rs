//! What the CLI prints: aligned text for people, stable JSON for scripts.
//! The JSON field names are a contract: add fields, never rename them.

use serde::Serialize;

use super::Format;
use crate::{GeneratedKey, Verification, pb};

pub(super) struct Printer {
    format: Format,
}

#[derive(Serialize)]
struct UserJson<'a> {
    id: i64,
    username: &'a str,
    email: &'a str,
    display_name: &'a str,
    identity_provider: &'a str,
    permissions: &'a [String],
    disabled: bool,
    access_key: Option<KeyJson<'a>>,
    create_time: Option<String>,
    update_time: Option<String>,
    /// Changes with every change to the user (see the README's `etag`).
    etag: &'a str,
    roles: &'a [String],
    /// Held directly or through a role: what verification answers with.
    effective_permissions: &'a [String],
}

#[derive(Serialize)]
struct RoleJson<'a> {
    name: &'a str,
    description: &'a str,
    permissions: &'a [String],
    member_count: i64,
    create_time: Option<String>,
    update_time: Option<String>,
    etag: &'a str,
    /// Only where the command looked them up (`role get`).
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<&'a [String]>,
}

#[derive(Serialize)]
struct KeyJson<'a> {
    key_id: &'a str,
    create_time: Option<String>,
    expire_time: Option<String>,
    last_used_time: Option<String>,
}

#[derive(Serialize)]
struct PrincipalJson<'a> {
    user_id: i64,
    username: &'a str,
    permissions: &'a [String],
    key_id: &'a str,
    expire_time: Option<String>,
}

impl<'a> From<&'a pb::User> for UserJson<'a> {
    fn from(user: &'a pb::User) -> Self {
        Self {
            id: user.id,
            username: &user.username,
            email: &user.email,
            display_name: &user.display_name,
            identity_provider: &user.identity_provider,
            permissions: &user.permissions,
            disabled: user.disabled,
            access_key: user.access_key.as_ref().map(KeyJson::from),
            create_time: user.create_time.map(rfc3339),
            update_time: user.update_time.map(rfc3339),
            etag: &user.etag,
            roles: &user.roles,
            effective_permissions: &user.effective_permissions,
        }
    }
}

impl<'a> RoleJson<'a> {
    fn new(role: &'a pb::Role, members: Option<&'a [String]>) -> Self {
        Self {
            name: &role.name,
            description: &role.description,
            permissions: &role.permissions,
            member_count: role.member_count,
            create_time: role.create_time.map(rfc3339),
            update_time: role.update_time.map(rfc3339),
            etag: &role.etag,
            members,
        }
    }
}

impl<'a> From<&'a pb::AccessKeyInfo> for KeyJson<'a> {
    fn from(info: &'a pb::AccessKeyInfo) -> Self {
        Self {
            key_id: &info.key_id,
            create_time: info.create_time.map(rfc3339),
            expire_time: info.expire_time.map(rfc3339),
            last_used_time: info.last_used_time.map(rfc3339),
        }
    }
}

impl<'a> From<&'a pb::Principal> for PrincipalJson<'a> {
    fn from(principal: &'a pb::Principal) -> Self {
        Self {
            user_id: principal.user_id,
            username: &principal.username,
            permissions: &principal.permissions,
            key_id: &principal.key_id,
            expire_time: principal.expire_time.map(rfc3339),
        }
    }
}

impl Printer {
    pub(super) fn new(format: Format) -> Self {
        Self { format }
    }

    fn json(value: &impl Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("accesskey: cannot encode JSON: {error}"),
        }
    }

    pub(super) fn user(&self, user: &pb::User) {
        if self.format == Format::Json {
            return Self::json(&UserJson::from(user));
        }
        let key = user.access_key.as_ref();
        let rows = [
            ("id", user.id.to_string()),
            ("username", user.username.clone()),
            ("email", user.email.clone()),
            ("display name", user.display_name.clone()),
            ("identity provider", user.identity_provider.clone()),
            ("permissions", user.permissions.join(", ")),
            ("roles", user.roles.join(", ")),
            (
                "effective permissions",
                user.effective_permissions.join(", "),
            ),
            ("disabled", user.disabled.to_string()),
            (
                "key id",
                key.map_or_else(|| "(none)".to_owned(), |k| k.key_id.clone()),
            ),
            (
                "key expires",
                time_or(key.and_then(|k| k.expire_time), "never"),
            ),
            (
                "key last used",
                time_or(key.and_then(|k| k.last_used_time), "never"),
            ),
            ("created", time_or(user.create_time, "")),
            ("updated", time_or(user.update_time, "")),
        ];
        print_rows(&rows);
    }

    pub(super) fn users(&self, users: &[pb::User], next_page_token: &str) {
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct Page<'a> {
                users: Vec<UserJson<'a>>,
                next_page_token: &'a str,
            }
            return Self::json(&Page {
                users: users.iter().map(UserJson::from).collect(),
                next_page_token,
            });
        }
        let header = [
            "ID",
            "USERNAME",
            "DISPLAY NAME",
            "PROVIDER",
            "DISABLED",
            "KEY ID",
            "ROLES",
            "EFFECTIVE PERMISSIONS",
        ];
        let rows: Vec<[String; 8]> = users
            .iter()
            .map(|user| {
                [
                    user.id.to_string(),
                    user.username.clone(),
                    or_dash(user.display_name.clone()),
                    user.identity_provider.clone(),
                    if user.disabled { "yes" } else { "no" }.to_owned(),
                    user.access_key
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |k| k.key_id.clone()),
                    or_dash(user.roles.join(",")),
                    user.effective_permissions.join(","),
                ]
            })
            .collect();
        print_table(&header, &rows);
        if !next_page_token.is_empty() {
            eprintln!("accesskey: more users: --page-token {next_page_token}");
        }
    }

    /// One role; with `members`, the usernames of those holding it.
    pub(super) fn role(&self, role: &pb::Role, members: Option<&[String]>) {
        if self.format == Format::Json {
            return Self::json(&RoleJson::new(role, members));
        }
        let mut rows = vec![
            ("name", role.name.clone()),
            ("description", role.description.clone()),
            ("permissions", role.permissions.join(", ")),
            ("member count", role.member_count.to_string()),
        ];
        if let Some(members) = members {
            rows.push(("members", members.join(", ")));
        }
        rows.extend([
            ("etag", role.etag.clone()),
            ("created", time_or(role.create_time, "")),
            ("updated", time_or(role.update_time, "")),
        ]);
        print_rows(&rows);
    }

    pub(super) fn roles(&self, roles: &[pb::Role]) {
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct List<'a> {
                roles: Vec<RoleJson<'a>>,
            }
            return Self::json(&List {
                roles: roles.iter().map(|role| RoleJson::new(role, None)).collect(),
            });
        }
        let rows: Vec<[String; 3]> = roles
            .iter()
            .map(|role| {
                [
                    role.name.clone(),
                    role.member_count.to_string(),
                    role.permissions.join(","),
                ]
            })
            .collect();
        print_table(&["NAME", "MEMBERS", "PERMISSIONS"], &rows);
    }

    /// A deleted role, and the users it was taken from.
    pub(super) fn role_deleted(&self, name: &str, removed_from: &[String]) {
        let message = match removed_from {
            [] => format!("deleted role {name}"),
            users => format!(
                "deleted role {name}, taken from {} user(s): {}",
                users.len(),
                users.join(", ")
            ),
        };
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct Deleted<'a> {
                ok: bool,
                message: &'a str,
                removed_from: &'a [String],
            }
            return Self::json(&Deleted {
                ok: true,
                message: &message,
                removed_from,
            });
        }
        println!("{message}");
    }

    pub(super) fn principal(&self, principal: &pb::Principal) {
        if self.format == Format::Json {
            return Self::json(&PrincipalJson::from(principal));
        }
        println!("{:<12} {}", "user", principal.username);
        println!("{:<12} {}", "user id", principal.user_id);
        println!("{:<12} {}", "key id", principal.key_id);
        println!("{:<12} {}", "permissions", principal.permissions.join(", "));
        println!(
            "{:<12} {}",
            "expires",
            time_or(principal.expire_time, "never")
        );
    }

    pub(super) fn verification(&self, verdict: &Verification) {
        let (result, principal, missing): (&str, Option<&pb::Principal>, &[String]) = match verdict
        {
            Verification::Valid(p) => ("VALID", Some(p), &[]),
            Verification::Malformed => ("MALFORMED", None, &[]),
            Verification::NotFound => ("NOT_FOUND", None, &[]),
            Verification::Expired(p) => ("EXPIRED", Some(p), &[]),
            Verification::UserDisabled(p) => ("USER_DISABLED", Some(p), &[]),
            Verification::PermissionDenied { principal, missing } => {
                ("PERMISSION_DENIED", Some(principal), missing)
            }
        };
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct VerifyJson<'a> {
                result: &'a str,
                principal: Option<PrincipalJson<'a>>,
                missing_permissions: &'a [String],
            }
            return Self::json(&VerifyJson {
                result,
                principal: principal.map(PrincipalJson::from),
                missing_permissions: missing,
            });
        }
        match principal {
            Some(p) => println!(
                "{result}: key {} of {} (user id {})",
                p.key_id, p.username, p.user_id
            ),
            None => println!("{result}"),
        }
        if !missing.is_empty() {
            println!("missing permissions: {}", missing.join(", "));
        }
    }

    /// A new key: alone on stdout in table mode, so `$(…)` captures just it.
    pub(super) fn generated_key(&self, generated: &GeneratedKey) {
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct GeneratedJson<'a> {
                access_key: &'a str,
                #[serde(flatten)]
                info: KeyJson<'a>,
            }
            return Self::json(&GeneratedJson {
                access_key: generated.expose_key(),
                info: KeyJson::from(generated.info()),
            });
        }
        println!("{}", generated.expose_key());
    }

    pub(super) fn done(&self, message: &str) {
        if self.format == Format::Json {
            #[derive(Serialize)]
            struct Done<'a> {
                ok: bool,
                message: &'a str,
            }
            return Self::json(&Done { ok: true, message });
        }
        println!("{message}");
    }
}

pub(super) fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Labelled values, one a line, the values aligned at least two spaces
/// after the longest label.
fn print_rows(rows: &[(&str, String)]) {
    let width = rows
        .iter()
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in rows {
        println!("{label:<width$} {value}");
    }
}

/// An empty cell as `-`, so that columns stay readable.
fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

fn time_or(time: Option<prost_types::Timestamp>, absent: &str) -> String {
    time.map_or_else(|| absent.to_owned(), rfc3339)
}

/// RFC 3339 in UTC with second precision, e.g. `2026-11-26T10:41:24Z`
/// (prost-types prints a `Timestamp` so).
pub(super) fn rfc3339(time: prost_types::Timestamp) -> String {
    prost_types::Timestamp { nanos: 0, ..time }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> String {
        rfc3339(prost_types::Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn timestamps_render_as_rfc3339() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_689_684), "2026-11-26T10:41:24Z");
        assert_eq!(at(-1), "1969-12-31T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
    }
}
