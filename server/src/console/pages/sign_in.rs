//! Signing in with an access key, and out (of this browser, or of every
//! browser the user is signed in with).

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
    calls::{self, Change, Failure, http_status},
    web::{self, FormFields},
};
use crate::domain::model::{SESSION_ABSOLUTE_TIMEOUT_SECS, SESSION_IDLE_TIMEOUT_SECS};

/// Why the browser was sent back here, in words.
fn ended_message(code: &str) -> Option<String> {
    Some(match code {
        "idle" => format!(
            "Your session ended after {} minutes without use. Sign in again.",
            SESSION_IDLE_TIMEOUT_SECS / 60
        ),
        "expired" => format!(
            "Sessions last at most {} hours. Sign in again.",
            SESSION_ABSOLUTE_TIMEOUT_SECS / 3600
        ),
        "revoked" => "Your access key no longer signs in: it was revoked, replaced or expired, or \
             your user was disabled. Sign in with a current key."
            .to_owned(),
        "conflict" => "Your browser sent two session cookies, so neither was trusted and both \
             were cleared. Another site on this host may have set one. Sign in again."
            .to_owned(),
        "signed-out" => "You are signed out.".to_owned(),
        "signed-out-everywhere" => {
            "You are signed out of every browser you had signed in with.".to_owned()
        }
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
                p.hint { "Paste your own access key. It is checked once and kept nowhere: the session remembers only which key signed in." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The page instead of the sign-in form when a key would cross the
/// network in clear: refused, with what to do instead.
fn plain_http_refused() -> Response {
    let page = frame(
        "HTTPS required",
        None,
        None,
        html! {
            h1 { "HTTPS required" }
            (error_box(
                "This console is served over plain HTTP, and you are not on this server's \
                 machine or its private network: an access key typed here would cross the \
                 network unencrypted, so signing in is refused."
            ))
            p {
                "Reach the console over HTTPS: start accesskeyd with " code { "--tls-cert" }
                " and " code { "--tls-key" } ", or put it behind a proxy that terminates TLS and "
                "give " code { "--console-origin https://…" } ". Or reach it through an SSH "
                "tunnel to localhost. An operator who accepts the risk can start it with "
                code { "--console-allow-plain-http" } "."
            }
        },
    );
    web::page(StatusCode::FORBIDDEN, page, Vec::new())
}

/// `GET /sign-in`.
pub(in crate::console) async fn form(Extract(console): State, parts: Parts) -> Response {
    if console.site.refuses_sign_in(&parts) {
        return plain_http_refused();
    }
    let query = FormFields::query(&parts);
    web::page(
        StatusCode::OK,
        sign_in_page(ended_message(query.get("ended")).as_deref(), false),
        Vec::new(),
    )
}

/// `POST /sign-in`: the pasted key is authenticated as a gRPC caller's
/// would be (and failures throttled the same way); a session is opened
/// for its user and key, and the key itself is forgotten.
pub(in crate::console) async fn submit(
    Extract(console): State,
    parts: Parts,
    body: Bytes,
) -> Response {
    // Else another site could sign a visitor in as someone of its choosing.
    if console.site.refuses_sign_in(&parts) {
        return plain_http_refused();
    }
    if !web::same_origin(&parts, console.site.expected_origin(&parts).as_deref()) {
        return Failure::Forged.into_response();
    }
    let form = FormFields::parse(&body);
    let key = form.get("access_key").trim();
    if key.is_empty() {
        let page = sign_in_page(Some("access_key: paste an access key"), true);
        return web::page(StatusCode::BAD_REQUEST, page, Vec::new());
    }
    let principal = match console.who_is(&parts, key).await {
        Ok(principal) => principal,
        Err(Failure::Call(status, ..)) => {
            let code = if status.code() == tonic::Code::Unauthenticated {
                StatusCode::UNAUTHORIZED
            } else {
                http_status(status.code())
            };
            return web::page(code, sign_in_page(Some(status.message()), true), Vec::new());
        }
        Err(other) => return other.into_response(),
    };
    let opened = async {
        let caller = console
            .directory
            .authenticate_session(principal.user_id, &calls::key_id_of(&principal))
            .await?;
        let origin = calls::origin(&parts, &caller);
        console
            .directory
            .open_console_session(&caller, &origin)
            .await
    }
    .await;
    let id = match opened {
        Ok((id, _)) => id,
        Err(error) => {
            let status = tonic::Status::from(error);
            let page = sign_in_page(Some(status.message()), true);
            return web::page(http_status(status.code()), page, Vec::new());
        }
    };
    tracing::info!(
        event = "console_sign_in",
        key_id = %principal.key_id,
        user_id = principal.user_id,
        "signed in to the console"
    );
    let landing = if principal.permissions.iter().any(|p| p == "users.read") {
        "/users"
    } else {
        "/whoami"
    };
    // Any other session cookie this browser held (a planted one
    // included) goes; then the new one.
    let cookie = console.session_cookie(&parts);
    let mut cookies = cookie.clear_all(&parts);
    cookies.push(cookie.set(&id));
    web::redirect(landing, cookies)
}

/// `POST /sign-out`: this session ends (for every copy of its cookie);
/// with `everywhere`, every session of the signed-in user does.
pub(in crate::console) async fn sign_out(
    Extract(console): State,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Response {
    let everywhere = form.has("everywhere");
    let session = (!everywhere).then_some(&signed_in.id);
    let origin = calls::origin(&parts, &signed_in.caller);
    let ended = console
        .directory
        .sign_out(&signed_in.caller, session, &origin)
        .await;
    if let Err(error) = ended {
        return signed_in.failed(error.into());
    }
    let why = if everywhere {
        "signed-out-everywhere"
    } else {
        "signed-out"
    };
    let clear = console.session_cookie(&parts).clear_all(&parts);
    web::redirect(&format!("/sign-in?ended={why}"), clear)
}
