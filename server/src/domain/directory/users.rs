//! Users: creating, reading, listing, changing and deleting them.

use tracing::info;

use crate::domain::{
    DomainError, Missing, TargetUser, authority,
    model::{
        AuditAction, Etag, NewAuditEvent, NewUser, Origin, Permission, Principal, RoleName,
        ServicePermission, Timestamp, User, UserFilter, UserPatch, UserRef,
    },
};
use crate::store::StoreError;

use super::{
    Directory,
    paging::{cut_page, page_limit},
};

/// A user's size in a response: an estimate from the variable-length
/// fields, plus a generous allowance for the fixed ones and the encoding.
fn response_size(user: &User) -> usize {
    256 + user.username.as_str().len()
        + user.email.len()
        + user.display_name.len()
        + user.identity_provider.as_str().len()
        + user
            .permissions
            .iter()
            .chain(user.effective_permissions.iter())
            .map(|permission| permission.as_str().len() + 3)
            .sum::<usize>()
        + user
            .roles
            .iter()
            .map(|role| role.as_str().len() + 3)
            .sum::<usize>()
}

/// One page of users.
#[derive(Debug, Clone)]
pub struct Page {
    pub users: Vec<User>,
    pub next_page_token: Option<String>,
}

impl Directory {
    /// Creates `new` if `caller` (`None`: the host) may grant what it
    /// would hold, recording who did it from where.
    pub(super) async fn insert_user(
        &self,
        caller: Option<&Principal>,
        new: NewUser,
        origin: &Origin,
    ) -> Result<User, DomainError> {
        let origin = origin.clone();
        let checker = caller.cloned();
        let user = self
            .write(move |store| async move {
                store
                    .insert_user(
                        &new,
                        Timestamp::now(),
                        |book| match &checker {
                            Some(caller) => authority::check_create(caller, &new, book),
                            None => new.effective_permissions(book),
                        },
                        |user| NewAuditEvent::user_created(&origin, user),
                    )
                    .await
            })
            .await??;
        self.recorded(AuditAction::UserCreated);
        Ok(user)
    }

    /// `user` with the latest key use this process saw, which the database
    /// may not hold yet.
    fn with_recent_use(&self, mut user: User) -> User {
        if let Some(key) = user.access_key.as_mut()
            && let Some(recent) = self.verified.latest_use(&key.key_id)
        {
            key.last_used_time = key.last_used_time.max(Some(recent));
        }
        user
    }

    pub async fn create_user(
        &self,
        caller: &Principal,
        origin: &Origin,
        new: NewUser,
    ) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        // Checked before any write too: a partial admin learns nothing
        // about the roles it may not grant by trying.
        authority::ensure_may_grant(caller, new.permissions.iter())?;
        let user = self.insert_user(Some(caller), new, origin).await?;
        info!(
            event = "user_created",
            caller = %caller.username.as_str(),
            user_id = user.id,
            username = %user.username.as_str(),
            administrator = user.is_administrator(),
            "user created"
        );
        Ok(user)
    }

    pub async fn get_user(&self, caller: &Principal, user: &UserRef) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        Ok(self.with_recent_use(self.existing_user(user).await?))
    }

    /// One page of the users `filter` matches, in creation order.
    pub async fn list_users(
        &self,
        caller: &Principal,
        page_size: u64,
        page_token: &str,
        filter: &UserFilter,
    ) -> Result<Page, DomainError> {
        caller.require(ServicePermission::UsersRead)?;
        if let Some(role) = &filter.role
            && self.store.role(role).await?.is_none()
        {
            return Err(DomainError::NotFound(Missing::Role(role.clone())));
        }
        let limit = page_limit(page_size);
        let query = filter.canonical();
        let after_id = if page_token.is_empty() {
            0
        } else {
            self.page_tokens.open(page_token, &query)?
        };
        // One extra row tells whether another page exists.
        let mut users = self
            .store
            .list_users(
                after_id,
                filter.prefix.folded(),
                filter.search.folded(),
                filter.role.as_ref(),
                filter.permission.as_ref(),
                limit + 1,
            )
            .await?;
        // Capped by size too: 1,000 users holding 256 permissions of 128
        // characters each would pass the 16 MiB response limit.
        let more = cut_page(&mut users, limit, response_size);
        let next_page_token = users
            .last()
            .filter(|_| more)
            .map(|last| self.page_tokens.sign(last.id, &query));
        Ok(Page {
            users: users
                .into_iter()
                .map(|user| self.with_recent_use(user))
                .collect(),
            next_page_token,
        })
    }

    /// Applies `patch` to the user if the authority rules allow it, checked
    /// against the user's row inside the transaction that changes it.
    pub async fn update_user(
        &self,
        caller: &Principal,
        origin: &Origin,
        user_id: i64,
        patch: UserPatch,
        expected: Option<Etag>,
    ) -> Result<User, DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let now = Timestamp::now();
        let checker = caller.clone();
        let change = patch.clone();
        let origin = origin.clone();
        let (before, updated) = self
            .write(move |store| async move {
                let wanted = change.roles.clone().unwrap_or_default();
                let outcome = store
                    .update_user_checked(
                        user_id,
                        &wanted,
                        move |target| {
                            authority::check_update(
                                &checker,
                                target,
                                &change,
                                expected.as_ref(),
                                now,
                            )
                        },
                        |before, after| NewAuditEvent::user_updated(&origin, before, after),
                    )
                    .await;
                match outcome {
                    Err(StoreError::UserMissing) => Ok(Err(DomainError::NotFound(Missing::User(
                        TargetUser::Updated,
                    )))),
                    other => other,
                }
            })
            .await??;
        self.recorded(AuditAction::UserUpdated);
        let listed = |set: &mut dyn Iterator<Item = &Permission>| {
            set.map(Permission::as_str).collect::<Vec<_>>().join(",")
        };
        let roles = |set: &mut dyn Iterator<Item = &RoleName>| {
            set.map(RoleName::as_str).collect::<Vec<_>>().join(",")
        };
        info!(
            event = "user_updated",
            caller = %caller.username.as_str(),
            user_id,
            permissions_added = %listed(&mut updated.permissions.missing_from(&before.permissions)),
            permissions_removed = %listed(&mut before.permissions.missing_from(&updated.permissions)),
            roles_added = %roles(&mut updated.roles.missing_from(&before.roles)),
            roles_removed = %roles(&mut before.roles.missing_from(&updated.roles)),
            disabled = ?patch.disabled,
            administrator = updated.is_administrator(),
            "user updated"
        );
        Ok(self.with_recent_use(updated))
    }

    /// Deletes the user (and its key) if the authority rules allow it,
    /// checked against its row inside the transaction that deletes it.
    pub async fn delete_user(
        &self,
        caller: &Principal,
        origin: &Origin,
        user_id: i64,
        expected: Option<Etag>,
    ) -> Result<(), DomainError> {
        caller.require(ServicePermission::UsersWrite)?;
        let checker = caller.clone();
        let origin = origin.clone();
        let deleted = self
            .write(move |store| async move {
                store
                    .delete_user_checked(
                        user_id,
                        move |target| authority::check_delete(&checker, target, expected.as_ref()),
                        |user| NewAuditEvent::user_deleted(&origin, user),
                    )
                    .await
            })
            .await??;
        self.recorded(AuditAction::UserDeleted);
        info!(
            event = "user_deleted",
            caller = %caller.username.as_str(),
            user_id,
            username = %deleted.username.as_str(),
            "user deleted"
        );
        Ok(())
    }
}
