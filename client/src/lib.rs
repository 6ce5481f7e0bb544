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

#[cfg(feature = "cli")]
pub mod cli;
pub mod middleware;
mod requests;

use std::{fmt, time::Duration};

pub use middleware::AccessKeyLayer;
pub use requests::{GeneratedKey, ListUsers, NewUser, UserChanges};

pub use accesskey_proto::pb;
use pb::{key_auth_client::KeyAuthClient, user_admin_client::UserAdminClient};
use tonic::{
    Code, Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// The metadata key a caller's access key travels in.
pub const ACCESS_KEY_HEADER: &str = "x-access-key";

/// How many times [`Client::modify_user`] reads and writes before it gives
/// up on a user that keeps changing under it.
pub const MODIFY_ATTEMPTS: u32 = 10;

/// Everything that can go wrong calling accesskey.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint could not be parsed or reached.
    #[error("cannot connect to accesskey: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The server answered with an error status; code and message are kept.
    #[error("accesskey answered {code:?}: {message}")]
    Status {
        /// The gRPC status code.
        code: Code,
        /// The server's message, which names the field or permission at fault.
        message: String,
    },
    /// The caller's own access key cannot be sent as a header (not ASCII).
    #[error("the access key is not valid header text")]
    InvalidAccessKey,
    /// The server's response lacked a field the contract promises.
    #[error("the server's response has no `{0}`")]
    MissingField(&'static str),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Self::Status {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

impl Error {
    /// The gRPC code, if the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The caller's own key was missing or not accepted.
    pub fn is_unauthenticated(&self) -> bool {
        self.code() == Some(Code::Unauthenticated)
    }

    /// The caller's key is genuine but lacks the permission for the call.
    pub fn is_permission_denied(&self) -> bool {
        self.code() == Some(Code::PermissionDenied)
    }

    /// accesskey could not be reached or could not answer now; retrying later
    /// may work.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Transport(_))
            || matches!(
                self.code(),
                Some(Code::Unavailable | Code::DeadlineExceeded)
            )
    }

    /// The named user (or key) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(Code::NotFound)
    }

    /// The user changed since the etag the call carried was read: read it
    /// again and retry ([`Client::modify_user`] does this for you).
    pub fn is_aborted(&self) -> bool {
        self.code() == Some(Code::Aborted)
    }
}

/// Attaches the caller's key to every request.
#[derive(Clone)]
pub struct AccessKeyInterceptor {
    key: AsciiMetadataValue,
}

impl fmt::Debug for AccessKeyInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKeyInterceptor(<key redacted>)")
    }
}

impl AccessKeyInterceptor {
    /// An interceptor presenting `key`; fails if it is not header text.
    pub fn new(key: &str) -> Result<Self, Error> {
        let mut key: AsciiMetadataValue =
            MetadataValue::try_from(key).map_err(|_| Error::InvalidAccessKey)?;
        key.set_sensitive(true);
        Ok(Self { key })
    }
}

impl Interceptor for AccessKeyInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(ACCESS_KEY_HEADER, self.key.clone());
        Ok(request)
    }
}

/// A channel that presents the caller's key on every call: what the
/// generated stubs returned by [`Client::user_admin_stub`] and
/// [`Client::key_auth_stub`] run over.
pub type AuthenticatedChannel = InterceptedService<Channel, AccessKeyInterceptor>;
type Authed = AuthenticatedChannel;

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    endpoint: String,
    access_key: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: TlsSettings,
}

/// TLS settings: which CA to trust and, for mutual TLS, who we are.
#[cfg(feature = "tls")]
#[derive(Default)]
struct TlsSettings {
    ca_pem: Option<Vec<u8>>,
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

#[cfg(feature = "tls")]
impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("custom_ca", &self.ca_pem.is_some())
            .field("client_identity", &self.identity_pem.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// The caller's own access key, sent with every call.
    pub fn access_key(mut self, key: impl Into<String>) -> Self {
        self.access_key = Some(key.into());
        self
    }

    /// A deadline for each call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Trust this PEM CA certificate for the server's TLS certificate
    /// (instead of the system roots). Turns TLS on.
    #[cfg(feature = "tls")]
    pub fn tls_ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_pem = Some(pem.into());
        self
    }

