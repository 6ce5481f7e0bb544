//! The `accesskey` admin CLI, run as a process against a real accesskeyd:
//! every subcommand, both output formats, and the exit codes.

use serde_json::Value;

use crate::harness::{CliRun, TestServer, run_cli};

const NONE: [&str; 0] = [];

fn json(run: &CliRun) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

#[tokio::test]
async fn user_subcommands_create_get_list_update_and_delete() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;

    let created = admin(&[
        "user",
        "create",
        "Svc.Orders",
        "--email",
        "svc@example.test",
        "--permission",
        "orders.read",
    ])
    .await;
    assert_eq!(created.code, 0, "{created:?}");
    assert!(
        created.stdout.contains("Svc.Orders"),
        "table output: {created:?}"
    );

    let got = admin(&["user", "get", "svc.orders", "--output", "json"]).await;
    assert_eq!(got.code, 0, "{got:?}");
    let user = json(&got);
    assert_eq!(user["username"], "Svc.Orders");
    assert_eq!(user["email"], "svc@example.test");
    assert_eq!(user["permissions"], serde_json::json!(["orders.read"]));
    assert_eq!(user["access_key"], Value::Null);
    let id = user["id"].as_i64().expect("numeric id");
    let by_id = admin(&["user", "get", &format!("id:{id}"), "-o", "json"]).await;
    assert_eq!(json(&by_id)["username"], "Svc.Orders");

    admin(&["user", "create", "svc.billing"]).await;
    let listed = admin(&["user", "list", "-o", "json"]).await;
    let names: Vec<String> = json(&listed)["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["username"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["admin", "Svc.Orders", "svc.billing"]);
    let page = admin(&[
        "user",
        "list",
        "--prefix",
        "SVC",
        "--page-size",
        "1",
        "-o",
        "json",
    ])
    .await;
    let page = json(&page);
    assert_eq!(page["users"].as_array().expect("users").len(), 1);
    assert!(!page["next_page_token"].as_str().expect("token").is_empty());
    let table = admin(&["user", "list"]).await;
    assert!(
        table
            .stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("ID")),
        "{table:?}"
    );

    let updated = admin(&[
        "user",
        "update",
        "svc.orders",
        "--add-permission",
        "orders.write",
        "--disable",
        "--display-name",
        "Orders",
        "-o",
        "json",
    ])
    .await;
    let user = json(&updated);
    assert_eq!(
        user["permissions"],
        serde_json::json!(["orders.read", "orders.write"])
    );
    assert_eq!(user["disabled"], true);
    assert_eq!(user["display_name"], "Orders");
    let updated = admin(&[
        "user",
        "update",
        "svc.orders",
        "--enable",
        "--remove-permission",
        "orders.read",
        "-o",
        "json",
    ])
    .await;
    let user = json(&updated);
    assert_eq!(user["permissions"], serde_json::json!(["orders.write"]));
    assert_eq!(user["disabled"], false);

    let deleted = admin(&["user", "delete", "svc.orders"]).await;
    assert_eq!(deleted.code, 0, "{deleted:?}");
    let gone = admin(&["user", "get", "svc.orders"]).await;
    assert_eq!(gone.code, 3, "not found: {gone:?}");
}

