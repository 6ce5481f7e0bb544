//! An axum HTTP service protected by accesskey: `GET /orders` needs a key
//! whose user holds `orders.read`.
//!
//! ```sh
//! ACCESSKEY_KEY=$(cat service.key) cargo run -p accesskey-client --example http_service
//! curl -H "x-access-key: $CALLER_KEY" http://127.0.0.1:8080/orders
//! ```

use std::{env, time::Duration};

use accesskey_client::{AccessKeyLayer, Client, pb::Principal};
use axum::{Extension, Router, routing::get};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = env::var("ACCESSKEY_ENDPOINT").unwrap_or("http://127.0.0.1:50051".into());
    // This service's own key: its user needs `keys.verify`.
    let key = env::var("ACCESSKEY_KEY").map_err(|_| "set ACCESSKEY_KEY")?;
    let listen = env::var("LISTEN").unwrap_or("127.0.0.1:8080".into());

    let accesskey = Client::builder(endpoint)
        .access_key(key.trim())
        .timeout(Duration::from_secs(2))
        .connect_lazy()?;
    let app = Router::new()
        .route("/orders", get(list_orders))
        .route_layer(AccessKeyLayer::new(accesskey).require(["orders.read"]));

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Runs only for verified callers; the layer hands over who they are.
async fn list_orders(Extension(caller): Extension<Principal>) -> String {
    format!("{{\"caller\":\"{}\",\"orders\":[]}}", caller.username)
}
