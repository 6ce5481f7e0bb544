//! `accesskey.v1.KeyAuth`: verification of presented keys.

use accesskey_proto::pb::{self, key_auth_server::KeyAuth};
use tonic::{Request, Response, Status};

use super::{caller::authenticate, conclude};
use crate::domain::{
    Directory,
    model::{PermissionSet, ServicePermission},
};

/// The KeyAuth service: thin handlers over the [`Directory`].
#[derive(Debug, Clone)]
pub struct KeyAuthService {
    directory: Directory,
}

impl KeyAuthService {
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }
}

#[tonic::async_trait]
impl KeyAuth for KeyAuthService {
    async fn verify_access_key(
        &self,
        request: Request<pb::VerifyAccessKeyRequest>,
    ) -> Result<Response<pb::VerifyAccessKeyResponse>, Status> {
        const RPC: &str = "VerifyAccessKey";
        let caller = authenticate(&self.directory, &request, RPC).await?;
        let result = async {
            caller.require(ServicePermission::KeysVerify)?;
            let pb::VerifyAccessKeyRequest {
                access_key,
                required_permissions,
            } = request.into_inner();
            let required = PermissionSet::parse("required_permissions", &required_permissions)?;
            self.directory.verify(&access_key, &required).await
        }
        .await;
        let verdict = conclude(RPC, &caller, result)?;
        Ok(Response::new(verdict.into()))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = authenticate(&self.directory, &request, "WhoAmI").await?;
        let pb::WhoAmIRequest {} = request.into_inner();
        Ok(Response::new(pb::WhoAmIResponse {
            principal: Some(caller.into()),
        }))
    }
}
