//! Prometheus metrics, served on `--metrics-listen` ([`endpoint`]).
//!
//! Two kinds: what the request path records as it goes (calls by method
//! and code with their latency, verification results), and what the
//! server's parts already count in atomics (the verified-key cache, the
//! argon2 workers, the throttle, the audit trail, the store), read at
//! scrape time by a collector ([`snapshot`]). Every label value comes from
//! a closed set written here: never a username, a key id or a path sent by
//! a caller.

pub(crate) mod endpoint;
mod snapshot;

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::{counter::Counter, family::Family, histogram::Histogram, info::Info},
    registry::Registry,
};

use crate::{
    domain::{Directory, Verdict},
    store::Store,
};

/// Buckets of call latencies, in seconds: 50 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// One method's successful calls and latencies, resolved once so that a
/// call costs no label lookup.
#[derive(Clone)]
struct MethodMetrics {
    ok: Counter,
    latency: Histogram,
}

/// Every metric, and the registry that encodes them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    calls: Family<CallLabels, Counter>,
    /// By [`Method`] index, `other` last.
    methods: Arc<[MethodMetrics]>,
    /// By [`VerifyResult`] discriminant.
    verifications: Arc<[Counter]>,
    flushed_uses: Counter,
    flush_seconds: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a server whose parts are `directory` and `store`.
    pub(crate) fn new(directory: Directory, store: &Store) -> Self {
        let mut registry = Registry::with_prefix("accesskey");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "Calls by method and gRPC status code",
            calls.clone(),
        );
        let latency: Family<MethodLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "rpc_duration_seconds",
            "Call latency, from the request's arrival to its response headers",
            latency.clone(),
        );
        let results = Family::<ResultLabels, Counter>::default();
        registry.register(
            "verifications",
            "VerifyAccessKey answers by result",
            results.clone(),
        );
        let verifications = VerifyResult::ALL
            .iter()
            .map(|result| {
                let result = result.label();
                results.get_or_create(&ResultLabels { result }).clone()
            })
            .collect();
        let methods = METHODS
            .iter()
            .map(|(_, label)| *label)
            .chain([OTHER_METHOD])
            .map(|method| MethodMetrics {
                ok: calls
                    .get_or_create(&CallLabels { method, code: "OK" })
                    .clone(),
                latency: latency.get_or_create(&MethodLabels { method }).clone(),
            })
            .collect();
        let flushed_uses = Counter::default();
        registry.register(
            "last_used_flush_rows",
            "Key uses written to last_used_time by the batched flush",
            flushed_uses.clone(),
        );
        let flush_seconds = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "last_used_flush_duration_seconds",
            "Duration of each batched last_used_time flush",
            flush_seconds.clone(),
        );
        registry.register(
            "db_operation_duration_seconds",
            "Duration of each storage operation (a statement or a short transaction, \
             with its wait for a connection)",
            snapshot::StoreOperations(store.clone()),
        );
        registry.register(
            "build",
            "The running accesskeyd's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(snapshot::Snapshot::new(directory, store.clone())));
        Self {
            registry: Arc::new(registry),
            calls,
            methods,
            verifications,
            flushed_uses,
            flush_seconds,
        }
    }

    /// Counts a finished call to `method` with gRPC status `code`.
    pub(crate) fn call(&self, method: Method, code: tonic::Code, latency: Duration) {
        let Some(known) = self.methods.get(method.0) else {
            return;
        };
        if code == tonic::Code::Ok {
            known.ok.inc();
        } else {
            self.calls
                .get_or_create(&CallLabels {
                    method: method.label(),
                    code: code_name(code),
                })
                .inc();
        }
        known.latency.observe(latency.as_secs_f64());
    }

    /// Counts a VerifyAccessKey answer.
    pub(crate) fn verification(&self, verdict: &Verdict) {
        if let Some(counter) = self.verifications.get(VerifyResult::of(verdict) as usize) {
            counter.inc();
        }
    }

    /// Counts one batched flush of key uses.
    pub(crate) fn flushed(&self, rows: usize, took: Duration) {
        self.flushed_uses.inc_by(rows as u64);
        self.flush_seconds.observe(took.as_secs_f64());
    }

    /// Every metric in the Prometheus text format (0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "could not encode the metrics");
        }
        text
    }
}

