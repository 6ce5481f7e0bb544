//! Users: creating, reading and listing them, and the page-token key
//! ListUsers signs with.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, ExprTrait as _, IntoActiveModel, PrimaryKeyTrait, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, QueryTrait as _,
    sea_query::{Expr, Func, LikeExpr},
};

use crate::domain::{
    key_format::KeyId,
    model::{
        IdentityProvider, KeyInfo, NewAuditEvent, NewUser, Permission, PermissionSet, RoleBook,
        RoleName, RoleSet, Timestamp, User, UserRef, Username, is_administrator,
    },
};

use super::{
    Store, StoreError, audit,
    changes::lock_administrator_guard,
    entity::{access_key, role, setting, user, user_role},
    error::{Reason, SettingProblem, setting_fault},
    memberships::{
        effective_column, holdings, holds_roles, replace_roles, role_names_of, roles_named,
    },
};

/// Separates permission names in the `permissions` column.
const PERMISSION_SEPARATOR: char = '\n';
/// The `settings` row holding the ListUsers page-token MAC key.
const PAGE_TOKEN_KEY_SETTING: &str = "page_token_key";
/// The LIKE escape character, stated in every LIKE (`ESCAPE '!'`) rather
/// than left to each backend's default (a backslash on PostgreSQL and
/// MySQL, none on SQLite); escaped itself where searched text holds one.
pub(super) const LIKE_ESCAPE: char = '!';

impl Store {
    /// The page-token MAC key, created by whichever replica asks first.
    pub async fn page_token_key(&self) -> Result<Vec<u8>, StoreError> {
        self.random_secret(PAGE_TOKEN_KEY_SETTING).await
    }