    /// Present this PEM certificate and key to a server that requires
    /// mutual TLS. Turns TLS on.
    #[cfg(feature = "tls")]
    pub fn tls_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identity_pem = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// How long to wait for the connection to be established.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    fn endpoint(&self) -> Result<Endpoint, Error> {
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())?;
        if let Some(timeout) = self.timeout {
            endpoint = endpoint.timeout(timeout);
        }
        if let Some(timeout) = self.connect_timeout {
            endpoint = endpoint.connect_timeout(timeout);
        }
        #[cfg(feature = "tls")]
        {
            let wants_tls = self.endpoint.starts_with("https://")
                || self.tls.ca_pem.is_some()
                || self.tls.identity_pem.is_some();
            if wants_tls {
                use tonic::transport::{Certificate, ClientTlsConfig, Identity};
                let mut tls = match &self.tls.ca_pem {
                    Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                    None => ClientTlsConfig::new().with_native_roots(),
                };
                if let Some((cert, key)) = &self.tls.identity_pem {
                    tls = tls.identity(Identity::from_pem(cert, key));
                }
                endpoint = endpoint.tls_config(tls)?;
            }
        }
        Ok(endpoint.tcp_nodelay(true))
    }

    /// Connects now, failing if the server cannot be reached.
    pub async fn connect(self) -> Result<Client, Error> {
        let channel = self.endpoint()?.connect().await?;
        Client::from_channel(channel, self.access_key.as_deref().unwrap_or_default())
    }

    /// Connects on first use.
    pub fn connect_lazy(self) -> Result<Client, Error> {
        let channel = self.endpoint()?.connect_lazy();
        Client::from_channel(channel, self.access_key.as_deref().unwrap_or_default())
    }
}

/// The answer to "is this key genuine, and may its user do this?".
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// Genuine, current, and its user holds every required permission.
    Valid(pb::Principal),
    /// Not shaped like an access key (or a typo broke its checksum).
    Malformed,
    /// Unknown, revoked or replaced, or the secret is wrong.
    NotFound,
    /// Genuine but expired.
    Expired(pb::Principal),
    /// Genuine but its user is disabled.
    UserDisabled(pb::Principal),
    /// Genuine, but its user lacks these permissions.
    PermissionDenied {
        /// Whose key it is.
        principal: pb::Principal,
        /// The required permissions the user does not hold.
        missing: Vec<String>,
    },
}

impl Verification {
    /// Whether the key may be let in.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid(_))
    }

    fn from_response(response: pb::VerifyAccessKeyResponse) -> Result<Self, Error> {
        use pb::VerifyResult;
        let pb::VerifyAccessKeyResponse {
            result,
            principal,
            missing_permissions,
        } = response;
        let principal = || principal.clone().ok_or(Error::MissingField("principal"));
        Ok(
            match VerifyResult::try_from(result).unwrap_or(VerifyResult::Unspecified) {
                VerifyResult::Valid => Self::Valid(principal()?),
                VerifyResult::Malformed => Self::Malformed,
                VerifyResult::NotFound => Self::NotFound,
                VerifyResult::Expired => Self::Expired(principal()?),
                VerifyResult::UserDisabled => Self::UserDisabled(principal()?),
                VerifyResult::PermissionDenied => Self::PermissionDenied {
                    principal: principal()?,
                    missing: missing_permissions,
                },
                VerifyResult::Unspecified => return Err(Error::MissingField("result")),
            },
        )
    }
}

/// A connection to accesskey, authenticated as one caller. Cheap to clone:
/// clones share the underlying HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    admin: UserAdminClient<Authed>,
    auth: KeyAuthClient<Authed>,
}

