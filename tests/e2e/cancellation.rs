//! Writes are cancellation-safe: a call cut by its deadline (swept from
//! 1 µs to 200 ms, by the client dropping it or by the server enforcing the
//! `grpc-timeout` it was sent) either fully happened or not at all, and
//! what the database says and what verification answers agree.

use std::time::Duration;

use accesskey_client::{Client, UserChanges, Verification, pb};
use tonic::Code;

use crate::harness::{Backend, TestServer, eventually};

const NONE: [&str; 0] = [];
const DEADLINES_MICROS: [u64; 10] = [
    1, 100, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 200_000,
];

/// How a call is cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The client gives up and resets the stream; the server's handler is
    /// dropped wherever it was.
    ByClient,
    /// The request carries `grpc-timeout`; the server's own timeout drops
    /// the handler.
    ByServer,
}

/// A cut call's outcome: `Ok(true)` if it was acknowledged, `Ok(false)` if
/// it was cut. Anything else (INTERNAL above all) fails the test.
fn acknowledged<T>(rpc: &str, result: Result<T, tonic::Status>) -> bool {
    match result {
        Ok(_) => true,
        Err(status) if matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled) => false,
        Err(status) => panic!("{rpc} cut by its deadline failed with {:?}", status.code()),
    }
}

fn request<T>(message: T, cut: Cut, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Cut::ByServer = cut {
        request.set_timeout(deadline);
    }
    request
}

