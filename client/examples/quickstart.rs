//! The README walk-through as a program: with an admin key, create a service
//! user, issue it a key, and verify that key as a backend service would.
//!
//! ```sh
//! ACCESSKEY_KEY=$(cat admin.key) cargo run -p accesskey-client --example quickstart
//! ```

use accesskey_client::{Client, NewUser, Verification};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint =
        std::env::var("ACCESSKEY_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let admin_key = std::env::var("ACCESSKEY_KEY")
        .map_err(|_| "set ACCESSKEY_KEY to the admin key from `accesskeyd bootstrap`")?;
    let admin = Client::builder(endpoint)
        .access_key(admin_key.trim())
        .connect()
        .await?;
    println!("signed in as {}", admin.who_am_i().await?.username);

    let username = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "orders-service".to_owned());
    let user = match admin.get_user_by_name(&username).await {
        Ok(user) => user,
        Err(err) if err.is_not_found() => {
            admin
                .create_user(
                    NewUser::new(&username)
                        .display_name("Orders service")
                        .permissions(["orders.read", "orders.write"]),
                )
                .await?
        }
        Err(err) => return Err(err.into()),
    };
    println!(
        "user {} (id {}) holds {:?}",
        user.username, user.id, user.permissions
    );

    let generated = admin.generate_access_key(user.id, None).await?;
    let key = generated.expose_key();
    println!(
        "issued key {} (shown once; the server keeps only its hash):\n{key}",
        generated.info().key_id
    );

    for required in [&["orders.read"][..], &["billing.read"]] {
        match admin.verify(key, required.iter().copied()).await? {
            Verification::Valid(principal) => {
                println!("verify {required:?}: VALID for {}", principal.username);
            }
            Verification::PermissionDenied { missing, .. } => {
                println!("verify {required:?}: PERMISSION_DENIED, missing {missing:?}");
            }
            other => println!("verify {required:?}: {other:?}"),
        }
    }
    Ok(())
}
