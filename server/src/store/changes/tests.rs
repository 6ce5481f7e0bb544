//! Checked changes: each runs, or is refused, as a whole.

use std::time::Duration;

use sqlx_core::transaction::TransactionManager as _;

use super::*;
use crate::{
    domain::{
        key_format::KeyId,
        model::{IdentityProvider, NewUser, Origin, PermissionSet, UserRef, Username},
    },
    store::StoreOptions,
};

async fn connect(url: &str) -> Store {
    Store::connect(&StoreOptions {
        database_url: url.to_owned(),
        // One connection: the next change must reuse the one left
        // inside a transaction, unless the pool closed it.
        max_connections: 1,
        acquire_timeout: Duration::from_secs(3),
        statement_timeout: Duration::from_secs(2),
        database_ca_file: None,
    })
    .await
    .expect("connect")
}

/// When a COMMIT fails (the database files read-only, a full disk),
/// SQLite may roll the transaction back, or keep it open, and sqlx
/// keeps counting the connection as inside it either way. The next
/// change on that connection was then a SAVEPOINT inside the old
/// transaction: acknowledged, yet never committed (seen in CI with the
/// files made read-only). The pool now closes such a connection.
#[tokio::test]
async fn a_connection_left_inside_a_transaction_is_never_reused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("accesskey.db").display());
    let store = connect(&url).await;
    store.migrate().await.expect("migrate");
    let new = NewUser {
        username: Username::from_stored("svc".to_owned()),
        email: String::new(),
        display_name: String::new(),
        identity_provider: IdentityProvider::Local,
        permissions: PermissionSet::default(),
        roles: RoleSet::default(),
    };
    let user = store
        .insert_user(
            &new,
            Timestamp::from_micros(0),
            |_| Ok::<_, ()>(PermissionSet::default()),
            |user| NewAuditEvent::user_created(&Origin::host(), user),
        )
        .await
        .expect("insert")
        .expect("approved");

    // The state a failed COMMIT leaves: the connection back in the pool,
    // inside a transaction as sqlx counts it (and here as SQLite has it).
    let pool = store.db.get_sqlite_connection_pool();
    let mut connection = pool.acquire().await.expect("acquire");
    <sea_orm::sqlx::Sqlite as sea_orm::sqlx::Database>::TransactionManager::begin(
        &mut connection,
        None,
    )
    .await
    .expect("begin");
    drop(connection);

    let key = NewKey {
        key_id: KeyId::from_stored("aaaaaaaaaaaaaaaa".to_owned()),
        secret_hash: "hash".to_owned(),
        secret_fingerprint: crate::domain::secret_hash::Fingerprint::from_stored(7),
        create_time: Timestamp::from_micros(0),
        expire_time: None,
    };
    let info = KeyInfo {
        key_id: key.key_id.clone(),
        create_time: key.create_time,
        expire_time: None,
        last_used_time: None,
    };
    store
        .replace_key_checked(
            user.id,
            &key,
            |_| Ok::<(), ()>(()),
            |user, replaced| NewAuditEvent::key_generated(&Origin::host(), user, &info, replaced),
        )
        .await
        .expect("stored")
        .expect("approved");

    // Another process's view: the acknowledged key is there.
    let other = connect(&url).await;
    let seen = other
        .user(&UserRef::Id(user.id))
        .await
        .expect("read")
        .expect("the user")
        .access_key
        .map(|info| info.key_id);
    assert_eq!(
        seen,
        Some(key.key_id),
        "an acknowledged change was never committed"
    );
}
