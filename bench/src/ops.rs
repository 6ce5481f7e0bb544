//! The requests each scenario sends, over the generated stubs: one shared
//! channel per connection and the caller's key parsed into metadata once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use accesskey_client::{
    ACCESS_KEY_HEADER,
    pb::{self, VerifyResult, key_auth_client::KeyAuthClient, user_admin_client::UserAdminClient},
};
use tonic::{
    Code, Request,
    metadata::{AsciiMetadataValue, MetadataValue},
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    BoxError,
    load::{Op, Outcome, Rng},
};

/// The caller's key as request metadata, marked sensitive as the client
/// library marks it: HPACK then never indexes it, so every request carries
/// the full 71 bytes, as every production client's request does.
pub(crate) fn caller_metadata(key: &str) -> Result<AsciiMetadataValue, BoxError> {
    let mut value: AsciiMetadataValue = MetadataValue::try_from(key)?;
    value.set_sensitive(true);
    Ok(value)
}

fn authenticated<T>(message: T, caller: &AsciiMetadataValue) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(ACCESS_KEY_HEADER, caller.clone());
    request
}

/// Which key a verification loop presents next.
#[derive(Debug)]
pub(crate) enum Pick {
    /// Uniformly at random, for as long as the scenario lasts.
    Random(Rng),
    /// The next key no loop has taken yet: each key exactly once.
    Once(Arc<AtomicUsize>),
}

/// VerifyAccessKey of keys from a pool, expecting one result.
#[derive(Debug)]
pub(crate) struct Verify {
    pub(crate) stub: KeyAuthClient<Channel>,
    pub(crate) caller: AsciiMetadataValue,
    pub(crate) keys: Arc<[String]>,
    pub(crate) pick: Pick,
    pub(crate) required: Vec<String>,
    pub(crate) expect: VerifyResult,
    /// Retry a request the server shed with RESOURCE_EXHAUSTED, for passes
    /// that prepare state rather than measure it.
    pub(crate) retry_when_busy: bool,
}

impl Op for Verify {
    async fn call(&mut self) -> Option<Outcome> {
        let index = match &mut self.pick {
            Pick::Random(rng) => rng.below(self.keys.len()),
            Pick::Once(next) => {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= self.keys.len() {
                    return None;
                }
                index
            }
        };
        let mut attempt = 0_u64;
        let answer = loop {
            let request = authenticated(
                pb::VerifyAccessKeyRequest {
                    access_key: self.keys[index].clone(),
                    required_permissions: self.required.clone(),
                },
                &self.caller,
            );
            match self.stub.verify_access_key(request).await {
                Err(status)
                    if self.retry_when_busy
                        && status.code() == Code::ResourceExhausted
                        && attempt < 100 =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 * attempt.min(20))).await;
                }
                answer => break answer,
            }
        };
        Some(match answer {
            Ok(response) => {
                let result = VerifyResult::try_from(response.get_ref().result)
                    .unwrap_or(VerifyResult::Unspecified);
                Outcome {
                    label: result.as_str_name().trim_start_matches("VERIFY_RESULT_"),
                    expected: result == self.expect,
                }
            }
            Err(status) => failed(status.code()),
        })
    }
}

/// VerifyAccessKey of wrong secrets, each call giving up after `patience`
/// (as an attacker's client with a short deadline does), sent at one call
/// per `period` from this loop.
#[derive(Debug)]
pub(crate) struct WrongSecret {
    pub(crate) stub: KeyAuthClient<Channel>,
    pub(crate) caller: AsciiMetadataValue,
    pub(crate) keys: Arc<[String]>,
    pub(crate) rng: Rng,
    pub(crate) period: Duration,
    pub(crate) patience: Duration,
    pub(crate) next: tokio::time::Instant,
}

impl Op for WrongSecret {
    async fn pace(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next += self.period;
    }

