//! The `accesskey` admin CLI, run as a process against a real accesskeyd:
//! every subcommand, both output formats, and the exit codes.

use serde_json::Value;

use crate::harness::{CliRun, TestServer, new_user, run_cli};

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

/// The `username`s of a `user list -o json`, or the `name`s of a `role list
/// -o json`, in the order printed.
fn names(run: &CliRun, list: &str, field: &str) -> Vec<String> {
    json(run)[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list}: {run:?}"))
        .iter()
        .filter_map(|item| item[field].as_str().map(str::to_owned))
        .collect()
}

/// `accesskey role …`: create, list, get (with its members), update by
/// adding and removing permissions, and delete, refused while users hold
/// the role unless forced, which names them.
#[tokio::test]
async fn role_subcommands_create_list_get_update_and_delete() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;

    let created = admin(&[
        "role",
        "create",
        "Deploy",
        "--description",
        "Ships releases",
        "--permission",
        "deploy.run",
        "--permission",
        "logs.read",
    ])
    .await;
    assert_eq!(created.code, 0, "{created:?}");
    assert!(created.stdout.contains("Ships releases"), "{created:?}");
    let ops = admin(&["role", "create", "ops", "-o", "json"]).await;
    assert_eq!(json(&ops)["member_count"], 0, "{ops:?}");
    assert_eq!(json(&ops)["permissions"], serde_json::json!([]));

    let listed = admin(&["role", "list", "-o", "json"]).await;
    assert_eq!(names(&listed, "roles", "name"), ["Deploy", "ops"]);
    let prefixed = admin(&["role", "list", "--prefix", "dep", "-o", "json"]).await;
    assert_eq!(names(&prefixed, "roles", "name"), ["Deploy"]);
    let table = admin(&["role", "list"]).await;
    let mut lines = table.stdout.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("NAME")),
        "{table:?}"
    );
    assert!(
        lines.any(|l| l.starts_with("Deploy") && l.contains("deploy.run,logs.read")),
        "{table:?}"
    );

    for (username, roles) in [("alice", &["deploy"][..]), ("bob", &["DEPLOY", "ops"])] {
        let member = new_user(username, &[]).roles(roles.iter().copied());
        server
            .admin
            .create_user(member)
            .await
            .expect("create member");
    }
    let shown = admin(&["role", "show", "deploy", "-o", "json"]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    let role = json(&shown);
    assert_eq!(role["name"], "Deploy");
    assert_eq!(role["description"], "Ships releases");
    assert_eq!(role["member_count"], 2);
    assert_eq!(role["members"], serde_json::json!(["alice", "bob"]));
    assert!(role["etag"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(
        role["create_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let table = admin(&["role", "get", "deploy"]).await;
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("members") && l.ends_with("alice, bob")),
        "{table:?}"
    );

    let updated = admin(&[
        "role",
        "update",
        "deploy",
        "--add-permission",
        "deploy.rollback",
        "--remove-permission",
        "logs.read",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(updated.code, 0, "{updated:?}");
    assert_eq!(
        json(&updated)["permissions"],
        serde_json::json!(["deploy.rollback", "deploy.run"])
    );
    assert_eq!(json(&updated)["description"], "Ships releases");
    let alice = admin(&["user", "get", "alice", "-o", "json"]).await;
    assert_eq!(
        json(&alice)["effective_permissions"],
        serde_json::json!(["deploy.rollback", "deploy.run"]),
        "members hold what the role carries now"
    );
    let replaced = admin(&[
        "role",
        "update",
        "deploy",
        "--description",
        "Ships and rolls back",
        "--permissions",
        "deploy.run",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(json(&replaced)["description"], "Ships and rolls back");
    assert_eq!(
        json(&replaced)["permissions"],
        serde_json::json!(["deploy.run"])
    );

    let refused = admin(&["role", "delete", "deploy"]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("hold this role") && refused.stderr.contains("--force"),
        "says why and what to do: {refused:?}"
    );
    assert_eq!(
        admin(&["role", "get", "deploy"]).await.code,
        0,
        "not deleted"
    );

    let forced = admin(&["role", "delete", "deploy", "--force", "-o", "json"]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(
        json(&forced)["removed_from"],
        serde_json::json!(["alice", "bob"])
    );
    let gone = admin(&["role", "get", "deploy"]).await;
    assert_eq!(gone.code, 3, "{gone:?}");
    assert!(gone.stderr.contains("accesskey role list"), "{gone:?}");
    let bob = admin(&["user", "get", "bob", "-o", "json"]).await;
    assert_eq!(json(&bob)["roles"], serde_json::json!(["ops"]));

    let unused = admin(&["role", "delete", "ops", "--force"]).await;
    assert_eq!(unused.code, 0, "{unused:?}");
    assert!(
        unused.stdout.contains("bob"),
        "names who lost it: {unused:?}"
    );
}

/// Users and roles through the user commands: `--role` on create,
/// `--add-role`/`--remove-role`/`--roles` on update, the `--role` and
/// `--permission` filters of `user list`, and what the output shows.
#[tokio::test]
async fn user_subcommands_give_take_and_filter_by_roles() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;
    admin(&["role", "create", "reader", "--permission", "orders.read"]).await;
    admin(&["role", "create", "writer", "--permission", "orders.write"]).await;

    let created = admin(&[
        "user",
        "create",
        "carol",
        "--role",
        "reader",
        "--permission",
        "reports.read",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(created.code, 0, "{created:?}");
    let carol = json(&created);
    assert_eq!(carol["permissions"], serde_json::json!(["reports.read"]));
    assert_eq!(carol["roles"], serde_json::json!(["reader"]));
    assert_eq!(
        carol["effective_permissions"],
        serde_json::json!(["orders.read", "reports.read"])
    );
    admin(&["user", "create", "dave", "--permission", "orders.read"]).await;
    admin(&["user", "create", "erin"]).await;

    let updated = admin(&[
        "user",
        "update",
        "carol",
        "--add-role",
        "Writer",
        "--remove-role",
        "READER",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(updated.code, 0, "{updated:?}");
    assert_eq!(
        json(&updated)["effective_permissions"],
        serde_json::json!(["orders.write", "reports.read"])
    );
    // Read back: UpdateUser's answer spells the roles as the request did
    // (`Writer`), a stored read as the role is named.
    let stored = admin(&["user", "get", "carol", "-o", "json"]).await;
    assert_eq!(json(&stored)["roles"], serde_json::json!(["writer"]));
    let replaced = admin(&[
        "user",
        "update",
        "erin",
        "--roles",
        "reader,writer",
        "-o",
        "json",
    ])
    .await;
    assert_eq!(
        json(&replaced)["roles"],
        serde_json::json!(["reader", "writer"])
    );

    let by_role = admin(&["user", "list", "--role", "writer", "-o", "json"]).await;
    assert_eq!(names(&by_role, "users", "username"), ["carol", "erin"]);
    let by_permission = admin(&["user", "list", "--permission", "orders.read", "-o", "json"]).await;
    assert_eq!(
        names(&by_permission, "users", "username"),
        ["dave", "erin"],
        "held directly or through a role"
    );
    let table = admin(&["user", "list", "--role", "reader"]).await;
    let mut lines = table.stdout.lines();
    assert!(
        lines.next().is_some_and(|l| l.contains("ROLES")),
        "{table:?}"
    );
    assert!(
        lines.any(|l| l.contains("erin")
            && l.contains("reader,writer")
            && l.contains("orders.read,orders.write")),
        "{table:?}"
    );
    let shown = admin(&["user", "get", "erin"]).await;
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.starts_with("effective permissions")
                && l.ends_with("orders.read, orders.write")),
        "{shown:?}"
    );

    let still_held = admin(&[
        "user",
        "update",
        "erin",
        "--remove-permission",
        "orders.read",
    ])
    .await;
    assert_eq!(still_held.code, 0, "{still_held:?}");
    assert!(
        still_held
            .stderr
            .contains("still holds orders.read through its roles"),
        "{still_held:?}"
    );
    let cleared = admin(&["user", "update", "erin", "--roles", "", "-o", "json"]).await;
    assert_eq!(json(&cleared)["roles"], serde_json::json!([]));
    assert_eq!(
        json(&cleared)["effective_permissions"],
        serde_json::json!([])
    );
}

/// A role that does not exist, wherever it is named, is NOT_FOUND (exit
/// 3) naming it, with a hint to list the roles, and changes nothing.
#[tokio::test]
async fn an_unknown_role_is_named_and_changes_nothing() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;
    admin(&["user", "create", "frank"]).await;

    for args in [
        &["user", "create", "gina", "--role", "nosuch"][..],
        &["user", "update", "frank", "--add-role", "nosuch"],
        &["user", "update", "frank", "--roles", "nosuch"],
        &["user", "list", "--role", "nosuch"],
        &[
            "role",
            "update",
            "nosuch",
            "--add-permission",
            "orders.read",
        ],
        &["role", "delete", "nosuch"],
    ] {
        let run = admin(args).await;
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("no role is named `nosuch`")
                && run.stderr.contains("hint: `accesskey role list`"),
            "{args:?}: {run:?}"
        );
    }
    assert_eq!(admin(&["user", "get", "gina"]).await.code, 3, "not created");
    let frank = admin(&["user", "get", "frank", "-o", "json"]).await;
    assert_eq!(json(&frank)["roles"], serde_json::json!([]));
    let missing_user = admin(&["user", "update", "nobody", "--add-role", "x"]).await;
    assert_eq!(missing_user.code, 3, "{missing_user:?}");
    assert!(
        missing_user.stderr.contains("`accesskey user list`"),
        "a missing user is still a user hint: {missing_user:?}"
    );
}

/// Concurrent `role update`s, each adding or removing a permission from
/// its own read of the role: every edit is kept, and the removed
/// permission never comes back.
#[tokio::test]
async fn concurrent_role_updates_lose_no_edit() {
    let server = TestServer::start().await;
    let admin = async |args: &[&str]| run_cli(&server, &server.admin_key, args, None).await;
    let created = admin(&["role", "create", "shared", "--permission", "a.old"]).await;
    assert_eq!(created.code, 0, "{created:?}");
    let added = ["a.p0", "a.p1", "a.p2", "a.p3", "a.p4"];
    let edits = added
        .iter()
        .map(|permission| ("--add-permission", *permission))
        .chain([("--remove-permission", "a.old")]);
    let runs = futures_util::future::join_all(edits.map(|(flag, permission)| async move {
        admin(&["role", "update", "shared", flag, permission]).await
    }))
    .await;
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let role = server.admin.get_role("shared").await.expect("get role");
    assert_eq!(role.permissions, added, "every edit applied, none undone");
}
