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
    ConsoleSession, HttpReply, SESSION_COOKIE, assert_not_stored, http_request, http_request_to,
    http1_answer, sign_in, text_area,
};
pub use logs::captured_logs;
pub use processes::{CliRun, Example, Replica, http_get, run_accesskeyd, run_cli, run_cli_at};
pub use server::{TestServer, bootstrap};

/// Runs each scenario (an `async fn` defined beside it, taking what the
/// test starts for it) once per backend, as `<scenario>::sqlite`,
/// `<scenario>::postgres` and `<scenario>::mysql`. The scenarios are plain
/// functions outside the macro, so rustfmt and the compiler see them as
/// they are.
///
/// - `on_every_backend!(a, b)`: each scenario takes a [`TestServer`],
///   started on every backend.
/// - `on_every_backend!(multi_thread; a, b)`: the same on a two-thread
///   runtime, for scenarios whose point is concurrency between the server
///   and many clients.
/// - `on_every_backend!([postgres, mysql] with Cluster::start; a, b)`
///   (`multi_thread;` may follow the `with` part): only the backends
///   listed, each scenario taking what the `with` function, an
///   `async fn(Backend) -> Option<T>` in scope beside the scenarios, makes
///   of that backend.
///
/// A backend that is not configured gives `None`, and its test passes
/// without running (outside CI; see [`TestDatabase::create`]). SQLite is
/// always available, so `None` there fails the test.
macro_rules! on_every_backend {
    // One test function per backend, inside the scenario's module.
    (@test $test:meta; $start:path; $scenario:ident; sqlite) => {
        #[$test]
        async fn sqlite() {
            let given = $start($crate::harness::Backend::Sqlite).await;
            super::$scenario(given.expect("SQLite is always available")).await;
        }
    };
    (@test $test:meta; $start:path; $scenario:ident; postgres) => {
        #[$test]
        async fn postgres() {
            if let Some(given) = $start($crate::harness::Backend::Postgres).await {
                super::$scenario(given).await;
            }
        }
    };
    (@test $test:meta; $start:path; $scenario:ident; mysql) => {
        #[$test]
        async fn mysql() {
            if let Some(given) = $start($crate::harness::Backend::Mysql).await {
                super::$scenario(given).await;
            }
        }
    };
    (@scenario $test:meta; $start:path; [$($backend:ident),+]; $scenario:ident) => {
        mod $scenario {
            // For the `with` function, named beside the scenarios.
            #[allow(unused_imports)]
            use super::*;

            $($crate::harness::on_every_backend!(@test $test; $start; $scenario; $backend);)+
        }
    };
    (@scenarios $test:meta; $start:path; $backends:tt; $($scenario:ident),+) => {$(
        $crate::harness::on_every_backend!(@scenario $test; $start; $backends; $scenario);
    )+};

    ([$($backend:ident),+] with $start:path; multi_thread; $($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(
            @scenarios tokio::test(flavor = "multi_thread", worker_threads = 2);
            $start; [$($backend),+]; $($scenario),+
        );
    };
    ([$($backend:ident),+] with $start:path; $($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(
            @scenarios tokio::test; $start; [$($backend),+]; $($scenario),+
        );
    };
    (multi_thread; $($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(
            [sqlite, postgres, mysql] with $crate::harness::TestServer::start_on;
            multi_thread; $($scenario),+
        );
    };
    ($($scenario:ident),+ $(,)?) => {
        $crate::harness::on_every_backend!(
            [sqlite, postgres, mysql] with $crate::harness::TestServer::start_on; $($scenario),+
        );
    };
}
pub(crate) use on_every_backend;
