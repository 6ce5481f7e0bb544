//! Hostile values in every string field of every request: each is refused
//! with INVALID_ARGUMENT naming the field (or OUT_OF_RANGE when the whole
//! request is oversized), or stored and returned byte for byte. Never
//! INTERNAL or UNKNOWN, never a crash, and the server keeps serving.

use accesskey_client::{ListUsers, NewUser, UserChanges, Verification, pb};
use tonic::Code;

use crate::harness::TestServer;

/// The values every field is tried with.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("64 chars", "a".repeat(64)),
        ("65 chars", "a".repeat(65)),
        ("128 chars", "a".repeat(128)),
        ("129 chars", "a".repeat(129)),
        ("255 chars", "a".repeat(255)),
        ("1 MiB", "a".repeat(1024 * 1024)),
        ("NUL", "a\0b".to_owned()),
        ("control", "a\u{7}\u{1b}[31mb".to_owned()),
        ("CR LF", "a\r\nINFO forged log line".to_owned()),
        ("RTL override", "admin\u{202e}gpj.exe".to_owned()),
        ("emoji", "🙂🔑".to_owned()),
        ("SQL", "x'); DROP TABLE users; --".to_owned()),
        ("LIKE wildcards", "%_%".to_owned()),
        ("format string", "%s%n{0}{}${PATH}".to_owned()),
        ("unicode name", "Zoë Çelik-Ωmega".to_owned()),
        ("email-like", "a@b.c".to_owned()),
    ]
}

/// Checks one outcome: refused naming `field`, or accepted with `echo`
/// equal to what was sent.
fn check(
    field: &str,
    what: &str,
    sent: &str,
    outcome: Result<Option<String>, accesskey_client::Error>,
) {
    match outcome {
        Ok(Some(echo)) => assert_eq!(echo, sent, "{field} ({what}) must round-trip byte for byte"),
        Ok(None) => {}
        Err(err) => match err.code() {
            Some(Code::InvalidArgument) => {
                assert!(err.to_string().contains(field), "{field} ({what}): {err}");
                assert!(
                    !err.to_string().contains('\n') || !sent.contains('\n'),
                    "error echoes input"
                );
            }
            Some(Code::OutOfRange) => assert!(sent.len() > 256 * 1024, "{field} ({what}): {err}"),
            Some(Code::AlreadyExists | Code::NotFound) => {}
            _ => panic!("{field} ({what}) got {err}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_field_refuses_or_round_trips_hostile_values() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let target = admin
        .create_user(NewUser::new("target"))
        .await
        .expect("create");
    for (i, (what, value)) in hostile_values().into_iter().enumerate() {
        let fresh = format!("u{i}");
        let echo_user = |field: &'static str| {
            move |user: pb::User| -> Option<String> {
                Some(match field {
                    "username" => user.username,
                    "email" => user.email,
                    "display_name" => user.display_name,
                    "identity_provider" => user.identity_provider,
                    _ => user.permissions.join(","),
                })
            }
        };

        let outcome = admin
            .create_user(NewUser::new(value.clone()))
            .await
            .map(echo_user("username"));
        check("username", what, &value, outcome);
        let outcome = admin
            .create_user(NewUser::new(format!("{fresh}e")).email(value.clone()))
            .await
            .map(echo_user("email"));
        check("email", what, &value, outcome);
        let outcome = admin
            .create_user(NewUser::new(format!("{fresh}d")).display_name(value.clone()))
            .await
            .map(echo_user("display_name"));
        check("display_name", what, &value, outcome);
        let outcome = admin
            .create_user(NewUser::new(format!("{fresh}i")).identity_provider(value.clone()))
            .await
            .map(|user| (!value.is_empty()).then_some(user.identity_provider));
        check("identity_provider", what, &value, outcome);
        let outcome = admin
            .create_user(NewUser::new(format!("{fresh}p")).permissions([value.clone()]))
            .await
            .map(echo_user("permissions"));
        check("permissions[0]", what, &value, outcome);

        let outcome = admin.get_user_by_name(&value).await.map(|_| None);
        check("username", what, &value, outcome);
        let outcome = admin
            .list_users(ListUsers::new().prefix(value.clone()))
            .await
            .map(|_| None);
        check("username_prefix", what, &value, outcome);
        let outcome = admin
            .list_users(ListUsers::new().page_token(value.clone()))
            .await
            .map(|_| None);
        check("page_token", what, &value, outcome);

        let outcome = admin
            .update_user(target.id, UserChanges::new().email(value.clone()))
            .await
            .map(echo_user("email"));
        check("user.email", what, &value, outcome);
        let outcome = admin
            .update_user(target.id, UserChanges::new().display_name(value.clone()))
            .await
            .map(echo_user("display_name"));
        check("user.display_name", what, &value, outcome);
        let outcome = admin
            .update_user(target.id, UserChanges::new().permissions([value.clone()]))
            .await
            .map(echo_user("permissions"));
        check("user.permissions[0]", what, &value, outcome);

        // A presented key is an answer, never an error (unless oversized).
        match admin.verify(&value, ["orders.read"]).await {
            Ok(verdict) => assert_eq!(verdict, Verification::Malformed, "access_key ({what})"),
            Err(err) => check("access_key", what, &value, Err(err)),
        }
        let outcome = admin.verify("akey_x", [value.clone()]).await.map(|_| None);
        check("required_permissions[0]", what, &value, outcome);
    }
    // Still serving, and the LIKE wildcards matched nothing they should not.
    assert_eq!(admin.who_am_i().await.expect("alive").username, "admin");
    let literal = admin
        .list_users(ListUsers::new().prefix("u1_"))
        .await
        .expect("list");
    assert!(
        literal.users.is_empty(),
        "`_` matched a character: {:?}",
        literal.users
    );
    let real = admin
        .list_users(ListUsers::new().prefix("u1"))
        .await
        .expect("list");
    assert!(!real.users.is_empty(), "the prefix itself does match");
}

/// INVALID_ARGUMENT carries a `google.rpc.BadRequest` field violation, so
/// a program can tell which field to fix without parsing the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_name_the_field_in_a_bad_request_detail() {
    use tonic_types::StatusExt as _;

    let server = TestServer::start().await;
    let refused = server
        .admin
        .key_auth_stub()
        .verify_access_key(pb::VerifyAccessKeyRequest {
            access_key: "akey_x".to_owned(),
            required_permissions: vec!["Not Valid".to_owned()],
        })
        .await
        .expect_err("an invalid permission name");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let bad_request = refused
        .get_details_bad_request()
        .expect("a BadRequest detail");
    let violation = &bad_request.field_violations[0];
    assert_eq!(violation.field, "required_permissions[0]");
    assert!(!violation.description.is_empty());
    assert!(
        refused.message().starts_with("required_permissions[0]: "),
        "{}",
        refused.message()
    );

    let refused = server
        .admin
        .user_admin_stub()
        .create_user(pb::CreateUserRequest {
            username: "no spaces allowed".to_owned(),
            ..pb::CreateUserRequest::default()
        })
        .await
        .expect_err("an invalid username");
    let bad_request = refused
        .get_details_bad_request()
        .expect("a BadRequest detail");
    assert_eq!(bad_request.field_violations[0].field, "username");
}
