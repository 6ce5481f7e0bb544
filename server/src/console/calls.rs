//! How a page reaches the gRPC services: as the signed-in administrator,
//! through the very handlers a gRPC caller reaches; and what a page does
//! when a call fails.

use accesskey_proto::pb::{self, key_auth_server::KeyAuth as _};
use std::sync::Arc;

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, request::Parts};
use tonic::{Code, Status};

use super::{
    Console, pages,
    session::{self, Presented, SessionCookie},
    web::{self, FormFields},
};
use crate::domain::{
    DomainError,
    key_format::KeyId,
    model::{ConsoleSession, Origin, Principal, ServicePermission, SessionEnded, SessionId},
};
use crate::service::ConsoleCredential;

/// The credential header the gRPC services read.
const KEY_HEADER: &str = "x-access-key";

/// Who a page's call is made as.
pub(super) enum Caller<'a> {
    /// A pasted key, at sign-in: sent as a gRPC caller would send it.
    Key(&'a str),
    /// A signed-in session: the in-process credential, never a key.
    Session(ConsoleCredential),
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(_) => f.write_str("Key(<redacted>)"),
            Self::Session(credential) => f.debug_tuple("Session").field(credential).finish(),
        }
    }
}

/// A gRPC request made as `caller`, carrying the HTTP request's
/// extensions (its request id and peer address, for the audit trail and
/// the logs) and nothing else of it: none of its headers.
pub(super) fn request<T>(parts: &Parts, caller: Caller<'_>, message: T) -> tonic::Request<T> {
    let mut request = http::Request::new(message);
    *request.extensions_mut() = parts.extensions.clone();
    // Only this function decides the credential a page's call carries.
    request.extensions_mut().remove::<ConsoleCredential>();
    match caller {
        // A key with bytes no header may hold is sent without one, and
        // fails as a missing credential would.
        Caller::Key(key) => {
            if let Ok(mut value) = HeaderValue::from_str(key) {
                value.set_sensitive(true);
                request.headers_mut().insert(KEY_HEADER, value);
            }
        }
        Caller::Session(credential) => {
            request.extensions_mut().insert(credential);
        }
    }
    tonic::Request::from_http(request)
}

/// The administrator behind this request's session, authenticated again.
#[derive(Debug)]
pub(super) struct SignedIn {
    /// The session's id, from its cookie.
    pub(super) id: SessionId,
    pub(super) session: ConsoleSession,
    /// Who is signed in, as the rules see it (for the changes the console
    /// makes itself: ending sessions) and as pages show it.
    pub(super) caller: Principal,
    pub(super) principal: pb::Principal,
    /// What clears this browser's session cookies, should a call find the
    /// session no longer authenticating.
    clear: Vec<HeaderValue>,
}

impl SignedIn {
    /// Whether the signed-in administrator holds `permission`, asked of
    /// the same permission set the services check.
    pub(super) fn holds(&self, permission: ServicePermission) -> bool {
        self.caller.permissions.holds(permission)
    }

    /// A gRPC request made by this administrator.
    pub(super) fn request<T>(&self, parts: &Parts, message: T) -> tonic::Request<T> {
        let credential = ConsoleCredential {
            user_id: self.session.user_id,
            key_id: self.session.key_id.clone(),
        };
        request(parts, Caller::Session(credential), message)
    }

    /// A page for this administrator, titled `title`.
    pub(super) fn page(&self, title: &str, body: maud::Markup) -> Response {
        self.page_with(StatusCode::OK, title, body)
    }

    /// [`page`](Self::page) with another HTTP status (a form shown again
    /// with what was wrong).
    pub(super) fn page_with(
        &self,
        status: StatusCode,
        title: &str,
        body: maud::Markup,
    ) -> Response {
        let framed =
            pages::layout::frame(title, Some(&self.principal), Some(&self.session.csrf), body);
        web::page(status, framed, Vec::new())
    }

    pub(super) fn redirect(&self, location: &str) -> Response {
        web::redirect(location, Vec::new())
    }

    /// A failed call's page; an unauthenticated one ends the session.
    pub(super) fn failed(&self, status: Status) -> Response {
        Failure::Call(status, Some(self.principal.clone()), self.clear.clone()).into_response()
    }
}

/// Why a page could not be served.
#[derive(Debug)]
pub(super) enum Failure {
    /// No session, a timed-out one, several, or one whose key no longer
    /// authenticates: back to sign-in, with these cookies cleared.
    SignedOut(&'static str, Vec<HeaderValue>),
    /// A change posted from another origin, or without this session's token.
    Forged,
    /// A call the services refused, shown with their message (to the
    /// principal, if known). Unauthenticated: signed out, these cookies
    /// cleared.
    Call(Status, Option<pb::Principal>, Vec<HeaderValue>),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut(why, clear) => web::redirect(&format!("/sign-in?ended={why}"), clear),
            Self::Forged => web::page(
                StatusCode::FORBIDDEN,
                pages::layout::refused_forgery(),
                Vec::new(),
            ),
            Self::Call(status, _, clear) if status.code() == Code::Unauthenticated => {
                Self::SignedOut("revoked", clear).into_response()
            }
            Self::Call(status, principal, _) => web::page(
                http_status(status.code()),
                pages::layout::failed_call(principal.as_ref(), &status),
                Vec::new(),
            ),
        }
    }
}

