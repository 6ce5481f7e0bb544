//! `accesskey.v1.KeyAuth`: verification of presented keys.

use accesskey_proto::pb::{self, key_auth_server::KeyAuth};
use tonic::{Request, Response, Status};

use super::{
    caller::{authenticate, authenticate_with},
    conclude,
};
use crate::{
    domain::{Directory, model::PermissionSet},
    metrics::Metrics,
};

/// The KeyAuth service: thin handlers over the [`Directory`].
#[derive(Debug, Clone)]
pub(crate) struct KeyAuthService {
    directory: Directory,
    metrics: Option<Metrics>,
}

impl KeyAuthService {
    /// With `metrics`, verification results are counted.
    pub(crate) fn new(directory: Directory, metrics: Option<Metrics>) -> Self {
        Self { directory, metrics }
    }
}

#[tonic::async_trait]
impl KeyAuth for KeyAuthService {
    async fn verify_access_key(
        &self,
        request: Request<pb::VerifyAccessKeyRequest>,
    ) -> Result<Response<pb::VerifyAccessKeyResponse>, Status> {
        const RPC: &str = "VerifyAccessKey";
        let (caller, result) = authenticate_with(&request, RPC, async |caller_key| {
            let pb::VerifyAccessKeyRequest {
                access_key,
                required_permissions,
            } = request.get_ref();
            let required = PermissionSet::parse("required_permissions", required_permissions);
            self.directory
                .verify_for(caller_key, access_key, required)
                .await
        })
        .await?;
        let verdict = conclude(RPC, &caller, result)?;
        if let Some(metrics) = &self.metrics {
            metrics.verification(&verdict);
        }
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
