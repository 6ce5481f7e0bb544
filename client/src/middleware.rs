//! A tower [`Layer`] that protects a backend service with accesskey.
//!
//! The same layer guards a tonic gRPC server (`Server::builder().layer(…)`)
//! and an axum or hyper HTTP service (`Router::layer(…)`). For each request
//! it reads the caller's key from `x-access-key` or `authorization: Bearer`
//! (exactly one), asks accesskey whether the key is valid and holds the
//! permissions configured for the request's path, strips the credential
//! headers, and hands the verified [`pb::Principal`] to the handler in the
//! request extensions. Otherwise it answers itself:
//!
//! | outcome | gRPC request | HTTP request |
//! |---|---|---|
//! | no, malformed, unknown, expired or disabled key | `UNAUTHENTICATED` | `401` + JSON |
//! | genuine key lacking a permission | `PERMISSION_DENIED` | `403` + JSON |
//! | accesskey unreachable or failing | `UNAVAILABLE` | `503` + JSON |
//!
//! It fails closed: no answer from accesskey never lets a request through.
//! Optionally it caches positive answers for a short, bounded time (see
//! [`AccessKeyLayer::cache_valid_for`]): a revoked key then keeps working
//! for up to that long on this process. Off by default.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime},
};

use blake2::{Blake2bMac, digest::Mac as _};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use tower::{Layer, Service};

use crate::{ACCESS_KEY_HEADER, Client, Verification, pb};

/// Most cached answers kept at once.
const MAX_CACHED: usize = 10_000;

/// The body of a response from a protected service: the inner service's own,
/// or the layer's rejection.
pub type ProtectedBody<B> = Either<B, Full<Bytes>>;

/// Protects every request to the wrapped service with an access-key check.
#[derive(Clone)]
pub struct AccessKeyLayer {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    required: Vec<String>,
    by_path: Vec<(String, Vec<String>)>,
    public_prefixes: Vec<String>,
    cache: Option<AnswerCache>,
}

impl fmt::Debug for AccessKeyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyLayer")
            .field("required", &self.shared.required)
            .field("by_path", &self.shared.by_path)
            .field("public_prefixes", &self.shared.public_prefixes)
            .field("cache", &self.shared.cache.as_ref().map(|c| c.ttl))
            .finish_non_exhaustive()
    }
}

impl AccessKeyLayer {
    /// Verifies through `client`, whose own key must hold `keys.verify`.
    /// Requires no permission until [`require`](Self::require) says so.
    pub fn new(client: Client) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                required: Vec::new(),
                by_path: Vec::new(),
                public_prefixes: Vec::new(),
                cache: None,
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        // Layers are configured before they are shared, so this never clones
        // in practice; if it does, the clone keeps the old settings.
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|shared| Shared {
            client: shared.client.clone(),
            required: shared.required.clone(),
            by_path: shared.by_path.clone(),
            public_prefixes: shared.public_prefixes.clone(),
            cache: shared.cache.as_ref().map(AnswerCache::empty_like),
        });
        change(&mut shared);
        self.shared = Arc::new(shared);
        self
    }

    /// Permissions every request's key must hold (unless its path has its own).
    pub fn require<I, S>(self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let permissions: Vec<String> = permissions.into_iter().map(Into::into).collect();
        self.edit(|shared| shared.required = permissions)
    }

    /// Permissions for requests whose path is `path_prefix` or below it, by
    /// whole path segments: `/orders` covers `/orders` and `/orders/7`, not
    /// `/orders-admin` (for gRPC, `/package.Service/` or
    /// `/package.Service/Method`). Of every `require_for` and
    /// `allow_anonymous` prefix that covers a path, the longest decides; on a
    /// tie, the protected one.
    pub fn require_for<I, S>(self, path_prefix: impl Into<String>, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entry = (
            path_prefix.into(),
            permissions.into_iter().map(Into::into).collect(),
        );
        self.edit(|shared| shared.by_path.push(entry))
    }

    /// Lets requests whose path is `path_prefix` or below it (by whole
    /// segments, as for [`require_for`](Self::require_for)) through without
    /// a key, for example `/healthz` or `/grpc.health.v1.Health/`. A longer
    /// `require_for` prefix inside it still protects its part.
    pub fn allow_anonymous(self, path_prefix: impl Into<String>) -> Self {
        let prefix = path_prefix.into();
        self.edit(|shared| shared.public_prefixes.push(prefix))
    }

    /// Caches valid answers for `ttl` (bounded to 10,000 entries). A key
    /// revoked or a permission removed in accesskey may keep working here for
    /// up to `ttl`. Off by default; keep `ttl` short (seconds).
    pub fn cache_valid_for(self, ttl: Duration) -> Self {
        self.edit(|shared| shared.cache = Some(AnswerCache::new(ttl)))
    }
}

