//! A typed Rust client for accesskey.
//!
//! One cheap-to-clone [`Client`] handle attaches the caller's own access key
//! to every call (as sensitive `x-access-key` metadata, so it is never
//! printed) and exposes the `UserAdmin` and `KeyAuth` RPCs. The generated
//! types and stubs are re-exported as [`pb`] for anything not wrapped here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), accesskey_client::Error> {
//! use accesskey_client::{Client, Verification};
//!
//! let client = Client::builder("http://127.0.0.1:50051")
//!     .access_key(std::env::var("ACCESSKEY_KEY").unwrap_or_default())
//!     .connect()
//!     .await?;
//! match client.verify("akey_…", ["orders.read"]).await? {
//!     Verification::Valid(principal) => println!("hello {}", principal.username),
//!     other => println!("rejected: {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// A panic takes the caller's request down: `expect` only where a
// comment-backed `#[expect]` says why it cannot fail.
#![deny(clippy::expect_used)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod middleware;

mod admin;
mod audit;
mod builder;
mod credentials;
mod error;
mod requests;
mod retry;
mod roles;
mod verify;

pub use accesskey_proto::pb;
use pb::{key_auth_client::KeyAuthClient, user_admin_client::UserAdminClient};
use tonic::transport::Channel;

pub use admin::MODIFY_ATTEMPTS;
pub use audit::{AuditQuery, AuditWatch};
pub use builder::ClientBuilder;
pub use credentials::{AccessKeyInterceptor, AuthenticatedChannel};
pub use error::Error;
pub use middleware::AccessKeyLayer;
pub use requests::{GeneratedKey, ListUsers, NewUser, UserChanges};
pub use retry::RetryPolicy;
pub use roles::{NewRole, RoleChanges};
pub use verify::Verification;

/// The metadata key (HTTP header) an access key travels in.
pub use accesskey_proto::credential::ACCESS_KEY_HEADER;

/// A connection to accesskey, authenticated as one caller. Cheap to clone:
/// clones share the underlying HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    admin: UserAdminClient<AuthenticatedChannel>,
    auth: KeyAuthClient<AuthenticatedChannel>,
    retry: Option<RetryPolicy>,
}

impl Client {
    /// Starts building a client for `endpoint`, e.g. `http://127.0.0.1:50051`.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(endpoint.into())
    }

    /// A client over an existing channel, presenting `access_key`.
    pub fn from_channel(channel: Channel, access_key: &str) -> Result<Self, Error> {
        let interceptor = AccessKeyInterceptor::new(access_key)?;
        Ok(Self {
            admin: UserAdminClient::with_interceptor(channel.clone(), interceptor.clone()),
            auth: KeyAuthClient::with_interceptor(channel.clone(), interceptor),
            channel,
            retry: None,
        })
    }

    /// The same connection and retry policy, presenting another key.
    pub fn with_access_key(&self, access_key: &str) -> Result<Self, Error> {
        let client = Self::from_channel(self.channel.clone(), access_key)?;
        Ok(Self {
            retry: self.retry,
            ..client
        })
    }

    /// The same client, retrying as `policy` says (or never, with `None`).
    pub fn with_retry(&self, policy: Option<RetryPolicy>) -> Self {
        Self {
            retry: policy,
            ..self.clone()
        }
    }

    /// The underlying channel, without the caller's key.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The generated `UserAdmin` stub, presenting the caller's key: the
    /// escape hatch for sending raw requests.
    pub fn user_admin_stub(&self) -> UserAdminClient<AuthenticatedChannel> {
        self.admin.clone()
    }

    /// The generated `KeyAuth` stub, presenting the caller's key.
    pub fn key_auth_stub(&self) -> KeyAuthClient<AuthenticatedChannel> {
        self.auth.clone()
    }
}
