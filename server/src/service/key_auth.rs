//! `accesskey.v1.KeyAuth`: verification of presented keys.

use accesskey_proto::pb::{self, key_auth_server::KeyAuth};
use tonic::{Request, Response, Status};

use super::{
    caller::{authenticate, authenticate_reading_ahead},
    conclude,
};
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
        // The caller's key and the presented one are read in one query.
        let presented = Some(request.get_ref().access_key.as_str());
        let (caller, mut ahead) =
            authenticate_reading_ahead(&self.directory, &request, RPC, presented).await?;
        let result = async {
            caller.require(ServicePermission::KeysVerify)?;
            let pb::VerifyAccessKeyRequest {
                access_key,
                required_permissions,
            } = request.into_inner();
            let required = PermissionSet::parse("required_permissions", &required_permissions)?;
            self.directory
                .verify_with(&access_key, &required, &mut ahead)
                .await
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