    /// The 32 random bytes in settings row `name`, created by whichever
    /// replica asks first.
    async fn random_secret(&self, name: &'static str) -> Result<Vec<u8>, StoreError> {
        self.bounded(async {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh)
                .map_err(|e| StoreError::database_because(Reason::Randomness, e))?;
            let candidate = setting::ActiveModel {
                name: Set(name.to_owned()),
                value: Set(hex::encode(fresh)),
            };
            // Insert-if-absent, then read: concurrent replicas all read the winner.
            self.written(
                setting::Entity::insert(candidate)
                    .on_conflict_do_nothing_on([setting::Column::Name])
                    .exec(&self.db)
                    .await,
            )?;
            let stored = setting::Entity::find_by_id(name.to_owned())
                .one(&self.db)
                .await?
                .ok_or_else(|| setting_fault(name, SettingProblem::Missing))?;
            hex::decode(&stored.value).map_err(|_| setting_fault(name, SettingProblem::NotHex))
        })
        .await
    }

    pub async fn any_user(&self) -> Result<bool, StoreError> {
        self.bounded(async { Ok(user::Entity::find().one(&self.db).await?.is_some()) })
            .await
    }

    /// Inserts the user, its roles and the event `describe` makes of it,
    /// in one transaction, if `check` approves of what it would hold with
    /// the roles it names as they are read (under the administrator guard,
    /// so that no role changes meanwhile). Returns `check`'s refusal, if
    /// any, with nothing written.
    pub async fn insert_user<E>(
        &self,
        new: &NewUser,
        now: Timestamp,
        check: impl FnOnce(&RoleBook) -> Result<PermissionSet, E>,
        describe: impl FnOnce(&User) -> NewAuditEvent,
    ) -> Result<Result<User, E>, StoreError> {
        self.bounded(async {
            let outcome = async {
                let txn = self.begin_write().await?;
                let book = if new.roles.is_empty() {
                    RoleBook::default()
                } else {
                    lock_administrator_guard(&txn).await?;
                    RoleBook::from_roles(roles_named(&txn, &new.roles).await?)
                };
                let effective = match check(&book) {
                    Ok(effective) => effective,
                    Err(refused) => {
                        txn.rollback().await?;
                        return Ok(Err(refused));
                    }
                };
                let row = user::ActiveModel {
                    id: NotSet,
                    username: Set(new.username.as_str().to_owned()),
                    username_folded: Set(new.username.folded()),
                    email: Set(new.email.clone()),
                    display_name: Set(new.display_name.clone()),
                    identity_provider: Set(new.identity_provider.as_str().to_owned()),
                    permissions: Set(join_permissions(&new.permissions)),
                    disabled: Set(false),
                    create_time: Set(now.as_micros()),
                    update_time: Set(now.as_micros()),
                    revision: Set(1),
                    administrator: Set(is_administrator(false, &new.identity_provider, &effective)),
                    effective_permissions: Set(effective_column(!new.roles.is_empty(), &effective)),
                };
                let inserted = insert_returning::<user::Entity>(&txn, row, "user").await?;
                replace_roles(&txn, inserted.id, &RoleSet::default(), &new.roles, &book).await?;
                let user = to_user(inserted, None, book.as_named(&new.roles));
                audit::record(&txn, &self.audit_chain, &describe(&user)).await?;
                txn.commit().await?;
                Ok(Ok(user))
            }
            .await;
            self.written(outcome)
        })
        .await
    }

    pub async fn user(&self, which: &UserRef) -> Result<Option<User>, StoreError> {
        self.bounded(async {
            let query = match which {
                UserRef::Id(id) => user::Entity::find().filter(user::Column::Id.eq(*id)),
                UserRef::Username(name) => {
                    user::Entity::find().filter(user::Column::UsernameFolded.eq(name.folded()))
                }
            };
            let Some((row, key)) = query
                .find_also_related(access_key::Entity)
                .one(&self.db)
                .await?
            else {
                return Ok(None);
            };
            let held = if holds_roles(&row) {
                let mut roles = role_names_of(&self.db, &[row.id]).await?;
                roles.remove(&row.id).unwrap_or_default()
            } else {
                RoleSet::default()
            };
            Ok(Some(to_user(row, key, held)))
        })
        .await
    }

    /// Users with id above `after_id` whose folded name starts with `prefix`
    /// and whose username, display name or email contains `folded_search`
    /// (lowercase), holding `role` and `permission` (directly or through a
    /// role) when given, in id order. Ids only grow, so paging by id sees
    /// every user that exists throughout exactly once.
    pub async fn list_users(
        &self,
        after_id: i64,
        folded_prefix: &str,
        folded_search: &str,
        role: Option<&RoleName>,
        permission: Option<&Permission>,
        limit: u64,
    ) -> Result<Vec<User>, StoreError> {
        self.bounded(async {
            let mut query = user::Entity::find().filter(user::Column::Id.gt(after_id));
            if let Some(role) = role {
                let holders = holdings()
                    .column((user_role::Entity, user_role::Column::UserId))
                    .and_where(
                        Expr::col((role::Entity, role::Column::NameFolded)).eq(role.folded()),
                    )
                    .to_owned();
                query = query.filter(user::Column::Id.in_subquery(holders));
            }
            if let Some(permission) = permission {
                query = query.filter(holds_permission(permission));
            }
            if !folded_prefix.is_empty() {
                let pattern = format!("{}%", escape_like(folded_prefix));
                query = query.filter(
                    Expr::col((user::Entity, user::Column::UsernameFolded))
                        .like(LikeExpr::new(pattern).escape(LIKE_ESCAPE)),
                );
            }
            if !folded_search.is_empty() {
                let pattern = format!("%{}%", escape_like(folded_search));
                let contains =
                    |column: Expr| column.like(LikeExpr::new(&pattern).escape(LIKE_ESCAPE));
                // LOWER() on every backend, rather than each one's own
                // case-insensitive comparison (ILIKE, collations): the same
                // SQL everywhere. The username has its folded column.
                let lower = |column: user::Column| {
                    Expr::expr(Func::lower(Expr::col((user::Entity, column))))
                };
                query = query.filter(
                    Condition::any()
                        .add(contains(Expr::col((
                            user::Entity,
                            user::Column::UsernameFolded,
                        ))))
                        .add(contains(lower(user::Column::DisplayName)))
                        .add(contains(lower(user::Column::Email))),
                );
            }
            let rows = query
                .order_by_asc(user::Column::Id)
                .limit(limit)
                .find_also_related(access_key::Entity)
                .all(&self.db)
                .await?;
            let ids: Vec<i64> = rows
                .iter()
                .filter(|(user, _)| holds_roles(user))
                .map(|(user, _)| user.id)
                .collect();
            let mut roles = role_names_of(&self.db, &ids).await?;
            Ok(rows
                .into_iter()
                .map(|(user, key)| {
                    let held = roles.remove(&user.id).unwrap_or_default();
                    to_user(user, key, held)
                })
                .collect())
        })
        .await
    }
}

