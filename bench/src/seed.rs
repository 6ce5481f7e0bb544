//! A fresh database, with the server's schema and N users seeded directly
//! with multi-row INSERTs: going through CreateUser and GenerateAccessKey
//! would cost one production argon2 hash per key, hours for a million keys.
//!
//! Every seeded key gets its own random key id but the same secret, whose
//! hash is computed once. The server looks keys up by id and never compares
//! hashes across keys, so shared hashes are invisible to it. The N users'
//! hash has cheap parameters, so that the warm-up can verify a million keys
//! once in minutes; the flood targets' hash has production parameters,
//! because a wrong secret is checked with the parameters of the stored
//! hash, and the flood must cost what it costs in production.
//!
//! The N users' keys and the caller's carry their secret's fingerprint, as
//! every key issued today does, so that a wrong secret for them is refused
//! without argon2. The flood targets have none: they stand for keys issued
//! before fingerprints existed, whose wrong secrets still cost argon2.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use accesskey_server::testing::{
    key_format::{AccessKey, Secret},
    secret_hash::{HashParams, SecretHasher},
};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database as SeaDatabase, DatabaseConnection, DbBackend,
    Statement, TransactionTrait as _, sea_query::Query,
};

use crate::BoxError;

/// Rows per INSERT statement (and per transaction). 2000 users × 10 columns
/// stays below SQLite's 32766 bound parameters and PostgreSQL's 65535.
const BATCH: usize = 2_000;

/// The permission every seeded user holds, and that warm verification asks for.
pub(crate) const APP_PERMISSION: &str = "orders.read";
/// The caller's permissions, sorted as the server stores them.
const CALLER_PERMISSIONS: [&str; 5] = [
    "audit.read",
    "keys.issue",
    "keys.verify",
    "users.read",
    "users.write",
];
pub(crate) const CALLER_USERNAME: &str = "bench-verifier";
/// The roles warm-verify-roles' users hold, three each, as an operator
/// would define them: a few permissions apiece, `orders.read` (what the
/// scenario asks for) in one of them.
const ROLES: [(&str, [&str; 3]); 3] = [
    (
        "bench-orders",
        ["orders.export", "orders.list", APP_PERMISSION],
    ),
    (
        "bench-billing",
        ["billing.export", "billing.read", "billing.write"],
    ),
    (
        "bench-deploy",
        ["deploy.audit", "deploy.read", "deploy.run"],
    ),
];

/// Cheap enough to verify a million keys once in the warm-up; the cost of a
/// first verification is measured by cold-verify, with real keys.
const CHEAP_HASH: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// The plaintext keys the load generator presents.
#[derive(Debug)]
pub(crate) struct Seeded {
    /// The N seeded users' keys, in user order.
    pub(crate) keys: Arc<[String]>,
    /// The keys of N more users holding the three [`ROLES`] and nothing
    /// directly; empty unless warm-verify-roles runs.
    pub(crate) role_keys: Arc<[String]>,
    /// The key of `bench-verifier`, presented as the caller.
    pub(crate) caller_key: String,
    /// Keys of the flood-target users, whose stored hash has production
    /// cost; never verified genuinely.
    pub(crate) flood_targets: Arc<[String]>,
    pub(crate) elapsed: Duration,
}

/// One user and its key, as rows.
struct Row {
    id: i64,
    username: String,
    permissions: String,
    /// What the user holds through its roles too; `None` without roles.
    effective_permissions: Option<String>,
    key_id: String,
    secret_hash: Arc<str>,
    secret_fingerprint: Option<i64>,
}

/// Makes users with consecutive ids, each with a key of its own id and
/// the shared secret.
struct RowMaker {
    next_id: i64,
    shared: AccessKey,
    /// Computes fingerprints as the server does (without a pepper).
    fingerprints: SecretHasher,
}

/// Whether the rows made get the fingerprint of their secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fingerprints {
    Recorded,
    /// As for a key issued before fingerprints existed.
    Missing,
}

