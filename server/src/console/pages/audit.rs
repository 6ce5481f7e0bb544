//! The audit trail (ListAuditEvents), newest first, optionally for one
//! user: actors and users by username, their ids second.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{extract::State as Extract, response::Response};
use http::request::Parts;
use maud::{Markup, html};

use super::{
    layout::{error_box, table, time},
    users::encode,
};
use crate::{
    console::{State, calls::SignedIn, web::FormFields},
    domain::model::AuditAction,
};

const PAGE_SIZE: i32 = 50;

fn actor(event: &pb::AuditEvent) -> Markup {
    match &event.actor {
        Some(actor) if actor.host => html! { "host (accesskeyd bootstrap)" },
        Some(actor) => html! {
            a href=(format!("/users/{}", actor.user_id)) { (actor.username) }
            " (key " code { (actor.key_id) } ")"
        },
        None => html! { "—" },
    }
}

fn changes(event: &pb::AuditEvent) -> Markup {
    html! {
        ul.changes {
            @for change in &event.changes {
                li {
                    code { (change.field) } ": "
                    (change.old_value.as_deref().unwrap_or("∅")) " → "
                    (change.new_value.as_deref().unwrap_or("∅"))
                }
            }
        }
    }
}

fn event_row(event: &pb::AuditEvent) -> Markup {
    html! {
        tr {
            td { (time(event.time.as_ref(), "—")) }
            td { (actor(event)) }
            td { code { (event.action) } }
            // A role's events and a prune are about no user (id 0): no
            // link to nowhere.
            td {
                @if event.target_user_id != 0 {
                    a href=(format!("/users/{}", event.target_user_id)) { (event.target_username) }
                } @else if !event.target_role.is_empty() {
                    "role " code { (event.target_role) }
                } @else { "—" }
            }
            td { (changes(event)) }
            td { code { (event.request_id) } }
        }
    }
}

/// `GET /audit?user=…&page=…`.
pub(in crate::console) async fn list(
    Extract(console): State,
    parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let query = FormFields::query(&parts);
    let user = query.get("user").trim();
    let target_user_id = if user.is_empty() {
        0
    } else {
        match user.parse::<i64>() {
            Ok(id) if id > 0 => id,
            _ => {
                let body = html! { h1 { "Audit trail" } (error_box("user: not a user id")) };
                return signed_in.page_with(http::StatusCode::BAD_REQUEST, "Audit trail", body);
            }
        }
    };
    // Not checked here: ListAuditEvents names an unknown action itself.
    let action = query.get("action").trim();
    let request = signed_in.request(
        &parts,
        pb::ListAuditEventsRequest {
            page_size: PAGE_SIZE,
            page_token: query.get("page").to_owned(),
            target_user_id,
            action: action.to_owned(),
            ..Default::default()
        },
    );
    let page = match console.user_admin.list_audit_events(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return signed_in.failed(status),
    };
    // The user by name, as its events recorded it (a deleted user's too);
    // by id only when none is on this page.
    let target_name = page.events.first().map_or_else(
        || format!("#{target_user_id}"),
        |event| event.target_username.clone(),
    );
    // The filters, for the paging links.
    let filters = format!("user={}&action={}", encode(user), encode(action));
    let body = html! {
        h1 { "Audit trail" }
        @if target_user_id != 0 {
            p { "Changes to user " a href=(format!("/users/{target_user_id}")) { (target_name) } ". "
                a href="/audit" { "All changes" } }
        }
        form.search method="get" action="/audit" {
            input type="hidden" name="user" value=(user);
            label for="action" { "Action" }
            select #action name="action" {
                option value="" selected[action.is_empty()] { "all" }
                @for name in AuditAction::ALL.map(AuditAction::as_str) {
                    option value=(name) selected[action == name] { (name) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if page.events.is_empty() {
            p { "No changes recorded." }
        } @else {
            (table(
                &["Time", "Actor", "Action", "User", "Changes", "Request id"],
                html! { @for event in &page.events { (event_row(event)) } },
            ))
        }
        nav.paging aria-label="Pages" {
            @if !query.get("page").is_empty() {
                a href=(format!("/audit?{filters}")) { "Newest" }
            }
            @if !page.next_page_token.is_empty() {
                a href=(format!("/audit?{filters}&page={}", encode(&page.next_page_token))) { "Older" }
            }
        }
    };
    signed_in.page("Audit trail", body)
}
