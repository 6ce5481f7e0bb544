//! The signed-in principal (WhoAmI) and its session.

use axum::{extract::State as Extract, response::Response};
use http::request::Parts;
use maud::html;

use super::layout::time;
use crate::console::{State, calls::SignedIn};
use crate::domain::model::{
    SESSION_ABSOLUTE_TIMEOUT_SECS, SESSION_IDLE_TIMEOUT_SECS, ServicePermission, Timestamp,
};

/// `GET /whoami`.
pub(in crate::console) async fn show(
    Extract(_console): State,
    _parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let principal = &signed_in.principal;
    let opened = signed_in.session.create_time.as_micros();
    let (seconds, nanos) =
        Timestamp::from_micros(opened + SESSION_ABSOLUTE_TIMEOUT_SECS * 1_000_000).to_parts();
    let session_ends = prost_types::Timestamp { seconds, nanos };
    let body = html! {
        h1 { "Signed in as " (principal.username) }
        dl.details {
            dt { "User id" } dd { a href=(format!("/users/{}", principal.user_id)) { (principal.user_id) } }
            dt { "Key id" } dd { code { (principal.key_id) } }
            dt { "Key expires" } dd { (time(principal.expire_time.as_ref(), "never")) }
            dt { "Permissions" } dd {
                @if principal.permissions.is_empty() { "none" } @else { (principal.permissions.join(", ")) }
            }
            dt { "Session" } dd {
                "Ends after " (SESSION_IDLE_TIMEOUT_SECS / 60) " minutes without use, and at "
                (time(Some(&session_ends), "—")) " at the latest."
            }
        }
        form.stacked method="post" action="/sign-out" {
            input type="hidden" name="csrf" value=(signed_in.session.csrf);
            input type="hidden" name="everywhere" value="1";
            p.hint { "Signing out everywhere ends every console session of " (principal.username) ", in every browser, at once." }
            div.actions { button type="submit" { "Sign out everywhere" } }
        }
        @if !signed_in.holds(ServicePermission::UsersRead) {
            p.notice { "Your key does not hold users.read, so the user pages are not open to you." }
        }
    };
    signed_in.page("Who am I", body)
}
