//! *Actions*: what the signed-in administrator may do to a user, decided
//! once, for the users list's Actions menu and the user's own page alike,
//! so the two never disagree. The services refuse anything else anyway
//! (and a crafted request gets their 403); this only spares the
//! administrator controls that cannot work.

use accesskey_proto::pb;
use maud::{Markup, html};

use super::users::external_provider;
use crate::{
    console::calls::SignedIn,
    domain::{
        authority,
        model::{Permission, PermissionSet, ServicePermission},
    },
};

/// What may be done to one user.
#[derive(Debug)]
pub(in crate::console) struct UserActions {
    pub(in crate::console) id: i64,
    /// Whose actions: each row's menu says so to a screen reader.
    username: String,
    /// Why nothing may be changed (the user holds a service permission the
    /// signed-in key lacks: the power order), if so.
    pub(in crate::console) out_of_reach: Option<String>,
    /// Generate access key: offered, or why not (`None`: not the
    /// administrator's to do at all, so not mentioned).
    pub(in crate::console) generate: Option<KeyOffer>,
    pub(in crate::console) revoke: bool,
    pub(in crate::console) edit: bool,
    pub(in crate::console) delete: bool,
}

/// Whether "Generate access key" is offered for a user, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::console) enum KeyOffer {
    Offered,
    /// Users from an external identity provider cannot have a key.
    NotForExternalUsers {
        provider: String,
    },
    NotWhileDisabled,
}

impl KeyOffer {
    /// Why it is not offered, in a sentence; empty when it is.
    pub(in crate::console) fn why(&self) -> String {
        match self {
            Self::Offered => String::new(),
            Self::NotForExternalUsers { provider } => format!(
                "This user signs in through the external identity provider {provider}, \
                 and users from an external identity provider cannot have an access key."
            ),
            Self::NotWhileDisabled => "Not available while the user is disabled.".to_owned(),
        }
    }
}

impl UserActions {
    pub(in crate::console) fn of(signed_in: &SignedIn, user: &pb::User) -> Self {
        let out_of_reach = out_of_reach(signed_in, user);
        let own = user.id == signed_in.principal.user_id;
        let reach = out_of_reach.is_none();
        let issuer = reach && signed_in.holds(ServicePermission::KeysIssue);
        let writer = reach && signed_in.holds(ServicePermission::UsersWrite);
        let generate = issuer.then(|| {
            if let Some(provider) = external_provider(user) {
                KeyOffer::NotForExternalUsers {
                    provider: provider.to_owned(),
                }
            } else if user.disabled {
                KeyOffer::NotWhileDisabled
            } else {
                KeyOffer::Offered
            }
        });
        Self {
            id: user.id,
            username: user.username.clone(),
            out_of_reach,
            generate,
            // Revoking one's own key would end one's own access.
            revoke: issuer && user.access_key.is_some() && !own,
            edit: writer,
            delete: writer && !own,
        }
    }

    fn any(&self) -> bool {
        self.generate.is_some() || self.revoke || self.edit || self.delete
    }

    /// The users list's menu: a native `<details>`, which opens and closes
    /// without script and by keyboard. Links to the pages that do or
    /// confirm each action: every change stays a POST of such a page.
    pub(in crate::console) fn menu(&self) -> Markup {
        let id = self.id;
        html! {
            @if self.any() {
                details.menu id=(format!("actions-{id}")) {
                    // Every row's menu reads "Actions"; a screen reader,
                    // which may reach it out of its row, hears whose too.
                    summary { "Actions" span.visually-hidden { " for " (self.username) } }
                    ul {
                        @match &self.generate {
                            Some(KeyOffer::Offered) => {
                                li { a href=(format!("/users/{id}/generate")) { "Generate access key" } }
                            }
                            Some(withheld) => {
                                li.unavailable { "Generate access key: " (withheld.why()) }
                            }
                            None => {}
                        }
                        @if self.revoke {
                            li { a href=(format!("/users/{id}/revoke")) { "Revoke key" } }
                        }
                        @if self.edit {
                            li { a href=(format!("/users/{id}#edit")) { "Edit" } }
                        }
                        @if self.delete {
                            li { a href=(format!("/users/{id}/delete")) { "Delete" } }
                        }
                    }
                }
            } @else {
                "—"
            }
        }
    }
}

/// Why the signed-in administrator may not change `user`, if it may not:
/// the power order, asked of the domain's own predicate (the one the
/// services apply) with the user's effective permissions.
pub(in crate::console) fn out_of_reach(signed_in: &SignedIn, user: &pb::User) -> Option<String> {
    let held = permission_set(&user.effective_permissions);
    let missing = authority::outranking_user(&signed_in.caller, user.id, &held);
    sentence("You cannot change this user: it holds", missing)
}

/// Why the signed-in administrator may not change or delete a role
/// carrying `carried`, if it may not (the domain's predicate, as above).
pub(in crate::console) fn role_out_of_reach(
    signed_in: &SignedIn,
    carried: &[String],
) -> Option<String> {
    let carried = permission_set(carried);
    let missing = authority::outranking_role(&signed_in.caller, &carried);
    sentence("You cannot change this role: it carries", missing)
}

/// `lead` and the permissions `missing` names, or `None` if none.
fn sentence<'a>(lead: &str, missing: impl Iterator<Item = &'a Permission>) -> Option<String> {
    let missing: Vec<&str> = missing.map(Permission::as_str).collect();
    (!missing.is_empty()).then(|| format!("{lead} {}, which you do not.", missing.join(", ")))
}

/// Permission names from a message, as the domain's set.
pub(in crate::console) fn permission_set(names: &[String]) -> PermissionSet {
    PermissionSet::from_permissions(names.iter().map(|name| Permission::from_stored(name)))
}
