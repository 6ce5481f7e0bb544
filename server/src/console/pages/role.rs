//! One role: what it carries, who holds it, and (for a writer who holds
//! every service permission it carries) editing its description and
//! permissions against the role as it was read.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{
    extract::{Path, State as Extract},
    response::Response,
};
use http::request::Parts;
use maud::{Markup, html};

use super::{
    Page,
    actions::role_out_of_reach,
    fields::{Marks, Refused},
    layout::{notice_box, time, trail},
    roles::role_path,
    users::{permission_fields, permissions_from, text_field},
};
use crate::console::{
    Console, State,
    calls::http_status,
    calls::{Change, SignedIn},
    web::FormFields,
};
use crate::domain::model::{ROLE_DESCRIPTION_MAX_CHARS, ServicePermission};

/// Members listed on a role's pages (the most ListUsers gives at once).
const MEMBERS_PAGE_SIZE: i32 = 1000;

/// Reads role `name` as the signed-in administrator.
pub(in crate::console) async fn read_role(
    console: &Console,
    signed_in: &SignedIn,
    parts: &Parts,
    name: &str,
) -> Result<pb::Role, Response> {
    let request = signed_in.request(
        parts,
        pb::GetRoleRequest {
            name: name.to_owned(),
        },
    );
    match console.user_admin.get_role(request).await {
        Ok(response) => response
            .into_inner()
            .role
            .ok_or_else(|| signed_in.failed(tonic::Status::internal("no role"))),
        Err(status) => Err(signed_in.failed(status)),
    }
}

/// The users holding role `name` (ListUsers' `role` filter), at most
/// [`MEMBERS_PAGE_SIZE`] of them.
pub(in crate::console) async fn read_members(
    console: &Console,
    signed_in: &SignedIn,
    parts: &Parts,
    name: &str,
) -> Result<Vec<pb::User>, Response> {
    let request = signed_in.request(
        parts,
        pb::ListUsersRequest {
            page_size: MEMBERS_PAGE_SIZE,
            role: name.to_owned(),
            ..pb::ListUsersRequest::default()
        },
    );
    match console.user_admin.list_users(request).await {
        Ok(response) => Ok(response.into_inner().users),
        Err(status) => Err(signed_in.failed(status)),
    }
}

/// *Roles › name*, or *Roles › name › here*.
pub(in crate::console) fn role_crumbs(role: &pb::Role, here: &str) -> Markup {
    trail(
        ("/roles", "Roles"),
        (&role_path(&role.name), &role.name),
        here,
    )
}

/// The members as links, saying how many more there are than listed.
pub(in crate::console) fn member_list(role: &pb::Role, members: &[pb::User]) -> Markup {
    let unlisted = u64::try_from(role.member_count)
        .unwrap_or(0)
        .saturating_sub(members.len() as u64);
    html! {
        @if members.is_empty() {
            p { "No user holds this role." }
        } @else {
            ul.members {
                @for member in members {
                    li { a href=(format!("/users/{}", member.id)) { (member.username) } }
                }
            }
            @if unlisted > 0 {
                p.hint { "…and " (unlisted) " more." }
            }
        }
    }
}

fn details(role: &pb::Role) -> Markup {
    html! {
        dl.details {
            dt { "Name" } dd { (role.name) }
            dt { "Description" } dd { (if role.description.is_empty() { "—" } else { &role.description }) }
            dt { "Permissions" } dd { (if role.permissions.is_empty() { "none".to_owned() } else { role.permissions.join(", ") }) }
            dt { "Members" } dd { (role.member_count) }
            dt { "Created" } dd { (time(role.create_time.as_ref(), "—")) }
            dt { "Updated" } dd { (time(role.update_time.as_ref(), "—")) }
        }
    }
}

/// The form values a role shows before any edit.
fn values_of(role: &pb::Role) -> FormFields {
    let mut fields = vec![
        ("etag", role.etag.clone()),
        ("description", role.description.clone()),
    ];
    fields.extend(role.permissions.iter().map(|p| ("permission", p.clone())));
    FormFields::from_pairs(fields)
}

