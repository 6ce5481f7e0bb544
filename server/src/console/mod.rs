//! The admin console: server-rendered pages on the gRPC port, for
//! administrators at a browser rather than a terminal.
//!
//! A page is a thin HTTP face on the gRPC services: every read and change
//! goes through the same `UserAdmin` / `KeyAuth` handlers a gRPC caller
//! reaches, with the signed-in key as the call's credential, so
//! authorization, validation, the power order, the last administrator, the
//! audit trail, failure throttling and error wording are those of the RPCs.
//! The console adds only what a browser needs: server-side sessions whose
//! cookie holds only a random id ([`session`]), CSRF defence (a
//! per-session token and an `Origin` check) and the security headers
//! ([`web`]). A page's calls carry the session's in-process credential
//! ([`crate::service::ConsoleCredential`]), never a key.

mod calls;
mod pages;
mod seal;
mod session;
mod site;
mod web;

use std::sync::Arc;

use axum::{
    Router,
    response::Response,
    routing::{get, post},
};
use http::{StatusCode, request::Parts};

pub(crate) use site::{BadOrigin, Site};

use crate::domain::Directory;
use crate::service::{KeyAuthService, UserAdminService};

/// The console's shared state.
#[derive(Debug)]
pub(crate) struct Console {
    user_admin: UserAdminService,
    key_auth: KeyAuthService,
    /// The sessions' keeper (opening, checking and ending them is no
    /// RPC's business).
    directory: Directory,
    /// Where the console is served, and to whom.
    site: Arc<Site>,
}

type State = axum::extract::State<Arc<Console>>;

impl Console {
    pub(crate) fn new(
        user_admin: UserAdminService,
        key_auth: KeyAuthService,
        directory: Directory,
        site: Site,
    ) -> Self {
        Self {
            user_admin,
            key_auth,
            directory,
            site: Arc::new(site),
        }
    }

    /// `grpc` (the gRPC services' router) with the console's pages added.
    pub(crate) fn mount(self, grpc: Router) -> Router {
        let site = Arc::clone(&self.site);
        let pages = Router::new()
            .route("/", get(pages::home))
            .route(
                "/sign-in",
                get(pages::sign_in::form).post(pages::sign_in::submit),
            )
            .route("/sign-out", post(pages::sign_in::sign_out))
            .route("/users", get(pages::users::list))
            .route(
                "/users/new",
                get(pages::users::new_form).post(pages::users::create),
            )
            .route(
                "/users/{id}",
                get(pages::user::show).post(pages::user::update),
            )
            .route(
                "/users/{id}/delete",
                get(pages::user::delete_form).post(pages::user::delete),
            )
            .route(
                "/users/{id}/generate",
                get(pages::keys::generate_form).post(pages::keys::generate),
            )
            .route("/users/{id}/new-key", get(pages::keys::show_new_key))
            .route(
                "/users/{id}/revoke",
                get(pages::revoke::revoke_form).post(pages::revoke::revoke),
            )
            .route("/roles", get(pages::roles::list).post(pages::roles::create))
            .route(
                "/roles/{name}",
                get(pages::role::show).post(pages::role::update),
            )
            .route(
                "/roles/{name}/delete",
                get(pages::role_delete::delete_form).post(pages::role_delete::delete),
            )
            .route("/whoami", get(pages::whoami::show))
            .route("/audit", get(pages::audit::list))
            .route("/assets/console.css", get(pages::assets::stylesheet))
            .route("/assets/console.js", get(pages::assets::script))
            .route("/assets/favicon.svg", get(pages::assets::icon))
            // Where browsers and tools look for an icon a page names none.
            .route("/favicon.ico", get(pages::assets::icon))
            // Forms are small; nothing a page sends comes near this.
            .layer(axum::extract::DefaultBodyLimit::max(calls::MAX_FORM_BYTES))
            .layer(axum::middleware::map_response(web::protected))
            .with_state(Arc::new(self));
        grpc.merge(pages)
            .fallback(not_found)
            // Outermost, so that every page and the fallback are covered.
            .layer(axum::middleware::from_fn_with_state(site, site::guard))
    }
}

/// Anything else: gRPC's UNIMPLEMENTED to gRPC callers (told apart by
/// content type, as tonic's own router does), a page to browsers.
async fn not_found(parts: Parts) -> Response {
    if crate::service::is_grpc(&parts.headers) {
        return tonic::Status::unimplemented("").into_http();
    }
    // The fallback sits outside the console routes' layer (it serves the
    // gRPC routes' misses too), so it adds the console's headers itself.
    web::protected(web::page(
        StatusCode::NOT_FOUND,
        pages::layout::not_found(),
        Vec::new(),
    ))
    .await
}
