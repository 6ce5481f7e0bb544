//! What the cache reports about itself.

/// What the cache has done, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered entirely from memory (secret and state known).
    pub current: u64,
    /// Lookups whose secret was known; the state was read.
    pub secret_only: u64,
    /// Lookups of a known key id with another secret: refused from memory.
    pub wrong_secret: u64,
    /// Lookups of a key id not in memory: read, and argon2 if it matches.
    pub unknown: u64,
    pub evictions: u64,
    pub entries: u64,
    pub capacity: u64,
}
