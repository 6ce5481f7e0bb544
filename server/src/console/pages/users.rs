//! Administration » Users: the list (search, paging, each row's Actions
//! menu) and creating a user.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{extract::State as Extract, response::Response};
use http::request::Parts;
use maud::{Markup, html};

use super::{
    actions::UserActions,
    fields::{Marks, Refused},
    holdings::{Choice, role_fields, roles_from},
    layout::{is_service_permission, notice_box, service_permissions, table, time},
};
use crate::console::{
    State,
    calls::http_status,
    calls::{Change, SignedIn},
    web::FormFields,
};
use crate::domain::model::{
    DISPLAY_NAME_MAX_CHARS, EMAIL_MAX_LEN, IdentityProvider, ServicePermission, UserSearch,
    Username,
};

/// Users per page.
const PAGE_SIZE: i32 = 50;
/// The longest search ListUsers takes: the field stops there, so nothing
/// typed is ever refused.
const SEARCH_MAX_CHARS: usize = UserSearch::MAX_CHARS;

/// `GET /users?q=…&page=…` (and `prefix=…`, from older links).
pub(in crate::console) async fn list(
    Extract(console): State,
    parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let query = FormFields::query(&parts);
    let search = query.get("q").trim();
    let prefix = query.get("prefix").trim();
    let request = signed_in.request(
        &parts,
        pb::ListUsersRequest {
            page_size: PAGE_SIZE,
            page_token: query.get("page").to_owned(),
            username_prefix: prefix.to_owned(),
            search: search.chars().take(SEARCH_MAX_CHARS).collect(),
            role: String::new(),
            permission: String::new(),
        },
    );
    let page = match console.user_admin.list_users(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return signed_in.failed(status),
    };
    let writer = signed_in.holds(ServicePermission::UsersWrite);
    let body = html! {
        h1 { "Users" }
        (notice_box(query.get("notice")))
        div.toolbar {
            form.search method="get" action="/users" role="search" {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(search) autocomplete="off"
                    maxlength=(SEARCH_MAX_CHARS) aria-describedby="q-hint";
                @if !prefix.is_empty() {
                    input type="hidden" name="prefix" value=(prefix);
                }
                button type="submit" { "Search" }
                p.hint #q-hint { "Any part of a username, display name or email; case does not matter." }
            }
            @if writer {
                a.button href="/users/new" { "Create user" }
            }
        }
        @if page.users.is_empty() {
            p { "No users match." }
        } @else {
            (table(
                &["Username", "Actions", "Display name", "Status", "Roles", "Permissions", "Key id",
                  "Key created", "Key expires", "Key last used"],
                html! { @for user in &page.users { (user_row(&signed_in, user)) } },
            ))
        }
        nav.paging aria-label="Pages" {
            @if !query.get("page").is_empty() {
                a href=(users_link(&[("q", search), ("prefix", prefix)])) { "First page" }
            }
            @if !page.next_page_token.is_empty() {
                a href=(users_link(&[("q", search), ("prefix", prefix), ("page", &page.next_page_token)])) {
                    "Next page"
                }
            }
        }
    };
    signed_in.page("Users", body)
}

fn user_row(signed_in: &SignedIn, user: &pb::User) -> Markup {
    let key = user.access_key.as_ref();
    html! {
        tr {
            td { a href=(format!("/users/{}", user.id)) { (user.username) } }
            td { (UserActions::of(signed_in, user).menu()) }
            td { (user.display_name) }
            td { (status(user)) }
            td { (user.roles.join(", ")) }
            td { (user.permissions.join(", ")) }
            td { code { (key.map_or("—", |key| key.key_id.as_str())) } }
            td { (time(key.and_then(|key| key.create_time.as_ref()), "—")) }
            td { (time(key.and_then(|key| key.expire_time.as_ref()), if key.is_some() { "never" } else { "—" })) }
            td { (time(key.and_then(|key| key.last_used_time.as_ref()), if key.is_some() { "not yet" } else { "—" })) }
        }
    }
}

/// The user's status in a word or three.
pub(in crate::console) fn status(user: &pb::User) -> String {
    let external = external_provider(user);
    match (user.disabled, external) {
        (true, Some(provider)) => format!("Disabled · external ({provider})"),
        (true, None) => "Disabled".to_owned(),
        (false, Some(provider)) => format!("Active · external ({provider})"),
        (false, None) => "Active".to_owned(),
    }
}

/// The external identity provider the user comes from, if any.
pub(in crate::console) fn external_provider(user: &pb::User) -> Option<&str> {
    let provider = user.identity_provider.as_str();
    (!provider.is_empty() && provider != "local").then_some(provider)
}

/// The users list with the query `fields` that have a value.
fn users_link(fields: &[(&str, &str)]) -> String {
    let query: Vec<String> = fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    if query.is_empty() {
        "/users".to_owned()
    } else {
        format!("/users?{}", query.join("&"))
    }
}

