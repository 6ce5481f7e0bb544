//! argon2id's cost parameters: the floor and cap this server hashes
//! within, and the cap a stored hash must stay under to be verified.

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's recommended minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// Stored hashes asking for more than this are refused unverified, so a
    /// tampered row cannot make one verification allocate gigabytes.
    const MAX: Self = Self {
        memory_kib: 1 << 20,
        iterations: 64,
        parallelism: 16,
    };

    /// Checks the parameters are at least OWASP's floor and at most the cap.
    pub fn validate(self) -> Result<Self, HashParamsError> {
        if self.memory_kib < Self::OWASP.memory_kib
            || self.iterations < Self::OWASP.iterations
            || self.parallelism < Self::OWASP.parallelism
        {
            return Err(HashParamsError::BelowFloor {
                given: self,
                floor: Self::OWASP,
            });
        }
        if !self.within_max() {
            return Err(HashParamsError::AboveMaximum {
                given: self,
                maximum: Self::MAX,
            });
        }
        Ok(self)
    }

    pub(super) fn within_max(self) -> bool {
        self.memory_kib <= Self::MAX.memory_kib
            && self.iterations <= Self::MAX.iterations
            && self.parallelism <= Self::MAX.parallelism
    }
}

impl std::fmt::Display for HashParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "m={},t={},p={}",
            self.memory_kib, self.iterations, self.parallelism
        )
    }
}

/// Argon2 parameters this server will not hash with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashParamsError {
    #[error("argon2 parameters {given} are below the OWASP floor {floor}")]
    BelowFloor {
        given: HashParams,
        floor: HashParams,
    },
    #[error("argon2 parameters {given} exceed the maximum {maximum}")]
    AboveMaximum {
        given: HashParams,
        maximum: HashParams,
    },
}
