//! Positive answers kept for a short, bounded time, keyed so that no
//! plaintext key is held.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use blake2::{Blake2bMac, digest::Mac as _};

use crate::pb;

/// Most cached answers kept at once.
const MAX_CACHED: usize = 10_000;

pub(super) type CacheKey = [u8; 32];

/// Valid answers, keyed by a keyed BLAKE2b hash of (key, required
/// permissions) so that no plaintext key is held as a map key.
pub(super) struct AnswerCache {
    ttl: Duration,
    hasher: Blake2bMac<blake2::digest::consts::U32>,
    /// Each answer with the moment it stops being served.
    entries: Mutex<HashMap<CacheKey, (Instant, pb::Principal)>>,
}

impl AnswerCache {
    pub(super) fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        // Without OS randomness the hash is still collision resistant, just
        // not secret; the cache only ever holds positive answers.
        let _ = getrandom::fill(&mut secret);
        #[expect(
            clippy::expect_used,
            reason = "the key is 32 bytes, and BLAKE2b takes keys of up to 64"
        )]
        let hasher =
            <Blake2bMac<blake2::digest::consts::U32> as blake2::digest::KeyInit>::new_from_slice(
                &secret,
            )
            .expect("32 bytes is a valid BLAKE2b key length");
        Self {
            ttl,
            hasher,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long an answer is served at most.
    pub(super) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(super) fn empty_like(other: &Self) -> Self {
        Self::new(other.ttl)
    }

    pub(super) fn key(&self, presented: &str, required: &[String]) -> CacheKey {
        let mut mac = self.hasher.clone();
        mac.update(presented.as_bytes());
        for permission in required {
            mac.update(b"\0");
            mac.update(permission.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    pub(super) fn get(&self, key: &CacheKey) -> Option<pb::Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(valid_until, _)| Instant::now() < *valid_until)
            .map(|(_, principal)| principal.clone())
    }

    /// Keeps a valid answer for the TTL, or until the key expires if that
    /// comes first: a cached answer never outlives the key.
    pub(super) fn put(&self, key: CacheKey, principal: pb::Principal) {
        let now = Instant::now();
        let mut lifetime = self.ttl;
        if let Some(expire_time) = principal.expire_time {
            let left = SystemTime::try_from(expire_time)
                .ok()
                .and_then(|expiry| expiry.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO);
            lifetime = lifetime.min(left);
        }
        if lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, (valid_until, _)| now < *valid_until);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(key, (now + lifetime, principal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_answer_never_outlives_the_key() {
        let cache = AnswerCache::new(Duration::from_secs(3600));
        let expiring = |after: Duration| pb::Principal {
            username: "svc".to_owned(),
            expire_time: Some((SystemTime::now() + after).into()),
            ..pb::Principal::default()
        };
        let soon = cache.key("akey_soon", &[]);
        cache.put(soon, expiring(Duration::from_millis(50)));
        assert!(cache.get(&soon).is_some(), "cached while the key lives");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            cache.get(&soon).is_none(),
            "gone when the key expires, not after the TTL"
        );

        let later = cache.key("akey_later", &[]);
        cache.put(later, expiring(Duration::from_secs(7200)));
        assert!(cache.get(&later).is_some());
        let expired = cache.key("akey_expired", &[]);
        cache.put(expired, expiring(Duration::ZERO));
        assert!(
            cache.get(&expired).is_none(),
            "an expiring answer is not cached"
        );
    }
}
