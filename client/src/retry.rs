//! An opt-in retry policy that honours the server's `RetryInfo`.
//!
//! Off unless [`ClientBuilder::retry`](crate::ClientBuilder::retry) sets it.
//! A call is retried only when repeating it cannot do its work twice:
//!
//! - RESOURCE_EXHAUSTED, for every call: the server sheds a call before any
//!   of its work (its argon2 workers or a caller bound were full).
//! - UNAVAILABLE and DEADLINE_EXCEEDED (and a connection that failed), for
//!   reads, verifications and etag-guarded writes only: a write that timed
//!   out may have landed, and repeating a create or a key generation could
//!   do it twice (a second key replaces the first).
//!
//! The wait is the server's `RetryInfo` delay when it sent one, else an
//! exponential backoff; both are capped, and so is the number of attempts.

use std::{future::Future, time::Duration};

use tonic::Status;

use crate::Error;

/// How a client retries calls that failed for a passing reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    first_backoff: Duration,
    max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, backing off from 50 ms, waiting at most 2 s at a time.
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(50),
            max_wait: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// At most `attempts` calls in all (the first included; at least one).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The first wait when the server gave no `RetryInfo`; each later one
    /// doubles.
    pub fn first_backoff(mut self, backoff: Duration) -> Self {
        self.first_backoff = backoff;
        self
    }

    /// The longest single wait, whatever the server asked for.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// How long to wait before attempt `attempt + 1`, or `None` to give up.
    fn wait_after(&self, attempt: u32, error: &Error, repeat: Repeat) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let retryable =
            error.is_resource_exhausted() || (repeat == Repeat::Safe && error.is_unavailable());
        if !retryable {
            return None;
        }
        let backoff = self
            .first_backoff
            .saturating_mul(1 << (attempt - 1).min(16));
        Some(error.retry_after().unwrap_or(backoff).min(self.max_wait))
    }
}

/// Whether repeating a call after an ambiguous failure is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// A read, a verification or an etag-guarded write.
    Safe,
    /// A write that could land twice.
    Once,
}

impl Repeat {
    /// A write is safe to repeat when an etag guards it: a second attempt
    /// after one that landed finds the etag stale and changes nothing.
    pub(crate) fn guarded_by(etag: &str) -> Self {
        if etag.is_empty() {
            Self::Once
        } else {
            Self::Safe
        }
    }
}

/// Runs `call`, retrying under `policy` (if any).
pub(crate) async fn with_retries<T, F, Fut>(
    policy: Option<RetryPolicy>,
    repeat: Repeat,
    mut call: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 1;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(status) => Error::from(status),
        };
        let Some(wait) = policy.and_then(|policy| policy.wait_after(attempt, &error, repeat))
        else {
            return Err(error);
        };
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn error(code: Code) -> Error {
        Error::from(Status::new(code, "x"))
    }

    #[test]
    fn only_passing_failures_are_retried_and_only_where_safe() {
        let policy = RetryPolicy::default();
        let shed = error(Code::ResourceExhausted);
        let down = error(Code::Unavailable);
        assert!(policy.wait_after(1, &shed, Repeat::Once).is_some());
        assert!(policy.wait_after(1, &down, Repeat::Safe).is_some());
        assert!(
            policy.wait_after(1, &down, Repeat::Once).is_none(),
            "a write that may have landed is not repeated"
        );
        assert!(
            policy
                .wait_after(1, &error(Code::PermissionDenied), Repeat::Safe)
                .is_none()
        );
        assert!(
            policy.wait_after(4, &shed, Repeat::Safe).is_none(),
            "four attempts in all"
        );
    }

    #[test]
    fn waits_back_off_and_are_capped() {
        let policy = RetryPolicy::default().max_wait(Duration::from_millis(150));
        let shed = error(Code::ResourceExhausted);
        assert_eq!(
            policy.wait_after(1, &shed, Repeat::Safe),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            policy.wait_after(2, &shed, Repeat::Safe),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            policy.wait_after(3, &shed, Repeat::Safe),
            Some(Duration::from_millis(150))
        );
    }
}