/// Requires `consistent` to hold, polled for at most 2 s (a cut write may
/// still be landing on the server), and then to hold again a moment later:
/// the database and verification must agree for good.
async fn agree_for_good<F, Fut>(what: &str, mut consistent: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for pass in 0..2 {
        let what = format!("{what}: the database and verification agree (pass {pass})");
        eventually(Duration::from_secs(2), &what, || {
            let agreed = consistent();
            async move {
                if agreed.await {
                    Ok(())
                } else {
                    Err("they disagree".to_owned())
                }
            }
        })
        .await;
        // Not a wait for the server: the pause before the second pass is
        // what makes the check "for good" rather than "at one moment".
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Whether what GetUser shows of user `id` and what verification answers
/// for `key` (requiring `required`) agree right now: the key is valid
/// exactly while it is the user's stored key, the user is enabled and holds
/// `required`. A cut write may land at any moment, even after the checks of
/// its own step (it runs to completion on the server, however slowly), so
/// this is what every check compares, rather than what the test expects
/// the cut call to have done.
async fn agree(admin: &Client, id: i64, key: &str, required: &[&str]) -> bool {
    let user = admin.get_user(id).await.expect("get user");
    let verdict = admin
        .verify(key, required.iter().copied())
        .await
        .expect("verify");
    let ours = user
        .access_key
        .as_ref()
        .is_some_and(|stored| key.get(5..21) == Some(stored.key_id.as_str()));
    let holds = required
        .iter()
        .all(|needed| user.permissions.iter().any(|held| held == needed));
    match verdict {
        Verification::Valid(_) => ours && !user.disabled && holds,
        Verification::NotFound => !ours,
        Verification::UserDisabled(_) => ours && user.disabled,
        Verification::PermissionDenied { .. } => ours && !user.disabled && !holds,
        Verification::Malformed | Verification::Expired(_) => false,
    }
}

/// Gives the subject back an enabled state and a key of the test's own,
/// warm, when cut writes took either away.
async fn restore(admin: &Client, id: i64, key: &mut String) {
    let user = admin.get_user(id).await.expect("get user");
    if user.disabled {
        admin
            .update_user(id, UserChanges::new().disabled(false))
            .await
            .expect("enable");
    }
    let ours = user
        .access_key
        .is_some_and(|stored| key.get(5..21) == Some(stored.key_id.as_str()));
    if !ours {
        *key = admin
            .generate_access_key(id, None)
            .await
            .expect("generate")
            .into_key();
        // Twice, so every cache holds it; whether it is still valid is for
        // the next check to say (a cut write may land meanwhile).
        for _ in 0..2 {
            admin.verify(key, NONE).await.expect("verify");
        }
    }
}

/// What the server may still remember of the key when the state is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// Right after the cut call: every cache as warm as it was.
    WithWarmCaches,
    /// After an unrelated acknowledged write, which makes every cached
    /// snapshot stale: checks what the database itself holds.
    AfterAnotherWrite,
}

async fn scenario(server: TestServer, checked: Checked) {
    let admin = &server.admin;
    let bystander = server.create_user("bystander", &[]).await;
    let settle = async || {
        if checked == Checked::AfterAnotherWrite {
            let rename = UserChanges::new().display_name("bystander");
            admin
                .update_user(bystander.id, rename)
                .await
                .expect("another write");
        }
    };
    let (mut acked, mut cut_off) = (0, 0);
    let (subject, mut key) = server.user_with_key("subject", &["p.0"]).await;
    let id = subject.id;
    for _ in 0..2 {
        assert!(admin.verify(&key, NONE).await.expect("verify").is_valid());
    }
    let mut step = 0;
    for cut in [Cut::ByClient, Cut::ByServer] {
        for micros in DEADLINES_MICROS {
            step += 1;
            let deadline = Duration::from_micros(micros);
            let hurried = Client::builder(server.endpoint())
                .access_key(&server.admin_key)
                .timeout(match cut {
                    Cut::ByClient => deadline,
                    Cut::ByServer => Duration::from_secs(30),
                })
                .connect()
                .await
                .expect("connect");
            let mut users = hurried.user_admin_stub();
            let context = format!("{cut:?} after {micros} µs");
            let mut count = |done: bool| {
                if done {
                    acked += 1;
                } else {
                    cut_off += 1;
                }
            };

            // CreateUser: absent, or present with every field.
            let name = format!("created{step}");
            let create = pb::CreateUserRequest {
                username: name.clone(),
                email: format!("{name}@example.test"),
                display_name: format!("User {name}"),
                identity_provider: String::new(),
                permissions: vec!["a.b".to_owned(), "c.d".to_owned()],
                roles: Vec::new(),
            };
            count(acknowledged(
                "CreateUser",
                users.create_user(request(create, cut, deadline)).await,
            ));
            settle().await;
            agree_for_good(&format!("CreateUser {context}"), || async {
                match admin.get_user_by_name(&name).await {
                    Ok(user) => {
                        user.email == format!("{name}@example.test")
                            && user.display_name == format!("User {name}")
                            && user.permissions == ["a.b", "c.d"]
                            && user.access_key.is_none()
                    }
                    Err(err) => {
                        assert!(err.is_not_found(), "{err}");
                        true
                    }
                }
            })
            .await;

            // UpdateUser of two fields: both or neither, and a warm key's
            // permissions follow the database.
            let permission = format!("p.{step}");
            let changes = Changes {
                display_name: Some(format!("step {step}")),
                permissions: Some(vec![permission.clone()]),
                ..Changes::default()
            };
            let update = hurried_update(&hurried, id, changes, cut, deadline).await;
            count(acknowledged("UpdateUser", update));
            settle().await;
            agree_for_good(&format!("UpdateUser {context}"), || async {
                let user = admin.get_user(id).await.expect("get");
                let updated = user.display_name == format!("step {step}");
                let whole = updated == (user.permissions == [permission.clone()]);
                whole && agree(admin, id, &key, &[permission.as_str()]).await
            })
            .await;

            // Disable: the database and verification agree; enable again.
            let disable = Changes {
                disabled: Some(true),
                ..Changes::default()
            };
            count(acknowledged(
                "UpdateUser(disabled)",
                hurried_update(&hurried, id, disable, cut, deadline).await,
            ));
            settle().await;
            agree_for_good(&format!("disable {context}"), || async {
                agree(admin, id, &key, &[]).await
            })
            .await;
            restore(admin, id, &mut key).await;

            // GenerateAccessKey: the old key works exactly while it is
            // still the stored one.
            let generate = pb::GenerateAccessKeyRequest {
                user_id: id,
                expire_time: None,
            };
            count(acknowledged(
                "GenerateAccessKey",
                users
                    .generate_access_key(request(generate, cut, deadline))
                    .await,
            ));
            settle().await;
            agree_for_good(&format!("GenerateAccessKey {context}"), || async {
                agree(admin, id, &key, &[]).await
            })
            .await;
            // A replacement's new key was lost with the cut response.
            restore(admin, id, &mut key).await;

            // RevokeAccessKey: the key works exactly while it is stored.
            let revoke = pb::RevokeAccessKeyRequest { user_id: id };
            count(acknowledged(
                "RevokeAccessKey",
                users
                    .revoke_access_key(request(revoke, cut, deadline))
                    .await,
            ));
            settle().await;
            agree_for_good(&format!("RevokeAccessKey {context}"), || async {
                agree(admin, id, &key, &[]).await
            })
            .await;
            restore(admin, id, &mut key).await;
        }
    }
    eprintln!("{acked} cut writes acknowledged, {cut_off} cut off");
    assert!(
        acked > 0 && cut_off > 0,
        "the sweep must cover both sides: {acked} acknowledged, {cut_off} cut off"
    );
}

/// An UpdateUser request changing what is given: the mask lists exactly those.
#[derive(Default)]
struct Changes {
    display_name: Option<String>,
    permissions: Option<Vec<String>>,
    disabled: Option<bool>,
}

/// UpdateUser on a raw stub, so the deadline can ride with the request.
async fn hurried_update(
    hurried: &Client,
    user_id: i64,
    changes: Changes,
    cut: Cut,
    deadline: Duration,
) -> Result<tonic::Response<pb::UpdateUserResponse>, tonic::Status> {
    let mut user = pb::User {
        id: user_id,
        ..pb::User::default()
    };
    let mut paths = Vec::new();
    if let Some(display_name) = changes.display_name {
        user.display_name = display_name;
        paths.push("display_name".to_owned());
    }
    if let Some(permissions) = changes.permissions {
        user.permissions = permissions;
        paths.push("permissions".to_owned());
    }
    if let Some(disabled) = changes.disabled {
        user.disabled = disabled;
        paths.push("disabled".to_owned());
    }
    let message = pb::UpdateUserRequest {
        user: Some(user),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    hurried
        .user_admin_stub()
        .update_user(request(message, cut, deadline))
        .await
}

mod writes_cut_by_their_deadline_happen_fully_or_not_at_all {
    use super::*;

    /// What the SQLite database holds is all-or-nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_database() {
        scenario(TestServer::start().await, Checked::AfterAnotherWrite).await;
    }

    /// On SQLite (snapshot mode), with warm caches: a write cut while its
    /// statement runs still commits, and still makes the cached snapshots
    /// stale (the write runs to completion in a task of its own), so the
    /// warm key follows the database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        scenario(TestServer::start().await, Checked::WithWarmCaches).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(server) = TestServer::start_on(Backend::Postgres).await {
            scenario(server, Checked::WithWarmCaches).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        if let Some(server) = TestServer::start_on(Backend::Mysql).await {
            scenario(server, Checked::WithWarmCaches).await;
        }
    }
}
