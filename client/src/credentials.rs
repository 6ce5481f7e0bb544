//! Presents the caller's own key on every call, as sensitive metadata so
//! no `Debug` print of a request shows it.

use std::fmt;

use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

use crate::{ACCESS_KEY_HEADER, Error};

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
