//! One harness for every end-to-end test: a real `accesskeyd` (the server
//! library in process, or the binary as a child process) on an ephemeral
//! port over its own throwaway database, reached only over gRPC through the
//! client crate.
//!
//! SQLite is always tested. PostgreSQL and MySQL/MariaDB are tested when
//! `ACCESSKEY_TEST_POSTGRES_URL` / `ACCESSKEY_TEST_MYSQL_URL` name a server
//! (any database on it; each test creates and drops its own). Under `CI=true`
//! a missing or unreachable backend fails the test instead of skipping it.

mod browser;
mod calls;
mod database;
mod http;
mod logs;
mod processes;
mod server;

pub use browser::Browser;
pub use calls::{
    EVERY_SERVICE_PERMISSION, code, count_valid, eventually, new_user, race_create_users,
    race_generate_keys, raw, user_with_key, wrong_secret,
};
pub use database::{Backend, TestDatabase};
pub use http::{
    ConsoleSession, HttpReply, SESSION_COOKIE, http_request, http_request_to, http1_answer, sign_in,
};
pub use logs::captured_logs;
pub use processes::{CliRun, Example, Replica, http_get, run_accesskeyd, run_cli, run_cli_at};
pub use server::{TestServer, bootstrap};

/// Runs each scenario (an `async fn(TestServer)` defined beside it) once
/// per backend, as `<scenario>::sqlite`, `<scenario>::postgres` and
/// `<scenario>::mysql`. Starting with `multi_thread;` runs them on a
/// two-thread runtime, for scenarios whose point is concurrency between the
/// server and many clients. The scenarios themselves are plain functions,
/// so rustfmt and the compiler see them as they are.
macro_rules! on_every_backend {
    (multi_thread; $($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(
            @runtime tokio::test(flavor = "multi_thread", worker_threads = 2); $($scenario),+
        );
    };
    (@runtime $test:meta; $($scenario:ident),+) => {$(
        mod $scenario {
            use $crate::harness::{Backend, TestServer};

            #[$test]
            async fn sqlite() {
                super::$scenario(TestServer::start().await).await;
            }

            #[$test]
            async fn postgres() {
                if let Some(server) = TestServer::start_on(Backend::Postgres).await {
                    super::$scenario(server).await;
                }
            }

            #[$test]
            async fn mysql() {
                if let Some(server) = TestServer::start_on(Backend::Mysql).await {
                    super::$scenario(server).await;
                }
            }
        }
    )+};
    ($($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(@runtime tokio::test; $($scenario),+);
    };
}
pub(crate) use on_every_backend;
