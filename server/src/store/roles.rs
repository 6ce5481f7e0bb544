//! Roles: creating, reading, listing, and the checked changes that rewrite
//! every member with them.
//!
//! A change to a role's permissions, or its deletion, changes what each of
//! its members holds, so it runs as the changes to users do (see
//! [`super::changes`]): one transaction that takes the administrator guard
//! first, locks the role's row, reads the members with every role they hold
//! and whether an administrator exists outside them, asks the domain's
//! check, and rewrites each member's `effective_permissions`,
//! `administrator` and `revision` with the role. Every change that alters
//! what a user holds takes the same guard, so none slips between the read
//! and the write, on any replica. The transaction writes one row per
//! member: a role held by thousands of users is a write of thousands of
//! rows.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbErr, EntityTrait as _,
    ExprTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    sea_query::{Expr, LikeExpr, Query, SelectStatement},
};

use super::{
    Store, StoreError, audit,
    changes::lock_administrator_guard,
    entity::{role, user, user_role},
    memberships::{effective_column, holdings, member_counts, to_role},
    users::{escape_like, insert_returning, join_permissions, split_permissions, to_user},
};
use crate::domain::model::{
    Member, MemberAfter, NewAuditEvent, NewRole, PermissionSet, Role, RoleName, RoleSet,
    RoleTarget, Timestamp,
};

impl Store {
    /// Inserts the role and the event `describe` makes of it, in one
    /// transaction.
    pub async fn insert_role(
        &self,
        new: &NewRole,
        now: Timestamp,
        describe: impl FnOnce(&Role) -> NewAuditEvent,
    ) -> Result<Role, StoreError> {
        let row = role::ActiveModel {
            id: NotSet,
            name: Set(new.name.as_str().to_owned()),
            name_folded: Set(new.name.folded()),
            description: Set(new.description.clone()),
            permissions: Set(join_permissions(&new.permissions)),
            create_time: Set(now.as_micros()),
            update_time: Set(now.as_micros()),
            revision: Set(1),
        };
        self.bounded(async {
            let outcome = async {
                let txn = self.begin_write().await?;
                let inserted = insert_returning::<role::Entity>(&txn, row, "role").await?;
                let role = to_role(inserted, 0);
                audit::record(&txn, &self.audit_chain, &describe(&role)).await?;
                txn.commit().await?;
                Ok(role)
            }
            .await;
            self.written(outcome)
        })
        .await
    }

    /// The role named `name` (ignoring case), with its member count.
    pub async fn role(&self, name: &RoleName) -> Result<Option<Role>, StoreError> {
        self.bounded(async {
            let Some(row) = role::Entity::find()
                .filter(role::Column::NameFolded.eq(name.folded()))
                .one(&self.db)
                .await?
            else {
                return Ok(None);
            };
            let counts = member_counts(&self.db, &[row.id]).await?;
            let members = counts.get(&row.id).copied().unwrap_or(0);
            Ok(Some(to_role(row, members)))
        })
        .await
    }

