//! Where the console is served, and to whom: over TLS or not, at which one
//! origin (`--console-origin`, for a console behind a TLS-terminating
//! proxy), which `Host` names it answers to (DNS rebinding), and whether it
//! takes keys over plain HTTP from afar (`--console-allow-plain-http`).

use std::net::IpAddr;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderValue, StatusCode, header, request::Parts};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::{pages::layout, web};

/// How long browsers keep to HTTPS once told (`Strict-Transport-Security`):
/// a year, as the HSTS preload list asks.
const HSTS: &str = "max-age=31536000";

/// The console's place on the network, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The server itself speaks TLS on the console's listener.
    tls: bool,
    /// `--console-origin`: the only origin pages are served at.
    origin: Option<PinnedOrigin>,
    /// `--console-allow-plain-http`: sign in over plain HTTP from anywhere.
    allow_plain_http: bool,
}

/// An origin given as `scheme://host[:port]`.
#[derive(Debug, Clone)]
struct PinnedOrigin {
    https: bool,
    /// `host[:port]` as browsers send it in `Host`: lower case, without
    /// the scheme's default port.
    authority: String,
    /// `scheme://authority`, as browsers send it in `Origin`.
    serialized: String,
}

/// Why `--console-origin` was refused.
#[derive(Debug, thiserror::Error)]
#[error("--console-origin {given:?}: {reason}")]
pub struct BadOrigin {
    given: String,
    reason: &'static str,
}

impl Site {
    /// `origin` is `--console-origin`, if given.
    pub(crate) fn new(
        tls: bool,
        origin: Option<&str>,
        allow_plain_http: bool,
    ) -> Result<Self, BadOrigin> {
        Ok(Self {
            tls,
            origin: origin.map(PinnedOrigin::parse).transpose()?,
            allow_plain_http,
        })
    }

    /// Browsers reach the console over TLS: the server's own, or the
    /// proxy's in front of a pinned `https://` origin. Cookies are then
    /// `Secure` and origins `https://`.
    pub(super) fn secure(&self) -> bool {
        self.tls || self.origin.as_ref().is_some_and(|origin| origin.https)
    }

    /// The `Origin` a page of this console sends with its form posts.
    pub(super) fn expected_origin(&self, parts: &Parts) -> Option<String> {
        if let Some(origin) = &self.origin {
            return Some(origin.serialized.clone());
        }
        let scheme = if self.tls { "https" } else { "http" };
        web::request_host(parts).map(|host| format!("{scheme}://{host}"))
    }

    /// Whether a page may be served for the `Host` this request names. A
    /// pinned origin allows its own host only. Over TLS any name may reach
    /// us (a rebinding attacker's name fails the certificate). Over plain
    /// HTTP, only names no one else can point at us: IP literals and
    /// `localhost`. An attacker's `evil.example` re-pointed at 127.0.0.1
    /// (DNS rebinding) never gets a page, nor a cookie, nor a form.
    fn host_allowed(&self, parts: &Parts) -> bool {
        let Some(host) = web::request_host(parts) else {
            return false;
        };
        if let Some(origin) = &self.origin {
            return host.eq_ignore_ascii_case(&origin.authority);
        }
        if self.tls {
            return true;
        }
        let name = web::host_name(host);
        name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
    }

    /// Whether signing in must be refused: a key typed into a page served
    /// over plain HTTP would cross the network in clear, so only peers on
    /// loopback or a private network may (Keycloak's "SSL required for
    /// external requests"), unless the operator said otherwise.
    pub(super) fn refuses_sign_in(&self, parts: &Parts) -> bool {
        !self.secure() && !self.allow_plain_http && peer(parts).is_none_or(external)
    }
}

