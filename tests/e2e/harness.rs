//! One harness for every end-to-end test: a real `accesskeyd` (the server
//! library in process, or the binary as a child process) on an ephemeral
//! port over its own throwaway database, reached only over gRPC through the
//! client crate.
//!
//! SQLite is always tested. PostgreSQL and MySQL/MariaDB are tested when
//! `ACCESSKEY_TEST_POSTGRES_URL` / `ACCESSKEY_TEST_MYSQL_URL` name a server
//! (any database on it; each test creates and drops its own). Under `CI=true`
//! a missing or unreachable backend fails the test instead of skipping it.

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use accesskey_client::{Client, NewUser, pb};
use accesskey_server::{Config, domain::model::Username};
use sea_orm::{ConnectionTrait as _, Database};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Runs each scenario once per backend, as `<scenario>::sqlite`,
/// `<scenario>::postgres` and `<scenario>::mysql`. Starting with
/// `multi_thread;` runs them on a two-thread runtime, for scenarios whose
/// point is concurrency between the server and many clients.
macro_rules! on_every_backend {
    (multi_thread; $($scenarios:tt)*) => {
        $crate::harness::on_every_backend!(
            @runtime tokio::test(flavor = "multi_thread", worker_threads = 2); $($scenarios)*
        );
    };
    (@runtime $test:meta; $( $(#[$meta:meta])* async fn $name:ident($server:ident: TestServer) $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($server: $crate::harness::TestServer) $body

            #[$test]
            async fn sqlite() {
                scenario($crate::harness::TestServer::start().await).await;
            }

            #[$test]
            async fn postgres() {
                if let Some(server) =
                    $crate::harness::TestServer::start_on($crate::harness::Backend::Postgres).await
                {
                    scenario(server).await;
                }
            }

            #[$test]
            async fn mysql() {
                if let Some(server) =
                    $crate::harness::TestServer::start_on($crate::harness::Backend::Mysql).await
                {
                    scenario(server).await;
                }
            }
        }
    )*};
    ($($scenarios:tt)*) => {
        $crate::harness::on_every_backend!(@runtime tokio::test; $($scenarios)*);
    };
}
pub(crate) use on_every_backend;

/// A database engine the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    fn server_url_variable(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("ACCESSKEY_TEST_POSTGRES_URL"),
            Self::Mysql => Some("ACCESSKEY_TEST_MYSQL_URL"),
        }
    }
}

/// A database made for one test and dropped after it.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    /// For SQLite: the directory holding the file. For servers: the admin URL
    /// and the database's name, to drop it.
    dir: Option<TempDir>,
    server: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database on `backend`, or `None` when that backend is not
    /// configured (outside CI only).
    pub async fn create(backend: Backend) -> Option<Self> {
        let Some(variable) = backend.server_url_variable() else {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("accesskey.db");
            return Some(Self {
                url: format!("sqlite://{}", path.display()),
                backend,
                dir: Some(dir),
                server: None,
            });
        };
        let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
        let admin_url = match std::env::var(variable) {
            Ok(url) if !url.is_empty() => url,
            _ if in_ci => panic!("{variable} is not set: CI must test every backend"),
            _ => {
                eprintln!("skipped: set {variable} to run this test on {backend:?}");
                return None;
            }
        };
        let name = format!("accesskey_test_{}", random_suffix());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach {backend:?} at {variable}: {e}"));
        let create = match backend {
            Backend::Mysql => {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
            _ => format!("CREATE DATABASE {name}"),
        };
        admin
            .execute_unprepared(&create)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        Some(Self {
            url: with_database_name(&admin_url, &name),
            backend,
            dir: None,
            server: Some((admin_url, name)),
        })
    }

    /// For SQLite: the database file.
    /// For PostgreSQL and MySQL: the admin URL and the database's name.
    pub fn server_database(&self) -> Option<(&str, &str)> {
        self.server
            .as_ref()
            .map(|(url, name)| (url.as_str(), name.as_str()))
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.path().join("accesskey.db"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.server.take() else {
            return;
        };
        let drop = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        // Drop runs inside a test's runtime, which cannot be blocked on; a
        // thread with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    if let Err(error) = admin.execute_unprepared(&drop).await {
                        eprintln!("could not drop test database {name}: {error}");
                    }
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// `url` with its database (the last path segment) replaced by `name`.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// Every log line every in-process server wrote, at trace level, so tests can
/// check that no secret ever reaches a log.
static CAPTURED_LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED_LOGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "trace,h2=debug,hyper=debug,hyper_util=debug,tower=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| CaptureWriter)
            .try_init();
    });
}

