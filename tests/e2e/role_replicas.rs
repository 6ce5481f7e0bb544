//! Roles across replicas on one PostgreSQL or MySQL/MariaDB database: a
//! role change made on one replica counts on the other's very next call,
//! and two administrators holding their power through roles, each taking
//! the other's away at the same moment on different replicas, leave one.

use accesskey_client::{Client, NewRole, RoleChanges, UserChanges};

use crate::{
    authority::ALL_SERVICE,
    harness::{new_user, on_every_backend},
    last_administrator::one_winner,
    replicas::Cluster,
    roles::grants,
};

async fn a_role_change_on_one_replica_counts_on_the_others_next_call(cluster: Cluster) {
    let a = cluster.a.client(&cluster.admin_key).await;
    let b = cluster.b.client(&cluster.admin_key).await;
    a.create_role(NewRole::new("writers").permissions(["orders.write"]))
        .await
        .expect("role on A");
    let user = a
        .create_user(new_user("svc", &[]).roles(["writers"]))
        .await
        .expect("user on A");
    let key = a
        .generate_access_key(user.id, None)
        .await
        .expect("key")
        .into_key();
    for _ in 0..3 {
        assert!(grants(&a, &key, &["orders.write"]).await, "warm on A");
    }

    b.update_role("writers", RoleChanges::new().permissions(["orders.read"]))
        .await
        .expect("permission taken from the role on B");
    assert!(!grants(&a, &key, &["orders.write"]).await, "A's next call");
    b.update_role("writers", RoleChanges::new().permissions(["orders.write"]))
        .await
        .expect("given back on B");
    assert!(grants(&a, &key, &["orders.write"]).await);
    b.update_user(user.id, UserChanges::new().roles(Vec::<String>::new()))
        .await
        .expect("role taken on B");
    assert!(!grants(&a, &key, &["orders.write"]).await);
    b.update_user(user.id, UserChanges::new().roles(["writers"]))
        .await
        .expect("role given on B");
    assert!(grants(&a, &key, &["orders.write"]).await);
    b.delete_role("writers", true).await.expect("deleted on B");
    assert!(!grants(&a, &key, &["orders.write"]).await);
}

/// One way an administrator holding its power through its own role can
/// lose it, applied by the other administrator.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Strip,
    Delete,
    Take,
}

/// An administrator of the race: its user, its role and a client with its
/// key on its own replica.
struct Admin {
    user_id: i64,
    role: &'static str,
    client: Client,
}

impl Removal {
    async fn apply(self, by: &Admin, victim: &Admin) -> Result<(), accesskey_client::Error> {
        match self {
            Self::Strip => by
                .client
                .update_role(
                    victim.role,
                    RoleChanges::new().permissions(ALL_SERVICE[1..].iter().copied()),
                )
                .await
                .map(drop),
            Self::Delete => by.client.delete_role(victim.role, true).await.map(drop),
            Self::Take => by
                .client
                .update_user(
                    victim.user_id,
                    UserChanges::new().roles(Vec::<String>::new()),
                )
                .await
                .map(drop),
        }
    }

    /// The winner makes the loser an administrator again.
    async fn undo(self, winner: &Admin, loser: &Admin) {
        match self {
            Self::Strip => {
                winner
                    .client
                    .update_role(loser.role, RoleChanges::new().permissions(ALL_SERVICE))
                    .await
                    .expect("restore the role");
            }
            Self::Delete => {
                winner
                    .client
                    .create_role(NewRole::new(loser.role).permissions(ALL_SERVICE))
                    .await
                    .expect("recreate the role");
                winner
                    .client
                    .update_user(loser.user_id, UserChanges::new().roles([loser.role]))
                    .await
                    .expect("give it back");
            }
            Self::Take => {
                winner
                    .client
                    .update_user(loser.user_id, UserChanges::new().roles([loser.role]))
                    .await
                    .expect("give it back");
            }
        }
    }
}

async fn administrators_through_roles_removing_each_other_across_replicas_leave_one(
    cluster: Cluster,
) {
    let setup = cluster.a.client(&cluster.admin_key).await;
    let bootstrap_admin = setup.who_am_i().await.expect("whoami").user_id;
    let mut admins = Vec::new();
    for (name, role, replica) in [
        ("admin-a", "role-a", &cluster.a),
        ("admin-b", "role-b", &cluster.b),
    ] {
        setup
            .create_role(NewRole::new(role).permissions(ALL_SERVICE))
            .await
            .expect("role");
        let user = setup
            .create_user(new_user(name, &[]).roles([role]))
            .await
            .expect("user");
        let key = setup
            .generate_access_key(user.id, None)
            .await
            .expect("key")
            .into_key();
        admins.push(Admin {
            user_id: user.id,
            role,
            client: replica.client(&key).await,
        });
    }
    // From here on, a and b are the only administrators, each only
    // through its own role.
    admins[0]
        .client
        .delete_user(bootstrap_admin)
        .await
        .expect("delete the bootstrap admin");

    let kinds = [Removal::Strip, Removal::Delete, Removal::Take];
    let mut refused_by_the_rule = 0;
    for round in 0..21 {
        let kind = kinds[round % kinds.len()];
        let (a, b) = (&admins[0], &admins[1]);
        let (by_a, by_b) = tokio::join!(kind.apply(a, b), kind.apply(b, a));
        let (winner, loser, by_the_rule) = one_winner(round, kind, by_a, by_b);
        refused_by_the_rule += usize::from(by_the_rule);
        let me = admins[winner]
            .client
            .who_am_i()
            .await
            .expect("the winner authenticates");
        assert_eq!(me.permissions, ALL_SERVICE, "round {round}");
        kind.undo(&admins[winner], &admins[loser]).await;
    }
    assert!(
        refused_by_the_rule > 0,
        "no round raced: the test proved nothing"
    );
}

on_every_backend!(
    [postgres, mysql] with Cluster::start;
    multi_thread;
    a_role_change_on_one_replica_counts_on_the_others_next_call,
    administrators_through_roles_removing_each_other_across_replicas_leave_one,
);