    async fn call(&mut self) -> Option<Outcome> {
        let mut request = authenticated(
            pb::VerifyAccessKeyRequest {
                access_key: self.keys[self.rng.below(self.keys.len())].clone(),
                required_permissions: Vec::new(),
            },
            &self.caller,
        );
        request.set_timeout(self.patience);
        Some(match self.stub.verify_access_key(request).await {
            Ok(response) => {
                let result = VerifyResult::try_from(response.get_ref().result)
                    .unwrap_or(VerifyResult::Unspecified);
                Outcome {
                    label: result.as_str_name().trim_start_matches("VERIFY_RESULT_"),
                    expected: result == VerifyResult::NotFound,
                }
            }
            // The attacker gave up first: what the scenario is about.
            Err(status) if matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled) => {
                Outcome {
                    label: status_label(status.code()),
                    expected: true,
                }
            }
            Err(status) => failed(status.code()),
        })
    }
}

/// grpc.health.v1.Health/Check of the whole server, without a caller key
/// (the health service needs none): the cheapest call the server answers.
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) stub: HealthClient<Channel>,
}

impl Op for Health {
    async fn call(&mut self) -> Option<Outcome> {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        Some(match self.stub.check(request).await {
            Ok(response) => {
                let status = ServingStatus::try_from(response.get_ref().status)
                    .unwrap_or(ServingStatus::Unknown);
                Outcome {
                    label: status.as_str_name(),
                    expected: status == ServingStatus::Serving,
                }
            }
            Err(status) => failed(status.code()),
        })
    }
}

/// GenerateAccessKey for users picked at random from `user_ids`.
#[derive(Debug)]
pub(crate) struct Generate {
    pub(crate) stub: UserAdminClient<Channel>,
    pub(crate) caller: AsciiMetadataValue,
    pub(crate) user_ids: Arc<[i64]>,
    pub(crate) rng: Rng,
}

impl Op for Generate {
    async fn call(&mut self) -> Option<Outcome> {
        let user_id = self.user_ids[self.rng.below(self.user_ids.len())];
        let request = authenticated(
            pb::GenerateAccessKeyRequest {
                user_id,
                expire_time: None,
            },
            &self.caller,
        );
        Some(match self.stub.generate_access_key(request).await {
            Ok(_) => succeeded(),
            Err(status) => failed(status.code()),
        })
    }
}

/// CreateUser with a name no other loop or earlier run in this database used.
#[derive(Debug)]
pub(crate) struct CreateUser {
    pub(crate) stub: UserAdminClient<Channel>,
    pub(crate) caller: AsciiMetadataValue,
    pub(crate) stream: u64,
    pub(crate) created: u64,
}

impl Op for CreateUser {
    async fn call(&mut self) -> Option<Outcome> {
        self.created += 1;
        let request = authenticated(
            pb::CreateUserRequest {
                username: format!("bench-new-{}-{}", self.stream, self.created),
                permissions: vec!["orders.read".to_owned()],
                ..pb::CreateUserRequest::default()
            },
            &self.caller,
        );
        Some(match self.stub.create_user(request).await {
            Ok(_) => succeeded(),
            Err(status) => failed(status.code()),
        })
    }
}

fn succeeded() -> Outcome {
    Outcome {
        label: "OK",
        expected: true,
    }
}

fn failed(code: Code) -> Outcome {
    Outcome {
        label: status_label(code),
        expected: false,
    }
}

/// Error statuses are prefixed so that a NOT_FOUND *status* cannot be
/// mistaken for a NOT_FOUND *verification result* in the outcome mix.
pub(crate) fn status_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "grpc:OK",
        Code::Cancelled => "grpc:CANCELLED",
        Code::Unknown => "grpc:UNKNOWN",
        Code::InvalidArgument => "grpc:INVALID_ARGUMENT",
        Code::DeadlineExceeded => "grpc:DEADLINE_EXCEEDED",
        Code::NotFound => "grpc:NOT_FOUND",
        Code::AlreadyExists => "grpc:ALREADY_EXISTS",
        Code::PermissionDenied => "grpc:PERMISSION_DENIED",
        Code::ResourceExhausted => "grpc:RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "grpc:FAILED_PRECONDITION",
        Code::Aborted => "grpc:ABORTED",
        Code::OutOfRange => "grpc:OUT_OF_RANGE",
        Code::Unimplemented => "grpc:UNIMPLEMENTED",
        Code::Internal => "grpc:INTERNAL",
        Code::Unavailable => "grpc:UNAVAILABLE",
        Code::DataLoss => "grpc:DATA_LOSS",
        Code::Unauthenticated => "grpc:UNAUTHENTICATED",
    }
}