/// Everything logged so far by any server in this test binary.
pub fn captured_logs() -> String {
    let logs = CAPTURED_LOGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&logs).into_owned()
}

/// A running server, its database, and a client holding the bootstrap
/// admin's key. Dropping it shuts the server down and deletes the database.
pub struct TestServer {
    pub address: SocketAddr,
    pub admin: Client,
    pub admin_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    database: Option<TestDatabase>,
}

impl TestServer {
    /// A server on a fresh SQLite file (always available).
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite)
            .await
            .expect("SQLite is always available")
    }

    /// A server on a fresh database of `backend`, or `None` if that backend
    /// is not configured (outside CI).
    pub async fn start_on(backend: Backend) -> Option<Self> {
        Self::start_configured(backend, |_| {}).await
    }

    /// Like [`start_on`](Self::start_on), with `configure` applied to the
    /// server's configuration first.
    pub async fn start_configured(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        capture_logs();
        let database = TestDatabase::create(backend).await?;
        let mut config = Config::for_database(database.url.clone());
        configure(&mut config);
        let admin_key = bootstrap(&config).await;

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let address = listener.local_addr().expect("bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            accesskey_server::run(config, listener, async {
                let _ = stop.await;
            })
            .await
            .expect("server runs until shut down");
        });
        let admin = Client::builder(format!("http://{address}"))
            .access_key(&admin_key)
            .connect()
            .await
            .expect("connect to the test server");
        Some(Self {
            address,
            admin,
            admin_key,
            shutdown: Some(shutdown),
            task: Some(task),
            database: Some(database),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A client on the same connection presenting `key`.
    pub fn client_with_key(&self, key: &str) -> Client {
        self.admin.with_access_key(key).expect("ASCII key")
    }

    /// Creates a local user with `permissions` and issues it a key.
    pub async fn user_with_key(&self, username: &str, permissions: &[&str]) -> (pb::User, String) {
        let user = self.create_user(username, permissions).await;
        let key = self
            .admin
            .generate_access_key(user.id, None)
            .await
            .expect("generate a key")
            .into_key();
        (user, key)
    }

    pub async fn create_user(&self, username: &str, permissions: &[&str]) -> pb::User {
        self.admin
            .create_user(new_user(username, permissions))
            .await
            .expect("create user")
    }

    /// Makes `key` look issued before secret fingerprints existed (its
    /// stored fingerprint removed), as an upgraded database holds such keys.
    /// SQLite only.
    pub async fn forget_fingerprint(&self, key: &str) {
        let key_id = &key[5..21];
        self.edit_around_the_server(&format!(
            "UPDATE access_keys SET secret_fingerprint = NULL WHERE key_id = '{key_id}'"
        ))
        .await;
    }

    /// Runs `sql` on the SQLite file through a connection of its own, as
    /// an operator's `sqlite3` session would, behind the server's back.
    pub async fn edit_around_the_server(&self, sql: &str) {
        let path = self.database().sqlite_path().expect("a SQLite test");
        let db = Database::connect(format!("sqlite://{}", path.display()))
            .await
            .expect("connect");
        db.execute_unprepared(sql).await.expect("the edit");
        let _ = db.close().await;
    }

    pub fn database(&self) -> &TestDatabase {
        self.database.as_ref().expect("kept until stop")
    }

    /// Stops the server, waiting for it to finish and close its database,
    /// and hands over the database (dropped, with its files, when dropped).
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
        self.database
            .take()
            .expect("the database is kept until stop")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Creates the first admin on the database at `config`, as `accesskeyd
/// bootstrap` does, and returns its key.
pub async fn bootstrap(config: &Config) -> String {
    let (store, directory) = accesskey_server::open(config).await.expect("open database");
    let admin_key = directory
        .bootstrap(Username::parse("username", "admin").expect("valid name"))
        .await
        .expect("bootstrap on a fresh database")
        .expose_plaintext();
    store.close().await.expect("close");
    admin_key
}

/// A local user named `username` holding `permissions`, with an email and a
/// display name derived from the name.
pub fn new_user(username: &str, permissions: &[&str]) -> NewUser {
    NewUser::new(username)
        .email(format!("{}@example.test", username.to_ascii_lowercase()))
        .display_name(format!("User {username}"))
        .permissions(permissions.iter().copied())
}

/// The gRPC code of a failed call, for assertions.
pub fn code<T: std::fmt::Debug>(result: Result<T, accesskey_client::Error>) -> tonic::Code {
    result
        .expect_err("the call should fail")
        .code()
        .expect("a status from the server")
}

/// The result of a raw call through a generated stub (see
/// [`Client::user_admin_stub`]), as the typed API would report it, so the
/// same assertions apply to both.
pub fn raw<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, accesskey_client::Error> {
    result
        .map(tonic::Response::into_inner)
        .map_err(accesskey_client::Error::from)
}

/// `accesskeyd` as a separate process, as deployments run it: for replica
/// and crash tests.
pub struct Replica {
    pub address: SocketAddr,
    child: tokio::process::Child,
    output: Output,
}

/// Everything a child process wrote to stdout and stderr.
type Output = std::sync::Arc<Mutex<Vec<u8>>>;

impl Replica {
    /// Starts `accesskeyd` on `database_url`, listening on an ephemeral port.
    pub async fn spawn(database_url: &str) -> Self {
        Self::spawn_logging(database_url, "info").await
    }

    /// Like [`spawn`](Self::spawn), with `RUST_LOG` set to `filter`.
    pub async fn spawn_logging(database_url: &str, filter: &str) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskeyd"));
        command
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .env("RUST_LOG", filter);
        let output = Output::default();
        // The server announces itself on stderr: "… accesskeyd listening address=IP:PORT …".
        let (child, address) = spawn_announcing(
            command,
            Announces::OnStderr,
            |line| {
                let rest = line.split("address=").nth(1)?;
                line.contains("accesskeyd listening")
                    .then(|| rest.split_whitespace().next())
                    .flatten()
            },
            Some(output.clone()),
        )
        .await;
        Self {
            address,
            child,
            output,
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> Vec<u8> {
        self.output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A client of this replica presenting `key`.
    pub async fn client(&self, key: &str) -> Client {
        Client::builder(format!("http://{}", self.address))
            .access_key(key)
            .connect()
            .await
            .expect("connect to the replica")
    }

    /// SIGTERM, then waits for a graceful exit (which must be a success).
    pub async fn terminate(&mut self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s")
            .expect("wait");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    }

    /// SIGKILL: no shutdown, no flush, exactly like a crash.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill accesskeyd");
    }
}

#[derive(Clone, Copy)]
enum Announces {
    OnStdout,
    OnStderr,
}

/// Spawns `command` and waits (30 s at most) for the line from which `find`
/// extracts its listening address; keeps draining the output afterwards so
/// the child never blocks on a full pipe. With `record`, both stdout and
/// stderr are kept there, whole.
async fn spawn_announcing(
    mut command: tokio::process::Command,
    stream: Announces,
    find: impl Fn(&str) -> Option<&str>,
    record: Option<Output>,
) -> (tokio::process::Child, SocketAddr) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};

    let (stdout, stderr) = match (stream, &record) {
        (_, Some(_)) => (Stdio::piped(), Stdio::piped()),
        (Announces::OnStdout, None) => (Stdio::piped(), Stdio::inherit()),
        (Announces::OnStderr, None) => (Stdio::null(), Stdio::piped()),
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start the process");
    let output: Box<dyn AsyncRead + Unpin + Send> = match stream {
        Announces::OnStdout => Box::new(child.stdout.take().expect("piped stdout")),
        Announces::OnStderr => Box::new(child.stderr.take().expect("piped stderr")),
    };
    // The stream that does not announce, if piped, is recorded as it comes.
    let other: Option<Box<dyn AsyncRead + Unpin + Send>> = match stream {
        Announces::OnStdout => child.stderr.take().map(|s| Box::new(s) as _),
        Announces::OnStderr => child.stdout.take().map(|s| Box::new(s) as _),
    };
    if let (Some(mut other), Some(record)) = (other, record.clone()) {
        tokio::spawn(async move {
            let mut buffer = [0u8; 8192];
            while let Ok(read) = other.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&buffer[..read]);
            }
        });
    }
    let mut lines = BufReader::new(output).lines();
    let mut seen = Vec::new();
    let address = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the process announces its address within 30 s")
            .expect("read its output")
            .unwrap_or_else(|| panic!("the process exited before listening:\n{}", seen.join("\n")));
        record_line(record.as_ref(), &line);
        if let Some(address) = find(&line) {
            break address.parse().expect("a socket address");
        }
        seen.push(line);
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            record_line(record.as_ref(), &line);
        }
    });
    (child, address)
}

