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
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use tower::{Layer, Service};

mod answer_cache;
mod paths;
mod rejection;

use crate::{Client, Verification};
use answer_cache::AnswerCache;
use paths::{covers, is_ambiguous};
use rejection::{Rejection, is_grpc, presented_key, strip_credentials};

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
            .field("cache", &self.shared.cache.as_ref().map(AnswerCache::ttl))
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
