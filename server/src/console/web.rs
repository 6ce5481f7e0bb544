//! HTTP plumbing shared by every page: the security headers, cookies, the
//! same-origin check, form bodies, redirects.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header, request::Parts};
use maud::Markup;

/// Scripts and styles only from this server's own files, never inline; no
/// framing; forms post only here.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every console response carries. Layered on every
/// console route, so that what axum answers by itself (a method not
/// allowed, a body too large, a rejected extractor) carries them as pages
/// do.
pub(super) async fn protected(mut response: Response) -> Response {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            http::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The 431 page for a browser's request whose headers exceed
/// [`crate::limits::MAX_METADATA_BYTES`] (gRPC calls are refused by the
/// service layer's own check), saying what to do: most often cookies
/// planted by another site on the same host.
pub(super) fn headers_too_large(headers: &http::HeaderMap) -> Option<Response> {
    let size = crate::service::header_list_size(headers);
    let most = crate::limits::MAX_METADATA_BYTES;
    (size > most).then(|| {
        page(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            super::pages::layout::headers_too_large(size, most),
            Vec::new(),
        )
    })
}

/// A page. Pages show users, and one shows a key: none is ever stored by
/// the browser or a proxy.
pub(super) fn page(status: StatusCode, body: Markup, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, body.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// A 303 to `location` (a path of this console), setting `cookies`.
pub(super) fn redirect(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// An embedded static file: public, the same for everyone, cacheable.
pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The host the request was sent to, with its port: `Host` over
/// HTTP/1.1, `:authority` over HTTP/2.
pub(super) fn request_host(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| parts.uri.authority().map(|authority| authority.as_str()))
}

/// Whether the request was sent to a loopback name or address
/// (`localhost`, `127.0.0.0/8`, `[::1]`), which browsers treat as a secure
/// context even over plain HTTP.
pub(super) fn loopback_host(parts: &Parts) -> bool {
    let Some(host) = request_host(parts) else {
        return false;
    };
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The name or address in a `host[:port]`, without the port and an IPv6
/// address's brackets.
pub(super) fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }
}

/// A `Set-Cookie` for `name`: never readable by scripts, never sent by
/// another site's page, only over TLS when served over TLS. Without
/// `max_age` it lasts until the browser closes.
pub(super) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut line = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure {
        line.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        line.push_str(&format!("; Max-Age={seconds}"));
    }
    let mut value = HeaderValue::from_str(&line).unwrap_or_else(|_| HeaderValue::from_static(""));
    // A session id: never printed by a `Debug` of the response.
    value.set_sensitive(true);
    value
}

/// A `Set-Cookie` that removes cookie `name`.
pub(super) fn clear_cookie(name: &str, path: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", path, secure, Some(0))
}

/// Whether the request comes from a page of this server itself. Browsers
/// send `Origin` with every form post, but as `null` when the page's
/// referrer policy is `no-referrer` (the console's own); they then still
/// send `Sec-Fetch-Site`, which no page's script can set. So: an `Origin`
/// naming a site must be this one; without one, `Sec-Fetch-Site` must say
/// `same-origin`. Anything else (another site, another port on this host,
/// neither header) did not come from the console's own pages.
/// `expected` is the origin the console's pages are served at.
pub(super) fn same_origin(parts: &Parts, expected: Option<&str>) -> bool {
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    match header(header::ORIGIN) {
        Some(origin) if origin != "null" => expected == Some(origin),
        _ => header(http::HeaderName::from_static("sec-fetch-site")) == Some("same-origin"),
    }
}

/// A form body's fields, in order (a name may repeat, as checkboxes do).
#[derive(Default)]
pub(super) struct FormFields(Vec<(String, String)>);

/// Names only: a form's values include the CSRF token and, at sign-in,
/// a pasted key.
impl std::fmt::Debug for FormFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl FormFields {
    pub(super) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// Fields given as they are (a form filled in advance).
    pub(super) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    pub(super) fn query(parts: &Parts) -> Self {
        Self::parse(parts.uri.query().unwrap_or_default().as_bytes())
    }

    /// The first value of `name`, or "".
    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name`.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| key == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forms_debug_names_its_fields_and_shows_no_value() {
        let form = FormFields::parse(b"access_key=ak_secret&csrf=token123");
        let shown = format!("{form:?}");
        assert!(shown.contains("access_key") && shown.contains("csrf"));
        assert!(!shown.contains("ak_secret") && !shown.contains("token123"));
    }
}
