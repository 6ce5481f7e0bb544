//! Keys: issuing (replacing any previous key at once) and revoking.

use tracing::info;

use crate::domain::{
    DomainError, Missing, authority,
    key_format::AccessKey,
    model::{
        AuditAction, KeyInfo, NewAuditEvent, NewKey, Origin, Principal, ServicePermission,
        Timestamp, User, UserRef,
    },
};

use super::Directory;

impl Directory {
    /// Issues `user_id` a new key, replacing any previous one atomically.
    /// The returned key is the only copy of its secret anywhere.
    pub async fn generate_key(
        &self,
        caller: &Principal,
        origin: &Origin,
        user_id: i64,
        expire_time: Option<Timestamp>,
    ) -> Result<(AccessKey, KeyInfo), DomainError> {
        caller.require(ServicePermission::KeysIssue)?;
        let now = Timestamp::now();
        if expire_time.is_some_and(|expiry| expiry <= now) {
            return Err(crate::domain::Invalid::ExpiryNotAhead.into());
        }
        authority::check_own_key_lifetime(caller, user_id, expire_time, now)?;
        // Refused calls are refused here, before they cost an argon2 run;
        // the check that counts runs again inside the write.
        let user = self.existing_user(&UserRef::Id(user_id)).await?;
        authority::check_key_issue(caller, &user)?;
        let (key, new_key) = self.new_key(now, expire_time).await?;
        let checker = caller.clone();
        let (info, replaced) = self
            .store_key(user_id, new_key, origin, move |user| {
                authority::check_key_issue(&checker, user)
            })
            .await?;
        info!(
            event = "key_issued",
            caller = %caller.username.as_str(),
            user_id,
            key_id = %info.key_id,
            replaced = replaced.is_some(),
            replaced_key_id = replaced.as_ref().map(|old| old.key_id.as_str()),
            "access key issued"
        );
        Ok((key, info))
    }

    /// A fresh key and what to store of it.
    pub(super) async fn new_key(
        &self,
        now: Timestamp,
        expire_time: Option<Timestamp>,
    ) -> Result<(AccessKey, NewKey), DomainError> {
        let key = AccessKey::generate()?;
        let secret_hash = self.hasher.hash(key.secret()).await?;
        let new_key = NewKey {
            key_id: key.key_id().clone(),
            secret_hash,
            secret_fingerprint: self.hasher.fingerprint(key.key_id(), key.secret()),
            create_time: now,
            expire_time,
        };
        Ok((key, new_key))
    }

    /// Stores `new_key` as the user's only key if `check` approves of the
    /// user as it is inside the write. Returns what may be known of the new
    /// key, and the key it replaced.
    pub(super) async fn store_key(
        &self,
        user_id: i64,
        new_key: NewKey,
        origin: &Origin,
        check: impl FnOnce(&User) -> Result<(), DomainError> + Send + 'static,
    ) -> Result<(KeyInfo, Option<KeyInfo>), DomainError> {
        let info = KeyInfo {
            key_id: new_key.key_id.clone(),
            create_time: new_key.create_time,
            expire_time: new_key.expire_time,
            last_used_time: None,
        };
        let stored = info.clone();
        let origin = origin.clone();
        let replaced = self
            .write(move |store| async move {
                store
                    .replace_key_checked(user_id, &new_key, check, |user, replaced| {
                        NewAuditEvent::key_generated(&origin, user, &stored, replaced)
                    })
                    .await
            })
            .await??;
        self.recorded(AuditAction::KeyGenerated);
        Ok((info, replaced))
    }

    pub async fn revoke_key(
        &self,
        caller: &Principal,
        origin: &Origin,
        user_id: i64,
    ) -> Result<(), DomainError> {
        caller.require(ServicePermission::KeysIssue)?;
        let checker = caller.clone();
        let origin = origin.clone();
        let revoked = self
            .write(move |store| async move {
                store
                    .delete_key_checked(
                        user_id,
                        move |user| authority::check_key_revocation(&checker, user),
                        |user, key| NewAuditEvent::key_revoked(&origin, user, key),
                    )
                    .await
            })
            .await??;
        let Some(revoked) = revoked else {
            return Err(DomainError::NotFound(Missing::Key));
        };
        self.recorded(AuditAction::KeyRevoked);
        info!(
            event = "key_revoked",
            caller = %caller.username.as_str(),
            user_id,
            key_id = %revoked.key_id,
            "access key revoked"
        );
        Ok(())
    }
}
