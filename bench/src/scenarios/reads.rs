//! The read-only scenarios: health checks, and VerifyAccessKey for warm
//! keys, malformed keys, unknown key ids and cold (never verified) keys.

use std::{
    sync::{Arc, atomic::AtomicUsize},
    time::{Duration, Instant},
};

use accesskey_client::pb::{VerifyResult, key_auth_client::KeyAuthClient};
use accesskey_server::testing::key_format::AccessKey;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

use super::{Bench, POOL_SIZE};
use crate::{
    BoxError,
    load::{self, Measured, Rng},
    ops::{self, Pick, Verify},
    seed::APP_PERMISSION,
};

/// Bounds the passes that go through a fixed set of keys once (warm-up,
/// cold-verify), so that a stuck server cannot keep the benchmark running.
const PASS_LIMIT: Duration = Duration::from_secs(3600);

impl Bench<'_> {
    /// health: the standard health check, which touches no database.
    pub(super) async fn health(&self) -> Result<Measured, BoxError> {
        let ops = (0..self.loops())
            .map(|i| ops::Health {
                stub: HealthClient::new(self.channel(i)),
            })
            .collect();
        load::drive(ops, self.deadline()).await
    }

    /// warm-verify: seeded keys, each already verified once, at random.
    pub(super) async fn warm_verify(&self) -> Result<Measured, BoxError> {
        let ops = self.random_verifies(
            &self.seeded.keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::Valid,
        );
        load::drive(ops, self.deadline()).await
    }

    /// warm-verify-roles: as warm-verify, for the seeded users holding
    /// three roles each: the permission asked for comes from a role.
    pub(super) async fn warm_verify_roles(&self) -> Result<Measured, BoxError> {
        let ops = self.random_verifies(
            &self.seeded.role_keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::Valid,
        );
        load::drive(ops, self.deadline()).await
    }

    /// malformed: keys that fail the format checks before any lookup.
    pub(super) async fn malformed(&self) -> Result<Measured, BoxError> {
        let keys = malformed_keys()?;
        let ops = self.random_verifies(
            &keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::Malformed,
        );
        load::drive(ops, self.deadline()).await
    }

    /// unknown-id: well-formed keys whose key id does not exist.
    pub(super) async fn unknown_id(&self) -> Result<Measured, BoxError> {
        let keys = (0..POOL_SIZE)
            .map(|_| Ok(AccessKey::generate()?.expose_plaintext()))
            .collect::<Result<Arc<[String]>, BoxError>>()?;
        let ops = self.random_verifies(
            &keys,
            &self.channels,
            (0, self.loops()),
            VerifyResult::NotFound,
        );
        load::drive(ops, self.deadline()).await
    }

    /// cold-verify: each key made through the RPCs verified once, so each
    /// costs a production argon2 verification.
    pub(super) async fn cold_verify(&self) -> Result<Measured, BoxError> {
        self.verify_each_once(&self.cold()?.keys, false).await
    }

    /// `loops` loops verifying `keys` picked at random, expecting `expect`;
    /// loop i uses `channels[i % len]` and random stream `first_stream + i`.
    pub(super) fn random_verifies(
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
    pub(super) async fn verify_each_once(
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
