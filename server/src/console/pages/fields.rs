//! A refused form, told beside the field at fault: the services name the
//! field (a `google.rpc.BadRequest` violation, and the message's first
//! word), this module finds the input that holds it, and says the reason
//! in the words of the form's label rather than of the request's field
//! path (`Display name must be at most 128 characters`, not
//! `user.display_name: …`).

use maud::{Markup, html};
use tonic::Status;
use tonic_types::StatusExt as _;

use super::{layout::error_box, users::permissions_from};
use crate::console::web::FormFields;

/// Request fields the forms hold: the field's name (as the services name
/// it, without an index), the input holding it, and the input's label.
const FIELDS: &[(&str, &str, &str)] = &[
    ("username", "username", "Username"),
    ("email", "email", "Email"),
    ("user.email", "email", "Email"),
    ("display_name", "display_name", "Display name"),
    ("user.display_name", "display_name", "Display name"),
    (
        "identity_provider",
        "identity_provider",
        "Identity provider",
    ),
    ("permissions", "other_permissions", "Permissions"),
    ("user.permissions", "other_permissions", "Permissions"),
    ("roles", "roles", "Roles"),
    ("user.roles", "roles", "Roles"),
    ("role.name", "name", "Name"),
    ("role.description", "description", "Description"),
    ("role.permissions", "other_permissions", "Permissions"),
    ("expire_time", "expires_on", "Expiry date"),
    // The console's own reading of the date field.
    ("expires_on", "expires_on", "Expiry date"),
];

/// Why a form was refused, and the input at fault if one is.
#[derive(Debug, Clone)]
pub(in crate::console) struct Refused {
    /// The whole message, for a refusal no input is at fault for.
    message: String,
    field: Option<FieldError>,
}

/// A refusal worded for the input it concerns.
#[derive(Debug, Clone)]
struct FieldError {
    /// The input's id.
    input: &'static str,
    label: &'static str,
    /// For people: `Username may contain only …`.
    message: String,
}

impl Refused {
    /// A refused call. `permissions` are the ones the form sent, so that
    /// `permissions[2]` can be told by its name.
    pub(in crate::console) fn call(status: &Status, permissions: &[String]) -> Self {
        // The detail names the field for programs; the message starts with
        // it (also for ALREADY_EXISTS, which carries no detail).
        let named = status
            .get_details_bad_request()
            .and_then(|bad| bad.field_violations.into_iter().next())
            .map(|violation| (violation.field, violation.description))
            .or_else(|| {
                let (field, reason) = status.message().split_once(": ")?;
                Some((field.to_owned(), reason.to_owned()))
            });
        let field = named.and_then(|(field, reason)| field_error(&field, &reason, permissions));
        Self {
            message: status.message().to_owned(),
            field,
        }
    }

    /// A save refused because what it changes (`what`: "user", "role") was
    /// changed after the page was loaded (ABORTED: the etag it sent is
    /// stale). The page then shows it as it is now, with its new etag.
    pub(in crate::console) fn stale(what: &str) -> Self {
        Self {
            message: format!(
                "This {what} was changed by someone else after you loaded the page, so nothing \
                 was saved. It is shown below as it is now: check it and try again."
            ),
            field: None,
        }
    }

    /// A refused save of `what` ("user", "role"), and the values its form
    /// shows again: what was `sent`, or, when `what` was changed meanwhile
    /// (ABORTED: the etag sent is stale), its values as it is `now`, so
    /// that the next save is made against it as it is.
    pub(in crate::console) fn save(
        status: &Status,
        what: &str,
        sent: FormFields,
        now: impl FnOnce() -> FormFields,
    ) -> (FormFields, Self) {
        if status.code() == tonic::Code::Aborted {
            return (now(), Self::stale(what));
        }
        let refused = Self::call(status, &permissions_from(&sent));
        (sent, refused)
    }

    /// A field the console itself refused before any call.
    pub(in crate::console) fn field(field: &str, reason: &str) -> Self {
        Self {
            message: format!("{field}: {reason}"),
            field: field_error(field, reason, &[]),
        }
    }

