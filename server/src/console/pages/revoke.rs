//! Actions » Revoke key: what revoking would stop, and the button.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{
    extract::{Path, State as Extract},
    response::Response,
};
use http::request::Parts;
use maud::html;

use super::{
    Page,
    layout::{crumbs, time},
    user::read_user,
};
use crate::console::{
    State,
    calls::{Change, SignedIn},
};

/// `GET /users/{id}/revoke`: what revoking would stop, and the button.
pub(in crate::console) async fn revoke_form(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let user = read_user(&console, &signed_in, &parts, id).await?;
    let body = html! {
        (crumbs(&user, "Revoke key"))
        h1 { "Revoke the access key of " (user.username) "?" }
        @if let Some(key) = &user.access_key {
            p.warning {
                "Key " code { (key.key_id) } " (created " (time(key.create_time.as_ref(), "—"))
                ", last used " (time(key.last_used_time.as_ref(), "not yet"))
                ") stops working at once, everywhere it is used. The user keeps no key until one is generated."
            }
            form.stacked method="post" action=(format!("/users/{}/revoke", user.id)) {
                input type="hidden" name="csrf" value=(signed_in.session.csrf);
                div.actions {
                    button.danger type="submit" { "Revoke key" }
                    a href=(format!("/users/{}", user.id)) { "Cancel" }
                }
            }
        } @else {
            p { "The user has no access key." }
            p { a href=(format!("/users/{}", user.id)) { "Back to the user" } }
        }
    };
    Ok(signed_in.page("Revoke key", body))
}

/// `POST /users/{id}/revoke`: RevokeAccessKey.
pub(in crate::console) async fn revoke(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    Change { signed_in, .. }: Change,
) -> Response {
    let request = signed_in.request(&parts, pb::RevokeAccessKeyRequest { user_id: id });
    match console.user_admin.revoke_access_key(request).await {
        Ok(_) => signed_in.redirect(&format!("/users/{id}?notice=revoked")),
        Err(status) => signed_in.failed(status),
    }
}