impl<S> Layer<S> for AccessKeyLayer {
    type Service = AccessKeyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessKeyService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`AccessKeyLayer`] produces.
#[derive(Clone)]
pub struct AccessKeyService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for AccessKeyService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKeyService")
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AccessKeyService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ProtectedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that must serve.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let grpc = is_grpc(request.headers());
            match shared.admit(&mut request).await {
                Ok(()) => inner
                    .call(request)
                    .await
                    .map(|response| response.map(Either::Left)),
                Err(rejection) => Ok(rejection.into_response(grpc)),
            }
        })
    }
}

impl Shared {
    /// Checks the request's key; on success strips it and inserts the principal.
    async fn admit<B>(&self, request: &mut Request<B>) -> Result<(), Rejection> {
        let path = request.uri().path().to_owned();
        if is_ambiguous(&path) {
            return Err(Rejection::AmbiguousPath);
        }
        let Some(required) = self.required_for(&path) else {
            strip_credentials(request.headers_mut());
            return Ok(());
        };
        let key = presented_key(request.headers())?;
        let cache_key = self.cache.as_ref().map(|cache| cache.key(&key, required));
        let cached = self
            .cache
            .as_ref()
            .zip(cache_key.as_ref())
            .and_then(|(cache, cache_key)| cache.get(cache_key));
        let principal = match cached {
            Some(principal) => principal,
            None => {
                let verdict = self
                    .client
                    .verify(&key, required.iter().map(String::as_str))
                    .await
                    .map_err(|_| Rejection::Unavailable)?;
                let principal = match verdict {
                    Verification::Valid(principal) => principal,
                    Verification::PermissionDenied { missing, .. } => {
                        return Err(Rejection::Denied(missing));
                    }
                    Verification::Malformed
                    | Verification::NotFound
                    | Verification::Expired(_)
                    | Verification::UserDisabled(_) => return Err(Rejection::Unauthenticated),
                };
                if let (Some(cache), Some(cache_key)) = (&self.cache, cache_key) {
                    cache.put(cache_key, principal.clone());
                }
                principal
            }
        };
        strip_credentials(request.headers_mut());
        request.extensions_mut().insert(principal);
        Ok(())
    }

    /// The permissions `path` needs, or `None` when it is public: one
    /// longest-match rule over protected and public prefixes alike.
    fn required_for(&self, path: &str) -> Option<&[String]> {
        let protected = self
            .by_path
            .iter()
            .filter(|(prefix, _)| covers(prefix, path))
            .max_by_key(|(prefix, _)| prefix.len());
        let public = self
            .public_prefixes
            .iter()
            .filter(|prefix| covers(prefix, path))
            .map(String::len)
            .max();
        match (protected, public) {
            (Some((prefix, _)), Some(public)) if public > prefix.len() => None,
            (None, Some(_)) => None,
            (Some((_, permissions)), _) => Some(permissions),
            (None, None) => Some(&self.required),
        }
    }
}

/// Whether `prefix` covers `path` by whole segments: the same path, or
/// `path` continues after it with a `/` (or `prefix` itself ends with one).
fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// Whether `path` could mean something other than it says to some server
/// behind the layer: an empty segment (`//`), a `.` or `..` segment (plain
/// or percent-encoded), or an encoded slash or backslash. Such a path is
/// refused rather than guessed at.
fn is_ambiguous(path: &str) -> bool {
    let lowered = path.to_ascii_lowercase();
    if lowered.contains("%2f") || lowered.contains("%5c") || path.contains('\\') {
        return true;
    }
    let segments: Vec<&str> = lowered.split('/').skip(1).collect();
    segments.iter().enumerate().any(|(at, segment)| {
        let decoded = segment.replace("%2e", ".");
        decoded == "." || decoded == ".." || (segment.is_empty() && at + 1 < segments.len())
    })
}

/// Why the layer answered instead of the service.
#[derive(Debug)]
enum Rejection {
    Unauthenticated,
    Ambiguous,
    Denied(Vec<String>),
    Unavailable,
    AmbiguousPath,
}

