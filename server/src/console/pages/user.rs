//! One user: details, edit, and delete with a typed confirmation.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{
    extract::{Path, State as Extract},
    response::Response,
};
use http::request::Parts;
use maud::{Markup, html};

use super::{
    Page,
    actions::{KeyOffer, UserActions},
    fields::{Marks, Refused},
    holdings::{Holdings, role_fields, role_links, roles_from},
    layout::{crumbs, error_box, notice_box, time},
    users::{permission_fields, permissions_from, status, text_field},
};
use crate::console::{
    State,
    calls::http_status,
    calls::{Change, SignedIn},
    web::FormFields,
};
use crate::domain::model::{DISPLAY_NAME_MAX_CHARS, EMAIL_MAX_LEN, ServicePermission};

/// Reads user `id` as the signed-in administrator.
pub(in crate::console) async fn read_user(
    console: &crate::console::Console,
    signed_in: &SignedIn,
    parts: &Parts,
    id: i64,
) -> Result<pb::User, Response> {
    let request = signed_in.request(
        parts,
        pb::GetUserRequest {
            user: Some(pb::get_user_request::User::UserId(id)),
        },
    );
    match console.user_admin.get_user(request).await {
        Ok(response) => response
            .into_inner()
            .user
            .ok_or_else(|| signed_in.failed(tonic::Status::internal("no user"))),
        Err(status) => Err(signed_in.failed(status)),
    }
}

fn details(user: &pb::User) -> Markup {
    let key = user.access_key.as_ref();
    html! {
        dl.details {
            dt { "User id" } dd { (user.id) }
            dt { "Status" } dd { (status(user)) }
            dt { "Email" } dd { (if user.email.is_empty() { "—" } else { &user.email }) }
            dt { "Display name" } dd { (if user.display_name.is_empty() { "—" } else { &user.display_name }) }
            dt { "Roles" } dd { (role_links(user)) }
            dt { "Direct permissions" } dd { (if user.permissions.is_empty() { "none".to_owned() } else { user.permissions.join(", ") }) }
            dt { "Access key" } dd {
                @if let Some(key) = key {
                    code { (key.key_id) } " · created " (time(key.create_time.as_ref(), "—"))
                    " · expires " (time(key.expire_time.as_ref(), "never"))
                    " · last used " (time(key.last_used_time.as_ref(), "not yet"))
                } @else {
                    "none"
                }
            }
            dt { "Created" } dd { (time(user.create_time.as_ref(), "—")) }
            dt { "Updated" } dd { (time(user.update_time.as_ref(), "—")) }
        }
    }
}

/// The edit form, filled from `values` (the user, or what was just sent),
/// with the field a refused save was about marked.
fn edit_form(
    user: &pb::User,
    holdings: &Holdings,
    values: &FormFields,
    csrf: &str,
    marks: Marks<'_>,
) -> Markup {
    let held = permissions_from(values);
    html! {
        h2 #edit { "Edit" }
        form.stacked method="post" action=(format!("/users/{}", user.id)) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="etag" value=(values.get("etag"));
            (text_field(marks, "email", "Email", "email", values.get("email"), EMAIL_MAX_LEN))
            (text_field(marks, "display_name", "Display name", "text", values.get("display_name"), DISPLAY_NAME_MAX_CHARS))
            (role_fields(holdings.choice(), &roles_from(values), marks))
            (permission_fields(&held, marks))
            label.check {
                input type="checkbox" name="disabled" value="true" checked[values.has("disabled")];
                " Disabled (its key stops working; nothing is deleted)"
            }
            div.actions { button type="submit" { "Save changes" } }
        }
    }
}

/// The form values a user shows before any edit.
fn values_of(user: &pb::User) -> FormFields {
    let mut fields = vec![
        ("etag", user.etag.clone()),
        ("email", user.email.clone()),
        ("display_name", user.display_name.clone()),
    ];
    fields.extend(user.permissions.iter().map(|p| ("permission", p.clone())));
    fields.extend(user.roles.iter().map(|r| ("role", r.clone())));
    if user.disabled {
        fields.push(("disabled", "true".to_owned()));
    }
    FormFields::from_pairs(fields)
}

fn actions(signed_in: &SignedIn, user: &pb::User) -> Markup {
    let offered = UserActions::of(signed_in, user);
    let id = user.id;
    html! {
        h2 { "Actions" }
        @if let Some(why) = &offered.out_of_reach {
            p.notice { (why) }
        } @else {
            ul.actions-list {
                @if !signed_in.holds(ServicePermission::KeysIssue) && !signed_in.holds(ServicePermission::UsersWrite) {
                    li { "Changing users needs " code { "users.write" } ", and keys need "
                         code { "keys.issue" } ": your key holds neither." }
                }
                @match &offered.generate {
                    Some(KeyOffer::Offered) => {
                        li { a.button href=(format!("/users/{id}/generate")) { "Generate access key" } }
                    }
                    Some(withheld) => {
                        li { "Generate access key: not available. " (withheld.why()) }
                    }
                    None => {}
                }
                @if offered.revoke {
                    li { a.button.danger href=(format!("/users/{id}/revoke")) { "Revoke key" } }
                }
                @if offered.delete {
                    li { a.button.danger href=(format!("/users/{id}/delete")) { "Delete user" } }
                }
                @if signed_in.holds(ServicePermission::AuditRead) {
                    li { a href=(format!("/audit?user={id}")) { "Audit trail for this user" } }
                }
            }
        }
    }
}

