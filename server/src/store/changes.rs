//! Changes to a user or its key that the authority rules must approve.
//!
//! Each runs in one short transaction that locks the user's row, reads it,
//! hands it to the domain's check, and writes only if the check approves, so
//! no concurrent call (on this replica or another) can change the row
//! between the check and the write:
//!
//! - **PostgreSQL / MySQL**: `SELECT … FOR UPDATE` on the user's row.
//!   Changes to the user itself (update, delete: the ones that can remove an
//!   administrator) first lock one guard row in `settings`, so they run one
//!   at a time and the "is another administrator left?" read sees every
//!   earlier one committed. (Without
//!   it, two admins disabling each other would each see the other still
//!   there.) The guard is always taken before any user row, so these locks
//!   cannot deadlock. Reads after the locks see the latest commits: on
//!   PostgreSQL each statement takes a new snapshot, and InnoDB takes a
//!   transaction's snapshot at its first plain read, which comes after them.
//! - **SQLite**: `BEGIN IMMEDIATE` takes the database's write lock first, so
//!   these transactions run one at a time (a deferred one that read and then
//!   wrote would fail at once with SQLITE_BUSY when another writer went
//!   first, whatever the busy timeout).
//!
//! Every change bumps the user's `revision` (its etag), keeps its
//! `administrator` column true to its state, and records its audit event
//! in the same transaction ([`super::audit`]).

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, ExprTrait as _, QueryFilter as _, QuerySelect as _,
    sea_query::{Expr, OnConflict},
};

use super::{
    Store, StoreError, audit, entity,
    memberships::{
        effective_column, holds_roles, new_members, replace_roles, roles_held_by, roles_named,
    },
    users::{join_permissions, to_user},
};
use crate::domain::model::{
    KeyInfo, NewAuditEvent, NewKey, RoleBook, RoleSet, Target, Timestamp, User,
};
use entity::{access_key, setting, user};

/// The `settings` row that updates and deletions of users lock first
/// (created by migration m20261201_000004).
const ADMINISTRATOR_GUARD: &str = "administrator_guard";

/// What a checked change came to: done, refused by the check, or what it
/// changes was not there.
pub(super) enum Checked<T, E> {
    Done(T),
    Refused(E),
    Missing,
}

impl<T, E> Checked<T, E> {
    /// For a change to a user, whose absence is an error.
    fn into_result(self) -> Result<Result<T, E>, StoreError> {
        match self {
            Self::Done(value) => Ok(Ok(value)),
            Self::Refused(error) => Ok(Err(error)),
            Self::Missing => Err(StoreError::UserMissing),
        }
    }

    /// For a change to a role, named by the caller: `None` when absent.
    pub(super) fn into_option(self) -> Option<Result<T, E>> {
        match self {
            Self::Done(value) => Some(Ok(value)),
            Self::Refused(error) => Some(Err(error)),
            Self::Missing => None,
        }
    }
}

impl Store {
    /// Writes the user `check` makes of the user as it is now (locked,
    /// with its roles and those of `wanted` read into its book), or nothing
    /// if `check` refuses, recording the event `describe` makes of the user
    /// before and after. Returns the user as it was and as changed.
    pub async fn update_user_checked<E>(
        &self,
        id: i64,
        wanted: &RoleSet,
        check: impl FnOnce(&Target) -> Result<User, E>,
        describe: impl FnOnce(&User, &User) -> NewAuditEvent,
    ) -> Result<Result<(User, User), E>, StoreError> {
        self.checked_change(
            id,
            wanted,
            check,
            async |txn, target: Target, after: User| {
                user::Entity::update_many()
                    .set(changed_row(&after))
                    .filter(user::Column::Id.eq(id))
                    .exec(txn)
                    .await?;
                if after.roles != target.user.roles {
                    replace_roles(txn, id, &target.user.roles, &after.roles, &target.roles).await?;
                }
                audit::record(txn, &self.audit_chain, &describe(&target.user, &after)).await?;
                Ok((target.user, after))
            },
        )
        .await
    }

    /// Deletes the user (and by cascade its key) if `check` approves of it
    /// as it is now (locked), recording the event `describe` makes of it.
    /// Returns the user as it was.
    pub async fn delete_user_checked<E>(
        &self,
        id: i64,
        check: impl FnOnce(&Target) -> Result<(), E>,
        describe: impl FnOnce(&User) -> NewAuditEvent,
    ) -> Result<Result<User, E>, StoreError> {
        self.checked_change(
            id,
            &RoleSet::default(),
            check,
            async |txn, target: Target, ()| {
                user::Entity::delete_by_id(id).exec(txn).await?;
                // Its holdings go with it (by cascade): its roles' members changed.
                let held = target
                    .user
                    .roles
                    .iter()
                    .filter_map(|name| target.roles.get(name));
                new_members(txn, held.map(|role| role.id)).await?;
                audit::record(txn, &self.audit_chain, &describe(&target.user)).await?;
                Ok(target.user)
            },
        )
        .await
    }

