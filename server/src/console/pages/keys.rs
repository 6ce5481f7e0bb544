//! Actions » Generate access key, and the dialog that shows the new key
//! once, naming its user, its id and its expiry.
//!
//! The generated key reaches its page without ever being in a URL, a log,
//! a cookie or a stored page: the POST seals it under a key derived from
//! the session id (which only the browser's cookie holds), leaves it with
//! the session in the database and redirects; the page takes it from
//! there, once (enforced by the database, concurrent requests included),
//! within two minutes, and only for the session that generated it. A
//! reload, going back, another visit or another session finds nothing.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin as _};
use axum::{
    extract::{Path, State as Extract},
    response::Response,
};
use http::{StatusCode, request::Parts};
use maud::{Markup, html};

use super::{
    Page,
    fields::{Marks, Refused},
    layout::{crumbs, time},
    new_key_note::{NewKeyNote, expiry_words},
    user::read_user,
};
use crate::console::{
    State,
    calls::http_status,
    calls::{Change, SignedIn},
    seal::Sealer,
};
use crate::domain::{DomainError, key_format::KeyId};

/// What the session id's derived key is for (see [`Sealer`]). v2: what is
/// sealed is a [`NewKeyNote`], no longer the key alone.
const NEW_KEY_SEALING: &str = "console-new-key-v2";

fn new_key_path(id: i64) -> String {
    format!("/users/{id}/new-key")
}

/// Sealed for user `id`'s key page only.
fn new_key_purpose(id: i64) -> String {
    format!("{NEW_KEY_SEALING}:{id}")
}

/// The sealer of the keys `signed_in` generates: its key exists only
/// while the session's cookie does.
fn new_key_sealer(signed_in: &SignedIn) -> Option<Sealer> {
    Sealer::new(&signed_in.id.derive_key(NEW_KEY_SEALING)).ok()
}

fn generate_page(user: &pb::User, signed_in: &SignedIn, refused: Option<&Refused>) -> Markup {
    let own = user.id == signed_in.principal.user_id;
    let csrf = &signed_in.session.csrf;
    let marks = Marks::of(refused);
    html! {
        (crumbs(user, "Generate access key"))
        h1 { "Generate access key for " (user.username) }
        @if let Some(refused) = refused { (refused.summary()) }
        @if let Some(key) = &user.access_key {
            p.warning {
                "This replaces the current key " code { (key.key_id) } " (created "
                (time(key.create_time.as_ref(), "—")) "), which stops working at once."
            }
        } @else {
            p { "The user has no key now." }
        }
        @if own {
            p.warning { "This is your own key. This session goes on with the new key; anything else that uses the current one stops working." }
        }
        p { "The key is shown once. Make sure to copy it: once you close the window it is not available again, and you will have to generate a new key." }
        form.stacked method="post" action=(format!("/users/{}/generate", user.id)) {
            input type="hidden" name="csrf" value=(csrf);
            label for="expires_on" { "Expires on (optional)" }
            input #expires_on type="date" name="expires_on"
                aria-invalid=[marks.invalid("expires_on")]
                aria-describedby=[marks.described_by("expires_on")];
            (marks.beside("expires_on"))
            p.hint { "The key stops working at the end of this day (UTC). Leave empty for a key that does not expire." }
            div.actions {
                button type="submit" { "Generate access key" }
                a href=(format!("/users/{}", user.id)) { "Cancel" }
            }
        }
    }
}

/// `GET /users/{id}/generate`.
pub(in crate::console) async fn generate_form(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    signed_in: SignedIn,
) -> Page {
    let user = read_user(&console, &signed_in, &parts, id).await?;
    Ok(signed_in.page(
        "Generate access key",
        generate_page(&user, &signed_in, None),
    ))
}

/// The end of day `date` (`YYYY-MM-DD`), UTC.
pub(super) fn end_of_day(date: &str) -> Option<prost_types::Timestamp> {
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month)
        || !(1..=days_in_month).contains(&day)
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(prost_types::Timestamp {
        seconds: (days + 1) * 86_400,
        nanos: 0,
    })
}

