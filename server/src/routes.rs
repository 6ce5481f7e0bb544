//! What accesskeyd serves, assembled: gRPC health, `UserAdmin`, `KeyAuth`
//! and (if on) reflection; with the console on, its pages, with gRPC-Web
//! beside them for the browser.

use accesskey_proto::pb::{key_auth_server::KeyAuthServer, user_admin_server::UserAdminServer};
use tokio::sync::watch;
use tonic_health::server::HealthReporter;

use crate::{
    Config, ServerError, console,
    domain::Directory,
    limits,
    metrics::Metrics,
    service::{self, KeyAuthService, UserAdminService},
};

/// The routes of the gRPC listener, and the console's, if it is on.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) grpc: axum::Router,
    pub(crate) console: Option<axum::Router>,
}

/// Everything a call can reach. Streams (audit and health watches) end
/// when `streams_stopping` turns true.
pub(crate) fn assemble(
    config: &Config,
    directory: &Directory,
    metrics: Option<Metrics>,
    health: HealthReporter,
    streams_stopping: watch::Receiver<bool>,
    site: Option<console::Site>,
) -> Result<Routes, ServerError> {
    let health_service = tonic_health::pb::health_server::HealthServer::new(
        service::StoppingHealth::new(health, streams_stopping.clone()),
    );
    let watchers = service::AuditWatchers::new(streams_stopping);
    let user_admin = UserAdminService::new(directory.clone(), watchers);
    let key_auth = KeyAuthService::new(directory.clone(), metrics);
    let mut routes = tonic::service::RoutesBuilder::default();
    routes
        .add_service(health_service)
        .add_service(
            UserAdminServer::new(user_admin.clone())
                .max_decoding_message_size(limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(limits::MAX_RESPONSE_BYTES),
        )
        .add_service(
            KeyAuthServer::new(key_auth.clone())
                .max_decoding_message_size(limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(limits::MAX_RESPONSE_BYTES),
        );
    if config.reflection {
        routes.add_service(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(accesskey_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?,
        );
    }
    let grpc = routes.routes().into_axum_router();
    let console = site.map(|site| {
        // gRPC-Web calls become gRPC calls before they reach the services
        // (and only there: the layer refuses every other HTTP/1.1 request).
        let grpc_web = grpc.clone().layer(tonic_web::GrpcWebLayer::new());
        console::Console::new(user_admin, key_auth, directory.clone(), site).mount(grpc_web)
    });
    Ok(Routes { grpc, console })
}