/// The HTTP status a page shows for a refused call.
pub(super) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A handler's signed-in administrator (extracted: a request without one
/// never reaches the handler).
impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Failure> {
        console.signed_in(parts).await
    }
}

/// A request that changes something: its form, and the administrator who
/// sent it from this console (origin and CSRF token checked).
#[derive(Debug)]
pub(super) struct Change {
    pub(super) signed_in: SignedIn,
    pub(super) form: FormFields,
}

impl FromRequest<Arc<Console>> for Change {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        let form = FormFields::parse(&body);
        let signed_in = console
            .signed_in_to_change(&parts, &form)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { signed_in, form })
    }
}

/// Largest form body a page sends (far above any real one).
pub(super) const MAX_FORM_BYTES: usize = 64 * 1024;

impl Console {
    /// How this request's response sets and clears the session cookie.
    pub(super) fn session_cookie(&self, parts: &Parts) -> SessionCookie {
        SessionCookie::for_request(parts, self.site.secure())
    }

    /// The signed-in administrator: the session its one cookie names,
    /// open, and its user's current key still the one it was opened with
    /// (checked as every call the page makes checks it).
    pub(super) async fn signed_in(&self, parts: &Parts) -> Result<SignedIn, Failure> {
        let clear = self.session_cookie(parts).clear_all(parts);
        let signed_out = |why| Failure::SignedOut(why, clear.clone());
        let id = match session::presented(parts) {
            Presented::One(id) => id,
            Presented::Nothing | Presented::Unreadable => return Err(signed_out("absent")),
            Presented::Several(ids) => {
                // Which one is the administrator's own is unknowable: end
                // them all, so a planted session is good for nothing.
                for id in &ids {
                    self.directory
                        .forget_console_session(id)
                        .await
                        .map_err(Failure::unavailable)?;
                }
                return Err(signed_out("conflict"));
            }
        };
        let session = match self.directory.console_session(&id).await {
            Ok(Ok(session)) => session,
            Ok(Err(ended)) => {
                return Err(signed_out(match ended {
                    SessionEnded::Absent => "absent",
                    SessionEnded::Idle => "idle",
                    SessionEnded::Expired => "expired",
                }));
            }
            Err(error) => return Err(Failure::unavailable(error)),
        };
        let caller = match self
            .directory
            .authenticate_session(session.user_id, &session.key_id)
            .await
        {
            Ok(caller) => caller,
            Err(DomainError::Unauthenticated(_)) => {
                self.directory
                    .forget_console_session(&id)
                    .await
                    .map_err(Failure::unavailable)?;
                return Err(signed_out("revoked"));
            }
            Err(error) => return Err(Failure::unavailable(error)),
        };
        Ok(SignedIn {
            id,
            session,
            principal: caller.clone().into(),
            caller,
            clear,
        })
    }

    /// [`signed_in`](Self::signed_in) for a request that changes
    /// something: it must come from this console's own origin and carry
    /// the session's CSRF token.
    pub(super) async fn signed_in_to_change(
        &self,
        parts: &Parts,
        form: &FormFields,
    ) -> Result<SignedIn, Failure> {
        if !web::same_origin(parts, self.site.expected_origin(parts).as_deref()) {
            return Err(Failure::Forged);
        }
        let signed_in = self.signed_in(parts).await?;
        let sent = form.get("csrf").as_bytes();
        let expected = signed_in.session.csrf.as_bytes();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(sent, expected)) {
            return Err(Failure::Forged);
        }
        Ok(signed_in)
    }

    /// Whose `key` is, by the same path as a gRPC `WhoAmI` (its failures
    /// logged and throttled as a gRPC caller's are).
    pub(super) async fn who_is(&self, parts: &Parts, key: &str) -> Result<pb::Principal, Failure> {
        let response = self
            .key_auth
            .who_am_i(request(parts, Caller::Key(key), pb::WhoAmIRequest {}))
            .await
            .map_err(|status| Failure::Call(status, None, Vec::new()))?;
        response
            .into_inner()
            .principal
            .ok_or_else(|| Failure::Call(Status::internal("no principal"), None, Vec::new()))
    }
}

/// The origin an audit event gives a change the console makes itself as
/// `caller` (opening or ending its sessions, which no RPC does): the
/// request's id and peer, as an RPC's would have.
pub(super) fn origin(parts: &Parts, caller: &Principal) -> Origin {
    let mut request = http::Request::new(());
    *request.extensions_mut() = parts.extensions.clone();
    crate::service::origin(&tonic::Request::from_http(request), caller)
}

impl Failure {
    /// A page saying the database could not be asked about the session.
    fn unavailable(error: DomainError) -> Self {
        Self::Call(error.into(), None, Vec::new())
    }
}

/// The key id a principal names (from this server's own answer).
pub(super) fn key_id_of(principal: &pb::Principal) -> KeyId {
    KeyId::from_stored(principal.key_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_debug_never_shows_a_pasted_key() {
        assert!(!format!("{:?}", Caller::Key("ak_secret")).contains("ak_secret"));
    }
}
