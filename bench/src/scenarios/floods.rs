//! The flood scenarios: warm verification while attackers present wrong
//! secrets, either for costly keys whose every wrong secret costs argon2
//! (flooded-warm-verify) or at a fixed rate for the keys in use, with keys
//! never used before presented meanwhile (wrong-secret-flood).

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use accesskey_client::{
    Client,
    pb::{VerifyResult, key_auth_client::KeyAuthClient},
};
use accesskey_server::testing::key_format::AccessKey;

use super::{Bench, POOL_SIZE, connect, cpu_since};
use crate::{
    BoxError,
    load::{self, Rng},
    ops,
    options::Scenario,
    seed::APP_PERMISSION,
};

/// Keys never used before that wrong-secret-flood presents, one at a time,
/// spread over the flood.
const FIRST_USE_PROBES: usize = 20;
/// How long wrong-secret-flood's attackers wait for an answer.
const ATTACKER_PATIENCE: Duration = Duration::from_millis(5);

impl Bench<'_> {
    /// warm-verify while attackers, on connections of their own, present
    /// wrong secrets for key ids that exist and whose stored hash has
    /// production cost, so that each attempt costs the server a real
    /// argon2 verification (or a refusal, if it sheds load).
    pub(super) async fn flooded(&mut self) -> Result<(), BoxError> {
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
    pub(super) async fn wrong_secret_flood(&mut self) -> Result<(), BoxError> {
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
}
