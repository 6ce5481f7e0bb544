//! Who holds which role: the reads and writes of `user_roles` that users
//! and roles share, and a user's effective permissions as stored.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait as _,
    QueryFilter as _, QuerySelect as _,
    sea_query::{Expr, ExprTrait as _, Query, SelectStatement},
};

use super::{
    entity::{role, user, user_role},
    users::{join_permissions, split_permissions},
};
use crate::domain::model::{PermissionSet, Role, RoleBook, RoleName, RoleSet, Timestamp};

/// `FROM user_roles JOIN roles`: each holding with its role, to select
/// from.
pub(super) fn holdings() -> SelectStatement {
    Query::select()
        .from(user_role::Entity)
        .inner_join(
            role::Entity,
            Expr::col((role::Entity, role::Column::Id))
                .equals((user_role::Entity, user_role::Column::RoleId)),
        )
        .to_owned()
}

/// The roles each of `user_ids` holds (users holding none are absent).
pub(super) async fn role_names_of(
    conn: &impl ConnectionTrait,
    user_ids: &[i64],
) -> Result<HashMap<i64, RoleSet>, DbErr> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let read = holdings()
        .column((user_role::Entity, user_role::Column::UserId))
        .column((role::Entity, role::Column::Name))
        .and_where(
            Expr::col((user_role::Entity, user_role::Column::UserId))
                .is_in(user_ids.iter().copied()),
        )
        .to_owned();
    let backend = conn.get_database_backend();
    let mut names: HashMap<i64, Vec<RoleName>> = HashMap::new();
    for row in conn.query_all_raw(backend.build(&read)).await? {
        let user_id: i64 = row.try_get_by_index(0)?;
        let name: String = row.try_get_by_index(1)?;
        names
            .entry(user_id)
            .or_default()
            .push(RoleName::from_stored(name));
    }
    Ok(names
        .into_iter()
        .map(|(user_id, names)| (user_id, RoleSet::from_names(names)))
        .collect())
}

/// The roles user `user_id` holds.
pub(super) async fn roles_held_by(
    conn: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<Role>, DbErr> {
    let held = Query::select()
        .column(user_role::Column::RoleId)
        .from(user_role::Entity)
        .and_where(Expr::col(user_role::Column::UserId).eq(user_id))
        .to_owned();
    let rows = role::Entity::find()
        .filter(role::Column::Id.in_subquery(held))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| to_role(row, 0)).collect())
}

/// The roles of `names` that exist.
pub(super) async fn roles_named(
    conn: &impl ConnectionTrait,
    names: &RoleSet,
) -> Result<Vec<Role>, DbErr> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = role::Entity::find()
        .filter(role::Column::NameFolded.is_in(names.iter().map(RoleName::folded)))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| to_role(row, 0)).collect())
}

/// Makes user `user_id` hold `after` instead of `before`, the roles read
/// from `book` (which holds every role of both, read under the
/// administrator guard that every role change holds).
pub(super) async fn replace_roles(
    txn: &DatabaseTransaction,
    user_id: i64,
    before: &RoleSet,
    after: &RoleSet,
    book: &RoleBook,
) -> Result<(), DbErr> {
    let id_of = |name: &RoleName| {
        book.get(name).map(|role| role.id).ok_or_else(|| {
            DbErr::Custom(format!(
                "role `{}` was approved but not read",
                name.as_str()
            ))
        })
    };
    let taken = before
        .missing_from(after)
        .map(id_of)
        .collect::<Result<Vec<_>, _>>()?;
    if !taken.is_empty() {
        user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id))
            .filter(user_role::Column::RoleId.is_in(taken.iter().copied()))
            .exec(txn)
            .await?;
    }
    let given_ids = after
        .missing_from(before)
        .map(id_of)
        .collect::<Result<Vec<_>, _>>()?;
    new_members(txn, taken.into_iter().chain(given_ids)).await?;
    let given = after
        .missing_from(before)
        .map(|name| {
            id_of(name).map(|role_id| user_role::ActiveModel {
                user_id: Set(user_id),
                role_id: Set(role_id),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !given.is_empty() {
        user_role::Entity::insert_many(given)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Gives roles `role_ids` a new revision (a new etag): who holds them
/// changed, so a DeleteRole with `force` on the etag read before takes the
/// role from no user its caller did not see.
pub(super) async fn new_members(
    txn: &DatabaseTransaction,
    role_ids: impl IntoIterator<Item = i64>,
) -> Result<(), DbErr> {
    let role_ids: Vec<i64> = role_ids.into_iter().collect();
    if role_ids.is_empty() {
        return Ok(());
    }
    role::Entity::update_many()
        .col_expr(
            role::Column::Revision,
            Expr::col(role::Column::Revision).add(1),
        )
        .filter(role::Column::Id.is_in(role_ids))
        .exec(txn)
        .await?;
    Ok(())
}

/// How many users hold each of `role_ids`.
pub(super) async fn member_counts(
    conn: &impl ConnectionTrait,
    role_ids: &[i64],
) -> Result<HashMap<i64, u64>, DbErr> {
    if role_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let counts = user_role::Entity::find()
        .select_only()
        .column(user_role::Column::RoleId)
        .column_as(user_role::Column::UserId.count(), "members")
        .filter(user_role::Column::RoleId.is_in(role_ids.iter().copied()))
        .group_by(user_role::Column::RoleId)
        .into_tuple::<(i64, i64)>()
        .all(conn)
        .await?;
    Ok(counts
        .into_iter()
        .map(|(role_id, members)| (role_id, u64::try_from(members).unwrap_or(0)))
        .collect())
}

/// The `effective_permissions` column of a user holding `effective`: NULL
/// exactly when it holds no role (its effective permissions are then its
/// direct ones). So a NULL also tells, without reading `user_roles`, that a
/// user holds no role ([`holds_roles`]).
pub(super) fn effective_column(holds_roles: bool, effective: &PermissionSet) -> Option<String> {
    holds_roles.then(|| join_permissions(effective))
}

/// Whether the user of `row` holds any role (see [`effective_column`]).
pub(super) fn holds_roles(row: &user::Model) -> bool {
    row.effective_permissions.is_some()
}

pub(super) fn to_role(row: role::Model, member_count: u64) -> Role {
    Role {
        id: row.id,
        name: RoleName::from_stored(row.name),
        description: row.description,
        permissions: split_permissions(&row.permissions),
        create_time: Timestamp::from_micros(row.create_time),
        update_time: Timestamp::from_micros(row.update_time),
        revision: row.revision,
        member_count,
    }
}