impl RowMaker {
    /// `count` rows, and the plaintext keys that match them.
    fn make(
        &mut self,
        count: usize,
        name: impl Fn(i64) -> String,
        permissions: &str,
        hash: &Arc<str>,
        fingerprints: Fingerprints,
    ) -> Result<(Vec<Row>, Vec<String>), BoxError> {
        let mut rows = Vec::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let key = AccessKey::generate()?.with_secret_of(&self.shared);
            rows.push(Row {
                id: self.next_id,
                username: name(self.next_id),
                permissions: permissions.to_owned(),
                effective_permissions: None,
                key_id: key.key_id().as_str().to_owned(),
                secret_hash: Arc::clone(hash),
                secret_fingerprint: (fingerprints == Fingerprints::Recorded).then(|| {
                    self.fingerprints
                        .fingerprint(key.key_id(), key.secret())
                        .to_stored()
                }),
            });
            keys.push(key.expose_plaintext());
            self.next_id += 1;
        }
        Ok((rows, keys))
    }
}

/// Applies the schema with the server's own code, then seeds `users` users
/// with `orders.read`, the caller, `flood_targets` target users, and with
/// `role_holders` `users` more holding the three [`ROLES`]. With
/// `peppered`, the server runs with a pepper the benchmark does not know,
/// so no key gets a fingerprint (the server records them on first use).
pub(crate) async fn seed(
    url: &str,
    users: u64,
    flood_targets: u64,
    peppered: bool,
    role_holders: bool,
) -> Result<Seeded, BoxError> {
    let started = Instant::now();
    let (store, directory) =
        accesskey_server::open(&accesskey_server::Config::for_database(url)).await?;
    drop(directory);
    store.close().await?;

    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    let db = SeaDatabase::connect(options).await?;
    ensure_empty(&db).await?;

    let shared = AccessKey::generate()?;
    let cheap_hash: Arc<str> = hash_once(CHEAP_HASH, shared.secret()).await?.into();
    let costly_hash: Arc<str> = hash_once(HashParams::OWASP, shared.secret()).await?.into();
    let now = micros_since_epoch();
    let mut maker = RowMaker {
        next_id: 1,
        shared,
        fingerprints: SecretHasher::new(CHEAP_HASH, 1, Duration::from_secs(60)),
    };
    let in_use = if peppered {
        Fingerprints::Missing
    } else {
        Fingerprints::Recorded
    };

    let users = usize::try_from(users)?;
    let mut keys = Vec::with_capacity(users);
    let mut reported = Instant::now();
    while keys.len() < users {
        let count = BATCH.min(users - keys.len());
        let (rows, batch_keys) = maker.make(
            count,
            |id| format!("bench-user-{id}"),
            APP_PERMISSION,
            &cheap_hash,
            in_use,
        )?;
        insert(&db, &rows, now).await?;
        keys.extend(batch_keys);
        if reported.elapsed() > Duration::from_secs(5) {
            eprintln!("  seeded {} of {users} users…", keys.len());
            reported = Instant::now();
        }
    }

    let (rows, mut caller_keys) = maker.make(
        1,
        |_| CALLER_USERNAME.to_owned(),
        &CALLER_PERMISSIONS.join("\n"),
        &cheap_hash,
        in_use,
    )?;
    insert(&db, &rows, now).await?;
    let caller_key = caller_keys.pop().ok_or("no caller key was made")?;

    let targets = usize::try_from(flood_targets)?;
    let mut target_keys = Vec::with_capacity(targets);
    while target_keys.len() < targets {
        let count = BATCH.min(targets - target_keys.len());
        let (rows, batch_keys) = maker.make(
            count,
            |id| format!("bench-target-{id}"),
            APP_PERMISSION,
            &costly_hash,
            Fingerprints::Missing,
        )?;
        insert(&db, &rows, now).await?;
        target_keys.extend(batch_keys);
    }

    let mut role_keys = Vec::new();
    if role_holders {
        insert_roles(&db, now).await?;
        let effective = role_holdings();
        while role_keys.len() < users {
            let count = BATCH.min(users - role_keys.len());
            let (mut rows, batch_keys) = maker.make(
                count,
                |id| format!("bench-role-user-{id}"),
                "",
                &cheap_hash,
                in_use,
            )?;
            for row in &mut rows {
                row.effective_permissions = Some(effective.clone());
            }
            insert(&db, &rows, now).await?;
            insert_holdings(&db, &rows).await?;
            role_keys.extend(batch_keys);
        }
    }

    if db.get_database_backend() == DbBackend::Postgres {
        // Explicit ids do not advance PostgreSQL's sequence; without this the
        // server's next CreateUser would collide with a seeded id.
        for table in ["users", "roles"] {
            db.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            ))
            .await?;
        }
    }
    // Planner statistics, as autovacuum would gather them within a minute
    // or so of a real bulk load. Without them PostgreSQL plans the hot-path
    // read, prepared once per connection, as sequential scans and a hash
    // join (about 230 µs of its CPU per query at N = 1,000, against some 30
    // with index lookups), and the run measures a database no live
    // deployment has.
    let analyze = match db.get_database_backend() {
        DbBackend::MySql => "ANALYZE TABLE users, access_keys, roles, user_roles",
        DbBackend::Postgres => "ANALYZE users, access_keys, roles, user_roles",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await?;
    db.close().await?;
    Ok(Seeded {
        keys: keys.into(),
        role_keys: role_keys.into(),
        caller_key,
        flood_targets: target_keys.into(),
        elapsed: started.elapsed(),
    })
}

