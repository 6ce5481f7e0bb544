//! The first administrator, and re-issuing a key from the server host.

use tracing::warn;

use crate::domain::{
    DomainError, Refusal, authority,
    key_format::AccessKey,
    model::{
        AuditAction, IdentityProvider, NewAuditEvent, NewUser, Origin, PermissionSet, RoleSet,
        Timestamp, UserPatch, UserRef, Username,
    },
};

use super::Directory;

impl Directory {
    /// Creates the first admin, holding every service permission, and its key.
    /// Refuses when any user exists, so it cannot happen twice by accident.
    pub async fn bootstrap(&self, username: Username) -> Result<AccessKey, DomainError> {
        if self.store.any_user().await? {
            return Err(DomainError::Refused(Refusal::AlreadyBootstrapped));
        }
        let admin = NewUser {
            username,
            email: String::new(),
            display_name: "Bootstrap administrator".to_owned(),
            identity_provider: IdentityProvider::Local,
            permissions: PermissionSet::default().with_every_service_permission(),
            roles: RoleSet::default(),
        };
        let origin = Origin::host();
        let user = self.insert_user(None, admin, &origin).await?;
        let (key, new_key) = self.new_key(Timestamp::now(), None).await?;
        let (info, _) = self
            .store_key(user.id, new_key, &origin, |_| Ok(()))
            .await?;
        warn!(event = "bootstrap", user_id = user.id, key_id = %info.key_id, "bootstrap admin created");
        Ok(key)
    }

    /// Replaces the key of an existing local user from the server host, for
    /// an admin who lost the only admin key. With `restore_admin`, first
    /// re-enables the user and gives it every service permission: the way
    /// back when no administrator can act any more. Loud on purpose.
    pub async fn reissue_bootstrap_key(
        &self,
        username: &Username,
        restore_admin: bool,
    ) -> Result<AccessKey, DomainError> {
        let user = self
            .existing_user(&UserRef::Username(username.clone()))
            .await?;
        authority::ensure_local(&user)?;
        if user.disabled && !restore_admin {
            return Err(DomainError::Refused(Refusal::ReissueForDisabledUser));
        }
        let user_id = user.id;
        let origin = Origin::host();
        if restore_admin {
            let now = Timestamp::now();
            let recorded = origin.clone();
            let (_, restored) = self
                .write(move |store| async move {
                    store
                        .update_user_checked(
                            user_id,
                            &RoleSet::default(),
                            move |target| {
                                authority::ensure_local(&target.user)?;
                                UserPatch {
                                    disabled: Some(false),
                                    permissions: Some(
                                        target.user.permissions.with_every_service_permission(),
                                    ),
                                    ..UserPatch::default()
                                }
                                .applied_to(
                                    &target.user,
                                    now,
                                    &target.roles,
                                )
                            },
                            |before, after| NewAuditEvent::user_updated(&recorded, before, after),
                        )
                        .await
                })
                .await??;
            self.recorded(AuditAction::UserUpdated);
            warn!(
                event = "bootstrap_restore_admin",
                user_id,
                username = %restored.username.as_str(),
                "user re-enabled and given every service permission from the server host"
            );
        }
        let (key, new_key) = self.new_key(Timestamp::now(), None).await?;
        let (info, _) = self
            .store_key(user_id, new_key, &origin, authority::ensure_may_hold_key)
            .await?;
        warn!(event = "bootstrap_reissue", user_id, key_id = %info.key_id, "key reissued from the server host");
        Ok(key)
    }
}
