//! The README walk-through, step by step, with the real binaries: start
//! accesskeyd, bootstrap the admin key, create a service user and callers
//! with the CLI, run the example service, call it with and without a key.

use crate::harness::{
    Backend, Example, Replica, TestDatabase, http_get, run_accesskeyd, run_cli_at,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let dir = tempfile::tempdir().expect("dir");
    let admin_key_file = dir.path().join("admin.key");
    let admin_key_path = admin_key_file.to_str().expect("utf-8 path");

    // 1. The server, and the first admin key in a 0600 file.
    let server = Replica::spawn(&database.url).await;
    let bootstrap = run_accesskeyd(&[
        "--database-url",
        &database.url,
        "bootstrap",
        "--key-file",
        admin_key_path,
    ])
    .await;
    assert!(
        bootstrap.status.success(),
        "{}",
        String::from_utf8_lossy(&bootstrap.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&admin_key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the admin key file is private");
    }
    let admin_key = std::fs::read_to_string(&admin_key_file)
        .expect("read")
        .trim()
        .to_owned();
    let endpoint = format!("http://{}", server.address);
    let cli = |args: Vec<&str>| {
        let endpoint = endpoint.clone();
        let admin_key = admin_key.clone();
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = run_cli_at(&endpoint, &admin_key, &args, None).await;
            assert_eq!(run.code, 0, "accesskey {args:?}: {run:?}");
            run.stdout.trim().to_owned()
        }
    };

    // 2. A service user that may verify keys, and a caller that may read orders.
    cli(vec![
        "user",
        "create",
        "orders-service",
        "--permission",
        "keys.verify",
    ])
    .await;
    let service_key_file = dir.path().join("service.key");
    cli(vec![
        "key",
        "generate",
        "orders-service",
        "--key-out",
        service_key_file.to_str().expect("utf-8 path"),
    ])
    .await;
    let service_key = std::fs::read_to_string(&service_key_file)
        .expect("the service key file")
        .trim()
        .to_owned();
    cli(vec![
        "user",
        "create",
        "reporting-job",
        "--permission",
        "orders.read",
    ])
    .await;
    let caller_key = cli(vec!["key", "generate", "reporting-job"]).await;

    // 3. The example service, protected by the layer.
    let service = Example::spawn("http_service", &endpoint, &service_key).await;

    // 4. Called with and without the key.
    let with_key = http_get(
        &service.address,
        "/orders",
        &[("x-access-key", &caller_key)],
    )
    .await;
    assert_eq!(with_key.status, 200, "{with_key:?}");
    let without = http_get(&service.address, "/orders", &[]).await;
    assert_eq!(without.status, 401, "{without:?}");
}