/// Appends `line` to `record`, if the output is being recorded.
fn record_line(record: Option<&Output>, line: &str) {
    if let Some(record) = record {
        let mut record = record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
    }
}

/// One of the client crate's example services, as a process.
pub struct Example {
    pub address: SocketAddr,
    _child: tokio::process::Child,
}

impl Example {
    /// Runs `target/…/examples/<name>` against accesskey at `endpoint`,
    /// presenting `service_key`. `cargo test` builds the examples.
    pub async fn spawn(name: &str, endpoint: &str, service_key: &str) -> Self {
        let deps = std::env::current_exe().expect("test binary path");
        let program = deps
            .parent()
            .and_then(std::path::Path::parent)
            .expect("target profile directory")
            .join("examples")
            .join(name);
        assert!(
            program.exists(),
            "{} is missing: run `cargo build --examples`",
            program.display()
        );
        let mut command = tokio::process::Command::new(program);
        command
            .env("ACCESSKEY_ENDPOINT", endpoint)
            .env("ACCESSKEY_KEY", service_key)
            .env("LISTEN", "127.0.0.1:0");
        let (child, address) = spawn_announcing(
            command,
            Announces::OnStdout,
            |line| line.strip_prefix("listening on http://"),
            None,
        )
        .await;
        Self {
            address,
            _child: child,
        }
    }
}

