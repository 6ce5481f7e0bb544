//! The contract is language-neutral: Python stubs generated from `proto/`
//! with grpcio-tools run a full round trip against a real accesskeyd.
//!
//! Needs `ACCESSKEY_TEST_PYTHON`: a Python with the packages in
//! `tests/python/requirements.txt` (`.ci/run` makes one in a virtualenv).

use std::path::Path;

use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_python_client_round_trip() {
    let python = match std::env::var("ACCESSKEY_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("ACCESSKEY_TEST_PYTHON is not set: CI must run the Python contract test")
        }
        _ => {
            eprintln!("skipped: set ACCESSKEY_TEST_PYTHON to a Python with grpcio-tools");
            return;
        }
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let generated = tempfile::tempdir().expect("temporary directory");
    let protoc = tokio::process::Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(repo.join("proto"))
        .arg(format!("--python_out={}", generated.path().display()))
        .arg(format!("--grpc_python_out={}", generated.path().display()))
        .arg("accesskey/v1/accesskey.proto")
        .output()
        .await
        .expect("run grpc_tools.protoc");
    assert!(
        protoc.status.success(),
        "{}",
        String::from_utf8_lossy(&protoc.stderr)
    );

    let server = TestServer::start().await;
    let run = tokio::process::Command::new(&python)
        .arg(repo.join("tests/python/roundtrip.py"))
        .arg(generated.path())
        .arg(server.address.to_string())
        .env("ACCESSKEY_KEY", &server.admin_key)
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("python round trip: ok"), "{stdout}");
}