impl PinnedOrigin {
    fn parse(given: &str) -> Result<Self, BadOrigin> {
        let refuse = |reason| BadOrigin {
            given: given.to_owned(),
            reason,
        };
        let (https, rest) = if let Some(rest) = given.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = given.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(refuse("must start with https:// (or http://)"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(refuse("names no host"));
        }
        let uri: http::uri::Authority = authority
            .parse()
            .map_err(|_| refuse("is not scheme://host[:port]"))?;
        if uri.as_str().contains('@') || authority.contains(['/', '?', '#']) {
            return Err(refuse(
                "must be only scheme://host[:port], with no path, query or user",
            ));
        }
        let default_port = if https { 443 } else { 80 };
        let authority = match uri.port_u16() {
            Some(port) if port == default_port => uri.host().to_ascii_lowercase(),
            _ => uri.as_str().to_ascii_lowercase(),
        };
        let scheme = if https { "https" } else { "http" };
        Ok(Self {
            https,
            serialized: format!("{scheme}://{authority}"),
            authority,
        })
    }
}

/// The address the request came from, if known.
fn peer(parts: &Parts) -> Option<IpAddr> {
    let extensions = &parts.extensions;
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|tls| tls.get_ref().remote_addr())
        })
        .map(|address| address.ip().to_canonical())
}

/// Neither loopback nor a private network (RFC 1918, IPv6 unique local,
/// link-local).
fn external(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_private() || v4.is_link_local()),
        IpAddr::V6(v6) => {
            let unique_local = (v6.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || unique_local || link_local)
        }
    }
}

/// Serves a page only for headers within the limit (else a 431 page) and
/// an allowed `Host` (else 421 Misdirected Request), and adds HSTS behind
/// a pinned `https://` origin. gRPC calls pass: the service layer bounds
/// their metadata, and they carry their key in every call, never a
/// cookie, so a rebound name gains an attacker nothing.
pub(super) async fn guard(
    State(site): State<std::sync::Arc<Site>>,
    request: Request,
    next: Next,
) -> Response {
    if crate::service::is_grpc(request.headers()) {
        return next.run(request).await;
    }
    if let Some(refused) = web::headers_too_large(request.headers()) {
        return web::protected(refused).await;
    }
    let (parts, body) = request.into_parts();
    if !site.host_allowed(&parts) {
        let answers_at = site.origin.as_ref().map(|origin| origin.serialized.clone());
        return web::protected(web::page(
            StatusCode::MISDIRECTED_REQUEST,
            layout::misdirected(answers_at.as_deref()),
            Vec::new(),
        ))
        .await;
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if site.origin.as_ref().is_some_and(|origin| origin.https) {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Parts {
        http::Request::builder()
            .uri("/users")
            .header(header::HOST, host)
            .body(())
            .expect("a request")
            .into_parts()
            .0
    }

    #[test]
    fn over_plain_http_only_ip_literals_and_localhost_are_served() {
        let site = Site::new(false, None, false).expect("no origin");
        for host in [
            "127.0.0.1:8080",
            "[::1]:50051",
            "10.0.0.7",
            "localhost:50051",
        ] {
            assert!(site.host_allowed(&request(host)), "{host}");
        }
        for host in [
            "evil.example:50051",
            "127.0.0.1.nip.io",
            "localhost.evil.example",
        ] {
            assert!(!site.host_allowed(&request(host)), "{host}");
        }
    }

    #[test]
    fn a_pinned_origin_is_the_only_host_served() {
        let site = Site::new(false, Some("https://Admin.Example.com:443/"), false).expect("valid");
        assert!(site.secure());
        assert!(site.host_allowed(&request("admin.example.com")));
        assert!(!site.host_allowed(&request("127.0.0.1:50051")));
        assert!(!site.host_allowed(&request("admin.example.com:8443")));
        assert_eq!(
            site.expected_origin(&request("admin.example.com"))
                .as_deref(),
            Some("https://admin.example.com")
        );
    }

    #[test]
    fn origins_with_a_path_a_user_or_another_scheme_are_refused() {
        for origin in [
            "admin.example.com",
            "ftp://admin.example.com",
            "https://",
            "https://admin.example.com/console",
            "https://user@admin.example.com",
            "https://admin.example.com?x=1",
        ] {
            assert!(Site::new(false, Some(origin), false).is_err(), "{origin}");
        }
    }

    #[test]
    fn only_loopback_and_private_peers_count_as_near() {
        for near in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            let address: IpAddr = near.parse().expect("an address");
            assert!(!external(address.to_canonical()), "{near}");
        }
        for far in [
            "203.0.113.9",
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            let address: IpAddr = far.parse().expect("an address");
            assert!(external(address.to_canonical()), "{far}");
        }
    }
}
