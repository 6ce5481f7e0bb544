//! The console's static files (style, script, icon), compiled into the
//! binary.

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

/// The icon, as SVG: one small file, sharp at any size. Served at
/// `/favicon.ico` too, where browsers look without a `<link rel="icon">`.
pub(in crate::console) async fn icon() -> Response {
    web::asset("image/svg+xml", include_str!("../assets/favicon.svg"))
}
