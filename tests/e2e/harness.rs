//! One harness for every end-to-end test: a real `accesskeyd` (the server
//! library, in process) on an ephemeral port over its own SQLite file,
//! reached only over gRPC through the client crate.

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use accesskey_client::{Client, pb};
use accesskey_server::{Config, domain::model::Username};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

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
    #[allow(dead_code, reason = "for tests that dial the server themselves")]
    pub address: SocketAddr,
    pub admin: Client,
    pub admin_key: String,
    pub database_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    dir: Option<TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        capture_logs();
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_path = dir.path().join("accesskey.db");
        let config = Config::for_database(format!("sqlite://{}", database_path.display()));

        // Bootstrap the first admin, as `accesskeyd bootstrap` does.
        let (store, directory) = accesskey_server::open(&config)
            .await
            .expect("open database");
        let admin_key = directory
            .bootstrap(Username::parse("username", "admin").expect("valid name"))
            .await
            .expect("bootstrap on a fresh database")
            .expose_plaintext();
        store.close().await.expect("close");

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
        Self {
            address,
            admin,
            admin_key,
            database_path,
            shutdown: Some(shutdown),
            task: Some(task),
            dir: Some(dir),
        }
    }

    #[allow(dead_code, reason = "for tests that bring their own client")]
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
        let (key, _) = self
            .admin
            .generate_access_key(user.id, None)
            .await
            .expect("generate a key");
        (user, key)
    }

    pub async fn create_user(&self, username: &str, permissions: &[&str]) -> pb::User {
        self.admin
            .create_user(new_user(username, permissions))
            .await
            .expect("create user")
    }

    /// Stops the server, waiting for it to finish and close its database,
    /// and hands over the directory holding the database files.
    pub async fn stop(mut self) -> TempDir {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
        self.dir.take().expect("the directory is kept until stop")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub fn new_user(username: &str, permissions: &[&str]) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        username: username.to_owned(),
        email: format!("{}@example.test", username.to_ascii_lowercase()),
        display_name: format!("User {username}"),
        identity_provider: String::new(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// The gRPC code of a failed call, for assertions.
pub fn code<T: std::fmt::Debug>(result: Result<T, accesskey_client::Error>) -> tonic::Code {
    result
        .expect_err("the call should fail")
        .code()
        .expect("a status from the server")
}