    /// Makes `key` the user's only key if `check` approves of the user as it
    /// is now (locked): one upsert on the unique `user_id`, so the previous
    /// key dies in the same instant. Records the event `describe` makes of
    /// the user and the key replaced; returns that key, if any.
    pub async fn replace_key_checked<E>(
        &self,
        user_id: i64,
        key: &NewKey,
        check: impl FnOnce(&User) -> Result<(), E>,
        describe: impl FnOnce(&User, Option<&KeyInfo>) -> NewAuditEvent,
    ) -> Result<Result<Option<KeyInfo>, E>, StoreError> {
        let row = access_key::ActiveModel {
            id: NotSet,
            user_id: Set(user_id),
            key_id: Set(key.key_id.as_str().to_owned()),
            secret_hash: Set(key.secret_hash.clone()),
            secret_fingerprint: Set(Some(key.secret_fingerprint.to_stored())),
            create_time: Set(key.create_time.as_micros()),
            expire_time: Set(key.expire_time.map(Timestamp::as_micros)),
            last_used_time: Set(None),
        };
        self.checked_change(user_id, &(), check, async |txn, current: User, ()| {
            access_key::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(access_key::Column::UserId)
                        .update_columns([
                            access_key::Column::KeyId,
                            access_key::Column::SecretHash,
                            access_key::Column::SecretFingerprint,
                            access_key::Column::CreateTime,
                            access_key::Column::ExpireTime,
                            access_key::Column::LastUsedTime,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
            bump_revision(txn, user_id).await?;
            audit::record(
                txn,
                &self.audit_chain,
                &describe(&current, current.access_key.as_ref()),
            )
            .await?;
            Ok(current.access_key)
        })
        .await
    }

    /// Deletes the user's key if `check` approves of the user as it is now
    /// (locked), recording the event `describe` makes of the user and the
    /// key. Returns the key deleted, or `None` if it had none (and nothing
    /// is recorded).
    pub async fn delete_key_checked<E>(
        &self,
        user_id: i64,
        check: impl FnOnce(&User) -> Result<(), E>,
        describe: impl FnOnce(&User, &KeyInfo) -> NewAuditEvent,
    ) -> Result<Result<Option<KeyInfo>, E>, StoreError> {
        self.checked_change(user_id, &(), check, async |txn, current: User, ()| {
            let Some(revoked) = current.access_key.as_ref() else {
                // Nothing to change: the commit writes nothing either.
                return Ok(None);
            };
            access_key::Entity::delete_many()
                .filter(access_key::Column::UserId.eq(user_id))
                .exec(txn)
                .await?;
            bump_revision(txn, user_id).await?;
            audit::record(txn, &self.audit_chain, &describe(&current, revoked)).await?;
            Ok(current.access_key)
        })
        .await
    }

    /// Every checked change to a user: [`approved_change`](Self::approved_change)
    /// reading `R` for user `id`, a missing user being an error.
    async fn checked_change<R: LockedRead, P, T, E>(
        &self,
        id: i64,
        wanted: &R::Wanted,
        check: impl FnOnce(&R) -> Result<P, E>,
        change: impl AsyncFnOnce(&DatabaseTransaction, R, P) -> Result<T, DbErr>,
    ) -> Result<Result<T, E>, StoreError> {
        self.approved_change(
            async |txn| R::lock_and_read(txn, id, wanted).await,
            check,
            change,
        )
        .await?
        .into_result()
    }

    /// Every checked change, to a user or a role: begins the transaction
    /// (see the module documentation), takes the locks and reads what
    /// `read` reads, asks `check`, and stops (rolled back) when there was
    /// nothing to read or `check` refuses; otherwise runs `change` in the
    /// same transaction with what was read and decided, and commits. Within
    /// the store's deadline, noting a refused write.
    pub(super) async fn approved_change<R, P, T, E>(
        &self,
        read: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Option<R>, DbErr>,
        check: impl FnOnce(&R) -> Result<P, E>,
        change: impl AsyncFnOnce(&DatabaseTransaction, R, P) -> Result<T, DbErr>,
    ) -> Result<Checked<T, E>, StoreError> {
        self.bounded(async {
            let outcome = async {
                let txn = self.begin_write().await?;
                let Some(read) = read(&txn).await? else {
                    txn.rollback().await?;
                    return Ok(Checked::Missing);
                };
                let decision = match check(&read) {
                    Ok(decision) => decision,
                    Err(refused) => {
                        txn.rollback().await?;
                        return Ok(Checked::Refused(refused));
                    }
                };
                let done = change(&txn, read, decision).await?;
                txn.commit().await?;
                Ok(Checked::Done(done))
            }
            .await;
            self.written(outcome)
        })
        .await
    }
}

/// What a checked change reads about its user, with the locks that keep it
/// true until the transaction ends, and what else it needs read (`Wanted`).
trait LockedRead: Sized {
    type Wanted: ?Sized;

    async fn lock_and_read(
        txn: &DatabaseTransaction,
        id: i64,
        wanted: &Self::Wanted,
    ) -> Result<Option<Self>, DbErr>;
}

/// For key changes: the user's row, locked. Its roles are not read (a key
/// change needs only what the user holds, which its row has).
impl LockedRead for User {
    type Wanted = ();

    async fn lock_and_read(
        txn: &DatabaseTransaction,
        id: i64,
        (): &(),
    ) -> Result<Option<Self>, DbErr> {
        let locked = locked_row(txn, id).await?;
        Ok(locked.map(|(row, key)| to_user(row, key, RoleSet::default())))
    }
}

/// For changes to the user itself, which can remove an administrator or
/// change its roles: the administrator guard, then the user's row, its
/// roles and the `wanted` ones, and whether it is the only administrator
/// (all true until the transaction ends, since every change able to alter
/// them holds the guard).
impl LockedRead for Target {
    type Wanted = RoleSet;

    async fn lock_and_read(
        txn: &DatabaseTransaction,
        id: i64,
        wanted: &RoleSet,
    ) -> Result<Option<Self>, DbErr> {
        lock_administrator_guard(txn).await?;
        let Some((row, key)) = locked_row(txn, id).await? else {
            return Ok(None);
        };
        let held = if holds_roles(&row) {
            roles_held_by(txn, id).await?
        } else {
            Vec::new()
        };
        let names = RoleSet::from_names(held.iter().map(|role| role.name.clone()));
        let user = to_user(row, key, names);
        let sole_administrator = user.is_administrator() && !another_administrator(txn, id).await?;
        let given = roles_named(txn, wanted).await?;
        Ok(Some(Self {
            user,
            sole_administrator,
            roles: RoleBook::from_roles(held.into_iter().chain(given)),
        }))
    }
}

/// Waits for, and holds until the transaction ends, the lock every change
/// able to remove an administrator or to change what roles grant takes
/// first. (A no-op on SQLite, where the transaction already holds the
/// database's write lock.)
pub(super) async fn lock_administrator_guard(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        // One statement fewer while SQLite's write lock is held.
        return Ok(());
    }
    setting::Entity::find_by_id(ADMINISTRATOR_GUARD.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
        .map(drop)
        .ok_or_else(|| {
            DbErr::Custom(format!(
                "the `{ADMINISTRATOR_GUARD}` settings row is missing; run `accesskeyd migrate`"
            ))
        })
}

/// The row of the user with `id`, locked until the transaction ends, with
/// its key's.
async fn locked_row(
    txn: &DatabaseTransaction,
    id: i64,
) -> Result<Option<(user::Model, Option<access_key::Model>)>, DbErr> {
    let Some(row) = user::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    // Every write of a key locks its user's row first, so with that lock
    // held this read sees the key as it stays until the commit.
    let key = access_key::Entity::find()
        .filter(access_key::Column::UserId.eq(id))
        .one(txn)
        .await?;
    Ok(Some((row, key)))
}

/// Whether an administrator other than user `id` exists. Only meaningful
/// with the administrator guard held.
async fn another_administrator(txn: &DatabaseTransaction, id: i64) -> Result<bool, DbErr> {
    let other = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Administrator.eq(true))
        .filter(user::Column::Id.ne(id))
        .limit(1)
        .into_tuple::<i64>()
        .one(txn)
        .await?;
    Ok(other.is_some())
}

/// The mutable columns of `user` as changed, with its new revision.
fn changed_row(user: &User) -> user::ActiveModel {
    user::ActiveModel {
        id: NotSet,
        username: NotSet,
        username_folded: NotSet,
        email: Set(user.email.clone()),
        display_name: Set(user.display_name.clone()),
        identity_provider: NotSet,
        permissions: Set(join_permissions(&user.permissions)),
        disabled: Set(user.disabled),
        create_time: NotSet,
        update_time: Set(user.update_time.as_micros()),
        revision: Set(user.revision),
        administrator: Set(user.is_administrator()),
        effective_permissions: Set(effective_column(
            !user.roles.is_empty(),
            &user.effective_permissions,
        )),
    }
}

/// A change to the user's key changes the user: a new etag.
async fn bump_revision(txn: &DatabaseTransaction, user_id: i64) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::Revision,
            Expr::col(user::Column::Revision).add(1),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