fn edit_form(role: &pb::Role, values: &FormFields, csrf: &str, marks: Marks<'_>) -> Markup {
    html! {
        h2 #edit { "Edit" }
        p.hint { "Every member holds the new permissions from its next verification on." }
        form.stacked method="post" action=(role_path(&role.name)) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="etag" value=(values.get("etag"));
            (text_field(marks, "description", "Description", "text", values.get("description"), ROLE_DESCRIPTION_MAX_CHARS))
            (permission_fields(&permissions_from(values), marks))
            div.actions { button type="submit" { "Save changes" } }
        }
    }
}

/// What the signed-in administrator may do with the role: why nothing
/// (the power order), or the edit form and the way to delete it.
fn controls(
    signed_in: &SignedIn,
    role: &pb::Role,
    values: &FormFields,
    marks: Marks<'_>,
) -> Markup {
    html! {
        @if let Some(why) = role_out_of_reach(signed_in, &role.permissions) {
            p.notice { (why) }
        } @else if !signed_in.holds(ServicePermission::UsersWrite) {
            p.notice { "Changing roles needs " code { "users.write" } ", which your key does not hold." }
        } @else {
            (edit_form(role, values, &signed_in.session.csrf, marks))
            h2 { "Delete" }
            p { a.button.danger href=(format!("{}/delete", role_path(&role.name))) { "Delete role" } }
        }
    }
}

async fn role_page(
    console: &Console,
    signed_in: &SignedIn,
    parts: &Parts,
    role: &pb::Role,
    values: &FormFields,
    refused: Option<&Refused>,
) -> Result<Markup, Response> {
    let members = read_members(console, signed_in, parts, &role.name).await?;
    let query = FormFields::query(parts);
    Ok(html! {
        (role_crumbs(role, ""))
        h1 { (role.name) }
        (notice_box(query.get("notice")))
        @if let Some(refused) = refused { (refused.summary()) }
        (details(role))
        h2 { "Members" }
        (member_list(role, &members))
        (controls(signed_in, role, values, Marks::of(refused)))
    })
}

/// `GET /roles/{name}`.
pub(in crate::console) async fn show(
    Extract(console): State,
    Path(name): Path<String>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let role = read_role(&console, &signed_in, &parts, &name).await?;
    let body = role_page(&console, &signed_in, &parts, &role, &values_of(&role), None).await?;
    Ok(signed_in.page(&role.name, body))
}

/// `POST /roles/{name}`: UpdateRole of its description and permissions,
/// on the role as it was read (its etag), so a concurrent edit is not
/// overwritten.
pub(in crate::console) async fn update(
    Extract(console): State,
    Path(name): Path<String>,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Page {
    let request = signed_in.request(
        &parts,
        pb::UpdateRoleRequest {
            role: Some(pb::Role {
                name: name.clone(),
                description: form.get("description").trim().to_owned(),
                permissions: permissions_from(&form),
                etag: form.get("etag").to_owned(),
                ..pb::Role::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: ["description", "permissions"].map(str::to_owned).to_vec(),
            }),
        },
    );
    let status = match console.user_admin.update_role(request).await {
        Ok(_) => return Ok(signed_in.redirect(&format!("{}?notice=updated", role_path(&name)))),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            return Err(signed_in.failed(status));
        }
        Err(status) => status,
    };
    // Shown again beside the role as it is now: with what was typed, or,
    // when the role changed meanwhile, with the role's new values.
    let role = read_role(&console, &signed_in, &parts, &name).await?;
    let (values, refused) = Refused::save(&status, "role", form, || values_of(&role));
    let body = role_page(&console, &signed_in, &parts, &role, &values, Some(&refused)).await?;
    Ok(signed_in.page_with(http_status(status.code()), &role.name, body))
}
