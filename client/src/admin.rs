//! User administration (`UserAdmin`): users, their permissions and their
//! one key.

use std::future::Future;

use tonic::{Response, Status};

use crate::{
    AuthenticatedChannel, Client, Error, GeneratedKey, ListUsers, NewUser, UserChanges, pb,
    pb::user_admin_client::UserAdminClient,
    retry::{Repeat, with_retries},
};

/// How many times [`Client::modify_user`] reads and writes before it gives
/// up on a user that keeps changing under it.
pub const MODIFY_ATTEMPTS: u32 = 10;

/// User administration (`UserAdmin`).
impl Client {
    /// Creates a user. Needs `users.write`.
    pub async fn create_user(&self, user: NewUser) -> Result<pb::User, Error> {
        let response = self
            .call_admin(
                Repeat::Once,
                user.into_request(),
                |mut admin, request| async move { admin.create_user(request).await },
            )
            .await?;
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Reads a user by id. Needs `users.read`.
    pub async fn get_user(&self, user_id: i64) -> Result<pb::User, Error> {
        self.get_user_by(pb::get_user_request::User::UserId(user_id))
            .await
    }

    /// Reads a user by username, ignoring case. Needs `users.read`.
    pub async fn get_user_by_name(&self, username: &str) -> Result<pb::User, Error> {
        self.get_user_by(pb::get_user_request::User::Username(username.to_owned()))
            .await
    }

    async fn get_user_by(&self, user: pb::get_user_request::User) -> Result<pb::User, Error> {
        let request = pb::GetUserRequest { user: Some(user) };
        let response = self
            .call_admin(Repeat::Safe, request, |mut admin, request| async move {
                admin.get_user(request).await
            })
            .await?;
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Lists one page of users. Needs `users.read`.
    pub async fn list_users(&self, query: ListUsers) -> Result<pb::ListUsersResponse, Error> {
        self.call_admin(
            Repeat::Safe,
            query.into_request(),
            |mut admin, request| async move { admin.list_users(request).await },
        )
        .await
    }

    /// Lists every user whose name starts with `prefix` (all users when
    /// empty), following page tokens. Needs `users.read`.
    pub async fn list_all_users(&self, prefix: &str) -> Result<Vec<pb::User>, Error> {
        self.list_every_user(ListUsers::new().prefix(prefix)).await
    }

    /// Lists every user `query` matches (its page token, if any, is where
    /// to start), following page tokens. Needs `users.read`.
    pub async fn list_every_user(&self, query: ListUsers) -> Result<Vec<pb::User>, Error> {
        let mut users = Vec::new();
        let mut query = query.page_size(1000);
        loop {
            let page = self.list_users(query.clone()).await?;
            users.extend(page.users);
            if page.next_page_token.is_empty() {
                return Ok(users);
            }
            query = query.page_token(page.next_page_token);
        }
    }

    /// Applies `changes` to the user; only the fields it sets change. Needs
    /// `users.write`.
    pub async fn update_user(&self, user_id: i64, changes: UserChanges) -> Result<pb::User, Error> {
        let request = changes.into_request(user_id);
        // Without an etag, a repeated update could undo a change another
        // admin made in between.
        let etag = request.user.as_ref().map_or("", |user| user.etag.as_str());
        let repeat = Repeat::guarded_by(etag);
        let response = self
            .call_admin(repeat, request, |mut admin, request| async move {
                admin.update_user(request).await
            })
            .await?;
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Reads the user, applies the changes `edit` computes from what it
    /// read, on condition that the user has not changed since, and retries
    /// from a fresh read when it has (at most [`MODIFY_ATTEMPTS`] times; each
    /// retry means another change landed first). This is how to add or
    /// remove one permission without losing a concurrent edit. Needs
    /// `users.read` and `users.write`.
    pub async fn modify_user(
        &self,
        user_id: i64,
        edit: impl FnMut(&pb::User) -> UserChanges,
    ) -> Result<pb::User, Error> {
        let current = self.get_user(user_id).await?;
        self.modify_read_user(current, edit).await
    }

    /// [`modify_user`](Self::modify_user), starting from `current`, a user
    /// just read (by name, say), so that the first attempt costs no second
    /// read.
    pub async fn modify_read_user(
        &self,
        current: pb::User,
        edit: impl FnMut(&pb::User) -> UserChanges,
    ) -> Result<pb::User, Error> {
        read_modify_write(
            current,
            edit,
            UserChanges::is_empty,
            |user, changes| self.update_user(user.id, changes.if_etag(user.etag.clone())),
            |user| self.get_user(user.id),
        )
        .await
    }

    /// Deletes a user and its key. Needs `users.write`.
    pub async fn delete_user(&self, user_id: i64) -> Result<(), Error> {
        self.delete(pb::DeleteUserRequest {
            user_id,
            etag: String::new(),
        })
        .await
    }

    /// Deletes a user and its key only if it is still as it was when `etag`
    /// was read; otherwise fails with ABORTED and deletes nothing.
    pub async fn delete_user_if_unchanged(
        &self,
        user_id: i64,
        etag: impl Into<String>,
    ) -> Result<(), Error> {
        self.delete(pb::DeleteUserRequest {
            user_id,
            etag: etag.into(),
        })
        .await
    }

    async fn delete(&self, request: pb::DeleteUserRequest) -> Result<(), Error> {
        let repeat = Repeat::guarded_by(&request.etag);
        self.call_admin(repeat, request, |mut admin, request| async move {
            admin.delete_user(request).await
        })
        .await?;
        Ok(())
    }

    /// Issues the user a new key, replacing its previous one at once. The
    /// result holds the only copy of the key: store it. Needs `keys.issue`.
    pub async fn generate_access_key(
        &self,
        user_id: i64,
        expire_time: Option<std::time::SystemTime>,
    ) -> Result<GeneratedKey, Error> {
        let request = pb::GenerateAccessKeyRequest {
            user_id,
            expire_time: expire_time.map(prost_types::Timestamp::from),
        };
        let response = self
            .call_admin(Repeat::Once, request, |mut admin, request| async move {
                admin.generate_access_key(request).await
            })
            .await?;
        let info = response
            .access_key_info
            .ok_or(Error::MissingField("access_key_info"))?;
        Ok(GeneratedKey::new(response.access_key, info))
    }

    /// Removes the user's key. Needs `keys.issue`.
    pub async fn revoke_access_key(&self, user_id: i64) -> Result<(), Error> {
        let request = pb::RevokeAccessKeyRequest { user_id };
        // Revoking twice leaves the user without a key either way.
        self.call_admin(Repeat::Safe, request, |mut admin, request| async move {
            admin.revoke_access_key(request).await
        })
        .await?;
        Ok(())
    }
}

/// The loop of [`Client::modify_user`] and [`Client::modify_role`]: the
/// changes `edit` computes from `current`, written on condition of its
/// etag (`write`), read again (`reread`) and recomputed when another change
/// landed first, at most [`MODIFY_ATTEMPTS`] times. No changes, no write.
pub(crate) async fn read_modify_write<T, C, Written, Read>(
    mut current: T,
    mut edit: impl FnMut(&T) -> C,
    is_empty: impl Fn(&C) -> bool,
    mut write: impl FnMut(&T, C) -> Written,
    mut reread: impl FnMut(&T) -> Read,
) -> Result<T, Error>
where
    Written: Future<Output = Result<T, Error>>,
    Read: Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        let changes = edit(&current);
        if is_empty(&changes) {
            return Ok(current);
        }
        match write(&current, changes).await {
            Err(error) if error.is_aborted() && attempt < MODIFY_ATTEMPTS => {
                attempt += 1;
                current = reread(&current).await?;
            }
            outcome => return outcome,
        }
    }
}

impl Client {
    /// One `UserAdmin` call of `request`, retried under the client's policy.
    pub(crate) async fn call_admin<Req, T, F, Fut>(
        &self,
        repeat: Repeat,
        request: Req,
        call: F,
    ) -> Result<T, Error>
    where
        Req: Clone,
        F: Fn(UserAdminClient<AuthenticatedChannel>, Req) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        with_retries(self.retry, repeat, || {
            call(self.admin.clone(), request.clone())
        })
        .await
        .map(Response::into_inner)
    }
}
