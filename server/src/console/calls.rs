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
    session::{self, SESSION_COOKIE, Session, SessionEnded},
    web::{self, FormFields},
};

/// The credential header the gRPC services read.
const KEY_HEADER: &str = "x-access-key";

/// A gRPC request carrying `key` as its credential and the HTTP request's
/// extensions (its request id and peer address, for the audit trail and
/// the logs).
pub(super) fn request<T>(parts: &Parts, key: &str, message: T) -> tonic::Request<T> {
    let mut request = http::Request::new(message);
    *request.extensions_mut() = parts.extensions.clone();
    // A key with bytes no header may hold is sent without one, and fails
    // as a missing credential would.
    if let Ok(value) = HeaderValue::from_str(key) {
        request.headers_mut().insert(KEY_HEADER, value);
    }
    tonic::Request::from_http(request)
}

/// The administrator behind this request's session, authenticated again.
#[derive(Debug)]
pub(super) struct SignedIn {
    pub(super) session: Session,
    pub(super) principal: pb::Principal,
    /// The session seen now: set on every response, which is what makes
    /// the idle timeout slide.
    pub(super) cookie: HeaderValue,
    /// Served over TLS (for the flags of the cookies it clears).
    secure: bool,
}

impl SignedIn {
    pub(super) fn holds(&self, permission: &str) -> bool {
        self.principal
            .permissions
            .iter()
            .any(|held| held == permission)
    }

    /// A gRPC request made by this administrator.
    pub(super) fn request<T>(&self, parts: &Parts, message: T) -> tonic::Request<T> {
        request(parts, &self.session.key, message)
    }

    pub(super) fn cookies(&self) -> Vec<HeaderValue> {
        vec![self.cookie.clone()]
    }

    /// A page for this administrator, titled `title`, its session refreshed.
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
        web::page(status, framed, self.cookies())
    }

    pub(super) fn redirect(&self, location: &str) -> Response {
        web::redirect(location, self.cookies())
    }

    /// A failed call's page; an unauthenticated one ends the session.
    pub(super) fn failed(&self, status: Status) -> Response {
        Failure::Call(
            status,
            Some(self.principal.clone()),
            self.cookies(),
            self.secure,
        )
        .into_response()
    }
}

/// Why a page could not be served.
#[derive(Debug)]
pub(super) enum Failure {
    /// No session, a timed-out one, or a key that no longer authenticates:
    /// back to sign-in, the cookie cleared.
    /// (Whether the console is served over TLS, for the cookie's flags.)
    SignedOut(&'static str, bool),
    /// A change posted from another origin, or without this session's token.
    Forged,
    /// A call the services refused, shown with their message (to the
    /// principal, if known, with these cookies; the last field: over TLS).
    Call(Status, Option<pb::Principal>, Vec<HeaderValue>, bool),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut(why, secure) => web::redirect(
                &format!("/sign-in?ended={why}"),
                vec![web::clear_cookie(SESSION_COOKIE, "/", secure)],
            ),
            Self::Forged => web::page(
                StatusCode::FORBIDDEN,
                pages::layout::refused_forgery(),
                Vec::new(),
            ),
            Self::Call(status, _, _, secure) if status.code() == Code::Unauthenticated => {
                Self::SignedOut("revoked", secure).into_response()
            }
            Self::Call(status, principal, cookies, _) => web::page(
                http_status(status.code()),
                pages::layout::failed_call(principal.as_ref(), &status),
                cookies,
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
    /// The signed-in administrator, re-authenticated through `WhoAmI`.
    pub(super) async fn signed_in(&self, parts: &Parts) -> Result<SignedIn, Failure> {
        let now = session::now_secs();
        let session = Session::open(&self.sealer, web::cookie(parts, SESSION_COOKIE), now)
            .map_err(|ended| {
                let why = match ended {
                    SessionEnded::Absent => "absent",
                    SessionEnded::Idle => "idle",
                    SessionEnded::Expired => "expired",
                };
                Failure::SignedOut(why, self.secure)
            })?;
        let principal = match self.who_is(parts, &session.key).await {
            Err(Failure::Call(status, ..)) if status.code() == Code::Unauthenticated => {
                return Err(Failure::SignedOut("revoked", self.secure));
            }
            outcome => outcome?,
        };
        let cookie = self.session_cookie(&session, now);
        Ok(SignedIn {
            session,
            principal,
            cookie,
            secure: self.secure,
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
        if !web::same_origin(parts, self.secure) {
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

    /// Who `key` belongs to, by the same path as a gRPC `WhoAmI`.
    pub(super) async fn who_is(&self, parts: &Parts, key: &str) -> Result<pb::Principal, Failure> {
        let response = self
            .key_auth
            .who_am_i(request(parts, key, pb::WhoAmIRequest {}))
            .await
            .map_err(|status| Failure::Call(status, None, Vec::new(), self.secure))?;
        response.into_inner().principal.ok_or_else(|| {
            Failure::Call(
                Status::internal("no principal"),
                None,
                Vec::new(),
                self.secure,
            )
        })
    }

    /// The cookie holding `session`, seen at `now`.
    pub(super) fn session_cookie(&self, session: &Session, now: u64) -> HeaderValue {
        match session.seal(&self.sealer, now) {
            Some(sealed) => web::set_cookie(SESSION_COOKIE, &sealed, "/", self.secure, None),
            None => web::clear_cookie(SESSION_COOKIE, "/", self.secure),
        }
    }
}