/// Refuses a database that already has users: seeding assigns user ids
/// itself, and the results would not describe an N-user database.
async fn ensure_empty(db: &DatabaseConnection) -> Result<(), BoxError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM users",
        ))
        .await?
        .ok_or("SELECT COUNT(*) returned no row")?;
    let existing: i64 = row.try_get("", "n")?;
    if existing > 0 {
        return Err(format!(
            "the database already has {existing} users; --database-url must name an empty database"
        )
        .into());
    }
    Ok(())
}

/// The hash of `secret`, computed once by the server's own hasher so that
/// its PHC string is exactly what the server writes and reads.
async fn hash_once(params: HashParams, secret: &Secret) -> Result<String, BoxError> {
    let hasher = SecretHasher::new(params, 1, Duration::from_secs(60));
    Ok(hasher.hash(secret).await?)
}

/// Inserts the users and their keys in one transaction, one statement each.
async fn insert(db: &DatabaseConnection, rows: &[Row], now: i64) -> Result<(), BoxError> {
    let mut users = Query::insert();
    users.into_table("users").columns([
        "id",
        "username",
        "username_folded",
        "email",
        "display_name",
        "identity_provider",
        "permissions",
        "effective_permissions",
        "disabled",
        "create_time",
        "update_time",
    ]);
    let mut keys = Query::insert();
    keys.into_table("access_keys").columns([
        "user_id",
        "key_id",
        "secret_hash",
        "secret_fingerprint",
        "create_time",
    ]);
    for row in rows {
        users.values([
            row.id.into(),
            row.username.clone().into(),
            row.username.to_ascii_lowercase().into(),
            "".into(),
            "".into(),
            "local".into(),
            row.permissions.clone().into(),
            row.effective_permissions.clone().into(),
            false.into(),
            now.into(),
            now.into(),
        ])?;
        keys.values([
            row.id.into(),
            row.key_id.clone().into(),
            row.secret_hash.to_string().into(),
            row.secret_fingerprint.into(),
            now.into(),
        ])?;
    }
    let transaction = db.begin().await?;
    transaction.execute(&users).await?;
    transaction.execute(&keys).await?;
    transaction.commit().await?;
    Ok(())
}

/// The [`ROLES`], with ids 1 to 3.
async fn insert_roles(db: &DatabaseConnection, now: i64) -> Result<(), BoxError> {
    let mut roles = Query::insert();
    roles.into_table("roles").columns([
        "id",
        "name",
        "name_folded",
        "description",
        "permissions",
        "create_time",
        "update_time",
        "revision",
    ]);
    for (id, (name, permissions)) in (1_i64..).zip(ROLES) {
        roles.values([
            id.into(),
            name.into(),
            name.into(),
            "".into(),
            permissions.join("\n").into(),
            now.into(),
            now.into(),
            1_i64.into(),
        ])?;
    }
    db.execute(&roles).await?;
    Ok(())
}

/// What a holder of all three [`ROLES`] holds, as the server stores it:
/// sorted, one per line.
fn role_holdings() -> String {
    let mut held: Vec<&str> = ROLES.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    held.sort_unstable();
    held.dedup();
    held.join("\n")
}

/// Gives each of `rows` the three [`ROLES`].
async fn insert_holdings(db: &DatabaseConnection, rows: &[Row]) -> Result<(), BoxError> {
    let mut holdings = Query::insert();
    holdings
        .into_table("user_roles")
        .columns(["user_id", "role_id"]);
    for row in rows {
        for role_id in 1_i64..=3 {
            holdings.values([row.id.into(), role_id.into()])?;
        }
    }
    db.execute(&holdings).await?;
    Ok(())
}

fn micros_since_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