    /// Roles with id above `after_id` whose folded name starts with
    /// `folded_prefix`, in id order, with their member counts.
    pub async fn list_roles(
        &self,
        after_id: i64,
        folded_prefix: &str,
        limit: u64,
    ) -> Result<Vec<Role>, StoreError> {
        self.bounded(async {
            let mut query = role::Entity::find().filter(role::Column::Id.gt(after_id));
            if !folded_prefix.is_empty() {
                let pattern = format!("{}%", escape_like(folded_prefix));
                query = query.filter(
                    Expr::col((role::Entity, role::Column::NameFolded))
                        .like(LikeExpr::new(pattern).escape(super::users::LIKE_ESCAPE)),
                );
            }
            let rows = query
                .order_by_asc(role::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?;
            let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
            let counts = member_counts(&self.db, &ids).await?;
            Ok(rows
                .into_iter()
                .map(|row| {
                    let members = counts.get(&row.id).copied().unwrap_or(0);
                    to_role(row, members)
                })
                .collect())
        })
        .await
    }

    /// Writes the role and members `check` makes of the role as it is now
    /// (locked, with its members), or nothing if `check` refuses, recording
    /// the event `describe` makes of it before and after. Returns the role
    /// as it was and as changed; `None`: no role has the name.
    pub async fn update_role_checked<E>(
        &self,
        name: &RoleName,
        check: impl FnOnce(&RoleTarget) -> Result<(Role, Vec<MemberAfter>), E>,
        describe: impl FnOnce(&Role, &Role) -> NewAuditEvent,
    ) -> Result<Option<Result<(Role, Role), E>>, StoreError> {
        self.role_change(name, check, async |txn, target, (after, members)| {
            role::Entity::update_many()
                .set(role::ActiveModel {
                    description: Set(after.description.clone()),
                    permissions: Set(join_permissions(&after.permissions)),
                    update_time: Set(after.update_time.as_micros()),
                    revision: Set(after.revision),
                    ..role::ActiveModel::default()
                })
                .filter(role::Column::Id.eq(after.id))
                .exec(txn)
                .await?;
            rewrite_members(txn, &members).await?;
            audit::record(txn, &self.audit_chain, &describe(&target.role, &after)).await?;
            let member_count = target.members.len() as u64;
            Ok((
                target.role,
                Role {
                    member_count,
                    ..after
                },
            ))
        })
        .await
    }

    /// Deletes the role, taking it from its members as `check` decides
    /// (from the role as it is now, locked, with its members), or nothing if
    /// `check` refuses, recording the event `describe` makes of it. Returns
    /// the role and members as they were; `None`: no role has the name.
    pub async fn delete_role_checked<E>(
        &self,
        name: &RoleName,
        check: impl FnOnce(&RoleTarget) -> Result<Vec<MemberAfter>, E>,
        describe: impl FnOnce(&RoleTarget) -> NewAuditEvent,
    ) -> Result<Option<Result<RoleTarget, E>>, StoreError> {
        self.role_change(name, check, async |txn, target, members| {
            user_role::Entity::delete_many()
                .filter(user_role::Column::RoleId.eq(target.role.id))
                .exec(txn)
                .await?;
            rewrite_members(txn, &members).await?;
            role::Entity::delete_by_id(target.role.id).exec(txn).await?;
            audit::record(txn, &self.audit_chain, &describe(&target)).await?;
            Ok(target)
        })
        .await
    }

    /// Every checked role change: [`Store::approved_change`] reading the
    /// role (after the administrator guard) with its members.
    async fn role_change<D, T, E>(
        &self,
        name: &RoleName,
        check: impl FnOnce(&RoleTarget) -> Result<D, E>,
        change: impl AsyncFnOnce(&DatabaseTransaction, RoleTarget, D) -> Result<T, DbErr>,
    ) -> Result<Option<Result<T, E>>, StoreError> {
        let read = async |txn: &DatabaseTransaction| {
            lock_administrator_guard(txn).await?;
            locked_role(txn, name).await
        };
        Ok(self
            .approved_change(read, check, change)
            .await?
            .into_option())
    }
}

/// The role named `name`, its row locked, with its members (each with every
/// role it holds) and whether an administrator holds no part of it.
async fn locked_role(
    txn: &DatabaseTransaction,
    name: &RoleName,
) -> Result<Option<RoleTarget>, DbErr> {
    let Some(row) = role::Entity::find()
        .filter(role::Column::NameFolded.eq(name.folded()))
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let role = to_role(row, 0);
    let rows = user::Entity::find()
        .filter(user::Column::Id.in_subquery(members_of(role.id)))
        .order_by_asc(user::Column::Id)
        .all(txn)
        .await?;
    let mut held = roles_of_members(txn, role.id).await?;
    let members = rows
        .into_iter()
        .map(|row| {
            let (names, carried) = held.remove(&row.id).unwrap_or_default();
            let other_roles = carried
                .into_iter()
                .fold(PermissionSet::default(), |all, set| all.union(&set));
            Member {
                user: to_user(row, None, RoleSet::from_names(names)),
                other_roles,
            }
        })
        .collect();
    let administrator_outside = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Administrator.eq(true))
        .filter(user::Column::Id.not_in_subquery(members_of(role.id)))
        .limit(1)
        .into_tuple::<i64>()
        .one(txn)
        .await?
        .is_some();
    Ok(Some(RoleTarget {
        role: Role {
            member_count: 0,
            ..role
        },
        members,
        administrator_outside,
    }))
}

/// `SELECT user_id FROM user_roles WHERE role_id = …`.
fn members_of(role_id: i64) -> SelectStatement {
    Query::select()
        .column(user_role::Column::UserId)
        .from(user_role::Entity)
        .and_where(Expr::col(user_role::Column::RoleId).eq(role_id))
        .to_owned()
}

/// For each member of role `role_id`: the names of every role it holds,
/// and the permissions of those other than `role_id`.
async fn roles_of_members(
    txn: &DatabaseTransaction,
    role_id: i64,
) -> Result<HashMap<i64, (Vec<RoleName>, Vec<PermissionSet>)>, DbErr> {
    let read = holdings()
        .column((user_role::Entity, user_role::Column::UserId))
        .column((role::Entity, role::Column::Id))
        .column((role::Entity, role::Column::Name))
        .column((role::Entity, role::Column::Permissions))
        .and_where(
            Expr::col((user_role::Entity, user_role::Column::UserId))
                .in_subquery(members_of(role_id)),
        )
        .to_owned();
    let backend = txn.get_database_backend();
    let mut held: HashMap<i64, (Vec<RoleName>, Vec<PermissionSet>)> = HashMap::new();
    for row in txn.query_all_raw(backend.build(&read)).await? {
        let user_id: i64 = row.try_get_by_index(0)?;
        let id: i64 = row.try_get_by_index(1)?;
        let name: String = row.try_get_by_index(2)?;
        let permissions: String = row.try_get_by_index(3)?;
        let entry = held.entry(user_id).or_default();
        entry.0.push(RoleName::from_stored(name));
        if id != role_id {
            entry.1.push(split_permissions(&permissions));
        }
    }
    Ok(held)
}

/// Writes each member's new effective permissions and administrator state,
/// with a new revision (its etag changes: what it holds changed).
async fn rewrite_members(txn: &DatabaseTransaction, members: &[MemberAfter]) -> Result<(), DbErr> {
    for member in members {
        let effective = effective_column(member.holds_roles, &member.effective_permissions);
        user::Entity::update_many()
            .col_expr(user::Column::EffectivePermissions, Expr::value(effective))
            .col_expr(
                user::Column::Administrator,
                Expr::value(member.administrator),
            )
            .col_expr(
                user::Column::Revision,
                Expr::col(user::Column::Revision).add(1),
            )
            .filter(user::Column::Id.eq(member.user_id))
            .exec(txn)
            .await?;
    }
    Ok(())
}
