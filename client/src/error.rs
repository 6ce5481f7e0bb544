//! The client's one error type, which keeps the server's `tonic::Status`.

use std::{error::Error as _, time::Duration};

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Everything that can go wrong calling accesskey.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint could not be parsed or reached.
    #[error("cannot connect to accesskey: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The server answered with an error status: its code, its message
    /// (which names the field or permission at fault) and its details
    /// (`google.rpc.BadRequest`, `google.rpc.RetryInfo`) are all kept.
    #[error("accesskey answered {:?}: {}", .0.code(), .0.message())]
    Status(Box<Status>),
    /// The caller's own access key cannot be sent as a header (not ASCII).
    #[error("the access key is not valid header text")]
    InvalidAccessKey,
    /// The server's response lacked a field the contract promises.
    #[error("the server's response has no `{0}`")]
    MissingField(&'static str),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Self::Status(Box::new(classify_goaway(status)))
    }
}

/// A call caught by a graceful shutdown of the server (an HTTP/2 GOAWAY,
/// as every restart or rolling deploy sends) never reached a handler:
///
/// - a call still queued on the connection when it closed comes back from
///   hyper as "canceled: connection closed", which tonic reports as
///   CANCELLED, as if the caller had given up (seen in
///   `tests/e2e/shutdown.rs`);
/// - a stream the server refused with its GOAWAY comes back from h2 as a
///   GOAWAY with NO_ERROR, which tonic reports as INTERNAL.
///
/// Both are UNAVAILABLE: retryable, and the next call reconnects.
fn classify_goaway(status: Status) -> Status {
    if !matches!(
        status.code(),
        Code::Cancelled | Code::Internal | Code::Unknown
    ) {
        return status;
    }
    let mut source = status.source();
    while let Some(error) = source {
        let never_sent = error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
            || error.downcast_ref::<h2::Error>().is_some_and(|h2| {
                h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR)
            });
        if never_sent {
            return Status::unavailable(format!(
                "accesskey closed the connection before the call was sent (it is \
                 shutting down or restarting); retry: {}",
                status.message()
            ));
        }
        source = error.source();
    }
    status
}

impl Error {
    /// The server's status, if it answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// The gRPC code, if the server answered.
    pub fn code(&self) -> Option<Code> {
        self.status().map(Status::code)
    }

    /// The server's message, if it answered.
    pub fn message(&self) -> Option<&str> {
        self.status().map(Status::message)
    }

    /// How long the server asked the caller to wait before retrying (its
    /// `google.rpc.RetryInfo`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        let info = self.status()?.get_details_retry_info()?;
        info.retry_delay
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

    /// The server shed the call before doing any of its work (its argon2
    /// workers or a bound on callers were full): retrying after
    /// [`retry_after`](Self::retry_after) is always safe.
    pub fn is_resource_exhausted(&self) -> bool {
        self.code() == Some(Code::ResourceExhausted)
    }

    /// The named user (or key) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(Code::NotFound)
    }

    /// The user changed since the etag the call carried was read: read it
    /// again and retry ([`Client::modify_user`](crate::Client::modify_user)
    /// does this for you).
    pub fn is_aborted(&self) -> bool {
        self.code() == Some(Code::Aborted)
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt as _};

    use super::*;

    #[test]
    fn the_servers_retry_info_is_read() {
        let status = Status::with_error_details(
            Code::Unavailable,
            "storage unavailable",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(1))),
        );
        let error = Error::from(status);
        assert!(error.is_unavailable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(error.message(), Some("storage unavailable"));
        assert_eq!(Error::from(Status::internal("bug")).retry_after(), None);
    }

    #[test]
    fn an_internal_status_without_a_goaway_stays_internal() {
        let error = Error::from(Status::internal("bug"));
        assert_eq!(error.code(), Some(Code::Internal));
        assert!(!error.is_unavailable());
    }
}