/// The user's page, with its edit form filled from `values` when the
/// signed-in administrator may edit it.
async fn user_page(
    console: &crate::console::Console,
    signed_in: &SignedIn,
    parts: &Parts,
    user: &pb::User,
    values: &FormFields,
    refused: Option<&Refused>,
) -> Result<Markup, Response> {
    let editable = UserActions::of(signed_in, user).edit;
    let holdings = Holdings::read(console, signed_in, parts, user, editable).await?;
    let notice = FormFields::query(parts);
    Ok(html! {
        (crumbs(user, ""))
        h1 { (user.username) }
        (notice_box(notice.get("notice")))
        @if let Some(refused) = refused { (refused.summary()) }
        (details(user))
        h2 { "Effective permissions" }
        p.hint { "What the user holds, directly or through its roles: what verification answers with." }
        (holdings.effective_permissions(user))
        (actions(signed_in, user))
        @if editable {
            (edit_form(user, &holdings, values, &signed_in.session.csrf, Marks::of(refused)))
        }
    })
}

/// `GET /users/{id}`.
pub(in crate::console) async fn show(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let user = read_user(&console, &signed_in, &parts, id).await?;
    let body = user_page(&console, &signed_in, &parts, &user, &values_of(&user), None).await?;
    Ok(signed_in.page(&user.username, body))
}

/// `POST /users/{id}`: UpdateUser of every field the form shows, on the
/// user as it was read (its etag), so a concurrent edit is not overwritten.
pub(in crate::console) async fn update(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Page {
    let request = signed_in.request(
        &parts,
        pb::UpdateUserRequest {
            user: Some(pb::User {
                id,
                email: form.get("email").trim().to_owned(),
                display_name: form.get("display_name").trim().to_owned(),
                permissions: permissions_from(&form),
                roles: roles_from(&form),
                disabled: form.has("disabled"),
                etag: form.get("etag").to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: ["email", "display_name", "permissions", "roles", "disabled"]
                    .map(str::to_owned)
                    .to_vec(),
            }),
        },
    );
    let status = match console.user_admin.update_user(request).await {
        Ok(_) => return Ok(signed_in.redirect(&format!("/users/{id}?notice=updated"))),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            return Err(signed_in.failed(status));
        }
        Err(status) => status,
    };
    // Shown again beside the user as it is now (a user gone meanwhile
    // fails here): with what was typed, or, when the user changed
    // meanwhile, with its new values.
    let user = read_user(&console, &signed_in, &parts, id).await?;
    let (values, refused) = Refused::save(&status, "user", form, || values_of(&user));
    let body = user_page(&console, &signed_in, &parts, &user, &values, Some(&refused)).await?;
    Ok(signed_in.page_with(http_status(status.code()), &user.username, body))
}

fn delete_page(user: &pb::User, csrf: &str, error: Option<&str>) -> Markup {
    html! {
        (crumbs(user, "Delete"))
        h1 { "Delete " (user.username) "?" }
        @if let Some(error) = error { (error_box(error)) }
        p { "The user and its access key are deleted for good; its key stops working at once. The audit trail keeps what it did." }
        form.stacked method="post" action=(format!("/users/{}/delete", user.id)) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="etag" value=(user.etag);
            label for="confirm" { "Type the username, " strong { (user.username) } ", to confirm" }
            input #confirm type="text" name="confirm" required autocomplete="off" spellcheck="false";
            div.actions {
                button.danger type="submit" { "Delete user" }
                a href=(format!("/users/{}", user.id)) { "Cancel" }
            }
        }
    }
}

/// `GET /users/{id}/delete`.
pub(in crate::console) async fn delete_form(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let user = read_user(&console, &signed_in, &parts, id).await?;
    Ok(signed_in.page(
        "Delete user",
        delete_page(&user, &signed_in.session.csrf, None),
    ))
}

/// `POST /users/{id}/delete`: DeleteUser of the user as it was shown (its
/// etag), once its name was typed.
pub(in crate::console) async fn delete(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Response {
    let user = match read_user(&console, &signed_in, &parts, id).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    if form.get("confirm").trim() != user.username {
        let error = "confirm: type the username exactly as shown to delete the user";
        let body = delete_page(&user, &signed_in.session.csrf, Some(error));
        return signed_in.page_with(http::StatusCode::BAD_REQUEST, "Delete user", body);
    }
    let request = signed_in.request(
        &parts,
        pb::DeleteUserRequest {
            user_id: id,
            etag: form.get("etag").to_owned(),
        },
    );
    match console.user_admin.delete_user(request).await {
        Ok(_) => signed_in.redirect("/users?notice=deleted"),
        Err(status) => signed_in.failed(status),
    }
}
