//! The signed-in principal (WhoAmI) and its session.

use axum::{extract::State as Extract, response::Response};
use http::request::Parts;
use maud::html;

use super::layout::time;
use crate::console::{
    State,
    calls::SignedIn,
    session::{ABSOLUTE_TIMEOUT, IDLE_TIMEOUT},
};

/// `GET /whoami`.
pub(in crate::console) async fn show(
    Extract(_console): State,
    _parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let principal = &signed_in.principal;
    let session_ends = prost_types::Timestamp {
        seconds: i64::try_from(signed_in.session.signed_in_at + ABSOLUTE_TIMEOUT.as_secs())
            .unwrap_or(i64::MAX),
        nanos: 0,
    };
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
                "Ends after " (IDLE_TIMEOUT.as_secs() / 60) " minutes without use, and at "
                (time(Some(&session_ends), "—")) " at the latest."
            }
        }
        @if !signed_in.holds("users.read") {
            p.notice { "Your key does not hold users.read, so the user pages are not open to you." }
        }
    };
    signed_in.page("Who am I", body)
}
