//! The console's pages, one file per area: each handler authenticates the
//! session, makes its gRPC call(s) and renders the answer.

pub(super) mod actions;
pub(super) mod assets;
pub(super) mod audit;
pub(super) mod fields;
pub(super) mod holdings;
pub(super) mod keys;
pub(super) mod layout;
pub(super) mod new_key_note;
pub(super) mod revoke;
pub(super) mod role;
pub(super) mod role_delete;
pub(super) mod roles;
pub(super) mod sign_in;
pub(super) mod user;
pub(super) mod users;
pub(super) mod whoami;

use axum::response::{IntoResponse as _, Response};
use http::request::Parts;

use super::{State, web};

/// A page, or (from `?`) the page that says why it could not be shown.
pub(super) type Page = Result<Response, Response>;

/// `/`: the users, or sign-in for a browser without a session.
pub(super) async fn home(axum::extract::State(console): State, parts: Parts) -> Response {
    match console.signed_in(&parts).await {
        Ok(signed_in) => signed_in.redirect("/users"),
        Err(_) => web::redirect("/sign-in", Vec::new()).into_response(),
    }
}
