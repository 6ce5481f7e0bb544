//! Health that tells the truth about the database: a background probe
//! with a short timeout of its own (so health itself never hangs) marks
//! the accesskey services NOT_SERVING while the database does not answer,
//! and SERVING again once it does; the outage is logged once when it
//! starts and once when it ends, not once per failed call.

use std::time::{Duration, Instant};

use tonic_health::{ServingStatus, server::HealthReporter};
use tracing::warn;

use crate::{
    domain::Directory,
    error_chain::ErrorChain,
    service::{KeyAuthService, UserAdminService},
};
use accesskey_proto::pb::{key_auth_server::KeyAuthServer, user_admin_server::UserAdminServer};

/// How often the database is probed.
pub(crate) const PROBE_PERIOD: Duration = Duration::from_secs(1);
/// How long one probe may take before the database counts as silent.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Probes the database every [`PROBE_PERIOD`] until `stop` is cancelled,
/// reporting the outcome through `health`. `database` names it in the
/// log (its URL without credentials).
pub(crate) async fn watch(
    directory: Directory,
    health: HealthReporter,
    database: String,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut down_since: Option<Instant> = None;
    let mut ticks = tokio::time::interval(PROBE_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        // Bounded by the probe itself, which drops a connection it gave
        // up on instead of leaving it with an answer on the way.
        let failure = directory
            .probe_database(PROBE_TIMEOUT)
            .await
            .err()
            .map(|error| ErrorChain(&error).to_string());
        match (failure, down_since) {
            (Some(error), None) => {
                warn!(
                    event = "database_down",
                    %database,
                    %error,
                    "the database does not answer: the accesskey services report NOT_SERVING, \
                     and calls that need it answer UNAVAILABLE until it does"
                );
                set(&health, ServingStatus::NotServing).await;
                down_since = Some(Instant::now());
            }
            (None, Some(since)) => {
                warn!(
                    event = "database_up",
                    %database,
                    down_for_ms = since.elapsed().as_millis(),
                    "the database answers again: the accesskey services report SERVING"
                );
                set(&health, ServingStatus::Serving).await;
                down_since = None;
            }
            _ => {}
        }
    }
}

/// Sets the accesskey services' status, and the whole server's (`""`).
pub(crate) async fn set(health: &HealthReporter, status: ServingStatus) {
    health
        .set_service_status(
            <UserAdminServer<UserAdminService> as tonic::server::NamedService>::NAME,
            status,
        )
        .await;
    health
        .set_service_status(
            <KeyAuthServer<KeyAuthService> as tonic::server::NamedService>::NAME,
            status,
        )
        .await;
    health.set_service_status("", status).await;
}
