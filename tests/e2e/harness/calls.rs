//! Shorthands for the calls and assertions many tests share.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use accesskey_client::{Client, NewUser};

/// Every service permission: what an administrator holds.
pub const EVERY_SERVICE_PERMISSION: [&str; 5] = [
    "users.read",
    "users.write",
    "keys.issue",
    "keys.verify",
    "audit.read",
];

/// Creates a local user with `permissions` through `admin` and issues it
/// a key: for tests whose server is a process of their own.
pub async fn user_with_key(
    admin: &Client,
    username: &str,
    permissions: &[&str],
) -> (accesskey_client::pb::User, String) {
    let user = admin
        .create_user(new_user(username, permissions))
        .await
        .expect("create user");
    let key = admin
        .generate_access_key(user.id, None)
        .await
        .expect("generate a key")
        .into_key();
    (user, key)
}

/// A local user named `username` holding `permissions`, with an email and a
/// display name derived from the name.
pub fn new_user(username: &str, permissions: &[&str]) -> NewUser {
    NewUser::new(username)
        .email(format!("{}@example.test", username.to_ascii_lowercase()))
        .display_name(format!("User {username}"))
        .permissions(permissions.iter().copied())
}

/// The gRPC code of a failed call, for assertions.
pub fn code<T: std::fmt::Debug>(result: Result<T, accesskey_client::Error>) -> tonic::Code {
    result
        .expect_err("the call should fail")
        .code()
        .expect("a status from the server")
}

/// The result of a raw call through a generated stub (see
/// [`Client::user_admin_stub`]), as the typed API would report it, so the
/// same assertions apply to both.
pub fn raw<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
) -> Result<T, accesskey_client::Error> {
    result
        .map(tonic::Response::into_inner)
        .map_err(accesskey_client::Error::from)
}

/// Creates one user per name concurrently, spreading the calls round-robin
/// over `clients`. Returns how many succeeded; every other call must have
/// failed with `ALREADY_EXISTS`.
pub async fn race_create_users(clients: &[Client], names: &[&str]) -> usize {
    let attempts: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let client = clients[i % clients.len()].clone();
            let user = new_user(name, &[]);
            tokio::spawn(async move { client.create_user(user).await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(_) => created += 1,
            Err(err) => assert_eq!(err.code(), Some(tonic::Code::AlreadyExists), "{err}"),
        }
    }
    created
}

/// Issues `count` keys for `user_id` concurrently, round-robin over
/// `clients`; every call must succeed. Returns the keys.
pub async fn race_generate_keys(clients: &[Client], user_id: i64, count: usize) -> Vec<String> {
    let attempts: Vec<_> = (0..count)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move { client.generate_access_key(user_id, None).await })
        })
        .collect();
    let mut keys = Vec::new();
    for attempt in attempts {
        keys.push(
            attempt
                .await
                .expect("task")
                .expect("every generate succeeds")
                .into_key(),
        );
    }
    keys
}

/// How many of `keys` verify as valid (with no required permissions).
pub async fn count_valid(client: &Client, keys: &[String]) -> usize {
    let mut valid = 0;
    for key in keys {
        if client
            .verify(key, Vec::<String>::new())
            .await
            .expect("verify")
            .is_valid()
        {
            valid += 1;
        }
    }
    valid
}

/// `key`'s key id with a fresh random secret: well-formed, and never valid.
pub fn wrong_secret(key: &str) -> String {
    use accesskey_server::testing::key_format::AccessKey;
    AccessKey::parse(key)
        .expect("a genuine key")
        .with_secret_of(&AccessKey::generate().expect("csprng"))
        .expose_plaintext()
}

/// Polls `check` every 50 ms until it answers `Ok`, and returns that; fails
/// the test after `limit` with `what` and the last `Err`, which says what
/// was seen instead. For conditions a server reaches in the background (a
/// flush, a health change, a recovery) that no knob makes immediate.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
