//! A real headless Chromium driven through WebDriver (Debian's `chromium`
//! and `chromium-driver`), for the console's browser tests. Every page the
//! tests look at is saved as a screenshot under
//! `target/console-screenshots/` for a person to look at.

use std::{path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session on the console at `base`.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    base: String,
    shots: PathBuf,
    taken: usize,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser (new profile: no cookies, no history) on `base`, or
    /// `None` outside CI when Chromium is not installed. Under `CI=true` a
    /// missing browser fails the test (`.ci/run` installs it).
    /// Screenshots go to `target/console-screenshots/<test>/`, emptied first.
    pub async fn start(base: &str, test: &str) -> Option<Self> {
        Self::start_with(base, test, &[]).await
    }

    /// [`start`](Self::start) with more Chromium switches.
    pub async fn start_with(base: &str, test: &str, switches: &[&str]) -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "{CHROMEDRIVER} is missing: install chromium and chromium-driver"
            );
            eprintln!(
                "skipped: {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("address").port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .into_iter()
        .chain(switches.iter().copied())
        .map(str::to_owned)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    let shots = screenshot_dir().join(test);
                    let _ = std::fs::remove_dir_all(&shots);
                    std::fs::create_dir_all(&shots).expect("the screenshot directory");
                    return Some(Self {
                        client,
                        base: base.to_owned(),
                        shots,
                        taken: 0,
                        _driver: driver,
                        _profile: profile,
                    });
                }
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last_error}");
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The current page's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the browser is on a page whose path (and query) starts
    /// with `prefix`, and returns it.
    pub async fn wait_for_path(&self, prefix: &str) -> String {
        self.wait_for_page(prefix, |path| path.starts_with(prefix))
            .await
    }

    /// Waits until the current path (and query) satisfies `arrived`
    /// (described by `what`), and returns it.
    pub async fn wait_for_page(&self, what: &str, arrived: impl Fn(&str) -> bool) -> String {
        let started = std::time::Instant::now();
        loop {
            let path = self.path().await;
            if arrived(&path) {
                return path;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let page = self.source().await;
                panic!("expected a page at {what}, still at {path}: {page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in at the sign-in page with `key`, and waits to land on `landing`.
    pub async fn sign_in(&self, key: &str, landing: &str) {
        self.goto("/sign-in").await;
        self.fill("#access_key", key).await;
        self.click("form[action='/sign-in'] button").await;
        self.wait_for_path(landing).await;
    }

    /// Every visible form control on the page has a label.
    pub async fn assert_labelled(&self, page: &str) {
        let unlabelled = self
            .run(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
                 .filter(e => !(e.labels && e.labels.length)).map(e => e.name || e.id);",
            )
            .await;
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{page}: unlabelled controls"
        );
    }

    /// Nothing on the page is wider than the window (tables scroll in place).
    pub async fn assert_fits(&self, page: &str) {
        let fits = self
            .run("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await;
        assert_eq!(
            fits,
            serde_json::json!(true),
            "{page}: wider than the window"
        );
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks the submit button of the form posting to `action`.
    pub async fn submit(&self, action: &str) {
        self.click(&format!("form[action='{action}'] button[type=submit]"))
            .await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sends `keys` (WebDriver key codes: `\u{E004}` Tab, `\u{E007}`
    /// Enter) to whatever has the focus, as a keyboard would.
    pub async fn press(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("press {keys:?}: {e}"));
    }

    /// The `value` of the form control at `css`.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Runs `script` in the page and returns its JSON result.
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Saves the page as `NN-name.png`.
    pub async fn screenshot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&path, png).expect("save the screenshot");
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// `target/console-screenshots/`, beside the build's other output.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}
