//! Cookie tossing in a real headless Chromium: a session cookie planted
//! by a page on another port of the same host signs nobody in.

use std::net::SocketAddr;

use crate::harness::{Browser, ConsoleSession, TestServer};

/// Another port of the same host: one page whose answer sets `cookie`
/// (cookies ignore ports, so the browser sends it to the console too).
async fn serve_cookie_planter(cookie: String) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let page = "<!DOCTYPE html><html><body><h1>Nothing to see</h1></body></html>";
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: {cookie}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    address
}

/// Cookie tossing: a page on another port of this host plants a session
/// cookie at a longer path, which the browser then sends to the console
/// first. The console trusts neither cookie, clears both, and nobody is
/// signed in as the planted session's user; a garbage cookie planted the
/// same way costs one more sign-in, not a loop.
#[tokio::test]
async fn a_session_cookie_planted_by_another_port_signs_nobody_in() {
    let server = TestServer::start().await;
    let Some(mut browser) = Browser::start(&server.endpoint(), "cookie-tossing").await else {
        return;
    };
    let (_, reader_key) = server.user_with_key("reader", &["users.read"]).await;
    let reader = ConsoleSession::sign_in(server.address, &reader_key).await;
    browser.sign_in(&server.admin_key, "/users").await;

    for planted in [reader.cookie.as_str(), "garbage"] {
        let planter =
            serve_cookie_planter(format!("accesskey_session={planted}; Path=/users")).await;
        browser
            .client
            .goto(&format!("http://{planter}/"))
            .await
            .expect("the other port's page");
        browser.goto("/users").await;
        browser.wait_for_path("/sign-in?ended=conflict").await;
        let page = browser.source().await;
        assert!(!page.contains("Signed in as"), "signed in as nobody");
        assert!(page.contains("two session cookies"), "says why");
        browser.screenshot("planted-cookie-refused").await;
        // Both were cleared: one sign-in, and the console works again.
        browser.sign_in(&server.admin_key, "/users").await;
        let page = browser.source().await;
        assert!(
            page.contains("Signed in as <strong>admin</strong>"),
            "{page}"
        );
        assert_eq!(browser.count("a[href='/users/new']").await, 1);
    }
    // The planted session was ended with the refusal: it is good for nothing.
    assert_eq!(
        reader.get("/whoami").await.header("location"),
        Some("/sign-in?ended=absent")
    );
    browser.close().await;
}
