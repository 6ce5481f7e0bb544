//! `accesskeyd healthcheck`: asks a running accesskeyd whether it serves,
//! for a service manager or a container's health probe. Exit 0: SERVING.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::Config;

/// How long the check may take in all, connection included.
const PATIENCE: Duration = Duration::from_secs(3);

/// What to ask, and where.
#[derive(Debug, clap::Args)]
pub(crate) struct Healthcheck {
    /// The server to ask. Default: this configuration's `--listen` address
    /// (a wildcard address asked on loopback), over https when `--tls-cert`
    /// is set.
    #[arg(long)]
    endpoint: Option<String>,
    /// The service to ask about: empty for the server as a whole, or
    /// `accesskey.v1.KeyAuth`, `accesskey.v1.UserAdmin`.
    #[arg(long, default_value = "")]
    service: String,
    /// PEM CA certificate to trust for an https endpoint. Default: the
    /// server's own `--tls-cert`, which works for a self-signed certificate.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the
    /// endpoint's host (a certificate for `accesskey.internal` asked on
    /// 127.0.0.1, say).
    #[arg(long)]
    tls_domain: Option<String>,
}

/// Why the server is not known to serve.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("--endpoint {endpoint}")]
    Endpoint {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("an https endpoint needs --ca-file")]
    NoCaFile,
    #[error("cannot read the CA file {}", path.display())]
    UnreadableCaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up TLS to {endpoint}")]
    Tls {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot reach accesskeyd at {endpoint}")]
    Unreachable {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{endpoint} refused the health check")]
    Failed {
        endpoint: String,
        #[source]
        status: tonic::Status,
    },
    /// The answer: anything but SERVING.
    #[error("{service} at {endpoint} is {}", status.as_str_name())]
    NotServing {
        service: String,
        endpoint: String,
        status: ServingStatus,
    },
}

impl Healthcheck {
    /// `Ok` when the server answers SERVING; otherwise why not.
    pub(crate) async fn run(&self, config: &Config) -> Result<(), HealthcheckError> {
        let tls = config.tls_cert.is_some();
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| default_endpoint(config.listen, tls));
        let mut channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|source| HealthcheckError::Endpoint {
                endpoint: endpoint.clone(),
                source,
            })?
            .connect_timeout(PATIENCE)
            .timeout(PATIENCE);
        if endpoint.starts_with("https://") {
            let ca = self
                .ca_file
                .as_ref()
                .or(config.tls_cert.as_ref())
                .ok_or(HealthcheckError::NoCaFile)?;
            let pem = std::fs::read(ca).map_err(|source| HealthcheckError::UnreadableCaFile {
                path: ca.clone(),
                source,
            })?;
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            if let Some(domain) = &self.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            channel = channel
                .tls_config(tls)
                .map_err(|source| HealthcheckError::Tls {
                    endpoint: endpoint.clone(),
                    source,
                })?;
        }
        let channel = channel
            .connect()
            .await
            .map_err(|source| HealthcheckError::Unreachable {
                endpoint: endpoint.clone(),
                source,
            })?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: self.service.clone(),
            })
            .await
            .map_err(|status| HealthcheckError::Failed {
                endpoint: endpoint.clone(),
                status,
            })?;
        match answer.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            status => Err(HealthcheckError::NotServing {
                service: if self.service.is_empty() {
                    "accesskeyd".to_owned()
                } else {
                    self.service.clone()
                },
                endpoint,
                status,
            }),
        }
    }
}

/// Where this configuration serves, as a client reaches it.
fn default_endpoint(listen: SocketAddr, tls: bool) -> String {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{address}")
}

#[cfg(test)]
mod tests {
    use super::default_endpoint;

    #[test]
    fn a_wildcard_listen_address_is_asked_on_loopback() {
        let wildcard = "0.0.0.0:50051".parse().expect("address");
        assert_eq!(default_endpoint(wildcard, false), "http://127.0.0.1:50051");
        let v6 = "[::]:443".parse().expect("address");
        assert_eq!(default_endpoint(v6, true), "https://[::1]:443");
        let exact = "10.0.0.7:50051".parse().expect("address");
        assert_eq!(default_endpoint(exact, false), "http://10.0.0.7:50051");
    }
}
