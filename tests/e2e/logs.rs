//! Request ids, the access log and JSON logs: every call gets an id the
//! server generates (the caller's own `x-request-id` is kept beside it as
//! `client_request_id`, never taken as the call's id) that comes back in
//! the response metadata and is on every log line of the call; one access-log line per
//! call; with `--log-format json`, every line is one JSON object. Never a
//! key in any of it.

use accesskey_client::pb;
use accesskey_server::testing::key_format::AccessKey;
use serde_json::Value;
use tonic::metadata::MetadataValue;

use crate::{
    harness::{
        Backend, Replica, TestDatabase, TestServer, bootstrap, captured_logs, new_user,
        wrong_secret,
    },
    secrets::{contains, leak_forms},
};

/// WhoAmI with `request_id` in its metadata, if any; the response's id.
async fn who_am_i_with(server: &TestServer, request_id: Option<&'static str>) -> String {
    let mut request = tonic::Request::new(pb::WhoAmIRequest {});
    if let Some(id) = request_id {
        request
            .metadata_mut()
            .insert("x-request-id", MetadataValue::from_static(id));
    }
    let response = server
        .admin
        .key_auth_stub()
        .who_am_i(request)
        .await
        .expect("who am i");
    response
        .metadata()
        .get("x-request-id")
        .expect("a request id in the response")
        .to_str()
        .expect("text")
        .to_owned()
}

/// A caller cannot choose the id its call is recorded under: two calls
/// sending the same `x-request-id` get two different ids of the server's.
#[tokio::test]
async fn every_call_gets_a_request_id_of_the_servers_own_whatever_the_caller_sent() {
    let server = TestServer::start().await;
    let first = who_am_i_with(&server, Some("e2e-req-1")).await;
    let second = who_am_i_with(&server, Some("e2e-req-1")).await;
    let third = who_am_i_with(&server, None).await;
    assert_ne!(first, "e2e-req-1", "the caller's id is not the call's");
    assert!(
        !first.is_empty() && first != second && second != third,
        "{first} {second} {third}"
    );
    let spaced = who_am_i_with(&server, Some("two words")).await;
    assert_ne!(spaced, "two words");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id_and_no_key() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let mut server = Replica::spawn_with(&database.url, "debug", &["--log-format", "json"]).await;
    let admin = server.client(&admin_key).await;
    let user = admin
        .create_user(new_user("canary", &["orders.read"]))
        .await
        .expect("create");
    let canary = admin
        .generate_access_key(user.id, None)
        .await
        .expect("generate")
        .into_key();
    for presented in [canary.clone(), wrong_secret(&canary)] {
        admin
            .verify(&presented, ["orders.read"])
            .await
            .expect("verify");
    }
    let mut request = tonic::Request::new(pb::WhoAmIRequest {});
    request
        .metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("e2e-json-7"));
    admin
        .with_access_key(&canary)
        .expect("ascii")
        .key_auth_stub()
        .who_am_i(request)
        .await
        .expect("the canary's own who am i");
    server.terminate().await;

    let output = String::from_utf8(server.output()).expect("UTF-8 logs");
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    for line in &lines {
        for field in ["timestamp", "level", "target", "fields"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|line| line["target"] == "accesskey::access")
        .collect();
    // create, generate, two verifications and the who-am-i, at least.
    assert!(access.len() >= 5, "{access:?}");
    let mine = access
        .iter()
        .find(|line| line["span"]["client_request_id"] == "e2e-json-7")
        .unwrap_or_else(|| panic!("no access line for e2e-json-7: {access:?}"));
    let id = mine["span"]["id"]
        .as_str()
        .expect("the server's request id");
    assert_ne!(
        id, "e2e-json-7",
        "the server's id, the caller's kept beside it"
    );
    assert_eq!(mine["span"]["method"], "/accesskey.v1.KeyAuth/WhoAmI");
    assert_eq!(mine["fields"]["code"], "Ok");
    let canary_id = AccessKey::parse(&canary)
        .expect("a key")
        .key_id()
        .to_string();
    assert_eq!(mine["fields"]["key_id"], canary_id, "the caller's key id");
    assert!(mine["fields"]["latency_us"].is_u64() && mine["fields"]["peer"].is_string());
    // Lines inside the call carry its id too (its authentication, at debug).
    assert!(
        lines.iter().any(|line| line["span"]["id"] == id
            && line["span"]["client_request_id"] == "e2e-json-7"
            && line["target"] != "accesskey::access"),
        "only the access line has the request id"
    );
    for (part, form) in leak_forms(&canary) {
        assert!(
            !contains(&output, &form),
            "the canary's {part} is in the logs"
        );
    }
}

/// A caller's path reaches the logs cut to 128 bytes and escaped: no line
/// separator or bidirectional mark that could forge or reorder a line, and
/// no 10 KiB of the caller's text on every line of its request.
#[tokio::test]
async fn an_unknown_paths_bytes_reach_the_logs_cut_and_escaped() {
    let server = TestServer::start().await;
    let marker = "zq".repeat(5_000);
    let path = format!("/forged\u{2028}INFO\u{202e}{marker}");
    let reply = crate::harness::http_request(&server.address, "GET", &path, &[], b"").await;
    assert_eq!(reply.status, 404);
    let logs = captured_logs();
    assert!(
        logs.contains("/forged\\u{2028}INFO\\u{202e}zqzq"),
        "escaped"
    );
    assert!(!logs.contains('\u{2028}') && !logs.contains('\u{202e}'));
    assert!(!logs.contains(&"zq".repeat(100)), "cut");
}
