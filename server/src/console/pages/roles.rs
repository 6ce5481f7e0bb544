//! Administration » Roles: the list (paged) and creating a role; and what
//! the other pages need of roles (their links, every role's definition).

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{extract::State as Extract, response::Response};
use http::request::Parts;
use maud::{Markup, html};

use super::{
    Page,
    fields::{Marks, Refused},
    layout::{notice_box, table},
    users::{encode, permission_fields, permissions_from, text_field},
};
use crate::console::{
    Console, State,
    calls::http_status,
    calls::{Change, SignedIn},
    web::FormFields,
};
use crate::domain::model::{ROLE_DESCRIPTION_MAX_CHARS, ServicePermission, Username};

/// Roles per page of the list.
const PAGE_SIZE: i32 = 50;
/// Roles per ListRoles call when every role is wanted (the most it gives).
const ALL_PAGE_SIZE: i32 = 1000;
/// The most pages of roles read for a form's choice of roles.
const ALL_MAX_PAGES: usize = 10;

/// The page of role `name`.
pub(in crate::console) fn role_path(name: &str) -> String {
    format!("/roles/{}", encode(name))
}

/// A link to role `name`'s page.
pub(in crate::console) fn role_link(name: &str) -> Markup {
    html! { a href=(role_path(name)) { (name) } }
}

/// Every role (up to [`ALL_MAX_PAGES`] pages of them), in creation order,
/// as the signed-in administrator reads them.
pub(in crate::console) async fn all_roles(
    console: &Console,
    signed_in: &SignedIn,
    parts: &Parts,
) -> Result<Vec<pb::Role>, tonic::Status> {
    let mut roles = Vec::new();
    let mut page_token = String::new();
    for _ in 0..ALL_MAX_PAGES {
        let request = signed_in.request(
            parts,
            pb::ListRolesRequest {
                page_size: ALL_PAGE_SIZE,
                page_token,
                name_prefix: String::new(),
            },
        );
        let page = console.user_admin.list_roles(request).await?.into_inner();
        roles.extend(page.roles);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(roles)
}

/// `GET /roles?page=…`.
pub(in crate::console) async fn list(
    Extract(console): State,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let query = FormFields::query(&parts);
    let form = FormFields::from_pairs([("csrf", signed_in.session.csrf.clone())]);
    let body = list_page(&console, &signed_in, &parts, &query, &form, None).await?;
    Ok(signed_in.page("Roles", body))
}

/// `POST /roles`: CreateRole; a refused one shows the list again with the
/// form as it was filled in.
pub(in crate::console) async fn create(
    Extract(console): State,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Response {
    let name = form.get("name").trim().to_owned();
    let request = signed_in.request(
        &parts,
        pb::CreateRoleRequest {
            role: Some(pb::Role {
                name: name.clone(),
                description: form.get("description").trim().to_owned(),
                permissions: permissions_from(&form),
                ..pb::Role::default()
            }),
        },
    );
    let status = match console.user_admin.create_role(request).await {
        Ok(_) => {
            return signed_in.redirect(&format!("{}?notice=role-created", role_path(&name)));
        }
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            return signed_in.failed(status);
        }
        Err(status) => status,
    };
    let refused = Refused::call(&status, &permissions_from(&form));
    let query = FormFields::default();
    match list_page(&console, &signed_in, &parts, &query, &form, Some(&refused)).await {
        Ok(body) => signed_in.page_with(http_status(status.code()), "Roles", body),
        Err(page) => page,
    }
}

/// The list page: a page of roles and, for a writer, the create form
/// filled from `form` (with `refused` marked).
async fn list_page(
    console: &Console,
    signed_in: &SignedIn,
    parts: &Parts,
    query: &FormFields,
    form: &FormFields,
    refused: Option<&Refused>,
) -> Result<Markup, Response> {
    let request = signed_in.request(
        parts,
        pb::ListRolesRequest {
            page_size: PAGE_SIZE,
            page_token: query.get("page").to_owned(),
            name_prefix: String::new(),
        },
    );
    let page = match console.user_admin.list_roles(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Err(signed_in.failed(status)),
    };
    let writer = signed_in.holds(ServicePermission::UsersWrite);
    Ok(html! {
        h1 { "Roles" }
        (notice_box(query.get("notice")))
        p.hint { "A role is a named set of permissions. Users given a role hold its permissions as if granted directly, and lose them when the role loses them." }
        @if page.roles.is_empty() {
            p { "No roles yet." }
        } @else {
            (table(
                &["Name", "Description", "Members", "Permissions"],
                html! { @for role in &page.roles { (role_row(role)) } },
            ))
        }
        nav.paging aria-label="Pages" {
            @if !query.get("page").is_empty() {
                a href="/roles" { "First page" }
            }
            @if !page.next_page_token.is_empty() {
                a href=(format!("/roles?page={}", encode(&page.next_page_token))) { "Next page" }
            }
        }
        @if writer {
            (create_form(form, refused))
        }
    })
}

fn role_row(role: &pb::Role) -> Markup {
    html! {
        tr {
            td { (role_link(&role.name)) }
            td { (role.description) }
            td { (role.member_count) }
            td { (if role.permissions.is_empty() { "none".to_owned() } else { role.permissions.join(", ") }) }
        }
    }
}

fn create_form(form: &FormFields, refused: Option<&Refused>) -> Markup {
    let marks = Marks::of(refused);
    html! {
        h2 #create { "Create role" }
        @if let Some(refused) = refused { (refused.summary()) }
        form.stacked method="post" action="/roles" {
            input type="hidden" name="csrf" value=(form.get("csrf"));
            (text_field(marks, "name", "Name", "text", form.get("name"), Username::MAX_LEN))
            p.hint { "1–64 characters: letters, digits and . _ @ + - (it never changes)" }
            (text_field(marks, "description", "Description", "text", form.get("description"), ROLE_DESCRIPTION_MAX_CHARS))
            (permission_fields(&permissions_from(form), marks))
            div.actions { button type="submit" { "Create role" } }
        }
    }
}
