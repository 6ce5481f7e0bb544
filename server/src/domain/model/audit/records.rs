//! What each change records: the event every kind of change makes of the
//! user, key, role or session it changed, field by field.

use super::{AuditAction, FieldChange, NewAuditEvent, Origin};
use crate::domain::model::{
    KeyInfo, Permission, PermissionSet, Principal, Role, RoleName, Timestamp, User,
};

fn listed(permissions: &PermissionSet) -> String {
    permissions
        .iter()
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Role names, comma-separated.
fn names<'a>(roles: impl Iterator<Item = &'a RoleName>) -> String {
    roles.map(RoleName::as_str).collect::<Vec<_>>().join(",")
}

/// `{field}_added` (a new value only) and `{field}_removed` (an old value
/// only), each when not empty.
fn set_changes(field: &str, added: String, removed: String) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if !added.is_empty() {
        changes.push(change(&format!("{field}_added"), None, Some(added)));
    }
    if !removed.is_empty() {
        changes.push(change(&format!("{field}_removed"), Some(removed), None));
    }
    changes
}

fn change(field: &str, old: Option<String>, new: Option<String>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        old,
        new,
    }
}

/// What a user holds, field by field, as an event shows it: `None` for a
/// field without a value (an empty email, display name or permission
/// list), so an event never reads `email: ∅ → ""`.
fn user_fields(user: &User) -> [(&'static str, Option<String>); 6] {
    let valued = |text: String| (!text.is_empty()).then_some(text);
    [
        ("username", valued(user.username.as_str().to_owned())),
        ("email", valued(user.email.clone())),
        ("display_name", valued(user.display_name.clone())),
        (
            "identity_provider",
            valued(user.identity_provider.as_str().to_owned()),
        ),
        ("permissions", valued(listed(&user.permissions))),
        ("disabled", Some(user.disabled.to_string())),
    ]
}

/// The changes between two states of a set of fields: only the fields
/// whose value differs, so that an event lists what changed and nothing
/// else.
fn changed<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<String>, Option<String>)>,
) -> Vec<FieldChange> {
    fields
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| change(field, old, new))
        .collect()
}

impl NewAuditEvent {
    fn about(origin: &Origin, action: AuditAction, user: &User, changes: Vec<FieldChange>) -> Self {
        Self {
            time: Timestamp::now(),
            origin: origin.clone(),
            action,
            target_user_id: user.id,
            target_username: user.username.as_str().to_owned(),
            target_role: String::new(),
            changes,
        }
    }

    /// The fields the new user has a value for, and its roles.
    pub fn user_created(origin: &Origin, user: &User) -> Self {
        let mut changes = changed(
            user_fields(user)
                .into_iter()
                .map(|(field, value)| (field, None, value)),
        );
        changes.extend(set_changes(
            "roles",
            names(user.roles.iter()),
            String::new(),
        ));
        Self::about(origin, AuditAction::UserCreated, user, changes)
    }

    /// The fields that differ between `before` and `after`, and the roles
    /// given and taken.
    pub fn user_updated(origin: &Origin, before: &User, after: &User) -> Self {
        let mut changes = changed(
            user_fields(before)
                .into_iter()
                .zip(user_fields(after))
                .map(|((field, old), (_, new))| (field, old, new)),
        );
        changes.extend(set_changes(
            "roles",
            names(after.roles.missing_from(&before.roles)),
            names(before.roles.missing_from(&after.roles)),
        ));
        Self::about(origin, AuditAction::UserUpdated, after, changes)
    }

    /// A role's name, description and permissions.
    pub fn role_created(origin: &Origin, role: &Role) -> Self {
        let valued = |text: String| (!text.is_empty()).then_some(text);
        let changes = changed([
            ("name", None, Some(role.name.as_str().to_owned())),
            ("description", None, valued(role.description.clone())),
            ("permissions", None, valued(listed(&role.permissions))),
        ]);
        Self::about_role(origin, AuditAction::RoleCreated, &role.name, changes)
    }

