//! accesskey-bench: seeds a fresh database, runs the real accesskeyd as a
//! child process and measures it over gRPC. BENCHMARKS.md says how to run
//! it and what each scenario measures.

mod load;
mod ops;
mod options;
mod report;
mod seed;
mod server;

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use accesskey_client::{
    Client, NewUser, RetryPolicy,
    pb::{VerifyResult, key_auth_client::KeyAuthClient, user_admin_client::UserAdminClient},
};
use accesskey_server::testing::key_format::AccessKey;
use clap::Parser as _;
use tokio::task::JoinSet;
use tonic::{
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::health_client::HealthClient;

use load::{Measured, Rng};
use ops::{Pick, Verify};
use options::{Options, Scenario};
use report::{Report, ScenarioResult};
use seed::{APP_PERMISSION, Database, Seeded};
use server::ServerProcess;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request the server has not answered by then is an error, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bounds the passes that go through a fixed set of keys once (warm-up,
/// cold-verify), so that a stuck server cannot keep the benchmark running.
const PASS_LIMIT: Duration = Duration::from_secs(3600);
/// How long to wait for the warm-up's first uses to be written: the
/// default flush period is 60 s, and a million rows take about 10 s more.
const FIRST_USES_LIMIT: Duration = Duration::from_secs(300);
/// Malformed and unknown-id keys are drawn from pools made before the
/// scenario starts, so the load generator spends its CPU on requests.
const POOL_SIZE: usize = 10_000;
/// Keys never used before that wrong-secret-flood presents, one at a time,
/// spread over the flood.
const FIRST_USE_PROBES: usize = 20;
/// How long wrong-secret-flood's attackers wait for an answer.
const ATTACKER_PATIENCE: Duration = Duration::from_millis(5);

fn main() -> ExitCode {
    // The benchmark starts the server by running itself again in this role.
    if std::env::var_os(server::ROLE_VARIABLE).is_some() {
        return accesskey_server::cli::main();
    }
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("accesskey-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("accesskey-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), BoxError> {
    let database = Database::prepare(options.database_url.as_deref())?;
    eprintln!(
        "seeding {} users, the caller and {} flood targets into a fresh {} database…",
        options.users, options.flood_targets, database.backend
    );
    let peppered = options
        .server_args
        .iter()
        .any(|arg| arg.starts_with("--pepper-file"));
    let seeded = seed::seed(
        &database.url,
        options.users,
        options.flood_targets,
        peppered,
    )
    .await?;
    eprintln!("seeded in {:.2} s", seeded.elapsed.as_secs_f64());

    let mut server =
        tokio::task::block_in_place(|| ServerProcess::start(&database.url, &options.server_args))?;
    eprintln!(
        "accesskeyd (pid {}) listening on {}",
        server.pid(),
        server.address
    );
    let measured = async {
        let mut bench = Bench::connect(&options, &database, &seeded, &server).await?;
        bench.run_all().await?;
        Ok::<_, BoxError>(bench.report)
    }
    .await;
    let peak_rss_kib = server.peak_rss_kib();
    let stopped = tokio::task::block_in_place(|| server.stop());
    if measured.is_err() {
        eprintln!("accesskeyd's last log lines:");
        for line in server.log.recent() {
            eprintln!("  {line}");
        }
    }
    let mut report = measured?;
    report
        .preparation
        .insert(0, ("seeding".to_owned(), seeded.elapsed));
    report.peak_rss_kib = peak_rss_kib;
    report.server_warnings = server.log.warnings.load(Ordering::Relaxed);
    report.last_server_warnings = server.log.recent_warnings();
    report.settings = settings(&options, &database);

    println!("{}", report.to_text());
    if let Some(path) = &options.json {
        std::fs::write(path, report.to_json())?;
        eprintln!("wrote {}", path.display());
    }
    stopped
}

fn settings(options: &Options, database: &Database) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("N", options.users.to_string()),
        ("C", options.concurrency.to_string()),
        ("M", options.connections.to_string()),
        ("D", format!("{}s", options.duration)),
        ("K", options.cold_keys.to_string()),
        ("attackers", options.attackers.to_string()),
        ("flood_targets", options.flood_targets.to_string()),
        ("flood_rate", options.flood_rate.to_string()),
        ("backend", database.backend.to_owned()),
        (
            "cores",
            std::thread::available_parallelism()
                .map_or(0, usize::from)
                .to_string(),
        ),
        (
            "commit",
            report::git_commit().unwrap_or_else(|| "unknown".to_owned()),
        ),
    ];
    if !options.server_args.is_empty() {
        settings.push(("server_args", options.server_args.join(" ")));
    }
    settings
}

/// Users created through the real RPCs, so with production argon2 hashes.
#[derive(Debug)]
struct ColdUsers {
    ids: Arc<[i64]>,
    keys: Arc<[String]>,
}

/// One benchmark run against a started server.
struct Bench<'a> {
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
    report: Report,
}

