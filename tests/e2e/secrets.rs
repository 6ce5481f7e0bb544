//! Plaintext keys exist in the generate response and the caller's request,
//! nowhere else: not in the database files, not in any log line, not in any
//! error or metadata a client receives.

use accesskey_server::testing::key_format::{
    AccessKey, KEY_ID_LEN, KEY_LEN, KEY_PREFIX, SECRET_LEN,
};

use crate::harness::{
    Backend, Replica, TestDatabase, TestServer, bootstrap, captured_logs, wrong_secret,
};

#[tokio::test]
async fn no_plaintext_key_reaches_the_database_or_the_logs() {
    let server = TestServer::start().await;
    let mut keys = vec![server.admin_key.clone()];
    for i in 0..3 {
        let (user, key) = server
            .user_with_key(&format!("canary{i}"), &["keys.verify"])
            .await;
        // Use each key as caller and as subject, then replace it.
        server
            .client_with_key(&key)
            .verify(&key, ["nope"])
            .await
            .expect("verify");
        server.verdict(&key, Vec::<String>::new()).await;
        keys.push(key);
        keys.push(
            server
                .admin
                .generate_access_key(user.id, None)
                .await
                .expect("regenerate")
                .into_key(),
        );
    }
    let database_path = server.database().sqlite_path().expect("a SQLite test");
    let database_dir = database_path.parent().expect("dir").to_owned();
    // Read the files while the server still runs (WAL not yet checkpointed)...
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&database_dir).expect("read dir") {
        stored.extend(std::fs::read(entry.expect("entry").path()).expect("read file"));
    }
    // ...and after shutdown.
    let _kept = server.stop().await;
    stored.extend(std::fs::read(&database_path).expect("database file"));
    let stored = String::from_utf8_lossy(&stored).into_owned();
    let logs = captured_logs();
    assert!(
        logs.contains("event=\"key_issued\"") || logs.contains("key_issued"),
        "logs were captured"
    );
    for key in &keys {
        let secret = &key[KEY_PREFIX.len() + KEY_ID_LEN + 1..];
        assert!(
            !stored.contains(secret),
            "a key's secret is in the database files"
        );
        assert!(!logs.contains(secret), "a key's secret is in the logs");
    }
    assert!(
        stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "hashes are what is stored"
    );
}

/// Every form in which `key` could leak: the whole key and its secret part,
/// each as text, as hex (lower and upper case) and as base64 (standard and
/// URL-safe, at each of the three alignments it can have inside a longer
/// encoded string; the last characters, which depend on what follows, are
/// left out).
pub(crate) fn leak_forms(key: &str) -> Vec<(&'static str, Vec<u8>)> {
    use base64::{
        Engine as _,
        engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
    };

    let start = KEY_PREFIX.len() + KEY_ID_LEN + 1;
    let secret = key
        .get(start..(start + SECRET_LEN).min(key.len()))
        .unwrap_or(key);
    let mut forms = Vec::new();
    for (part, text) in [("key", key), ("secret", secret)] {
        forms.push((part, text.as_bytes().to_vec()));
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        forms.push((part, hex.to_uppercase().into_bytes()));
        forms.push((part, hex.into_bytes()));
        for offset in 0..3 {
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                let encoded = engine.encode(&text.as_bytes()[offset..]);
                let core = &encoded.as_bytes()[..encoded.len().saturating_sub(3)];
                forms.push((part, core.to_vec()));
            }
        }
    }
    forms
}

/// Whether `needle` (ASCII) occurs in `haystack`; `str::contains` is fast
/// on the megabytes a trace log grows to, unlike a naive byte search.
pub(crate) fn contains(haystack: &str, needle: &[u8]) -> bool {
    std::str::from_utf8(needle).is_ok_and(|needle| !needle.is_empty() && haystack.contains(needle))
}

/// What a client saw of a failed call: message, metadata and details.
fn status_text(status: &tonic::Status) -> Vec<u8> {
    let mut seen = format!("{} {:?}", status.message(), status.metadata()).into_bytes();
    seen.extend_from_slice(status.details());
    seen
}

/// Every file in `dir`, concatenated.
fn files_in(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    bytes
}

