//! The console's two static files, compiled into the binary.

use axum::response::Response;

use crate::console::web;

pub(in crate::console) async fn stylesheet() -> Response {
    web::asset(
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    )
}

pub(in crate::console) async fn script() -> Response {
    web::asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/console.js"),
    )
}