/// accesskey's RPCs and the standard health service, by path, with their
/// method labels; any other path is `other`, so a caller cannot add label
/// values.
const METHODS: [(&str, &str); 13] = [
    (
        "/accesskey.v1.KeyAuth/VerifyAccessKey",
        "KeyAuth/VerifyAccessKey",
    ),
    ("/accesskey.v1.KeyAuth/WhoAmI", "KeyAuth/WhoAmI"),
    ("/accesskey.v1.UserAdmin/CreateUser", "UserAdmin/CreateUser"),
    ("/accesskey.v1.UserAdmin/GetUser", "UserAdmin/GetUser"),
    ("/accesskey.v1.UserAdmin/ListUsers", "UserAdmin/ListUsers"),
    ("/accesskey.v1.UserAdmin/UpdateUser", "UserAdmin/UpdateUser"),
    ("/accesskey.v1.UserAdmin/DeleteUser", "UserAdmin/DeleteUser"),
    (
        "/accesskey.v1.UserAdmin/GenerateAccessKey",
        "UserAdmin/GenerateAccessKey",
    ),
    (
        "/accesskey.v1.UserAdmin/RevokeAccessKey",
        "UserAdmin/RevokeAccessKey",
    ),
    (
        "/accesskey.v1.UserAdmin/ListAuditEvents",
        "UserAdmin/ListAuditEvents",
    ),
    (
        "/accesskey.v1.UserAdmin/WatchAuditEvents",
        "UserAdmin/WatchAuditEvents",
    ),
    ("/grpc.health.v1.Health/Check", "Health/Check"),
    ("/grpc.health.v1.Health/Watch", "Health/Watch"),
];
const OTHER_METHOD: &str = "other";

/// VerifyAccessKey's results, one counter each, in `Metrics::verifications`
/// by their discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerifyResult {
    Valid,
    Malformed,
    NotFound,
    Expired,
    UserDisabled,
    PermissionDenied,
}

impl VerifyResult {
    /// In discriminant order.
    const ALL: [Self; 6] = [
        Self::Valid,
        Self::Malformed,
        Self::NotFound,
        Self::Expired,
        Self::UserDisabled,
        Self::PermissionDenied,
    ];

    /// The result a verdict is answered with: matched on the verdict
    /// itself, so a new verdict cannot go uncounted unnoticed.
    fn of(verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Valid(_) => Self::Valid,
            Verdict::Malformed(_) => Self::Malformed,
            Verdict::NotFound => Self::NotFound,
            Verdict::Expired(_) => Self::Expired,
            Verdict::UserDisabled(_) => Self::UserDisabled,
            Verdict::PermissionDenied { .. } => Self::PermissionDenied,
        }
    }

    /// Its `result` label: the wire's VerifyResult name, in lower case.
    fn label(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Malformed => "malformed",
            Self::NotFound => "not_found",
            Self::Expired => "expired",
            Self::UserDisabled => "user_disabled",
            Self::PermissionDenied => "permission_denied",
        }
    }
}

/// Which method a gRPC path is: an index into [`METHODS`], or
/// `METHODS.len()` for any other path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Method(usize);

impl Method {
    pub(crate) fn of(path: &str) -> Self {
        Self(
            METHODS
                .iter()
                .position(|(known, _)| *known == path)
                .unwrap_or(METHODS.len()),
        )
    }

    /// Whether the path was one of the served methods.
    pub(crate) fn is_known(self) -> bool {
        self.0 < METHODS.len()
    }

    fn label(self) -> &'static str {
        METHODS.get(self.0).map_or(OTHER_METHOD, |(_, label)| label)
    }
}

/// The name of a gRPC status code, as in the gRPC specification.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method_name(path: &str) -> &'static str {
        Method::of(path).label()
    }

    #[test]
    fn verify_results_are_listed_in_discriminant_order() {
        for (index, result) in VerifyResult::ALL.into_iter().enumerate() {
            assert_eq!(result as usize, index, "{result:?}");
        }
    }

    #[test]
    fn method_labels_come_from_a_closed_set() {
        assert_eq!(
            method_name("/accesskey.v1.UserAdmin/CreateUser"),
            "UserAdmin/CreateUser"
        );
        assert_eq!(
            method_name("/accesskey.v1.KeyAuth/VerifyAccessKey"),
            "KeyAuth/VerifyAccessKey"
        );
        assert_eq!(method_name("/grpc.health.v1.Health/Check"), "Health/Check");
        for foreign in [
            "/accesskey.v1.UserAdmin/DropTables",
            "/akey_secret/123",
            "",
            "/",
            "no-slash",
        ] {
            assert_eq!(method_name(foreign), "other", "{foreign}");
        }
    }
}
