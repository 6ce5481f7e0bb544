//! One tower layer around every call: its request id (the caller's
//! `x-request-id`, or a new one), returned in the response metadata and
//! carried by a span that every log line inside the call inherits; and one
//! access-log line per call (target `accesskey::access`, at info) with the
//! method, the gRPC status code (and a console page's HTTP status), the
//! latency, the caller's key id (public, never the key) and the peer.

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use accesskey_proto::credential::presented_credential;
use http::{HeaderValue, Request, Response};
use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};
use tracing::{Instrument as _, info};

use crate::{
    domain::key_format::AccessKey,
    metrics::{Method, Metrics},
};

/// The metadata key of a call's request id, in both directions.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";
/// The log target of the access log, to filter it on its own
/// (`RUST_LOG=info,accesskey::access=off`).
pub(crate) const ACCESS_LOG_TARGET: &str = "accesskey::access";
/// Longest request id taken from a caller; a longer or non-printable one
/// is replaced, so logs never carry a caller's arbitrary bytes at length.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A call's request id, in its request's extensions for the handlers (the
/// audit trail records it).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Adds request ids, request spans, (if `access_log`) the access log and
/// (with `metrics`) the call metrics.
#[derive(Debug, Clone)]
pub(crate) struct RequestLogLayer {
    access_log: bool,
    metrics: Option<Metrics>,
    ids: Arc<RequestIds>,
}

impl RequestLogLayer {
    pub(crate) fn new(access_log: bool, metrics: Option<Metrics>) -> Self {
        Self {
            access_log,
            metrics,
            ids: Arc::new(RequestIds::new()),
        }
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog {
            inner,
            access_log: self.access_log,
            metrics: self.metrics.clone(),
            ids: Arc::clone(&self.ids),
        }
    }
}

/// New request ids: a random prefix per process and a counter, so ids are
/// unique across replicas without a random draw per call.
#[derive(Debug)]
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let mut prefix = [0u8; 4];
        // Without OS randomness, ids are still unique within the process.
        let _ = getrandom::fill(&mut prefix);
        Self {
            prefix: u32::from_le_bytes(prefix),
            next: AtomicU64::new(1),
        }
    }

    fn fresh(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{n:x}", self.prefix)
    }
}

/// The caller's request id if it is one we keep as it is: 1 to 128
/// visible ASCII characters.
fn callers_id(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let printable = text.bytes().all(|byte| byte.is_ascii_graphic());
    (printable && !text.is_empty() && text.len() <= MAX_REQUEST_ID_LEN).then_some(text)
}

/// Longest part of an unknown request path a log line shows.
const MAX_LOGGED_PATH_BYTES: usize = 128;

/// A request's path as log lines show it: a served method's as it is;
/// any other (a console page, a probe, an attacker's 64 KiB of Unicode)
/// cut to [`MAX_LOGGED_PATH_BYTES`], with every character outside
/// printable ASCII escaped, so a caller's bytes can neither bloat a line
/// nor forge or reorder one (no line separators, no bidirectional marks).
fn loggable_path(method: Method, path: &str) -> Cow<'_, str> {
    if method.is_known() {
        return Cow::Borrowed(path);
    }
    let mut shown = String::new();
    for c in path.chars() {
        let before = shown.len();
        if c.is_ascii_graphic() {
            shown.push(c);
        } else {
            shown.extend(c.escape_default());
        }
        if shown.len() > MAX_LOGGED_PATH_BYTES {
            shown.truncate(before);
            shown.push('…');
            break;
        }
    }
    Cow::Owned(shown)
}

#[derive(Debug, Clone)]
pub(crate) struct RequestLog<S> {
    inner: S,
    access_log: bool,
    metrics: Option<Metrics>,
    ids: Arc<RequestIds>,
}

impl<S, B, R> Service<Request<B>> for RequestLog<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let id = match request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(callers_id)
        {
            Some(id) => id.to_owned(),
            None => self.ids.fresh(),
        };
        let path = request.uri().path();
        let method = Method::of(path);
        let span = tracing::info_span!("request", id = %id, method = %loggable_path(method, path));
        // What the access log says about the caller, read before the call
        // consumes the request: the key id only (public), never the key.
        let caller = self.access_log.then(|| {
            let key_id = presented_credential(request.headers())
                .ok()
                .and_then(|key| AccessKey::parse(key).ok())
                .map_or_else(|| "-".to_owned(), |key| key.key_id().to_string());
            let peer = request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
                .map_or_else(|| "-".to_owned(), |peer| peer.to_string());
            (key_id, peer)
        });
        let measured = self.metrics.clone().map(|metrics| (metrics, method));
        request.extensions_mut().insert(RequestId(id.clone()));
        let call = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let mut response = call.await?;
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            if caller.is_none() && measured.is_none() {
                return Ok(response);
            }
            // A unary call's error travels in the headers (trailers-only
            // response); a success's status, OK, in the trailers.
            let code = response
                .headers()
                .get("grpc-status")
                .map_or(tonic::Code::Ok, |code| {
                    tonic::Code::from_bytes(code.as_bytes())
                });
            // The console's pages answer in HTTP statuses, not gRPC codes.
            let page_status = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_none_or(|kind| !kind.as_bytes().starts_with(b"application/grpc"))
                .then(|| response.status().as_u16());
            let latency = started.elapsed();
            if let Some((metrics, method)) = measured {
                metrics.call(method, code, latency);
            }
            if let Some((key_id, peer)) = caller {
                span.in_scope(|| {
                    info!(
                        target: ACCESS_LOG_TARGET,
                        code = ?code,
                        http_status = page_status,
                        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                        key_id = %key_id,
                        peer = %peer,
                        "call"
                    );
                });
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_request_id_is_kept_only_when_it_is_short_printable_text() {
        assert_eq!(
            callers_id(&HeaderValue::from_static("req-42")),
            Some("req-42")
        );
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        assert_eq!(
            callers_id(&HeaderValue::from_str(&long).expect("ASCII")),
            None
        );
        assert_eq!(callers_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(callers_id(&HeaderValue::from_static("")), None);
    }

    #[test]
    fn an_unknown_path_is_logged_cut_and_escaped_and_a_method_as_it_is() {
        let known = "/accesskey.v1.KeyAuth/WhoAmI";
        assert_eq!(loggable_path(Method::of(known), known), known);
        let forged = "/x\u{2028}INFO fake line\u{202e}\n";
        let shown = loggable_path(Method::of(forged), forged);
        assert_eq!(shown, "/x\\u{2028}INFO fake line\\u{202e}\\n");
        let long = format!("/{}", "é".repeat(40_000));
        let shown = loggable_path(Method::of(&long), &long);
        assert!(
            shown.len() <= MAX_LOGGED_PATH_BYTES + '…'.len_utf8(),
            "{shown}"
        );
        assert!(shown.ends_with('…') && !shown.contains('é'));
    }

    #[test]
    fn fresh_request_ids_differ() {
        let ids = RequestIds::new();
        assert_ne!(ids.fresh(), ids.fresh());
    }
}
