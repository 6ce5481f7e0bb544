//! The console session as the browser holds it: one cookie carrying a
//! random 256-bit id and nothing else. The session itself (user, key id,
//! CSRF token, clocks) is a database row keyed by the id's hash
//! ([`crate::domain::model::ConsoleSession`]), so sign-out ends it for
//! every copy of the cookie, and no cookie and no database dump, alone or
//! together, yields a key.
//!
//! The cookie is `__Host-accesskey_session` (`Secure`, `Path=/`, no
//! `Domain`: no other port, path or subdomain can set one the browser
//! would send in its place) wherever browsers accept that prefix: over
//! TLS, and over plain HTTP to a loopback host. Elsewhere it is
//! `accesskey_session`. A request carrying more than one session cookie
//! (one planted by another port of the same host at a longer path, say)
//! is trusted with none: both are cleared and the browser signs in again.

use http::{HeaderValue, header, request::Parts};

use super::web;
use crate::domain::model::SessionId;

/// The cookie's name where the `__Host-` prefix is accepted.
pub(super) const HOST_COOKIE: &str = "__Host-accesskey_session";
/// The cookie's name elsewhere (plain HTTP to a non-loopback host).
pub(super) const PLAIN_COOKIE: &str = "accesskey_session";

/// The session cookies a request carries.
#[derive(Debug)]
pub(super) enum Presented {
    Nothing,
    One(SessionId),
    /// One cookie, but not a session id this service hands out.
    Unreadable,
    /// More than one: none is trusted. The ids among them, to end.
    Several(Vec<SessionId>),
}

/// Every value of the session cookies, under either name.
pub(super) fn presented(parts: &Parts) -> Presented {
    let values: Vec<&str> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == HOST_COOKIE || *name == PLAIN_COOKIE)
        .map(|(_, value)| value)
        .collect();
    match values.as_slice() {
        [] => Presented::Nothing,
        [one] => SessionId::parse(one).map_or(Presented::Unreadable, Presented::One),
        several => Presented::Several(
            several
                .iter()
                .filter_map(|value| SessionId::parse(value))
                .collect(),
        ),
    }
}

/// How this request's response sets and clears the session cookie.
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionCookie {
    /// The `__Host-` name and `Secure`: over TLS, or to a loopback host.
    host_only: bool,
}

impl SessionCookie {
    /// `tls`: the console is served over TLS (itself, or behind a proxy
    /// that terminates it).
    pub(super) fn for_request(parts: &Parts, tls: bool) -> Self {
        Self {
            host_only: tls || web::loopback_host(parts),
        }
    }

    fn name(self) -> &'static str {
        if self.host_only {
            HOST_COOKIE
        } else {
            PLAIN_COOKIE
        }
    }

    /// The cookie holding `id`, until the browser closes.
    pub(super) fn set(self, id: &SessionId) -> HeaderValue {
        web::set_cookie(self.name(), &id.to_cookie(), "/", self.host_only, None)
    }

    /// `Set-Cookie`s that remove every session cookie this request could
    /// have carried: both names at `/`, and the plain name at each longer
    /// path of `parts`' own (where one planted by another origin would sit).
    pub(super) fn clear_all(self, parts: &Parts) -> Vec<HeaderValue> {
        let mut cleared = vec![
            web::clear_cookie(HOST_COOKIE, "/", true),
            web::clear_cookie(PLAIN_COOKIE, "/", self.host_only),
        ];
        let path = parts.uri.path();
        let mut end = 0;
        while let Some(next) = path[end + 1..].find('/').map(|at| at + end + 1) {
            cleared.push(web::clear_cookie(
                PLAIN_COOKIE,
                &path[..next],
                self.host_only,
            ));
            end = next;
            if cleared.len() > 8 {
                return cleared;
            }
        }
        if path.len() > 1 {
            cleared.push(web::clear_cookie(PLAIN_COOKIE, path, self.host_only));
        }
        cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str, host: &str, cookie: Option<&str>) -> Parts {
        let mut request = http::Request::builder()
            .uri(path)
            .header(header::HOST, host);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn one_session_cookie_is_read_and_two_are_refused() {
        let id = SessionId::generate().expect("random").to_cookie();
        let other = SessionId::generate().expect("random").to_cookie();
        let one = parts("/", "h", Some(&format!("a=b; {HOST_COOKIE}={id}")));
        assert!(matches!(presented(&one), Presented::One(_)));
        let two = parts(
            "/",
            "h",
            Some(&format!("{PLAIN_COOKIE}={other}; {HOST_COOKIE}={id}")),
        );
        assert!(matches!(presented(&two), Presented::Several(ids) if ids.len() == 2));
        let garbage = parts("/", "h", Some(&format!("{PLAIN_COOKIE}=x")));
        assert!(matches!(presented(&garbage), Presented::Unreadable));
        assert!(matches!(
            presented(&parts("/", "h", None)),
            Presented::Nothing
        ));
    }

    #[test]
    fn loopback_hosts_and_tls_get_the_host_prefix_and_others_do_not() {
        let id = SessionId::generate().expect("random");
        for host in ["127.0.0.1:8443", "localhost:1", "[::1]:9", "localhost"] {
            let cookie = SessionCookie::for_request(&parts("/", host, None), false).set(&id);
            let cookie = cookie.to_str().expect("ascii");
            assert!(
                cookie.starts_with("__Host-accesskey_session="),
                "{host}: {cookie}"
            );
            assert!(cookie.contains("; Secure") && cookie.contains("Path=/;"));
        }
        let plain = SessionCookie::for_request(&parts("/", "10.0.0.5:8443", None), false);
        let cookie = plain.set(&id);
        assert!(!cookie.to_str().expect("ascii").contains("Secure"));
        let tls = SessionCookie::for_request(&parts("/", "keys.example.com", None), true);
        assert!(tls.set(&id).to_str().expect("ascii").starts_with("__Host-"));
    }

    #[test]
    fn clearing_reaches_every_path_a_planted_cookie_could_have() {
        let request = parts("/users/7/generate", "h:1", None);
        let cleared: Vec<String> = SessionCookie::for_request(&request, false)
            .clear_all(&request)
            .iter()
            .map(|value| value.to_str().expect("ascii").to_owned())
            .collect();
        for path in ["/", "/users", "/users/7", "/users/7/generate"] {
            assert!(
                cleared
                    .iter()
                    .any(|line| line.starts_with("accesskey_session=;")
                        && line.contains(&format!("Path={path};"))),
                "{path}: {cleared:?}"
            );
        }
    }
}