/// Inserts `row` in `txn` and reads it back with its id: `RETURNING` on
/// PostgreSQL, the last insert id on the others (MySQL has no RETURNING).
/// For the tables whose id the database assigns (users, roles); `what`
/// names the row in errors.
pub(super) async fn insert_returning<E>(
    txn: &DatabaseTransaction,
    row: E::ActiveModel,
    what: &str,
) -> Result<E::Model, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        return E::insert(row).exec_with_returning(txn).await;
    }
    let inserted = txn.execute_raw(E::insert(row).build(backend)).await?;
    let id = i64::try_from(inserted.last_insert_id())
        .map_err(|_| DbErr::Custom(format!("the new {what}'s id is out of range")))?;
    E::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::Custom(format!("the new {what} is missing right after its insert")))
}

/// Users holding `permission`, directly or through a role: one of the
/// newline-separated names of their effective permissions is it.
fn holds_permission(permission: &Permission) -> Condition {
    let held = || {
        Expr::expr(Func::coalesce([
            Expr::col((user::Entity, user::Column::EffectivePermissions)),
            Expr::col((user::Entity, user::Column::Permissions)),
        ]))
    };
    let name = escape_like(permission.as_str());
    let sep = PERMISSION_SEPARATOR;
    [
        name.clone(),
        format!("{name}{sep}%"),
        format!("%{sep}{name}"),
        format!("%{sep}{name}{sep}%"),
    ]
    .into_iter()
    .fold(Condition::any(), |any, pattern| {
        any.add(held().like(LikeExpr::new(pattern).escape(LIKE_ESCAPE)))
    })
}

/// A user from its row, its key's and the roles it holds.
pub(super) fn to_user(row: user::Model, key: Option<access_key::Model>, roles: RoleSet) -> User {
    let permissions = split_permissions(&row.permissions);
    let effective_permissions = row
        .effective_permissions
        .as_deref()
        .map_or_else(|| permissions.clone(), split_permissions);
    User {
        id: row.id,
        username: Username::from_stored(row.username),
        email: row.email,
        display_name: row.display_name,
        identity_provider: if row.identity_provider == IdentityProvider::LOCAL {
            IdentityProvider::Local
        } else {
            IdentityProvider::External(row.identity_provider)
        },
        permissions,
        roles,
        effective_permissions,
        disabled: row.disabled,
        access_key: key.map(|key| KeyInfo {
            key_id: KeyId::from_stored(key.key_id),
            create_time: Timestamp::from_micros(key.create_time),
            expire_time: key.expire_time.map(Timestamp::from_micros),
            last_used_time: key.last_used_time.map(Timestamp::from_micros),
        }),
        create_time: Timestamp::from_micros(row.create_time),
        update_time: Timestamp::from_micros(row.update_time),
        revision: row.revision,
    }
}

pub(super) fn join_permissions(permissions: &PermissionSet) -> String {
    let names: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    names.join(&PERMISSION_SEPARATOR.to_string())
}

pub(super) fn split_permissions(column: &str) -> PermissionSet {
    PermissionSet::from_permissions(
        column
            .split(PERMISSION_SEPARATOR)
            .filter(|name| !name.is_empty())
            .map(Permission::from_stored),
    )
}

pub(super) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            escaped.push(LIKE_ESCAPE);
        }
        escaped.push(c);
    }
    escaped
}
