//! The frame every page shares, and the pages that explain a failure.

use accesskey_proto::pb;
use maud::{DOCTYPE, Markup, html};
use tonic::Status;

use crate::domain::model::{Permission, ServicePermission, Timestamp};

/// The service permissions, in the domain's order (the pages list them so).
pub(in crate::console) fn service_permissions() -> impl Iterator<Item = &'static str> {
    ServicePermission::ALL
        .into_iter()
        .map(ServicePermission::as_str)
}

/// Whether `name` is one of the service permissions.
pub(in crate::console) fn is_service_permission(name: &str) -> bool {
    Permission::from_stored(name).is_service_permission()
}

/// A whole page: `title`, the navigation for `principal` (none before
/// sign-in) and `body`. `csrf`, the session's token, adds the sign-out form.
pub(in crate::console) fn frame(
    title: &str,
    principal: Option<&pb::Principal>,
    csrf: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · accesskey" }
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "accesskey" }
                    @if let Some(principal) = principal {
                        nav aria-label="Administration" {
                            @if principal.permissions.iter().any(|p| p == "users.read") {
                                a href="/users" { "Users" }
                                a href="/roles" { "Roles" }
                            }
                            @if principal.permissions.iter().any(|p| p == "audit.read") {
                                a href="/audit" { "Audit trail" }
                            }
                            a href="/whoami" { "Signed in as " strong { (principal.username) } }
                        }
                    }
                    @if let Some(csrf) = csrf {
                        form.inline method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Where a page about `user` sits: *Users › user › here*, or *Users ›
/// user* on the user's own page (`here` empty).
pub(in crate::console) fn crumbs(user: &pb::User, here: &str) -> Markup {
    let page = format!("/users/{}", user.id);
    trail(("/users", "Users"), (&page, &user.username), here)
}

/// *List › item › here* (each but the last a link), or *List › item* on
/// the item's own page (`here` empty); `list` and `item` are (link, name).
pub(in crate::console) fn trail(list: (&str, &str), item: (&str, &str), here: &str) -> Markup {
    html! {
        p.crumbs {
            a href=(list.0) { (list.1) } " › "
            @if here.is_empty() {
                (item.1)
            } @else {
                a href=(item.0) { (item.1) } " › " (here)
            }
        }
    }
}

/// A table that scrolls sideways inside the page when it is wider than
/// the window: `columns` as headers, `rows` as its body.
pub(in crate::console) fn table(columns: &[&str], rows: Markup) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr { @for column in columns { th scope="col" { (column) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// A fixed notice named by a `?notice=` code: only these texts, so a link
/// cannot put words of its own on a page.
pub(in crate::console) fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "The user was created.",
        "updated" => "The changes were saved.",
        "deleted" => "The user was deleted.",
        "revoked" => "The access key was revoked; it no longer works.",
        "role-created" => "The role was created.",
        "role-deleted" => "The role was deleted; no user holds it any more.",
        _ => return None,
    })
}

pub(in crate::console) fn notice_box(code: &str) -> Markup {
    html! {
        @if let Some(text) = notice(code) {
            p.notice role="status" { (text) }
        }
    }
}

pub(in crate::console) fn error_box(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

/// A time for people: `2026-12-01 15:04:05 UTC`, or `fallback` when unset.
pub(in crate::console) fn time(value: Option<&prost_types::Timestamp>, fallback: &str) -> String {
    value
        .and_then(|ts| Timestamp::from_parts(ts.seconds, ts.nanos))
        .map(|ts| {
            let text = ts.rfc3339();
            // `2026-12-01T15:04:05.123456Z` → `2026-12-01 15:04:05 UTC`
            let seconds = text.get(..19).unwrap_or(&text).replace('T', " ");
            format!("{seconds} UTC")
        })
        .unwrap_or_else(|| fallback.to_owned())
}

/// A page explaining a refused or failed call, in the services' words.
pub(in crate::console) fn failed_call(
    principal: Option<&pb::Principal>,
    status: &Status,
) -> Markup {
    let title = match status.code() {
        tonic::Code::PermissionDenied => "Not allowed",
        tonic::Code::NotFound => "Not found",
        tonic::Code::ResourceExhausted => "Too many attempts",
        tonic::Code::Unavailable => "Unavailable",
        _ => "The request failed",
    };
    let body = html! {
        h1 { (title) }
        (error_box(status.message()))
        p { a href="/users" { "Back to users" } }
    };
    // No sign-out form: the failure page has no CSRF token to hand.
    frame(title, principal, None, body)
}

/// A change that came from another site, or without the session's token.
pub(in crate::console) fn refused_forgery() -> Markup {
    frame(
        "Refused",
        None,
        None,
        html! {
            h1 { "Refused" }
            (error_box("This request did not come from a page of this console (wrong origin or \
                        missing form token), so nothing was changed. Reload the page and try again."))
            p { a href="/" { "Back to the console" } }
        },
    )
}

pub(in crate::console) fn not_found() -> Markup {
    frame(
        "Not found",
        None,
        None,
        html! {
            h1 { "Not found" }
            p { "There is no page here." }
            p { a href="/" { "Back to the console" } }
        },
    )
}

/// The page for a request whose headers are over the limit.
pub(in crate::console) fn headers_too_large(size: usize, most: usize) -> Markup {
    frame(
        "Request headers too large",
        None,
        None,
        html! {
            h1 { "Request headers too large" }
            p {
                "Your browser sent " (size) " bytes of headers; the console accepts at most "
                (most) ". This is almost always cookies: another site on this host (another "
                "port, or a sibling subdomain) may have set them."
            }
            p { "Clear this site's cookies in your browser, then sign in again." }
        },
    )
}

/// The page for a request to a host name the console does not answer to.
pub(in crate::console) fn misdirected(answers_at: Option<&str>) -> Markup {
    frame(
        "Wrong address",
        None,
        None,
        html! {
            h1 { "Wrong address" }
            @if let Some(origin) = answers_at {
                p { "This console answers only at " a href=(origin) { (origin) } "." }
            } @else {
                p {
                    "Over plain HTTP this console answers only at an IP address or "
                    code { "localhost" } ", never at a host name someone else's DNS could "
                    "point here. Use the server's address, or serve the console over TLS."
                }
            }
        },
    )
}
