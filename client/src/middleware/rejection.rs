//! The layer's own answers: which credential a request carries, and the
//! gRPC status or JSON error it gets when it is not let through.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

use accesskey_proto::credential::{CredentialError, presented_credential};

use super::ProtectedBody;
use crate::ACCESS_KEY_HEADER;

/// Why the layer answered instead of the service.
#[derive(Debug)]
pub(super) enum Rejection {
    Unauthenticated,
    Ambiguous,
    Denied(Vec<String>),
    Unavailable,
    AmbiguousPath,
}

impl Rejection {
    pub(super) fn into_response<B>(self, grpc: bool) -> Response<ProtectedBody<B>> {
        let (http_status, grpc_status, error, message) = match &self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                tonic::Code::Unauthenticated,
                "unauthenticated",
                "a valid access key is required: send `x-access-key: <key>` or `authorization: Bearer <key>`"
                    .to_owned(),
            ),
            Self::Ambiguous => (
                StatusCode::UNAUTHORIZED,
                tonic::Code::Unauthenticated,
                "unauthenticated",
                "send exactly one access key".to_owned(),
            ),
            Self::Denied(missing) => (
                StatusCode::FORBIDDEN,
                tonic::Code::PermissionDenied,
                "permission_denied",
                format!("the access key lacks: {}", missing.join(", ")),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                tonic::Code::Unavailable,
                "unavailable",
                "the access-key service is unavailable; retry later".to_owned(),
            ),
            Self::AmbiguousPath => (
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                "bad_request",
                "the request path has an empty, `.` or `..` segment, or an encoded slash; \
                 send its plain form"
                    .to_owned(),
            ),
        };
        if grpc {
            return tonic::Status::new(grpc_status, message)
                .into_http::<Full<Bytes>>()
                .map(Either::Right);
        }
        let body = format!(
            "{{\"error\":\"{error}\",\"message\":\"{}\"}}",
            json_escape(&message)
        );
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
        *response.status_mut() = http_status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if http_status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub(super) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// The one key in the headers, judged by the same contract code that
/// accesskey uses for its own callers.
pub(super) fn presented_key(headers: &HeaderMap) -> Result<String, Rejection> {
    match presented_credential(headers) {
        Ok(key) => Ok(key.to_owned()),
        Err(CredentialError::Ambiguous) => Err(Rejection::Ambiguous),
        Err(CredentialError::Missing | CredentialError::NotBearer | CredentialError::NotText) => {
            Err(Rejection::Unauthenticated)
        }
    }
}

/// Handlers never see the caller's key, so they cannot log it by mistake.
pub(super) fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(ACCESS_KEY_HEADER);
    headers.remove(header::AUTHORIZATION);
}

pub(super) fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(entries: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in entries {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn exactly_one_credential_is_accepted() {
        assert_eq!(
            presented_key(&headers(&[("x-access-key", "k")])).ok(),
            Some("k".to_owned())
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer k")])).ok(),
            Some("k".to_owned())
        );
        assert!(matches!(
            presented_key(&headers(&[])),
            Err(Rejection::Unauthenticated)
        ));
        assert!(matches!(
            presented_key(&headers(&[
                ("x-access-key", "a"),
                ("authorization", "Bearer a")
            ])),
            Err(Rejection::Ambiguous)
        ));
    }

    #[test]
    fn http_rejections_are_json_with_the_right_status() {
        let response: Response<ProtectedBody<()>> =
            Rejection::Denied(vec!["orders.write".to_owned()]).into_response(false);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let grpc: Response<ProtectedBody<()>> = Rejection::Unavailable.into_response(true);
        assert_eq!(
            grpc.status(),
            StatusCode::OK,
            "gRPC errors travel in grpc-status"
        );
        assert_eq!(grpc.headers()["grpc-status"], "14");
    }

    #[test]
    fn json_messages_are_escaped() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }
}