impl Rejection {
    fn into_response<B>(self, grpc: bool) -> Response<ProtectedBody<B>> {
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

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// The one key in the headers, judged like accesskey itself judges callers.
fn presented_key(headers: &HeaderMap) -> Result<String, Rejection> {
    let mut entries = headers
        .get_all(ACCESS_KEY_HEADER)
        .iter()
        .map(|value| (false, value))
        .chain(
            headers
                .get_all(header::AUTHORIZATION)
                .iter()
                .map(|value| (true, value)),
        );
    let Some((is_authorization, value)) = entries.next() else {
        return Err(Rejection::Unauthenticated);
    };
    if entries.next().is_some() {
        return Err(Rejection::Ambiguous);
    }
    let text = value.to_str().map_err(|_| Rejection::Unauthenticated)?;
    if !is_authorization {
        return Ok(text.to_owned());
    }
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.to_owned()),
        _ => Err(Rejection::Unauthenticated),
    }
}

/// Handlers never see the caller's key, so they cannot log it by mistake.
fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(ACCESS_KEY_HEADER);
    headers.remove(header::AUTHORIZATION);
}

fn json_escape(text: &str) -> String {
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

type CacheKey = [u8; 32];

/// Valid answers, keyed by a keyed BLAKE2b hash of (key, required
/// permissions) so that no plaintext key is held as a map key.
struct AnswerCache {
    ttl: Duration,
    hasher: Blake2bMac<blake2::digest::consts::U32>,
    /// Each answer with the moment it stops being served.
    entries: Mutex<HashMap<CacheKey, (Instant, pb::Principal)>>,
}

impl AnswerCache {
    fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        // Without OS randomness the hash is still collision resistant, just
        // not secret; the cache only ever holds positive answers.
        let _ = getrandom::fill(&mut secret);
        let hasher =
            <Blake2bMac<blake2::digest::consts::U32> as blake2::digest::KeyInit>::new_from_slice(
                &secret,
            )
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid BLAKE2b key length"));
        Self {
            ttl,
            hasher,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn empty_like(other: &Self) -> Self {
        Self::new(other.ttl)
    }

    fn key(&self, presented: &str, required: &[String]) -> CacheKey {
        let mut mac = self.hasher.clone();
        mac.update(presented.as_bytes());
        for permission in required {
            mac.update(b"\0");
            mac.update(permission.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn get(&self, key: &CacheKey) -> Option<pb::Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(valid_until, _)| Instant::now() < *valid_until)
            .map(|(_, principal)| principal.clone())
    }

    /// Keeps a valid answer for the TTL, or until the key expires if that
    /// comes first: a cached answer never outlives the key.
    fn put(&self, key: CacheKey, principal: pb::Principal) {
        let now = Instant::now();
        let mut lifetime = self.ttl;
        if let Some(expire_time) = principal.expire_time {
            let left = SystemTime::try_from(expire_time)
                .ok()
                .and_then(|expiry| expiry.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO);
            lifetime = lifetime.min(left);
        }
        if lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, (valid_until, _)| now < *valid_until);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(key, (now + lifetime, principal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_whole_segments_only() {
        assert!(covers("/healthz", "/healthz"));
        assert!(covers("/healthz", "/healthz/live"));
        assert!(!covers("/healthz", "/healthz-debug"));
        assert!(covers(
            "/grpc.health.v1.Health/",
            "/grpc.health.v1.Health/Check"
        ));
        assert!(!covers(
            "/orders.v1.Orders/Cancel",
            "/orders.v1.Orders/CancelAll"
        ));
        assert!(covers("/", "/anything"));
    }

    #[test]
    fn ambiguous_paths_are_told_apart() {
        for bad in [
            "//orders",
            "/a//b",
            "/./orders",
            "/a/../b",
            "/a/..",
            "/a/%2e%2E/b",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
        ] {
            assert!(is_ambiguous(bad), "{bad}");
        }
        for good in [
            "/",
            "/orders",
            "/orders/",
            "/orders/7",
            "/a.b/c..d",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!is_ambiguous(good), "{good}");
        }
    }

    #[test]
    fn a_cached_answer_never_outlives_the_key() {
        let cache = AnswerCache::new(Duration::from_secs(3600));
        let expiring = |after: Duration| pb::Principal {
            username: "svc".to_owned(),
            expire_time: Some((SystemTime::now() + after).into()),
            ..pb::Principal::default()
        };
        let soon = cache.key("akey_soon", &[]);
        cache.put(soon, expiring(Duration::from_millis(50)));
        assert!(cache.get(&soon).is_some(), "cached while the key lives");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            cache.get(&soon).is_none(),
            "gone when the key expires, not after the TTL"
        );

        let later = cache.key("akey_later", &[]);
        cache.put(later, expiring(Duration::from_secs(7200)));
        assert!(cache.get(&later).is_some());
        let expired = cache.key("akey_expired", &[]);
        cache.put(expired, expiring(Duration::ZERO));
        assert!(
            cache.get(&expired).is_none(),
            "an expiring answer is not cached"
        );
    }

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