    /// The description as changed, and the permissions added and removed.
    pub fn role_updated(origin: &Origin, before: &Role, after: &Role) -> Self {
        let mut changes = changed([(
            "description",
            Some(before.description.clone()),
            Some(after.description.clone()),
        )]);
        let added = after.permissions.missing_from(&before.permissions);
        let removed = before.permissions.missing_from(&after.permissions);
        changes.extend(set_changes(
            "permissions",
            added.map(Permission::as_str).collect::<Vec<_>>().join(","),
            removed
                .map(Permission::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ));
        Self::about_role(origin, AuditAction::RoleUpdated, &after.name, changes)
    }

    /// What the role was, and the users it was taken from.
    pub fn role_deleted(origin: &Origin, role: &Role, members: &[&str]) -> Self {
        let valued = |text: String| (!text.is_empty()).then_some(text);
        let changes = changed([
            ("name", Some(role.name.as_str().to_owned()), None),
            ("description", valued(role.description.clone()), None),
            ("permissions", valued(listed(&role.permissions)), None),
            ("members", valued(members.join(",")), None),
        ]);
        Self::about_role(origin, AuditAction::RoleDeleted, &role.name, changes)
    }

    fn about_role(
        origin: &Origin,
        action: AuditAction,
        role: &RoleName,
        changes: Vec<FieldChange>,
    ) -> Self {
        Self {
            time: Timestamp::now(),
            origin: origin.clone(),
            action,
            target_user_id: 0,
            target_username: String::new(),
            target_role: role.as_str().to_owned(),
            changes,
        }
    }

    /// What the user was (the fields it had a value for), and the key that
    /// went with it.
    pub fn user_deleted(origin: &Origin, user: &User) -> Self {
        let mut changes = changed(
            user_fields(user)
                .into_iter()
                .map(|(field, value)| (field, value, None)),
        );
        changes.extend(set_changes(
            "roles",
            String::new(),
            names(user.roles.iter()),
        ));
        if let Some(key) = &user.access_key {
            changes.push(change("key_id", Some(key.key_id.to_string()), None));
        }
        Self::about(origin, AuditAction::UserDeleted, user, changes)
    }

    /// `user`'s new key, and the key it replaced.
    pub fn key_generated(
        origin: &Origin,
        user: &User,
        new: &KeyInfo,
        replaced: Option<&KeyInfo>,
    ) -> Self {
        let expiry = |key: &KeyInfo| key.expire_time.map(Timestamp::rfc3339);
        // A key that never expires replacing another (or none) that never
        // did: no expiry change to record.
        let changes = changed([
            (
                "key_id",
                replaced.map(|old| old.key_id.to_string()),
                Some(new.key_id.to_string()),
            ),
            ("key_expire_time", replaced.and_then(expiry), expiry(new)),
        ]);
        Self::about(origin, AuditAction::KeyGenerated, user, changes)
    }

    pub fn key_revoked(origin: &Origin, user: &User, revoked: &KeyInfo) -> Self {
        let changes = vec![change("key_id", Some(revoked.key_id.to_string()), None)];
        Self::about(origin, AuditAction::KeyRevoked, user, changes)
    }

    /// A replica deleted `count` events recorded before `before`, the
    /// newest of them `through_id`: recorded in the same transaction, so
    /// the chain's walk knows which missing events were pruned.
    pub fn audit_pruned(count: u64, through_id: i64, before: Timestamp) -> Self {
        Self {
            time: Timestamp::now(),
            origin: Origin::host(),
            action: AuditAction::AuditPruned,
            target_user_id: 0,
            target_username: String::new(),
            target_role: String::new(),
            changes: vec![
                change("events", Some(count.to_string()), None),
                change("through_id", Some(through_id.to_string()), None),
                change("recorded_before", Some(before.rfc3339()), None),
            ],
        }
    }

    /// The caller signed in to the console, opening session `session`
    /// (the first 16 hex digits of the session id's hash: enough to match
    /// the sign-out, nothing to sign in with).
    pub fn console_signed_in(origin: &Origin, caller: &Principal, session: &str) -> Self {
        Self::about_caller(
            origin,
            AuditAction::ConsoleSignedIn,
            caller,
            vec![change("session", None, Some(short(session)))],
        )
    }

    /// The caller ended `ended` of its sessions: the one named (sign-out)
    /// or all of them (`session` is `None`: sign-out everywhere).
    pub fn console_signed_out(
        origin: &Origin,
        caller: &Principal,
        session: Option<&str>,
        ended: u64,
    ) -> Self {
        let mut changes = vec![change("sessions", Some(ended.to_string()), None)];
        if let Some(session) = session {
            changes.push(change("session", Some(short(session)), None));
        }
        Self::about_caller(origin, AuditAction::ConsoleSignedOut, caller, changes)
    }

    fn about_caller(
        origin: &Origin,
        action: AuditAction,
        caller: &Principal,
        changes: Vec<FieldChange>,
    ) -> Self {
        Self {
            time: Timestamp::now(),
            origin: origin.clone(),
            action,
            target_user_id: caller.user_id,
            target_username: caller.username.as_str().to_owned(),
            target_role: String::new(),
            changes,
        }
    }
}

/// A session's name in the trail: a prefix of its id's hash.
fn short(session_hash: &str) -> String {
    session_hash.chars().take(16).collect()
}
