//! An in-process server on port 0, bootstrapped, with an admin client.

use std::net::SocketAddr;

use accesskey_client::{Client, Verification, pb};
use accesskey_server::{Config, testing::model::Username};
use sea_orm::{ConnectionTrait as _, Database};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use super::calls::new_user;
use super::database::{Backend, TestDatabase};
use super::logs::capture_logs;

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
        super::calls::user_with_key(&self.admin, username, permissions).await
    }

    /// The admin's VerifyAccessKey answer for `key`, requiring `required`.
    pub async fn verdict<I, S>(&self, key: &str, required: I) -> Verification
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.admin.verify(key, required).await.expect("verify")
    }

    pub async fn create_user(&self, username: &str, permissions: &[&str]) -> pb::User {
        self.admin
            .create_user(new_user(username, permissions))
            .await
            .expect("create user")
    }

    /// Creates role `name` carrying `permissions`.
    pub async fn create_role(&self, name: &str, permissions: &[&str]) -> pb::Role {
        self.admin
            .create_role(
                accesskey_client::NewRole::new(name).permissions(permissions.iter().copied()),
            )
            .await
            .expect("create role")
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

    /// Runs `sql` on the database through a connection of its own, as an
    /// operator's `sqlite3` or `psql` session would, behind the server's
    /// back.
    pub async fn edit_around_the_server(&self, sql: &str) {
        let db = Database::connect(&self.database().url)
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