#[tokio::test]
async fn key_generate_prints_the_key_alone_and_verify_and_revoke_follow_it() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str], stdin: Option<&str>| {
        run_cli(&server, &server.admin_key, args, stdin.map(str::to_owned)).await
    };
    admin(
        &["user", "create", "svc", "--permission", "orders.read"],
        None,
    )
    .await;

    let generated = admin(&["key", "generate", "svc"], None).await;
    assert_eq!(generated.code, 0, "{generated:?}");
    let key = generated.stdout.trim_end_matches('\n');
    assert!(
        key.starts_with("akey_") && !key.contains('\n'),
        "only the key on stdout: {generated:?}"
    );
    assert!(
        generated.stderr.contains("only time"),
        "a warning on stderr: {generated:?}"
    );

    let valid = admin(&["verify", "--require", "orders.read"], Some(key)).await;
    assert_eq!(valid.code, 0, "{valid:?}");
    assert!(valid.stdout.starts_with("VALID"), "{valid:?}");
    let denied = admin(
        &["verify", "-", "--require", "orders.write", "-o", "json"],
        Some(key),
    )
    .await;
    assert_eq!(denied.code, 4, "{denied:?}");
    assert_eq!(json(&denied)["result"], "PERMISSION_DENIED");
    assert_eq!(
        json(&denied)["missing_permissions"],
        serde_json::json!(["orders.write"])
    );

    let revoked = admin(&["key", "revoke", "svc"], None).await;
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let gone = admin(&["verify", "-o", "json"], Some(key)).await;
    assert_eq!(gone.code, 4);
    assert_eq!(json(&gone)["result"], "NOT_FOUND");

    let expiring = admin(
        &["key", "generate", "svc", "--expires-in", "2h", "-o", "json"],
        None,
    )
    .await;
    let expiring = json(&expiring);
    assert!(
        expiring["access_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("akey_"))
    );
    assert!(
        expiring["expire_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn whoami_and_key_files_identify_the_caller() {
    let server = TestServer::start().await;
    let who = run_cli(&server, &server.admin_key, &["whoami", "-o", "json"], None).await;
    assert_eq!(json(&who)["username"], "admin");

    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("admin.key");
    std::fs::write(&key_file, format!("{}\n", server.admin_key)).expect("write key file");
    let key_file = key_file.to_str().expect("utf-8 path");
    let who = run_cli(&server, "", &["whoami", "--key-file", key_file], None).await;
    assert_eq!(who.code, 0, "{who:?}");
    assert!(who.stdout.contains("admin"), "{who:?}");
}

#[tokio::test]
async fn exit_codes_tell_usage_not_found_denied_and_unreachable_apart() {
    let server = TestServer::start().await;
    let (_, weak_key) = server.user_with_key("weak", &["orders.read"]).await;

    let no_key = run_cli(&server, "", &["whoami"], None).await;
    assert_eq!(no_key.code, 2, "{no_key:?}");
    assert!(
        no_key.stderr.contains("ACCESSKEY_KEY"),
        "says what to do: {no_key:?}"
    );
    let usage = run_cli(&server, &server.admin_key, &["user", "frobnicate"], None).await;
    assert_eq!(usage.code, 2, "{usage:?}");

    let missing = run_cli(&server, &server.admin_key, &["user", "get", "nobody"], None).await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(missing.stderr.contains("hint:"), "{missing:?}");

    let bad_key = run_cli(&server, "akey_not_a_real_key", &["whoami"], None).await;
    assert_eq!(bad_key.code, 4, "{bad_key:?}");
    let weak = run_cli(&server, &weak_key, &["user", "list"], None).await;
    assert_eq!(weak.code, 4, "{weak:?}");
    assert!(weak.stderr.contains("users.read"), "{weak:?}");

    let invalid = run_cli(
        &server,
        &server.admin_key,
        &["user", "create", "has space"],
        None,
    )
    .await;
    assert_eq!(invalid.code, 1, "{invalid:?}");
    assert!(invalid.stderr.contains("username"), "{invalid:?}");

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let unreachable = crate::harness::run_cli_at(
        &format!("http://{closed_port}"),
        &server.admin_key,
        &["whoami"],
        None,
    )
    .await;
    assert_eq!(unreachable.code, 5, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("is accesskeyd running"),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn an_absurd_expiry_is_a_usage_error_and_replaces_nothing() {
    let server = TestServer::start().await;
    let (user, key) = server.user_with_key("svc", &[]).await;
    let run = run_cli(
        &server,
        &server.admin_key,
        &["key", "generate", "svc", "--expires-in", "200000000000000d"],
        None,
    )
    .await;
    assert_eq!(run.code, 2, "a usage error, not a panic: {run:?}");
    assert!(run.stderr.contains("too long"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let stored = server.admin.get_user(user.id).await.expect("get");
    assert_eq!(
        stored.access_key.map(|info| info.key_id).as_deref(),
        key.get(5..21),
        "the old key was not replaced"
    );
}

#[tokio::test]
async fn key_generate_writes_a_private_key_file_and_never_overwrites_one() {
    let server = TestServer::start().await;
    let (_, old_key) = server.user_with_key("svc", &[]).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("svc.key");
    let path_text = path.to_str().expect("UTF-8 path");
    let generate = |path: &str| {
        let args = ["key", "generate", "svc", "--key-out", path].map(str::to_owned);
        let (server, key) = (&server, server.admin_key.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli(server, &key, &args, None).await
        }
    };

    let written = generate(path_text).await;
    assert_eq!(written.code, 0, "{written:?}");
    assert!(
        written.stdout.is_empty(),
        "the key goes to the file only: {written:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&path)
        .expect("read")
        .trim()
        .to_owned();
    assert!(server.verdict(&key, NONE).await.is_valid());
    assert!(!server.verdict(&old_key, NONE).await.is_valid());

    // An existing file is never overwritten, and the key is not replaced.
    let again = generate(path_text).await;
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("must not exist"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&path).expect("read").trim(), key);
    assert!(server.verdict(&key, NONE).await.is_valid());

    // A key file others may read works, with a warning.
    let shared = dir.path().join("admin.key");
    std::fs::write(&shared, &server.admin_key).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let whoami = run_cli(
            &server,
            "",
            &["whoami", "--key-file", shared.to_str().expect("UTF-8 path")],
            None,
        )
        .await;
        assert_eq!(whoami.code, 0, "{whoami:?}");
        assert!(
            whoami.stderr.contains("can be read by other users"),
            "{whoami:?}"
        );
    }
}

/// `accesskey user list --search` finds users by any part of their
/// username, display name or email, ignoring case, on every page; the
/// table shows display names.
#[tokio::test]
async fn user_list_searches_usernames_display_names_and_emails() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;
    admin(&["user", "create", "alpha", "--display-name", "Payments Team"]).await;
    admin(&["user", "create", "beta", "--email", "PAYROLL@corp.example"]).await;
    admin(&["user", "create", "xpay"]).await;
    admin(&["user", "create", "gamma", "--display-name", "Other"]).await;

    let names = |run: &CliRun| -> Vec<String> {
        json(run)["users"]
            .as_array()
            .unwrap_or_else(|| panic!("users: {run:?}"))
            .iter()
            .filter_map(|u| u["username"].as_str().map(str::to_owned))
            .collect()
    };
    let found = admin(&["user", "list", "--search", "PaY", "-o", "json"]).await;
    assert_eq!(found.code, 0, "{found:?}");
    assert_eq!(names(&found), ["alpha", "beta", "xpay"]);
    let paged = admin(&[
        "user",
        "list",
        "--search",
        "pay",
        "--page-size",
        "2",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(names(&paged), ["alpha", "beta"]);
    let token = json(&paged)["next_page_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let rest = admin(&[
        "user",
        "list",
        "--search",
        "pay",
        "--page-size",
        "2",
        "--page-token",
        &token,
        "-o",
        "json",
    ])
    .await;
    assert_eq!(names(&rest), ["xpay"]);
    let table = admin(&["user", "list", "--search", "payments"]).await;
    assert!(table.stdout.contains("Payments Team"), "{table:?}");
}
