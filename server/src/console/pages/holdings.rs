//! What a user holds: the roles it holds (shown, and chosen with a
//! checkbox each) and its effective permissions, each with where it comes
//! from: granted directly, or carried by which of its roles.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::response::Response;
use http::request::Parts;
use maud::{Markup, html};

use super::{
    fields::Marks,
    layout::table,
    roles::{all_roles, role_link},
};
use crate::console::{Console, calls::SignedIn, web::FormFields};

/// The roles a user holds, each with its definition as read now (`None`:
/// deleted since the user was read), and, for a form, every role there is
/// to choose from.
#[derive(Debug, Default)]
pub(in crate::console) struct Holdings {
    held: Vec<(String, Option<pb::Role>)>,
    choice: Choice,
}

/// The roles a form offers: all of them, or why they could not be listed.
#[derive(Debug)]
pub(in crate::console) enum Choice {
    Roles(Vec<pb::Role>),
    Unlisted(String),
}

impl Default for Choice {
    fn default() -> Self {
        Self::Roles(Vec::new())
    }
}

impl Choice {
    /// Every role, as the signed-in administrator may list them.
    pub(in crate::console) async fn read(
        console: &Console,
        signed_in: &SignedIn,
        parts: &Parts,
    ) -> Self {
        match all_roles(console, signed_in, parts).await {
            Ok(roles) => Self::Roles(roles),
            Err(status) => Self::Unlisted(status.message().to_owned()),
        }
    }
}

impl Holdings {
    /// `user`'s roles read one by one (GetRole), and every role when
    /// `choosing` (for the edit form).
    pub(in crate::console) async fn read(
        console: &Console,
        signed_in: &SignedIn,
        parts: &Parts,
        user: &pb::User,
        choosing: bool,
    ) -> Result<Self, Response> {
        let mut held = Vec::with_capacity(user.roles.len());
        for name in &user.roles {
            let request = signed_in.request(parts, pb::GetRoleRequest { name: name.clone() });
            let role = match console.user_admin.get_role(request).await {
                Ok(response) => response.into_inner().role,
                Err(status) if status.code() == tonic::Code::NotFound => None,
                Err(status) => return Err(signed_in.failed(status)),
            };
            held.push((name.clone(), role));
        }
        let choice = if choosing {
            Choice::read(console, signed_in, parts).await
        } else {
            Choice::default()
        };
        Ok(Self { held, choice })
    }

    pub(in crate::console) fn choice(&self) -> &Choice {
        &self.choice
    }

    /// The user's effective permissions, one row each, with where each
    /// comes from.
    pub(in crate::console) fn effective_permissions(&self, user: &pb::User) -> Markup {
        html! {
            @if user.effective_permissions.is_empty() {
                p { "None." }
            } @else {
                div #effective {
                    (table(&["Permission", "From"], html! {
                        @for permission in &user.effective_permissions {
                            tr {
                                td { code { (permission) } }
                                td { (self.sources(user, permission)) }
                            }
                        }
                    }))
                }
            }
        }
    }

    /// Where `permission` comes from: "direct", and each held role
    /// carrying it.
    fn sources(&self, user: &pb::User, permission: &str) -> Markup {
        let direct = user.permissions.iter().any(|p| p == permission);
        let roles: Vec<&str> = self
            .held
            .iter()
            .filter(|(_, role)| {
                role.as_ref()
                    .is_some_and(|role| role.permissions.iter().any(|p| p == permission))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        html! {
            @if direct { "direct" }
            @for (index, name) in roles.iter().enumerate() {
                @if direct || index > 0 { ", " }
                "role " (role_link(name))
            }
            @if !direct && roles.is_empty() {
                "a role changed since this page was read"
            }
        }
    }
}

/// The roles `user` holds, as links.
pub(in crate::console) fn role_links(user: &pb::User) -> Markup {
    html! {
        @if user.roles.is_empty() {
            "none"
        } @else {
            @for (index, name) in user.roles.iter().enumerate() {
                @if index > 0 { ", " }
                (role_link(name))
            }
        }
    }
}

/// A checkbox per role of `choice`, checked for those in `held` (a held
/// role the choice lacks is offered too, so saving never drops a role the
/// form did not show).
pub(in crate::console) fn role_fields(
    choice: &Choice,
    held: &[String],
    marks: Marks<'_>,
) -> Markup {
    let mut names: Vec<(&str, &[String])> = match choice {
        Choice::Roles(roles) => roles
            .iter()
            .map(|role| (role.name.as_str(), role.permissions.as_slice()))
            .collect(),
        Choice::Unlisted(_) => Vec::new(),
    };
    for name in held {
        if !names
            .iter()
            .any(|(known, _)| known.eq_ignore_ascii_case(name))
        {
            names.push((name, &[]));
        }
    }
    html! {
        fieldset #roles aria-invalid=[marks.invalid("roles")]
            aria-describedby=[marks.described_by("roles")] {
            legend { "Roles" }
            @if let Choice::Unlisted(why) = choice {
                p.hint { "The roles could not be listed: " (why) }
            } @else if names.is_empty() {
                p.hint { "No roles exist yet: create them on the " a href="/roles" { "Roles" } " page." }
            }
            @for (name, permissions) in &names {
                label.check {
                    input type="checkbox" name="role" value=(name)
                        checked[held.iter().any(|h| h.eq_ignore_ascii_case(name))];
                    " " code { (name) }
                    @if !permissions.is_empty() {
                        span.hint { " (" (permissions.join(", ")) ")" }
                    }
                }
            }
        }
        (marks.beside("roles"))
    }
}

/// The roles a form with [`role_fields`] sent.
pub(in crate::console) fn roles_from(form: &FormFields) -> Vec<String> {
    form.all("role").map(str::to_owned).collect()
}
