//! The scenarios, run one after another against a started server over the
//! same connections: [`Bench`] holds what they share and records each
//! result. Each family lives in a file of its own: the read-only calls in
//! `reads`, the writes in `writes`, the wrong-secret floods in `floods`,
//! and the steps that prepare them (warm-up, cold users) in `preparation`.

mod floods;
mod preparation;
mod reads;
mod writes;

use std::time::{Duration, Instant};

use accesskey_client::{Client, RetryPolicy};
use tonic::{
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};

use crate::{
    BoxError,
    database::Database,
    load::Measured,
    ops,
    options::{Options, Scenario},
    report::{Report, ScenarioResult},
    seed::Seeded,
    server::ServerProcess,
};
use preparation::ColdUsers;

/// A request the server has not answered by then is an error, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Malformed, unknown-id and wrong-secret keys are drawn from pools made
/// before the scenario starts, so the load generator spends its CPU on
/// requests.
const POOL_SIZE: usize = 10_000;

/// One benchmark run against a started server.
pub(crate) struct Bench<'a> {
    options: &'a Options,
    database: &'a Database,
    seeded: &'a Seeded,
    server: &'a ServerProcess,
    endpoint: Endpoint,
    channels: Vec<Channel>,
    caller: AsciiMetadataValue,
    cold: Option<ColdUsers>,
    /// Whether something was written since the seeded keys were last warmed.
    stale: bool,
    pub(crate) report: Report,
}

impl<'a> Bench<'a> {
    pub(crate) async fn connect(
        options: &'a Options,
        database: &'a Database,
        seeded: &'a Seeded,
        server: &'a ServerProcess,
    ) -> Result<Self, BoxError> {
        let endpoint = Endpoint::from_shared(format!("http://{}", server.address))?
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT);
        let channels = connect(&endpoint, options.connections).await?;
        Ok(Self {
            options,
            database,
            seeded,
            server,
            endpoint,
            channels,
            caller: ops::caller_metadata(&seeded.caller_key)?,
            cold: None,
            stale: false,
            report: Report::default(),
        })
    }

    /// Runs every selected scenario in order, preparing what each needs
    /// (warm keys, cold users) first.
    pub(crate) async fn run_all(&mut self) -> Result<(), BoxError> {
        // One request before any concurrency: the first check of a key runs
        // argon2, and concurrent first checks of the same key id are throttled
        // by the server like failed attempts until one of them succeeds.
        Client::from_channel(self.channel(0), &self.seeded.caller_key)?
            .who_am_i()
            .await?;
        let selected = self.options.selected();
        if selected.iter().any(|s| s.needs_warm_keys()) {
            self.warm_up("warm-up").await?;
            self.wait_for_first_uses().await?;
        }
        for scenario in selected {
            if scenario.needs_cold_users() && self.cold.is_none() {
                self.create_cold_users().await?;
            }
            // On SQLite the server answers warm keys from a snapshot that
            // any write makes stale; PostgreSQL and MySQL re-read the key's
            // state on every verification anyway.
            if scenario.needs_warm_keys() && self.stale && self.database.backend == "sqlite" {
                self.warm_up("re-warm after writes").await?;
            }
            self.run(scenario).await?;
        }
        Ok(())
    }

    async fn run(&mut self, scenario: Scenario) -> Result<(), BoxError> {
        eprintln!("{scenario}: running…");
        let cpu_before = self.server.cpu_time();
        let measured = match scenario {
            Scenario::Health => self.health().await?,
            Scenario::WarmVerify => self.warm_verify().await?,
            Scenario::WarmVerifyRoles => self.warm_verify_roles().await?,
            Scenario::Malformed => self.malformed().await?,
            Scenario::UnknownId => self.unknown_id().await?,
            Scenario::ColdVerify => self.cold_verify().await?,
            Scenario::Generate => self.generate().await?,
            Scenario::CreateUser => self.create_user().await?,
            Scenario::FloodedWarmVerify => return self.flooded().await,
            Scenario::WrongSecretFlood => return self.wrong_secret_flood().await,
        };
        let cpu = cpu_since(cpu_before, self.server.cpu_time());
        self.record(scenario.name(), measured, cpu, true);
        Ok(())
    }

    fn channel(&self, index: u64) -> Channel {
        let count = self.channels.len() as u64;
        self.channels[(index % count) as usize].clone()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.options.duration)
    }

    fn loops(&self) -> u64 {
        self.options.concurrency
    }

    fn record(
        &mut self,
        name: &'static str,
        measured: Measured,
        server_cpu: Option<Duration>,
        server_to_itself: bool,
    ) {
        let rss_kib = self.server.rss_kib();
        eprintln!(
            "{name}: {} requests in {:.2} s ({:.1}/s), {} errors; server RSS {}",
            measured.requests(),
            measured.elapsed.as_secs_f64(),
            measured.per_second(),
            measured.errors,
            rss_kib.map_or_else(
                || "unknown".to_owned(),
                |kib| format!("{:.1} MiB", kib as f64 / 1024.0)
            )
        );
        self.report.results.push(ScenarioResult {
            name,
            measured,
            rss_kib,
            server_cpu,
            server_to_itself,
        });
    }
}

fn cpu_since(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    after?.checked_sub(before?)
}

/// `count` separate HTTP/2 connections: `Endpoint::connect` opens a new one
/// each time, and each `Channel` multiplexes its loops' requests over it.
async fn connect(endpoint: &Endpoint, count: u64) -> Result<Vec<Channel>, BoxError> {
    let mut channels = Vec::new();
    for _ in 0..count {
        channels.push(endpoint.connect().await?);
    }
    Ok(channels)
}

/// Setup must succeed however loaded the server is: calls the server shed
/// with RESOURCE_EXHAUSTED (all argon2 workers busy) are sent again, up to
/// 100 times.
fn setup_retry() -> RetryPolicy {
    RetryPolicy::default()
        .attempts(100)
        .first_backoff(Duration::from_millis(10))
        .max_wait(Duration::from_millis(200))
}