/// `POST /users/{id}/generate`: GenerateAccessKey, then on to the page
/// that shows the key once.
pub(in crate::console) async fn generate(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    Change { signed_in, form }: Change,
) -> Response {
    let expires_on = form.get("expires_on").trim();
    let expire_time = if expires_on.is_empty() {
        None
    } else if let Some(end) = end_of_day(expires_on) {
        Some(end)
    } else {
        let why = Refused::field("expires_on", "is not a date (YYYY-MM-DD)");
        return refused(
            &console,
            &signed_in,
            &parts,
            id,
            StatusCode::BAD_REQUEST,
            &why,
        )
        .await;
    };
    let request = signed_in.request(
        &parts,
        pb::GenerateAccessKeyRequest {
            user_id: id,
            expire_time,
        },
    );
    let generated = match console.user_admin.generate_access_key(request).await {
        Ok(response) => response.into_inner(),
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::Unauthenticated | tonic::Code::NotFound
            ) =>
        {
            return signed_in.failed(status);
        }
        Err(status) => {
            let why = Refused::call(&status, &[]);
            return refused(
                &console,
                &signed_in,
                &parts,
                id,
                http_status(status.code()),
                &why,
            )
            .await;
        }
    };
    let stashed = async {
        // The administrator replaced its own key, the one this session was
        // opened with and which just stopped working: the session goes on
        // with the new one, or the page that shows it (once) would find
        // the session ended.
        if id == signed_in.principal.user_id
            && let Some(info) = &generated.access_key_info
        {
            let key_id = KeyId::from_stored(info.key_id.clone());
            console
                .directory
                .rebind_console_session(&signed_in.id, &key_id)
                .await?;
        }
        let note = NewKeyNote::of(&generated);
        let sealed = new_key_sealer(&signed_in)
            .and_then(|sealer| sealer.seal(&new_key_purpose(id), note.to_bytes().as_bytes()))
            .ok_or_else(|| DomainError::internal("no OS randomness to seal a new key"))?;
        console
            .directory
            .stash_new_key(&signed_in.id, id, &sealed)
            .await
    }
    .await;
    match stashed {
        Ok(()) => signed_in.redirect(&new_key_path(id)),
        Err(error) => signed_in.failed(error.into()),
    }
}

/// The generate page again, with why the key was not generated.
async fn refused(
    console: &crate::console::Console,
    signed_in: &SignedIn,
    parts: &Parts,
    id: i64,
    code: StatusCode,
    why: &Refused,
) -> Response {
    let user = match read_user(console, signed_in, parts, id).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let body = generate_page(&user, signed_in, Some(why));
    signed_in.page_with(code, "Generate access key", body)
}

/// `GET /users/{id}/new-key`: the key, this once, in a dialog that says
/// whose it is, its id and until when it works.
pub(in crate::console) async fn show_new_key(
    Extract(console): State,
    Path(id): Path<i64>,
    parts: Parts,
    signed_in: SignedIn,
) -> Response {
    let taken = match console.directory.take_new_key(&signed_in.id, id).await {
        Ok(taken) => taken,
        Err(error) => return signed_in.failed(error.into()),
    };
    let note = taken.and_then(|sealed| {
        let plain = new_key_sealer(&signed_in)?.open(&new_key_purpose(id), &sealed)?;
        NewKeyNote::from_bytes(&String::from_utf8(plain).ok()?)
    });
    // Read after the key was taken, so that a failed read cannot cost the
    // administrator the key: the dialog then names the user by id.
    let username = match &note {
        Some(_) => read_user(&console, &signed_in, &parts, id)
            .await
            .map_or_else(|_| format!("user {id}"), |user| user.username),
        None => String::new(),
    };
    let body = html! {
        @if let Some(note) = &note {
            dialog.key-dialog open aria-labelledby="new-key-title" {
                h1 #new-key-title { "Access key for " (username) }
                dl.details {
                    dt { "User" } dd { a href=(format!("/users/{id}")) { (username) } }
                    dt { "Key id" } dd { code { (note.key_id) } }
                    dt { "Expires" } dd { (expiry_words(note.expire_seconds)) }
                }
                p.warning { "Make sure to copy the key. You will not see this key again: once you close this window it is not available, and you will have to generate a new key." }
                label for="new-key" { "Access key" }
                // A text area, not a one-line field: the whole key in view
                // at any width (it wraps, and grows to its text), so no one
                // copies part of it by hand.
                textarea #new-key readonly rows="4" spellcheck="false" autocomplete="off" { (note.key) }
                button type="button" data-copy="new-key" hidden { "Copy" }
                span.copied role="status" {}
                form.stacked method="get" action=(format!("/users/{id}")) {
                    label.check {
                        input #copied type="checkbox" name="copied" required;
                        " I have copied the key and stored it safely"
                    }
                    div.actions { button type="submit" { "Close" } }
                }
            }
        } @else {
            h1 { "This key is no longer shown" }
            p { "A new key is shown once, right after it is generated. If it was not stored, generate a new one: that replaces the key you did not keep." }
            p { a href=(format!("/users/{id}")) { "Back to the user" } }
        }
    };
    signed_in.page("Access key generated", body)
}

#[cfg(test)]
mod tests {
    use super::end_of_day;

    #[test]
    fn a_date_ends_at_the_next_utc_midnight() {
        assert_eq!(end_of_day("1970-01-01").map(|t| t.seconds), Some(86_400));
        // 2026-12-01 00:00 UTC is 1796083200.
        assert_eq!(
            end_of_day("2026-11-30").map(|t| t.seconds),
            Some(1_796_083_200)
        );
        assert_eq!(end_of_day("2026-13-01"), None);
        // Days a month does not have are refused, not rolled over.
        assert_eq!(end_of_day("2027-02-31"), None);
        assert_eq!(end_of_day("2027-02-29"), None);
        assert_eq!(end_of_day("2027-04-31"), None);
        assert!(end_of_day("2028-02-29").is_some(), "a leap day");
        assert_eq!(end_of_day("2100-02-29"), None, "no leap day in 2100");
        assert_eq!(end_of_day("tomorrow"), None);
    }
}
