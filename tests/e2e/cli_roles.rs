//! The `accesskey` CLI's roles, as a process: `accesskey role …`, and the
//! roles of `accesskey user …`.

use serde_json::Value;

use crate::harness::{CliRun, TestServer, new_user, run_cli};

fn json(run: &CliRun) -> Value {
    serde_json::from_str(&run.stdout).expect("JSON output")
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
