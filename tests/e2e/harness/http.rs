//! A plain HTTP/1.1 exchange with the console, written by hand so that the
//! tests see exactly the status, headers and bytes a browser would get.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What an HTTP request got back.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// In order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of header `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Set-Cookie` of cookie `name`, whole: the last one, which is
    /// what a browser keeps.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.all("set-cookie")
            .filter(|line| line.starts_with(&format!("{name}=")))
            .last()
    }

    /// The value cookie `name` is set to.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let pair = line.split(';').next()?;
        Some(pair.split_once('=')?.1.to_owned())
    }
}

/// Asserts that `reply` tells every cache not to keep it.
pub fn assert_not_stored(reply: &HttpReply, what: &str) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
}

/// The text of text area `#id` in a page.
pub fn text_area(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let rest = &page[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find("</textarea>")?;
    Some(rest[start..start + end].to_owned())
}

/// Sends one request (`Connection: close`) and reads the whole reply.
pub async fn http_request(
    address: &SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    http_request_to(address, &address.to_string(), method, path, headers, body).await
}

/// Whatever a plain HTTP/1.1 `GET path` gets from `address` in 5 s, as
/// text: for ports that must not serve pages (which may answer nothing).
pub async fn http1_answer(address: &SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Like [`http_request`], naming `host` in the `Host` header, as a browser
/// does for the name it resolved to `address`.
pub async fn http_request_to(
    address: &SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("receive");
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpReply {
        status,
        headers,
        body,
    }
}

/// A chunked body's bytes.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|window| window == b"\r\n") else {
            return body;
        };
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || raw.len() < end + 2 + size {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[(end + 4 + size).min(raw.len())..];
    }
}

/// The session cookie's name on a loopback address, where browsers take
/// the `__Host-` prefix over plain HTTP.
pub const SESSION_COOKIE: &str = "__Host-accesskey_session";

/// A signed-in console session, driven over plain HTTP.
#[derive(Debug)]
pub struct ConsoleSession {
    pub address: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

impl ConsoleSession {
    /// Signs in at `address` with `key`.
    pub async fn sign_in(address: SocketAddr, key: &str) -> Self {
        let reply = sign_in(address, key, &format!("http://{address}")).await;
        assert_eq!(reply.status, 303, "sign-in: {}", reply.text());
        let cookie = reply
            .cookie_value(SESSION_COOKIE)
            .expect("a session cookie");
        let mut session = Self {
            address,
            cookie,
            csrf: String::new(),
        };
        let page = session.get("/whoami").await;
        session.csrf = hidden_csrf(&page.text()).expect("a CSRF token on the page");
        session
    }

    pub fn cookie_header(&self) -> String {
        format!("{SESSION_COOKIE}={}", self.cookie)
    }

    pub async fn get(&self, path: &str) -> HttpReply {
        let cookie = self.cookie_header();
        http_request(&self.address, "GET", path, &[("Cookie", &cookie)], b"").await
    }

    /// A form post from the console's own origin with the session's token
    /// (added to `fields`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> HttpReply {
        let origin = format!("http://{}", self.address);
        self.post_from(path, fields, Some(&origin), None, true)
            .await
    }

    /// A form post with the `Origin` and `Sec-Fetch-Site` given (or none),
    /// with or without the session's CSRF token.
    pub async fn post_from(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
        fetch_site: Option<&str>,
        with_token: bool,
    ) -> HttpReply {
        let cookie = self.cookie_header();
        let mut fields = fields.to_vec();
        if with_token {
            fields.push(("csrf", &self.csrf));
        }
        let body = form(&fields);
        let mut headers = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        if let Some(origin) = origin {
            headers.push(("Origin", origin));
        }
        if let Some(site) = fetch_site {
            headers.push(("Sec-Fetch-Site", site));
        }
        http_request(&self.address, "POST", path, &headers, body.as_bytes()).await
    }
}

/// The sign-in form posted with `key`, from `origin`.
pub async fn sign_in(address: SocketAddr, key: &str, origin: &str) -> HttpReply {
    let body = form(&[("access_key", key)]);
    http_request(
        &address,
        "POST",
        "/sign-in",
        &[
            ("Origin", origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
    .await
}

/// `fields` as a form body.
fn form(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent(name));
        out.push('=');
        out.push_str(&percent(value));
    }
    out
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The CSRF token in a page's forms.
pub fn hidden_csrf(page: &str) -> Option<String> {
    let start = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}
