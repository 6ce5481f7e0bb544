//! Deleting a role: a page of its own naming the users it would be taken
//! from, the role's name typed to confirm, and `force` sent only when the
//! administrator has confirmed taking it from exactly those users.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::extract::{Path, State as Extract};
use http::{StatusCode, request::Parts};
use maud::{Markup, html};

use super::{
    Page,
    actions::role_out_of_reach,
    fields::Refused,
    layout::error_box,
    role::{member_list, read_members, read_role, role_crumbs},
    roles::role_path,
};
use crate::console::{
    State,
    calls::http_status,
    calls::{Change, SignedIn},
    web::FormFields,
};
use crate::domain::model::ServicePermission;

fn delete_page(
    signed_in: &SignedIn,
    role: &pb::Role,
    members: &[pb::User],
    error: Option<Markup>,
) -> Markup {
    let path = role_path(&role.name);
    let why_not = role_out_of_reach(signed_in, &role.permissions);
    html! {
        (role_crumbs(role, "Delete"))
        h1 { "Delete role " (role.name) "?" }
        @if let Some(error) = error { (error) }
        p { "The role is deleted for good. The audit trail keeps what was done with it." }
        @if role.member_count > 0 {
            p.warning {
                (role.member_count) " user(s) hold this role. Deleting it takes it from them: "
                "they lose the permissions it gives them (what they hold directly or through "
                "other roles stays)."
            }
        }
        (member_list(role, members))
        @if let Some(why) = why_not {
            p.notice { (why) }
        } @else if !signed_in.holds(ServicePermission::UsersWrite) {
            p.notice { "Deleting roles needs " code { "users.write" } ", which your key does not hold." }
        } @else {
            form.stacked method="post" action=(format!("{path}/delete")) {
                input type="hidden" name="csrf" value=(signed_in.session.csrf);
                input type="hidden" name="etag" value=(role.etag);
                input type="hidden" name="member_count" value=(role.member_count);
                @for member in members {
                    input type="hidden" name="member" value=(member.id);
                }
                label for="confirm" { "Type the role's name, " strong { (role.name) } ", to confirm" }
                input #confirm type="text" name="confirm" required autocomplete="off" spellcheck="false";
                @if role.member_count > 0 {
                    label.check {
                        input #force type="checkbox" name="force" value="true" required;
                        " Take the role from these " (role.member_count) " user(s)"
                    }
                }
                div.actions {
                    button.danger type="submit" { "Delete role" }
                    a href=(path) { "Cancel" }
                }
            }
        }
    }
}

/// `GET /roles/{name}/delete`.
pub(in crate::console) async fn delete_form(
    Extract(console): State,
    Path(name): Path<String>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let role = read_role(&console, &signed_in, &parts, &name).await?;
    let members = read_members(&console, &signed_in, &parts, &role.name).await?;
    let body = delete_page(&signed_in, &role, &members, None);
    Ok(signed_in.page("Delete role", body))
}

/// Whether `members` (and `count` in all) are the members `form` was shown.
fn members_as_shown(form: &FormFields, count: i64, members: &[pb::User]) -> bool {
    let mut shown: Vec<&str> = form.all("member").collect();
    let mut now: Vec<String> = members.iter().map(|user| user.id.to_string()).collect();
    shown.sort_unstable();
    now.sort_unstable();
    form.get("member_count") == count.to_string() && shown == now
}

/// `POST /roles/{name}/delete`: DeleteRole of the role as it was shown
/// (its etag), once its name was typed; with `force` only when taking it
/// from its members was confirmed, and they are still the ones shown.
pub(in crate::console) async fn delete(
    Extract(console): State,
    Path(name): Path<String>,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Page {
    let role = read_role(&console, &signed_in, &parts, &name).await?;
    let members = read_members(&console, &signed_in, &parts, &role.name).await?;
    let again = |status: StatusCode, error: Markup| {
        let body = delete_page(&signed_in, &role, &members, Some(error));
        signed_in.page_with(status, "Delete role", body)
    };
    if form.get("confirm").trim() != role.name {
        let error = "confirm: type the role's name exactly as shown to delete the role";
        return Ok(again(StatusCode::BAD_REQUEST, error_box(error)));
    }
    let force = form.has("force");
    if force && !members_as_shown(&form, role.member_count, &members) {
        let error = "The users holding this role changed after you loaded the page, so nothing \
                     was deleted. Check who holds it now, below, and confirm again.";
        return Ok(again(StatusCode::CONFLICT, error_box(error)));
    }
    let request = signed_in.request(
        &parts,
        pb::DeleteRoleRequest {
            name: role.name.clone(),
            etag: form.get("etag").to_owned(),
            force,
        },
    );
    match console.user_admin.delete_role(request).await {
        Ok(_) => Ok(signed_in.redirect("/roles?notice=role-deleted")),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            Err(signed_in.failed(status))
        }
        Err(status) if status.code() == tonic::Code::Aborted => Ok(again(
            StatusCode::CONFLICT,
            Refused::stale("role").summary(),
        )),
        Err(status) => Ok(again(
            http_status(status.code()),
            error_box(status.message()),
        )),
    }
}
