//! Signing in with an access key, and out.

use axum::{
    body::Bytes,
    extract::State as Extract,
    response::{IntoResponse as _, Response},
};
use http::{StatusCode, request::Parts};
use maud::{Markup, html};

use super::layout::{error_box, frame};
use crate::console::{
    State,
    calls::{Failure, http_status},
    session::{self, SESSION_COOKIE, Session},
    web::{self, FormFields},
};

/// Why the browser was sent back here, in words.
fn ended_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "idle" => "Your session ended after 15 minutes without use. Sign in again.",
        "expired" => "Sessions last at most 8 hours. Sign in again.",
        "revoked" => {
            "Your access key no longer signs in: it was revoked, replaced or expired, or \
             your user was disabled. Sign in with a current key."
        }
        "signed-out" => "You are signed out.",
        _ => return None,
    })
}

fn sign_in_page(message: Option<&str>, is_error: bool) -> Markup {
    frame(
        "Sign in",
        None,
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(message) = message {
                @if is_error { (error_box(message)) } @else { p.notice role="status" { (message) } }
            }
            form.stacked method="post" action="/sign-in" {
                label for="access_key" { "Access key" }
                input #access_key type="password" name="access_key" required
                    autocomplete="off" spellcheck="false" autofocus;
                p.hint { "Paste your own access key. It is kept only in an encrypted session cookie." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /sign-in`.
pub(in crate::console) async fn form(parts: Parts) -> Response {
    let query = FormFields::query(&parts);
    web::page(
        StatusCode::OK,
        sign_in_page(ended_message(query.get("ended")), false),
        Vec::new(),
    )
}

/// `POST /sign-in`: the pasted key is authenticated as a gRPC caller's
/// would be (and failures throttled the same way).
pub(in crate::console) async fn submit(
    Extract(console): State,
    parts: Parts,
    body: Bytes,
) -> Response {
    // Else another site could sign a visitor in as someone of its choosing.
    if !web::same_origin(&parts, console.secure) {
        return Failure::Forged.into_response();
    }
    let form = FormFields::parse(&body);
    let key = form.get("access_key").trim();
    if key.is_empty() {
        let page = sign_in_page(Some("access_key: paste an access key"), true);
        return web::page(StatusCode::BAD_REQUEST, page, Vec::new());
    }
    match console.who_is(&parts, key).await {
        Ok(principal) => {
            tracing::info!(
                event = "console_sign_in",
                key_id = %principal.key_id,
                user_id = principal.user_id,
                "signed in to the console"
            );
            let now = session::now_secs();
            let Some(session) = Session::begin(key.to_owned(), now) else {
                let page = sign_in_page(Some("The server has no randomness for a session."), true);
                return web::page(StatusCode::SERVICE_UNAVAILABLE, page, Vec::new());
            };
            let landing = if principal.permissions.iter().any(|p| p == "users.read") {
                "/users"
            } else {
                "/whoami"
            };
            web::redirect(landing, vec![console.session_cookie(&session, now)])
        }
        Err(Failure::Call(status, ..)) => {
            let code = if status.code() == tonic::Code::Unauthenticated {
                StatusCode::UNAUTHORIZED
            } else {
                http_status(status.code())
            };
            web::page(code, sign_in_page(Some(status.message()), true), Vec::new())
        }
        Err(other) => other.into_response(),
    }
}

/// `POST /sign-out`: the cookie is cleared.
pub(in crate::console) async fn sign_out(Extract(console): State, parts: Parts) -> Response {
    if !web::same_origin(&parts, console.secure) {
        return Failure::Forged.into_response();
    }
    web::redirect(
        "/sign-in?ended=signed-out",
        vec![web::clear_cookie(SESSION_COOKIE, "/", console.secure)],
    )
}
