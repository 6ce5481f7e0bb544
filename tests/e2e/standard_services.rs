//! Health and reflection: the stock services answer without a key.

use accesskey_client::pb;
use futures_util::StreamExt as _;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::harness::{TestServer, run_accesskeyd};

#[tokio::test]
async fn health_reports_both_services_serving_without_a_key() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.admin.channel());
    for service in ["accesskey.v1.UserAdmin", "accesskey.v1.KeyAuth", ""] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check needs no key")
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service}");
    }
}

#[tokio::test]
async fn reflection_lists_the_accesskey_services() {
    let server = TestServer::start().await;
    let mut reflection = ServerReflectionClient::new(server.admin.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures_util::stream::iter([request]))
        .await
        .expect("reflection needs no key")
        .into_inner();
    let response = responses
        .next()
        .await
        .expect("one response")
        .expect("no error");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"accesskey.v1.UserAdmin".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"accesskey.v1.KeyAuth".to_owned()),
        "{names:?}"
    );
    // The generated types are what a stock client would decode with.
    let _ = pb::WhoAmIRequest {};
}

/// `accesskeyd healthcheck`, as a service manager runs it: exit 0 while the
/// server serves (as a whole and per service), 1 with the reason once it
/// is gone.
#[tokio::test]
async fn the_healthcheck_subcommand_exits_zero_only_while_serving() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    for service in ["", "accesskey.v1.KeyAuth", "accesskey.v1.UserAdmin"] {
        let check =
            run_accesskeyd(&["healthcheck", "--endpoint", &endpoint, "--service", service]).await;
        assert!(check.status.success(), "{service}: {check:?}");
    }
    let unknown =
        run_accesskeyd(&["healthcheck", "--endpoint", &endpoint, "--service", "x.Y"]).await;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");

    drop(server.stop().await);
    let gone = run_accesskeyd(&["healthcheck", "--endpoint", &endpoint]).await;
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(said.contains("cannot reach accesskeyd"), "{said}");
}