    /// What goes above the form: the whole message when no input is at
    /// fault, else a pointer to the input (its message sits beside it).
    pub(in crate::console) fn summary(&self) -> Markup {
        match &self.field {
            None => error_box(&self.message),
            Some(field) => html! {
                p.error role="alert" {
                    "Nothing was saved. Please correct "
                    a href=(format!("#{}", field.input)) { (field.label) } "."
                }
            },
        }
    }
}

/// The attributes and the message of each input, for a form shown again
/// after `refused` (or for the first time, with `None`).
#[derive(Debug, Clone, Copy)]
pub(in crate::console) struct Marks<'a>(Option<&'a FieldError>);

impl<'a> Marks<'a> {
    pub(in crate::console) fn of(refused: Option<&'a Refused>) -> Self {
        Self(refused.and_then(|refused| refused.field.as_ref()))
    }

    fn at(self, input: &str) -> Option<&'a FieldError> {
        self.0.filter(|field| field.input == input)
    }

    /// `aria-invalid` of `input`.
    pub(in crate::console) fn invalid(self, input: &str) -> Option<&'static str> {
        self.at(input).map(|_| "true")
    }

    /// `aria-describedby` of `input`: its message.
    pub(in crate::console) fn described_by(self, input: &str) -> Option<String> {
        self.at(input).map(|_| format!("{input}-error"))
    }

    /// The message to put right after `input`, if it is at fault.
    pub(in crate::console) fn beside(self, input: &str) -> Markup {
        html! {
            @if let Some(field) = self.at(input) {
                p.field-error id=(format!("{input}-error")) { (field.message) }
            }
        }
    }
}

/// `field` (`user.permissions[2]`, say) as the input it is in and a
/// message for people, if a form holds it.
fn field_error(field: &str, reason: &str, permissions: &[String]) -> Option<FieldError> {
    let (name, index) = match field.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (field, None),
    };
    let &(_, input, label) = FIELDS.iter().find(|(known, _, _)| *known == name)?;
    let subject = match index.and_then(|index| permissions.get(index)) {
        Some(permission) => format!("Permission “{permission}”"),
        None => label.to_owned(),
    };
    Some(FieldError {
        input,
        label,
        message: sentence(&subject, reason),
    })
}

/// `reason` about `subject`: `Email must look like …`, or, for a reason
/// that is a sentence of its own, that sentence.
fn sentence(subject: &str, reason: &str) -> String {
    let predicate = ["must ", "may ", "is ", "needs "]
        .iter()
        .any(|verb| reason.starts_with(verb));
    if predicate {
        return format!("{subject} {reason}");
    }
    let mut chars = reason.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DomainError, InvalidField};

    fn refused(field: &str, reason: &str, permissions: &[&str]) -> Refused {
        let status = Status::from(DomainError::from(InvalidField::new(field, reason)));
        let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        Refused::call(&status, &permissions)
    }

    #[test]
    fn a_fields_error_is_worded_for_its_input() {
        let at = |refused: &Refused| {
            refused
                .field
                .as_ref()
                .map(|field| (field.input, field.message.clone()))
        };
        assert_eq!(
            at(&refused(
                "user.display_name",
                "must be at most 128 characters",
                &[]
            )),
            Some((
                "display_name",
                "Display name must be at most 128 characters".to_owned()
            ))
        );
        assert_eq!(
            at(&refused(
                "permissions[1]",
                "may contain only lowercase letters",
                &["ok", "Not OK"]
            )),
            Some((
                "other_permissions",
                "Permission “Not OK” may contain only lowercase letters".to_owned()
            ))
        );
        let taken = Refused::call(
            &Status::already_exists("username: a user with this name already exists"),
            &[],
        );
        assert_eq!(
            at(&taken),
            Some((
                "username",
                "A user with this name already exists".to_owned()
            ))
        );
        // No input holds it: the whole message, above the form.
        assert!(at(&refused("page_token", "is forged", &[])).is_none());
        assert!(at(&Refused::call(&Status::permission_denied("no: way"), &[])).is_none());
    }
}