/// A call's result, recorded: the response's metadata, or everything about
/// the error status. Returns the response message, if any.
fn record<T>(seen: &mut Vec<u8>, result: Result<tonic::Response<T>, tonic::Status>) -> Option<T> {
    match result {
        Ok(response) => {
            seen.extend(format!("{:?}", response.metadata()).into_bytes());
            Some(response.into_inner())
        }
        Err(status) => {
            seen.extend(status_text(&status));
            None
        }
    }
}

/// The canary: traffic of every kind against `accesskeyd` at `RUST_LOG=trace`
/// (every crate, h2 and hyper included), then every key issued or presented
/// is looked for, in every form, in the process's stdout and stderr, in
/// every error message, metadata and
/// detail the clients received, and in the SQLite database, WAL and shared
/// memory files, while the server runs and after it stopped. Zero hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_in_any_form_reaches_logs_errors_metadata_or_database_files() {
    use accesskey_client::pb;
    use tonic::{Request, metadata::MetadataValue};

    let database = TestDatabase::create(Backend::Sqlite).await.expect("SQLite");
    let admin_key = bootstrap(&accesskey_server::Config::for_database(
        database.url.clone(),
    ))
    .await;
    let mut server = Replica::spawn_logging(&database.url, "trace").await;
    let admin = server.client(&admin_key).await;
    let mut presented = vec![admin_key.clone()];
    let mut seen = Vec::new();

    for i in 0..3 {
        let mut users = admin.user_admin_stub();
        let mut auth = admin.key_auth_stub();
        let user = record(
            &mut seen,
            users
                .create_user(pb::CreateUserRequest {
                    username: format!("canary{i}"),
                    email: String::new(),
                    display_name: String::new(),
                    identity_provider: String::new(),
                    permissions: vec!["keys.verify".to_owned(), "users.read".to_owned()],
                    roles: Vec::new(),
                })
                .await,
        )
        .and_then(|response| response.user)
        .expect("create");
        let generate = pb::GenerateAccessKeyRequest {
            user_id: user.id,
            expire_time: None,
        };
        let key = record(&mut seen, users.generate_access_key(generate).await)
            .expect("generate")
            .access_key;
        let impostor = wrong_secret(&key);
        let stranger = AccessKey::generate().expect("csprng").expose_plaintext();
        let malformed = [
            format!("{key}\n"),
            format!("{key} "),
            key.to_uppercase(),
            key[..KEY_LEN - 1].to_owned(),
            format!("{key}{key}"),
        ];
        presented.extend([key.clone(), impostor.clone(), stranger.clone()]);
        presented.extend(malformed.iter().cloned());

        // As the subject of VerifyAccessKey: valid, wrong, unknown, malformed.
        for subject in [&key, &impostor, &stranger].into_iter().chain(&malformed) {
            let request = pb::VerifyAccessKeyRequest {
                access_key: subject.clone(),
                required_permissions: vec!["orders.read".to_owned()],
            };
            record(&mut seen, auth.verify_access_key(request).await);
        }
        // As the caller's own credential, in both metadata forms, alone,
        // twice, and beside another key.
        let as_caller = admin.with_access_key(&key).expect("ascii");
        record(
            &mut seen,
            as_caller
                .key_auth_stub()
                .who_am_i(pb::WhoAmIRequest {})
                .await,
        );
        for credential in [&impostor, &stranger].into_iter().chain(&malformed) {
            let Ok(value) = MetadataValue::try_from(credential.as_str()) else {
                continue;
            };
            let mut stub = pb::key_auth_client::KeyAuthClient::new(admin.channel());
            for name in ["x-access-key", "authorization"] {
                let mut request = Request::new(pb::WhoAmIRequest {});
                let value = if name == "authorization" {
                    MetadataValue::try_from(format!("Bearer {credential}")).unwrap_or(value.clone())
                } else {
                    value.clone()
                };
                request.metadata_mut().insert(name, value);
                record(&mut seen, stub.who_am_i(request).await);
            }
        }
        let mut request = Request::new(pb::WhoAmIRequest {});
        for credential in [&admin_key, &key] {
            let value = MetadataValue::try_from(credential.as_str()).expect("ascii");
            request.metadata_mut().append("x-access-key", value);
        }
        let mut stub = pb::key_auth_client::KeyAuthClient::new(admin.channel());
        record(&mut seen, stub.who_am_i(request).await);
        let mut request = Request::new(pb::WhoAmIRequest {});
        let basic = MetadataValue::try_from(format!("Basic {key}")).expect("ascii");
        request.metadata_mut().insert("authorization", basic);
        record(&mut seen, stub.who_am_i(request).await);

        // In message fields, where it authenticates nothing and is refused.
        let misuse = pb::CreateUserRequest {
            username: key.clone(),
            email: format!("{key}@example.test"),
            display_name: String::new(),
            identity_provider: key.clone(),
            permissions: vec![key.clone()],
            roles: vec![key.clone()],
        };
        record(&mut seen, users.create_user(misuse).await);
        let list = pb::ListUsersRequest {
            page_size: 10,
            page_token: key.clone(),
            username_prefix: key.clone(),
            search: key.clone(),
            role: key.clone(),
            permission: key.clone(),
        };
        record(&mut seen, users.list_users(list).await);
        let role = pb::CreateRoleRequest {
            role: Some(pb::Role {
                name: key.clone(),
                description: key.clone(),
                permissions: vec![key.clone()],
                ..pb::Role::default()
            }),
        };
        record(&mut seen, users.create_role(role).await);
        let get_role = pb::GetRoleRequest { name: key.clone() };
        record(&mut seen, users.get_role(get_role).await);
        let get = pb::GetUserRequest {
            user: Some(pb::get_user_request::User::Username(key.clone())),
        };
        record(&mut seen, users.get_user(get).await);

        // Replaced, then revoked: both dead keys presented again.
        let regenerate = pb::GenerateAccessKeyRequest {
            user_id: user.id,
            expire_time: None,
        };
        let replacement = record(&mut seen, users.generate_access_key(regenerate).await)
            .expect("regenerate")
            .access_key;
        presented.push(replacement.clone());
        let revoke = pb::RevokeAccessKeyRequest { user_id: user.id };
        record(&mut seen, users.revoke_access_key(revoke).await);
        for dead in [&key, &replacement] {
            let request = pb::VerifyAccessKeyRequest {
                access_key: dead.clone(),
                required_permissions: vec![],
            };
            record(&mut seen, auth.verify_access_key(request).await);
            let as_caller = admin.with_access_key(dead).expect("ascii");
            record(
                &mut seen,
                as_caller
                    .key_auth_stub()
                    .who_am_i(pb::WhoAmIRequest {})
                    .await,
            );
        }
    }

    // The database files while the server runs (WAL and shared memory not
    // yet checkpointed away), then after a graceful stop.
    let directory = database
        .sqlite_path()
        .expect("SQLite file")
        .parent()
        .expect("directory")
        .to_owned();
    let mut stored = files_in(&directory);
    server.terminate().await;
    stored.extend(files_in(&directory));
    let output = server.output();

    let output = String::from_utf8_lossy(&output).into_owned();
    let seen = String::from_utf8_lossy(&seen).into_owned();
    let stored = String::from_utf8_lossy(&stored).into_owned();
    eprintln!(
        "scanned {} bytes of output, {} seen by clients, {} of files",
        output.len(),
        seen.len(),
        stored.len()
    );
    assert!(
        contains(&output, b"TRACE") && contains(&output, b"key_issued"),
        "the server logged at trace level"
    );
    assert!(
        contains(&stored, b"$argon2id$"),
        "the database files were read"
    );
    // The detector itself: it finds a key base64-encoded at an offset
    // inside a longer value.
    let planted = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("xy{}", presented[0]))
    };
    assert!(
        leak_forms(&presented[0])
            .iter()
            .any(|(_, form)| contains(&planted, form)),
        "the detector finds an encoded key"
    );
    let haystacks: [(&str, &str); 3] = [
        ("accesskeyd's stdout/stderr at trace level", &output),
        ("an error, metadata or detail a client received", &seen),
        ("the SQLite database, WAL or shared-memory files", &stored),
    ];
    let mut leaks = Vec::new();
    for key in &presented {
        for (part, form) in leak_forms(key) {
            for (place, haystack) in haystacks {
                if contains(haystack, &form) {
                    // Where and what, never the key itself.
                    leaks.push(format!("a {part} in {place}"));
                }
            }
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "plaintext found: {leaks:?}");
}
