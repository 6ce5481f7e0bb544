//! A tonic gRPC server protected by accesskey: every call needs a key whose
//! user holds `orders.read`. The standard health service stands in for
//! yours; a handler reads the caller from
//! `request.extensions().get::<Principal>()`.
//!
//! ```sh
//! ACCESSKEY_KEY=$(cat service.key) cargo run -p accesskey-client --example grpc_service
//! grpcurl -plaintext -H "x-access-key: $CALLER_KEY" 127.0.0.1:50052 grpc.health.v1.Health/Check
//! ```

use std::{env, time::Duration};

use accesskey_client::{AccessKeyLayer, Client};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = env::var("ACCESSKEY_ENDPOINT").unwrap_or("http://127.0.0.1:50051".into());
    // This service's own key: its user needs `keys.verify`.
    let key = env::var("ACCESSKEY_KEY").map_err(|_| "set ACCESSKEY_KEY")?;
    let listen = env::var("LISTEN").unwrap_or("127.0.0.1:50052".into());

    let accesskey = Client::builder(endpoint)
        .access_key(key.trim())
        .timeout(Duration::from_secs(2))
        .connect_lazy()?;
    let (_reporter, your_service) = tonic_health::server::health_reporter();

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Server::builder()
        .layer(AccessKeyLayer::new(accesskey).require(["orders.read"]))
        .add_service(your_service)
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