/// A query-string value.
pub(in crate::console) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A labelled one-line input named and identified `id`, holding `value`,
/// with its error beside it when a refused save was about it.
pub(in crate::console) fn text_field(
    marks: Marks<'_>,
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    max_chars: usize,
) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) type=(kind) name=(id) value=(value) maxlength=(max_chars)
            autocomplete="off" aria-invalid=[marks.invalid(id)]
            aria-describedby=[marks.described_by(id)];
        (marks.beside(id))
    }
}

/// The permission controls: a checkbox per service permission and a field
/// for the rest, filled with `held`.
pub(in crate::console) fn permission_fields(held: &[String], marks: Marks<'_>) -> Markup {
    let others: Vec<&str> = held
        .iter()
        .map(String::as_str)
        .filter(|p| !is_service_permission(p))
        .collect();
    html! {
        fieldset {
            legend { "Service permissions" }
            @for permission in service_permissions() {
                label.check {
                    input type="checkbox" name="permission" value=(permission)
                        checked[held.iter().any(|p| p == permission)];
                    " " code { (permission) }
                }
            }
        }
        label for="other_permissions" { "Other permissions" }
        input #other_permissions type="text" name="other_permissions"
            value=(others.join(" ")) autocomplete="off" spellcheck="false"
            aria-invalid=[marks.invalid("other_permissions")]
            aria-describedby=[marks.described_by("other_permissions")];
        (marks.beside("other_permissions"))
        p.hint { "Your services' own permissions, separated by spaces or commas (for example orders.read)." }
    }
}

/// The permissions a form with [`permission_fields`] sent.
pub(in crate::console) fn permissions_from(form: &FormFields) -> Vec<String> {
    let mut permissions: Vec<String> = form.all("permission").map(str::to_owned).collect();
    permissions.extend(
        form.get("other_permissions")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    );
    permissions
}

fn create_form(form: &FormFields, roles: &Choice, refused: Option<&Refused>) -> Markup {
    let held = permissions_from(form);
    let marks = Marks::of(refused);
    html! {
        h1 { "Create user" }
        @if let Some(refused) = refused { (refused.summary()) }
        form.stacked method="post" action="/users/new" {
            input type="hidden" name="csrf" value=(form.get("csrf"));
            label for="username" { "Username" }
            input #username type="text" name="username" value=(form.get("username")) required
                maxlength=(Username::MAX_LEN) autocomplete="off" spellcheck="false"
                aria-invalid=[marks.invalid("username")]
                aria-describedby=[marks.described_by("username")];
            (marks.beside("username"))
            p.hint { "1–64 characters: letters, digits and . _ @ + -" }
            (text_field(marks, "email", "Email", "email", form.get("email"), EMAIL_MAX_LEN))
            (text_field(marks, "display_name", "Display name", "text", form.get("display_name"), DISPLAY_NAME_MAX_CHARS))
            (text_field(marks, "identity_provider", "Identity provider", "text", form.get("identity_provider"), IdentityProvider::MAX_LEN))
            p.hint { "Leave empty for a local user. Users from an external identity provider cannot have an access key." }
            (role_fields(roles, &roles_from(form), marks))
            (permission_fields(&held, marks))
            div.actions {
                button type="submit" { "Create user" }
                a href="/users" { "Cancel" }
            }
        }
    }
}

/// `GET /users/new`.
pub(in crate::console) async fn new_form(
    Extract(console): State,
    parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let form = FormFields::from_pairs([("csrf", signed_in.session.csrf.clone())]);
    let roles = Choice::read(&console, &signed_in, &parts).await;
    signed_in.page("Create user", create_form(&form, &roles, None))
}

/// `POST /users/new`: CreateUser; a refused one shows the form again with
/// everything typed kept.
pub(in crate::console) async fn create(
    Extract(console): State,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Response {
    let request = signed_in.request(
        &parts,
        pb::CreateUserRequest {
            username: form.get("username").trim().to_owned(),
            email: form.get("email").trim().to_owned(),
            display_name: form.get("display_name").trim().to_owned(),
            identity_provider: form.get("identity_provider").trim().to_owned(),
            permissions: permissions_from(&form),
            roles: roles_from(&form),
        },
    );
    match console.user_admin.create_user(request).await {
        Ok(response) => {
            let id = response.into_inner().user.map_or(0, |user| user.id);
            signed_in.redirect(&format!("/users/{id}?notice=created"))
        }
        Err(status) if status.code() == tonic::Code::Unauthenticated => signed_in.failed(status),
        Err(status) => {
            let roles = Choice::read(&console, &signed_in, &parts).await;
            let refused = Refused::call(&status, &permissions_from(&form));
            let body = create_form(&form, &roles, Some(&refused));
            signed_in.page_with(http_status(status.code()), "Create user", body)
        }
    }
}