impl Client {
    /// Starts building a client for `endpoint`, e.g. `http://127.0.0.1:50051`.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            access_key: None,
            timeout: None,
            connect_timeout: None,
            #[cfg(feature = "tls")]
            tls: TlsSettings::default(),
        }
    }

    /// A client over an existing channel, presenting `access_key`.
    pub fn from_channel(channel: Channel, access_key: &str) -> Result<Self, Error> {
        let interceptor = AccessKeyInterceptor::new(access_key)?;
        Ok(Self {
            admin: UserAdminClient::with_interceptor(channel.clone(), interceptor.clone()),
            auth: KeyAuthClient::with_interceptor(channel.clone(), interceptor),
            channel,
        })
    }

    /// The same connection, presenting another key.
    pub fn with_access_key(&self, access_key: &str) -> Result<Self, Error> {
        Self::from_channel(self.channel.clone(), access_key)
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

/// User administration (`UserAdmin`).
impl Client {
    /// Creates a user. Needs `users.write`.
    pub async fn create_user(&self, user: NewUser) -> Result<pb::User, Error> {
        let response = self
            .admin
            .clone()
            .create_user(user.into_request())
            .await?
            .into_inner();
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Reads a user by id. Needs `users.read`.
    pub async fn get_user(&self, user_id: i64) -> Result<pb::User, Error> {
        self.get_user_by(pb::get_user_request::User::UserId(user_id))
            .await
    }

    /// Reads a user by username, ignoring case. Needs `users.read`.
    pub async fn get_user_by_name(&self, username: &str) -> Result<pb::User, Error> {
        self.get_user_by(pb::get_user_request::User::Username(username.to_owned()))
            .await
    }

    async fn get_user_by(&self, user: pb::get_user_request::User) -> Result<pb::User, Error> {
        let request = pb::GetUserRequest { user: Some(user) };
        let response = self.admin.clone().get_user(request).await?.into_inner();
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Lists one page of users. Needs `users.read`.
    pub async fn list_users(&self, query: ListUsers) -> Result<pb::ListUsersResponse, Error> {
        Ok(self
            .admin
            .clone()
            .list_users(query.into_request())
            .await?
            .into_inner())
    }

    /// Lists every user whose name starts with `prefix` (all users when
    /// empty), following page tokens. Needs `users.read`.
    pub async fn list_all_users(&self, prefix: &str) -> Result<Vec<pb::User>, Error> {
        let mut users = Vec::new();
        let mut query = ListUsers::new().prefix(prefix).page_size(1000);
        loop {
            let page = self.list_users(query.clone()).await?;
            users.extend(page.users);
            if page.next_page_token.is_empty() {
                return Ok(users);
            }
            query = query.page_token(page.next_page_token);
        }
    }

    /// Applies `changes` to the user; only the fields it sets change. Needs
    /// `users.write`.
    pub async fn update_user(&self, user_id: i64, changes: UserChanges) -> Result<pb::User, Error> {
        let response = self
            .admin
            .clone()
            .update_user(changes.into_request(user_id))
            .await?
            .into_inner();
        response.user.ok_or(Error::MissingField("user"))
    }

    /// Reads the user, applies the changes `edit` computes from what it
    /// read, on condition that the user has not changed since, and retries
    /// from a fresh read when it has (at most [`MODIFY_ATTEMPTS`] times; each
    /// retry means another change landed first). This is how to add or
    /// remove one permission without losing a concurrent edit. Needs
    /// `users.read` and `users.write`.
    pub async fn modify_user(
        &self,
        user_id: i64,
        edit: impl FnMut(&pb::User) -> UserChanges,
    ) -> Result<pb::User, Error> {
        let current = self.get_user(user_id).await?;
        self.modify_read_user(current, edit).await
    }

    /// [`modify_user`](Self::modify_user), starting from `current`, a user
    /// just read (by name, say), so that the first attempt costs no second
    /// read.
    pub async fn modify_read_user(
        &self,
        mut current: pb::User,
        mut edit: impl FnMut(&pb::User) -> UserChanges,
    ) -> Result<pb::User, Error> {
        let mut attempt = 1;
        loop {
            let changes = edit(&current);
            if changes.is_empty() {
                return Ok(current);
            }
            match self
                .update_user(current.id, changes.if_etag(current.etag.clone()))
                .await
            {
                Err(error) if error.is_aborted() && attempt < MODIFY_ATTEMPTS => {
                    attempt += 1;
                    current = self.get_user(current.id).await?;
                }
                outcome => return outcome,
            }
        }
    }

    /// Deletes a user and its key. Needs `users.write`.
    pub async fn delete_user(&self, user_id: i64) -> Result<(), Error> {
        self.delete(pb::DeleteUserRequest {
            user_id,
            etag: String::new(),
        })
        .await
    }

    /// Deletes a user and its key only if it is still as it was when `etag`
    /// was read; otherwise fails with ABORTED and deletes nothing.
    pub async fn delete_user_if_unchanged(
        &self,
        user_id: i64,
        etag: impl Into<String>,
    ) -> Result<(), Error> {
        self.delete(pb::DeleteUserRequest {
            user_id,
            etag: etag.into(),
        })
        .await
    }

    async fn delete(&self, request: pb::DeleteUserRequest) -> Result<(), Error> {
        self.admin.clone().delete_user(request).await?;
        Ok(())
    }

    /// Issues the user a new key, replacing its previous one at once. The
    /// result holds the only copy of the key: store it. Needs `keys.issue`.
    pub async fn generate_access_key(
        &self,
        user_id: i64,
        expire_time: Option<std::time::SystemTime>,
    ) -> Result<GeneratedKey, Error> {
        let request = pb::GenerateAccessKeyRequest {
            user_id,
            expire_time: expire_time.map(prost_types::Timestamp::from),
        };
        let response = self
            .admin
            .clone()
            .generate_access_key(request)
            .await?
            .into_inner();
        let info = response
            .access_key_info
            .ok_or(Error::MissingField("access_key_info"))?;
        Ok(GeneratedKey::new(response.access_key, info))
    }

    /// Removes the user's key. Needs `keys.issue`.
    pub async fn revoke_access_key(&self, user_id: i64) -> Result<(), Error> {
        self.admin
            .clone()
            .revoke_access_key(pb::RevokeAccessKeyRequest { user_id })
            .await?;
        Ok(())
    }
}

/// Key verification (`KeyAuth`).
impl Client {
    /// Whether `access_key` is genuine and its user holds all of `required`.
    /// An invalid key is an `Ok` answer; `Err` means the call itself failed.
    /// Needs `keys.verify`.
    pub async fn verify<I, S>(&self, access_key: &str, required: I) -> Result<Verification, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let request = pb::VerifyAccessKeyRequest {
            access_key: access_key.to_owned(),
            required_permissions: required.into_iter().map(Into::into).collect(),
        };
        let response = self.auth.clone().verify_access_key(request).await?;
        Verification::from_response(response.into_inner())
    }

    /// The principal behind the caller's own key.
    pub async fn who_am_i(&self) -> Result<pb::Principal, Error> {
        let response = self.auth.clone().who_am_i(pb::WhoAmIRequest {}).await?;
        response
            .into_inner()
            .principal
            .ok_or(Error::MissingField("principal"))
    }
}