/// What an HTTP request got back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// A plain HTTP/1.1 GET, written by hand so the tests need no HTTP client.
pub async fn http_get(address: &SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("receive");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    HttpResponse { status, body }
}

/// What a CLI run printed and how it exited.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `accesskey` CLI against `server` with `key` in ACCESSKEY_KEY.
pub async fn run_cli(
    server: &TestServer,
    key: &str,
    args: &[&str],
    stdin: Option<String>,
) -> CliRun {
    run_cli_at(&server.endpoint(), key, args, stdin).await
}

/// Runs the `accesskey` CLI against `endpoint`, feeding `stdin` if given.
pub async fn run_cli_at(endpoint: &str, key: &str, args: &[&str], stdin: Option<String>) -> CliRun {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt as _;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskey"))
        .args(args)
        .env("ACCESSKEY_ENDPOINT", endpoint)
        .env("ACCESSKEY_KEY", key)
        .env_remove("ACCESSKEY_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run accesskey");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let output = child.wait_with_output().await.expect("accesskey exits");
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `accesskeyd` with `args` to completion (for subcommands).
pub async fn run_accesskeyd(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-accesskeyd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run accesskeyd")
}

/// Creates one user per name concurrently, spreading the calls round-robin
/// over `clients`. Returns how many succeeded; every other call must have
/// failed with `ALREADY_EXISTS`.
pub async fn race_create_users(clients: &[Client], names: &[&str]) -> usize {
    let attempts: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let client = clients[i % clients.len()].clone();
            let user = new_user(name, &[]);
            tokio::spawn(async move { client.create_user(user).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(_) => created += 1,
            Err(err) => assert_eq!(err.code(), Some(tonic::Code::AlreadyExists), "{err}"),
        }
    }
    created
}

/// Issues `count` keys for `user_id` concurrently, round-robin over
/// `clients`; every call must succeed. Returns the keys.
pub async fn race_generate_keys(clients: &[Client], user_id: i64, count: usize) -> Vec<String> {
    let attempts: Vec<_> = (0..count)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move { client.generate_access_key(user_id, None).await })
        })
        .collect();
    let mut keys = Vec::new();
    for attempt in attempts {
        keys.push(
            attempt
                .await
                .expect("task")
                .expect("every generate succeeds")
                .into_key(),
        );
    }
    keys
}

/// How many of `keys` verify as valid (with no required permissions).
pub async fn count_valid(client: &Client, keys: &[String]) -> usize {
    let mut valid = 0;
    for key in keys {
        if client
            .verify(key, Vec::<String>::new())
            .await
            .expect("verify")
            .is_valid()
        {
            valid += 1;
        }
    }
    valid
}

/// `key`'s key id with a fresh random secret: well-formed, and never valid.
pub fn wrong_secret(key: &str) -> String {
    use accesskey_server::domain::key_format::AccessKey;
    AccessKey::parse(key)
        .expect("a genuine key")
        .with_secret_of(&AccessKey::generate().expect("csprng"))
        .expose_plaintext()
}
