//! Several `accesskeyd` processes on one PostgreSQL or MySQL/MariaDB
//! database: what one replica does, every other sees on the very next call.

use std::{collections::BTreeSet, time::Duration};

use accesskey_client::{Client, ListUsers, UserChanges, Verification};
use accesskey_server::Config;

use crate::harness::{
    Backend, Replica, TestDatabase, bootstrap, count_valid, eventually, new_user, on_every_backend,
    race_create_users, race_generate_keys,
};

const NO_PERMISSIONS: [&str; 0] = [];

/// A shared database with a bootstrap admin, and two replicas on it.
pub struct Cluster {
    pub a: Replica,
    pub b: Replica,
    pub admin_key: String,
    _database: TestDatabase,
}

impl Cluster {
    pub async fn start(backend: Backend) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let admin_key = bootstrap(&Config::for_database(database.url.clone())).await;
        let (a, b) = tokio::join!(Replica::spawn(&database.url), Replica::spawn(&database.url));
        Some(Self {
            a,
            b,
            admin_key,
            _database: database,
        })
    }
}

async fn key_issued_on_one_replica_verifies_on_the_other(cluster: Cluster) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    let user = a
        .create_user(new_user("svc", &["orders.read"]))
        .await
        .expect("create on A");
    let key = a
        .generate_access_key(user.id, None)
        .await
        .expect("generate on A")
        .into_key();
    assert!(
        b.verify(&key, ["orders.read"])
            .await
            .expect("verify on B")
            .is_valid()
    );
    assert_eq!(
        b.get_user_by_name("SVC").await.expect("read on B").id,
        user.id
    );
}

async fn revocation_and_regeneration_on_one_replica_take_effect_on_the_other_at_once(
    cluster: Cluster,
) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    let user = a.create_user(new_user("svc", &[])).await.expect("create");
    let first = a
        .generate_access_key(user.id, None)
        .await
        .expect("generate")
        .into_key();
    assert!(
        a.verify(&first, NO_PERMISSIONS)
            .await
            .expect("warm A")
            .is_valid()
    );

    let second = b
        .generate_access_key(user.id, None)
        .await
        .expect("regenerate on B")
        .into_key();
    assert_eq!(
        a.verify(&first, NO_PERMISSIONS).await.expect("verify"),
        Verification::NotFound
    );
    assert!(
        a.verify(&second, NO_PERMISSIONS)
            .await
            .expect("verify")
            .is_valid()
    );

    b.revoke_access_key(user.id).await.expect("revoke on B");
    assert_eq!(
        a.verify(&second, NO_PERMISSIONS).await.expect("verify"),
        Verification::NotFound
    );
}

async fn disabling_and_demoting_on_one_replica_beat_the_others_warm_cache(cluster: Cluster) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    let user = a
        .create_user(new_user("svc", &["orders.read", "orders.write"]))
        .await
        .expect("create");
    let key = a
        .generate_access_key(user.id, None)
        .await
        .expect("generate")
        .into_key();
    for _ in 0..2 {
        assert!(
            a.verify(&key, ["orders.write"])
                .await
                .expect("warm A")
                .is_valid()
        );
    }
    b.update_user(user.id, UserChanges::new().permissions(["orders.read"]))
        .await
        .expect("demote on B");
    let verdict = a.verify(&key, ["orders.write"]).await.expect("verify on A");
    assert!(
        matches!(verdict, Verification::PermissionDenied { .. }),
        "{verdict:?}"
    );
    b.update_user(user.id, UserChanges::new().disabled(true))
        .await
        .expect("disable on B");
    let verdict = a.verify(&key, ["orders.read"]).await.expect("verify on A");
    assert!(
        matches!(verdict, Verification::UserDisabled(_)),
        "{verdict:?}"
    );
}

async fn racing_regenerations_across_replicas_leave_exactly_one_key(cluster: Cluster) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    let user = a.create_user(new_user("raced", &[])).await.expect("create");
    let keys = race_generate_keys(&[a, b.clone()], user.id, 12).await;
    let valid = count_valid(&b, &keys).await;
    assert_eq!(valid, 1);
}

async fn racing_case_variants_across_replicas_admit_exactly_one(cluster: Cluster) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    let names = [
        "Alice", "alice", "ALICE", "aLICE", "AlIcE", "aliCE", "ALIce", "alIce",
    ];
    let created = race_create_users(&[a, b], &names).await;
    assert_eq!(created, 1);
}

async fn killing_a_replica_mid_traffic_loses_no_acknowledged_write(mut cluster: Cluster) {
    let b = cluster.b.client(&cluster.admin_key).await;
    let a = Client::builder(format!("http://{}", cluster.a.address))
        .access_key(&cluster.admin_key)
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to A");

    // Writers on A create users until A dies; every acknowledged one counts.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let a = a.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    match a
                        .create_user(new_user(&format!("w{writer}-{i}"), &[]))
                        .await
                    {
                        Ok(user) => acknowledged.push(user.username),
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Let some writes land, then kill A in the middle of them.
    eventually(Duration::from_secs(20), "some writes land", || async {
        let page = b
            .list_users(ListUsers::new().page_size(1000))
            .await
            .expect("B serves throughout");
        match page.users.len() {
            landed if landed > 20 => Ok(()),
            landed => Err(format!("{landed} users")),
        }
    })
    .await;
    cluster.a.kill().await;

    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer task"));
    }
    assert!(
        acknowledged.len() >= 20,
        "only {} writes before the kill",
        acknowledged.len()
    );

    // B still serves, and has every write A acknowledged.
    let stored: BTreeSet<_> = b
        .list_all_users("")
        .await
        .expect("B keeps serving")
        .into_iter()
        .map(|u| u.username)
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    b.create_user(new_user("after-the-kill", &[]))
        .await
        .expect("B accepts writes");
}

on_every_backend!(
    [postgres, mysql] with Cluster::start;
    multi_thread;
    key_issued_on_one_replica_verifies_on_the_other,
    revocation_and_regeneration_on_one_replica_take_effect_on_the_other_at_once,
    disabling_and_demoting_on_one_replica_beat_the_others_warm_cache,
    racing_regenerations_across_replicas_leave_exactly_one_key,
    racing_case_variants_across_replicas_admit_exactly_one,
    killing_a_replica_mid_traffic_loses_no_acknowledged_write,
);
