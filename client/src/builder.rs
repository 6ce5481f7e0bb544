//! Builds a [`Client`]: endpoint, the caller's key, deadlines, TLS and the
//! retry policy.

#[cfg(feature = "tls")]
use std::fmt;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::{Client, Error, RetryPolicy};

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    endpoint: String,
    access_key: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    #[cfg(feature = "tls")]
    tls: TlsSettings,
}

impl ClientBuilder {
    pub(crate) fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            access_key: None,
            timeout: None,
            connect_timeout: None,
            retry: None,
            #[cfg(feature = "tls")]
            tls: TlsSettings::default(),
        }
    }
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

    /// Retry calls that failed for a passing reason, as `policy` says (see
    /// [`RetryPolicy`] for which calls and failures). Off by default.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    fn client_over(self, channel: Channel) -> Result<Client, Error> {
        let client = Client::from_channel(channel, self.access_key.as_deref().unwrap_or_default())?;
        Ok(Client {
            retry: self.retry,
            ..client
        })
    }

    /// Connects now, failing if the server cannot be reached.
    pub async fn connect(self) -> Result<Client, Error> {
        let channel = self.endpoint()?.connect().await?;
        self.client_over(channel)
    }

    /// Connects on first use.
    pub fn connect_lazy(self) -> Result<Client, Error> {
        let channel = self.endpoint()?.connect_lazy();
        self.client_over(channel)
    }
}
