//! Users: creating, reading and listing them, and the page-token key
//! ListUsers signs with.

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, ExprTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    QueryTrait as _,
    sea_query::{Expr, Func, LikeExpr},
};

use crate::domain::{
    key_format::KeyId,
    model::{
        IdentityProvider, KeyInfo, NewAuditEvent, NewUser, Permission, PermissionSet, Timestamp,
        User, UserRef, Username,
    },
};

use super::{
    Store, StoreError, audit,
    entity::{access_key, setting, user},
    error::{Reason, SettingProblem, setting_fault},
};

/// Separates permission names in the `permissions` column.
const PERMISSION_SEPARATOR: char = '\n';
/// The `settings` row holding the ListUsers page-token MAC key.
const PAGE_TOKEN_KEY_SETTING: &str = "page_token_key";
/// The LIKE escape character, stated in every LIKE (`ESCAPE '!'`) rather
/// than left to each backend's default (a backslash on PostgreSQL and
/// MySQL, none on SQLite); escaped itself where searched text holds one.
const LIKE_ESCAPE: char = '!';

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

    /// Inserts the user and the event `describe` makes of it, in one
    /// transaction.
    pub async fn insert_user(
        &self,
        new: &NewUser,
        now: Timestamp,
        describe: impl FnOnce(&User) -> NewAuditEvent,
    ) -> Result<User, StoreError> {
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
            administrator: Set(new.is_administrator()),
        };
        self.bounded(async {
            let outcome = async {
                let txn = self.begin_write().await?;
                let inserted = insert_returning(&txn, row).await?;
                let user = to_user(inserted, None);
                audit::record(&txn, &self.audit_chain, &describe(&user)).await?;
                txn.commit().await?;
                Ok(user)
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
            let found = query
                .find_also_related(access_key::Entity)
                .one(&self.db)
                .await?;
            Ok(found.map(|(user, key)| to_user(user, key)))
        })
        .await
    }

    /// Users with id above `after_id` whose folded name starts with `prefix`
    /// and whose username, display name or email contains `folded_search`
    /// (lowercase), in id order. Ids only grow, so paging by id sees every
    /// user that exists throughout exactly once.
    pub async fn list_users(
        &self,
        after_id: i64,
        folded_prefix: &str,
        folded_search: &str,
        limit: u64,
    ) -> Result<Vec<User>, StoreError> {
        self.bounded(async {
            let mut query = user::Entity::find().filter(user::Column::Id.gt(after_id));
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
            Ok(rows
                .into_iter()
                .map(|(user, key)| to_user(user, key))
                .collect())
        })
        .await
    }
}

/// Inserts `row` in `txn` and reads it back with its id: `RETURNING` on
/// PostgreSQL, the last insert id on the others (MySQL has no RETURNING).
async fn insert_returning(
    txn: &DatabaseTransaction,
    row: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        return user::Entity::insert(row).exec_with_returning(txn).await;
    }
    let inserted = txn
        .execute_raw(user::Entity::insert(row).build(backend))
        .await?;
    let id = i64::try_from(inserted.last_insert_id())
        .map_err(|_| DbErr::Custom("the new user's id is out of range".to_owned()))?;
    user::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::Custom("the new user is missing right after its insert".to_owned()))
}

pub(super) fn to_user(row: user::Model, key: Option<access_key::Model>) -> User {
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
        permissions: split_permissions(&row.permissions),
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

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            escaped.push(LIKE_ESCAPE);
        }
        escaped.push(c);
    }
    escaped
}