impl<'a> Bench<'a> {
    async fn connect(
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

    async fn run_all(&mut self) -> Result<(), BoxError> {
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

    /// `loops` loops verifying `keys` picked at random, expecting `expect`;
    /// loop i uses `channels[i % len]` and random stream `first_stream + i`.
    fn random_verifies(
        &self,
        keys: &Arc<[String]>,
        channels: &[Channel],
        (first_stream, loops): (u64, u64),
        expect: VerifyResult,
    ) -> Vec<Verify> {
        (0..loops)
            .map(|i| Verify {
                stub: KeyAuthClient::new(channels[(i % channels.len() as u64) as usize].clone()),
                caller: self.caller.clone(),
                keys: Arc::clone(keys),
                pick: Pick::Random(Rng::for_stream(first_stream + i)),
                required: vec![APP_PERMISSION.to_owned()],
                expect,
                retry_when_busy: false,
            })
            .collect()
    }

    /// Verifies every key of `keys` exactly once, from C loops; with
    /// `retry_when_busy`, requests the server sheds are sent again.
    async fn verify_each_once(
        &self,
        keys: &Arc<[String]>,
        retry_when_busy: bool,
    ) -> Result<Measured, BoxError> {
        let next = Arc::new(AtomicUsize::new(0));
        let ops = (0..self.loops())
            .map(|i| Verify {
                stub: KeyAuthClient::new(self.channel(i)),
                caller: self.caller.clone(),
                keys: Arc::clone(keys),
                pick: Pick::Once(Arc::clone(&next)),
                required: vec![APP_PERMISSION.to_owned()],
                expect: VerifyResult::Valid,
                retry_when_busy,
            })
            .collect();
        load::drive(ops, Instant::now() + PASS_LIMIT).await
    }

    /// Verifies every seeded key once, so that the warm scenarios find all
    /// of them already checked (no argon2, and on SQLite no database read).
    async fn warm_up(&mut self, step: &str) -> Result<(), BoxError> {
        eprintln!(
            "{step}: verifying all {} seeded keys once…",
            self.seeded.keys.len()
        );
        let measured = self.verify_each_once(&self.seeded.keys, true).await?;
        eprintln!(
            "{step}: {:.2} s ({:.0} keys/s), {} errors",
            measured.elapsed.as_secs_f64(),
            measured.per_second(),
            measured.errors
        );
        if measured.errors > 0 {
            return Err(format!(
                "{step}: {} of {} seeded keys did not verify as VALID ({:?})",
                measured.errors,
                measured.requests(),
                measured.outcomes
            )
            .into());
        }
        self.report
            .preparation
            .push((step.to_owned(), measured.elapsed));
        self.stale = false;
        Ok(())
    }

    /// Waits for the server's periodic flush to write the warm-up's first
    /// uses (one row write per key, N of them), so that the timed scenarios
    /// measure the steady state: a key in constant use is written again
    /// only once per `--last-used-precision-secs`.
    async fn wait_for_first_uses(&mut self) -> Result<(), BoxError> {
        eprintln!("waiting for the server to write the warm-up's first key uses…");
        let started = Instant::now();
        let unused = u64::try_from(self.seeded.flood_targets.len())?;
        let recorded =
            seed::wait_until_uses_recorded(&self.database.url, unused, FIRST_USES_LIMIT).await?;
        if !recorded {
            eprintln!(
                "warning: after {} s the first uses are still not all written; \
                 their flush may overlap the timed scenarios",
                FIRST_USES_LIMIT.as_secs()
            );
        }
        self.report
            .preparation
            .push(("first uses written".to_owned(), started.elapsed()));
        Ok(())
    }

    /// Creates K users and their keys through the RPCs, C at a time.
    async fn create_cold_users(&mut self) -> Result<(), BoxError> {
        let count = usize::try_from(self.options.cold_keys)?;
        eprintln!("creating {count} users and keys through CreateUser and GenerateAccessKey…");
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for i in 0..self.loops().min(self.options.cold_keys) {
            let client = Client::from_channel(self.channel(i), &self.seeded.caller_key)?
                .with_retry(Some(setup_retry()));
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                let mut made = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return Ok::<_, accesskey_client::Error>(made);
                    }
                    let user = client
                        .create_user(
                            NewUser::new(format!("bench-cold-{index}"))
                                .permissions([APP_PERMISSION]),
                        )
                        .await?;
                    let key = client.generate_access_key(user.id, None).await?;
                    made.push((user.id, key.into_key()));
                }
            });
        }
        let mut ids = Vec::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        while let Some(finished) = tasks.join_next().await {
            for (id, key) in finished?? {
                ids.push(id);
                keys.push(key);
            }
        }
        let took = started.elapsed();
        eprintln!(
            "created {count} users and keys in {:.2} s",
            took.as_secs_f64()
        );
        self.report
            .preparation
            .push(("cold users and keys".to_owned(), took));
        self.cold = Some(ColdUsers {
            ids: ids.into(),
            keys: keys.into(),
        });
        self.stale = true;
        Ok(())
    }

    fn cold(&self) -> Result<&ColdUsers, BoxError> {
        self.cold
            .as_ref()
            .ok_or_else(|| "the cold users were not created".into())
    }

    async fn run(&mut self, scenario: Scenario) -> Result<(), BoxError> {
        eprintln!("{scenario}: running…");
        let cpu_before = self.server.cpu_time();
        let measured = match scenario {
            Scenario::Health => {
                let ops = (0..self.loops())
                    .map(|i| ops::Health {
                        stub: HealthClient::new(self.channel(i)),
                    })
                    .collect();
                load::drive(ops, self.deadline()).await?
            }
            Scenario::WarmVerify => {
                let ops = self.random_verifies(
                    &self.seeded.keys,
                    &self.channels,
                    (0, self.loops()),
                    VerifyResult::Valid,
                );
                load::drive(ops, self.deadline()).await?
            }
            Scenario::Malformed => {
                let keys = malformed_keys()?;
                let ops = self.random_verifies(
                    &keys,
                    &self.channels,
                    (0, self.loops()),
                    VerifyResult::Malformed,
                );
                load::drive(ops, self.deadline()).await?
            }
            Scenario::UnknownId => {
                let keys = (0..POOL_SIZE)
                    .map(|_| Ok(AccessKey::generate()?.expose_plaintext()))
                    .collect::<Result<Arc<[String]>, BoxError>>()?;
                let ops = self.random_verifies(
                    &keys,
                    &self.channels,
                    (0, self.loops()),
                    VerifyResult::NotFound,
                );
                load::drive(ops, self.deadline()).await?
            }
            Scenario::ColdVerify => self.verify_each_once(&self.cold()?.keys, false).await?,
            Scenario::Generate => {
                let ops = (0..self.loops())
                    .map(|i| {
                        Ok(ops::Generate {
                            stub: UserAdminClient::new(self.channel(i)),
                            caller: self.caller.clone(),
                            user_ids: Arc::clone(&self.cold()?.ids),
                            rng: Rng::for_stream(i),
                        })
                    })
                    .collect::<Result<_, BoxError>>()?;
                let measured = load::drive(ops, self.deadline()).await?;
                self.stale = true;
                measured
            }
            Scenario::CreateUser => {
                let ops = (0..self.loops())
                    .map(|i| ops::CreateUser {
                        stub: UserAdminClient::new(self.channel(i)),
                        caller: self.caller.clone(),
                        stream: i,
                        created: 0,
                    })
                    .collect();
                let measured = load::drive(ops, self.deadline()).await?;
                self.stale = true;
                measured
            }
            Scenario::FloodedWarmVerify => return self.flooded().await,
            Scenario::WrongSecretFlood => return self.wrong_secret_flood().await,
        };
        let cpu = cpu_since(cpu_before, self.server.cpu_time());
        self.record(scenario.name(), measured, cpu, true);
        Ok(())
    }

    /// warm-verify while attackers, on connections of their own, present
    /// wrong secrets for key ids that exist and whose stored hash has
    /// production cost, so that each attempt costs the server a real
    /// argon2 verification (or a refusal, if it sheds load).
    async fn flooded(&mut self) -> Result<(), BoxError> {
        let wrong = self
            .seeded
            .flood_targets
            .iter()
            .map(|target| {
                let stranger = AccessKey::generate()?;
                Ok(AccessKey::parse(target)?
                    .with_secret_of(&stranger)
                    .expose_plaintext())
            })
            .collect::<Result<Arc<[String]>, BoxError>>()?;
        let attacker_channels = connect(&self.endpoint, self.options.connections).await?;
        let verifiers = self.random_verifies(
            &self.seeded.keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::Valid,
        );
        let attackers = self.random_verifies(
            &wrong,
            &attacker_channels,
            (1 << 32, self.options.attackers),
            VerifyResult::NotFound,
        );
        let deadline = self.deadline();
        let cpu_before = self.server.cpu_time();
        let (verified, attacked) = tokio::join!(
            load::drive(verifiers, deadline),
            load::drive(attackers, deadline)
        );
        let cpu = cpu_since(cpu_before, self.server.cpu_time());
        self.record(Scenario::FloodedWarmVerify.name(), verified?, cpu, false);
        self.record("flood-attackers", attacked?, cpu, false);
        Ok(())
    }

    /// warm-verify while attackers send `--flood-rate` wrong secrets a
    /// second for the key ids in use, each giving up after 5 ms; meanwhile
    /// keys never used before are presented once each, spread over the
    /// run. Counts the server's argon2 verifications: the first uses need
    /// one each, the attackers should cause none.
    async fn wrong_secret_flood(&mut self) -> Result<(), BoxError> {
        let fresh = self.fresh_keys(FIRST_USE_PROBES).await?;
        if self.database.backend == "sqlite" {
            self.warm_up("re-warm after writes").await?;
        }
        let mut rng = Rng::for_stream(7 << 32);
        let wrong = (0..POOL_SIZE)
            .map(|_| {
                let target = &self.seeded.keys[rng.below(self.seeded.keys.len())];
                Ok(AccessKey::parse(target)?
                    .with_secret_of(&AccessKey::generate()?)
                    .expose_plaintext())
            })
            .collect::<Result<Arc<[String]>, BoxError>>()?;
        let attacker_channels = connect(&self.endpoint, self.options.connections).await?;
        let attackers = self.options.attackers;
        let period = Duration::from_secs_f64(attackers as f64 / self.options.flood_rate as f64);
        let start = tokio::time::Instant::now();
        let attack = (0..attackers)
            .map(|i| ops::WrongSecret {
                stub: KeyAuthClient::new(
                    attacker_channels[(i % attacker_channels.len() as u64) as usize].clone(),
                ),
                caller: self.caller.clone(),
                keys: Arc::clone(&wrong),
                rng: Rng::for_stream((1 << 33) + i),
                period,
                patience: ATTACKER_PATIENCE,
                next: start + period.mul_f64(i as f64 / attackers as f64),
            })
            .collect();
        let verifiers = self.random_verifies(
            &self.seeded.keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::Valid,
        );
        let probe = Client::from_channel(self.channel(0), &self.seeded.caller_key)?;
        let spacing = Duration::from_secs(self.options.duration) / (fresh.len() as u32 + 1);
        let first_uses = async move {
            let (mut valid, mut slowest) = (0, Duration::ZERO);
            for key in &fresh {
                tokio::time::sleep(spacing).await;
                let sent = Instant::now();
                if probe
                    .verify(key, [APP_PERMISSION])
                    .await
                    .is_ok_and(|verdict| verdict.is_valid())
                {
                    valid += 1;
                }
                slowest = slowest.max(sent.elapsed());
            }
            (valid, fresh.len(), slowest)
        };
        let argon2 = &self.server.log.argon2_verifications;
        let argon2_before = argon2.load(Ordering::Relaxed);
        let deadline = self.deadline();
        let cpu_before = self.server.cpu_time();
        let (verified, attacked, (valid, probes, slowest)) = tokio::join!(
            load::drive(verifiers, deadline),
            load::drive(attack, deadline),
            first_uses
        );
        let cpu = cpu_since(cpu_before, self.server.cpu_time());
        // The last log lines reach the counter a moment after their calls.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ran = argon2.load(Ordering::Relaxed) - argon2_before;
        let attacked = attacked?;
        let name = Scenario::WrongSecretFlood.name();
        self.report.findings.push(format!(
            "{name}: {ran} argon2 verifications during the flood, for {probes} first uses and {} wrong secrets",
            attacked.requests()
        ));
        self.report.findings.push(format!(
            "{name}: {valid} of {probes} keys never used before were VALID on their first try (slowest {} ms)",
            slowest.as_millis()
        ));
        self.record(name, verified?, cpu, false);
        self.record("wrong-secret-attackers", attacked, cpu, false);
        if let Some(ratio) = self.report.ratio("wrong-secret-flood", "warm-verify") {
            self.report.findings.push(format!(
                "{name}: warm verification ran at {ratio:.3} × the unflooded warm-verify rate"
            ));
        }
        Ok(())
    }

    /// `count` users with keys made through the RPCs and never used.
    async fn fresh_keys(&mut self, count: usize) -> Result<Vec<String>, BoxError> {
        let client = Client::from_channel(self.channel(0), &self.seeded.caller_key)?
            .with_retry(Some(setup_retry()));
        let mut keys = Vec::with_capacity(count);
        for index in 0..count {
            let user = client
                .create_user(
                    NewUser::new(format!("bench-first-use-{index}")).permissions([APP_PERMISSION]),
                )
                .await?;
            let key = client.generate_access_key(user.id, None).await?;
            keys.push(key.into_key());
        }
        self.stale = true;
        Ok(keys)
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

/// Half random printable garbage of random length, which fails the length
/// or shape check at once; half real-looking keys with one checksum
/// character changed, which pass those checks and fail only on the CRC:
/// the most work a malformed key can cost the server.
fn malformed_keys() -> Result<Arc<[String]>, BoxError> {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = Rng::for_stream(u64::MAX);
    (0..POOL_SIZE)
        .map(|i| {
            if i % 2 == 0 {
                let len = 1 + rng.below(120);
                Ok((0..len)
                    .map(|_| char::from(b' ' + rng.below(95) as u8))
                    .collect())
            } else {
                let mut key = AccessKey::generate()?.expose_plaintext().into_bytes();
                let last = key.len() - 1;
                let offset = 1 + rng.below(BASE62.len() - 1);
                let current = BASE62
                    .iter()
                    .position(|&c| c == key[last])
                    .ok_or("a checksum character outside base62")?;
                key[last] = BASE62[(current + offset) % BASE62.len()];
                Ok(String::from_utf8(key)?)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_malformed_key_is_malformed() {
        let keys = malformed_keys().expect("the OS CSPRNG is available in tests");
        assert_eq!(keys.len(), POOL_SIZE);
        assert!(keys.iter().all(|key| AccessKey::parse(key).is_err()));
        let key_shaped = keys.iter().filter(|key| key.starts_with("akey_")).count();
        assert!(key_shaped >= POOL_SIZE / 2, "{key_shaped}");
    }
}
