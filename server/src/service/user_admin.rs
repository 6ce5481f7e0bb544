//! `accesskey.v1.UserAdmin`: user and key administration.

use accesskey_proto::pb::{self, user_admin_server::UserAdmin};
use tonic::{Request, Response, Status};

use super::{
    audit::{self, AuditQuery, AuditWatchers},
    caller::{self, authenticate, origin},
    conclude,
    convert::{self, ListQuery, UserDeletion, UserUpdate},
    roles::{RoleDeletion, RoleQuery, RoleUpdate},
};
use crate::domain::{
    Directory, DomainError, InvalidField,
    model::{NewRole, NewUser, RoleName, UserRef},
};

/// The UserAdmin service: thin handlers over the [`Directory`].
#[derive(Debug, Clone)]
pub(crate) struct UserAdminService {
    directory: Directory,
    watchers: AuditWatchers,
}

impl UserAdminService {
    /// `watchers` bounds the audit streams and ends them at shutdown.
    pub(crate) fn new(directory: Directory, watchers: AuditWatchers) -> Self {
        Self {
            directory,
            watchers,
        }
    }
}

#[tonic::async_trait]
impl UserAdmin for UserAdminService {
    type WatchAuditEventsStream = audit::EventStream;

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        const RPC: &str = "CreateUser";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let new_user = NewUser::try_from(request.into_inner())?;
            self.directory.create_user(&caller, &origin, new_user).await
        }
        .await;
        let user = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(user.into()),
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        const RPC: &str = "GetUser";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            let which = UserRef::try_from(request.into_inner())?;
            self.directory.get_user(&caller, &which).await
        }
        .await;
        let user = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(user.into()),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        const RPC: &str = "ListUsers";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            let query = ListQuery::try_from(request.into_inner())?;
            self.directory
                .list_users(&caller, query.page_size, &query.page_token, &query.filter)
                .await
        }
        .await;
        let page = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::ListUsersResponse {
            users: page.users.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        const RPC: &str = "UpdateUser";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let UserUpdate {
                user_id,
                patch,
                expected,
            } = UserUpdate::try_from(request.into_inner())?;
            self.directory
                .update_user(&caller, &origin, user_id, patch, expected)
                .await
        }
        .await;
        let user = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::UpdateUserResponse {
            user: Some(user.into()),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        const RPC: &str = "DeleteUser";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let UserDeletion { user_id, expected } = UserDeletion::try_from(request.into_inner())?;
            self.directory
                .delete_user(&caller, &origin, user_id, expected)
                .await
        }
        .await;
        conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn generate_access_key(
        &self,
        request: Request<pb::GenerateAccessKeyRequest>,
    ) -> Result<Response<pb::GenerateAccessKeyResponse>, Status> {
        const RPC: &str = "GenerateAccessKey";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let pb::GenerateAccessKeyRequest {
                user_id,
                expire_time,
            } = request.into_inner();
            let user_id = convert::user_id("user_id", user_id)?;
            let expire_time = convert::timestamp("expire_time", expire_time)?;
            self.directory
                .generate_key(&caller, &origin, user_id, expire_time)
                .await
        }
        .await;
        let (key, info) = conclude(RPC, &caller, result)?;
        Ok(Response::new(convert::generated_key(&key, info)))
    }

    async fn revoke_access_key(
        &self,
        request: Request<pb::RevokeAccessKeyRequest>,
    ) -> Result<Response<pb::RevokeAccessKeyResponse>, Status> {
        const RPC: &str = "RevokeAccessKey";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result: Result<(), DomainError> = async {
            let pb::RevokeAccessKeyRequest { user_id } = request.into_inner();
            let user_id = convert::user_id("user_id", user_id)?;
            self.directory.revoke_key(&caller, &origin, user_id).await
        }
        .await;
        conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::RevokeAccessKeyResponse {}))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        const RPC: &str = "ListAuditEvents";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            let query = AuditQuery::try_from(request.into_inner())?;
            self.directory
                .list_audit_events(&caller, &query.filter, query.page_size, &query.page_token)
                .await
        }
        .await;
        let page = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: page.events.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn watch_audit_events(
        &self,
        request: Request<pb::WatchAuditEventsRequest>,
    ) -> Result<Response<Self::WatchAuditEventsStream>, Status> {
        const RPC: &str = "WatchAuditEvents";
        let (caller, key) = caller::authenticate_with(&request, RPC, async |key| {
            Ok((self.directory.authenticate(key).await?, key.to_owned()))
        })
        .await?;
        let pb::WatchAuditEventsRequest { after_id } = request.into_inner();
        let result = async {
            if after_id.is_some_and(|id| id < 0) {
                return Err(InvalidField::new("after_id", "must not be negative").into());
            }
            let after_id = self.directory.watch_start(&caller, after_id).await?;
            self.watchers
                .watch(&self.directory, caller.user_id, key, after_id)
        }
        .await;
        let stream = conclude(RPC, &caller, result)?;
        Ok(Response::new(stream))
    }

    async fn verify_audit_trail(
        &self,
        request: Request<pb::VerifyAuditTrailRequest>,
    ) -> Result<Response<pb::VerifyAuditTrailResponse>, Status> {
        const RPC: &str = "VerifyAuditTrail";
        let caller = caller::authenticate(&self.directory, &request, RPC).await?;
        let result = self.directory.verify_audit_trail(&caller).await;
        let report = conclude(RPC, &caller, result)?;
        if let Some(fault) = &report.fault {
            tracing::warn!(event = "audit_trail_tampered", fault = ?fault, "the audit trail was tampered with");
        }
        Ok(Response::new(report.into()))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        const RPC: &str = "CreateRole";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let new_role = NewRole::try_from(request.into_inner())?;
            self.directory.create_role(&caller, &origin, new_role).await
        }
        .await;
        let role = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::CreateRoleResponse {
            role: Some(role.into()),
        }))
    }

    async fn get_role(
        &self,
        request: Request<pb::GetRoleRequest>,
    ) -> Result<Response<pb::GetRoleResponse>, Status> {
        const RPC: &str = "GetRole";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            let pb::GetRoleRequest { name } = request.into_inner();
            let name = RoleName::parse("name", &name)?;
            self.directory.get_role(&caller, &name).await
        }
        .await;
        let role = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::GetRoleResponse {
            role: Some(role.into()),
        }))
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        const RPC: &str = "ListRoles";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            let query = RoleQuery::try_from(request.into_inner())?;
            self.directory
                .list_roles(&caller, query.page_size, &query.page_token, &query.filter)
                .await
        }
        .await;
        let page = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::ListRolesResponse {
            roles: page.roles.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        const RPC: &str = "UpdateRole";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let RoleUpdate {
                name,
                patch,
                expected,
            } = RoleUpdate::try_from(request.into_inner())?;
            self.directory
                .update_role(&caller, &origin, name, patch, expected)
                .await
        }
        .await;
        let role = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::UpdateRoleResponse {
            role: Some(role.into()),
        }))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        const RPC: &str = "DeleteRole";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let origin = origin(&request, &caller);
        let result = async {
            let RoleDeletion {
                name,
                expected,
                force,
            } = RoleDeletion::try_from(request.into_inner())?;
            self.directory
                .delete_role(&caller, &origin, name, expected, force)
                .await
        }
        .await;
        let removed_from = conclude(RPC, &caller, result)?;
        Ok(Response::new(pb::DeleteRoleResponse { removed_from }))
    }
}
