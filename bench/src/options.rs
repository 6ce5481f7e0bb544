//! Command-line options of `accesskey-bench` and the list of scenarios.

use std::{fmt, path::PathBuf};

use clap::{Parser, ValueEnum};

/// Load benchmark for accesskeyd.
///
/// Prepares a fresh database, seeds it with N users that each hold one access
/// key, starts the real accesskeyd as a child process, and measures it over
/// gRPC from C concurrent request loops on M HTTP/2 connections. Prints one
/// table; see BENCHMARKS.md for what each scenario means.
#[derive(Debug, Parser)]
#[command(name = "accesskey-bench", version, about, long_about)]
pub(crate) struct Options {
    /// Users to seed, each with one access key (works up to millions).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) users: u64,

    /// Concurrent request loops per scenario.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) concurrency: u64,

    /// Separate HTTP/2 connections the loops share (loop i uses connection i % M).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub(crate) connections: u64,

    /// Seconds each timed scenario runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) duration: u64,

    /// Users created through the real RPCs (production argon2 hashes) for
    /// cold-verify and generate.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) cold_keys: u64,

    /// Attacker loops in flooded-warm-verify, on connections of their own.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) attackers: u64,

    /// Wrong secrets per second, in all, that wrong-secret-flood's attackers
    /// send for the key ids in use, each giving up after 5 ms.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) flood_rate: u64,

    /// Extra seeded users, never verified genuinely, whose keys carry a
    /// production-cost hash: the key ids the flood attackers aim at.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) flood_targets: u64,

    /// Scenarios to run, comma-separated, always in the listed order
    /// [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) scenarios: Vec<Scenario>,

    /// Benchmark PostgreSQL (or MySQL) instead of a throwaway SQLite file.
    /// The URL must name an existing, EMPTY database, e.g.
    /// postgres://postgres@127.0.0.1:5432/bench_smoke: the schema is applied
    /// and the seeded users are inserted into it, and nothing is cleaned up
    /// afterwards (drop the database yourself). A database that already has
    /// users is refused.
    #[arg(long)]
    pub(crate) database_url: Option<String>,

    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,

    /// Extra accesskeyd flags, after `--` (e.g. `-- --hash-workers 1`).
    /// `--listen` and `--database-url` are set by the benchmark.
    #[arg(last = true)]
    pub(crate) server_args: Vec<String>,
}

/// One measured workload. The declaration order is the run order: reads
/// first, then the scenarios that write, then the flood, which re-warms the
/// keys that those writes made stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Scenario {
    /// grpc.health.v1.Health/Check: the yardstick.
    Health,
    /// VerifyAccessKey of seeded, already verified keys.
    WarmVerify,
    /// warm-verify for users holding three roles each and no permission of
    /// their own.
    WarmVerifyRoles,
    /// VerifyAccessKey of garbage and of keys with a broken checksum.
    Malformed,
    /// VerifyAccessKey of well-formed keys whose ids do not exist.
    UnknownId,
    /// The first VerifyAccessKey of keys issued through the RPCs (argon2).
    ColdVerify,
    /// GenerateAccessKey for the users created for cold-verify.
    Generate,
    /// CreateUser with fresh names.
    CreateUser,
    /// warm-verify while attackers send wrong secrets for existing key ids.
    FloodedWarmVerify,
    /// warm-verify while attackers send wrong secrets, with 5 ms deadlines,
    /// for the very key ids in use, and keys never used before are
    /// presented for the first time.
    WrongSecretFlood,
}

impl Scenario {
    pub(crate) const ALL: [Self; 10] = [
        Self::Health,
        Self::WarmVerify,
        Self::WarmVerifyRoles,
        Self::Malformed,
        Self::UnknownId,
        Self::ColdVerify,
        Self::Generate,
        Self::CreateUser,
        Self::FloodedWarmVerify,
        Self::WrongSecretFlood,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::WarmVerify => "warm-verify",
            Self::WarmVerifyRoles => "warm-verify-roles",
            Self::Malformed => "malformed",
            Self::UnknownId => "unknown-id",
            Self::ColdVerify => "cold-verify",
            Self::Generate => "generate",
            Self::CreateUser => "create-user",
            Self::FloodedWarmVerify => "flooded-warm-verify",
            Self::WrongSecretFlood => "wrong-secret-flood",
        }
    }

    /// Whether the scenario needs the users created through the RPCs.
    pub(crate) fn needs_cold_users(self) -> bool {
        matches!(self, Self::ColdVerify | Self::Generate)
    }

    /// Whether the scenario verifies seeded keys and so needs them warm.
    pub(crate) fn needs_warm_keys(self) -> bool {
        matches!(
            self,
            Self::WarmVerify
                | Self::WarmVerifyRoles
                | Self::FloodedWarmVerify
                | Self::WrongSecretFlood
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Options {
    /// The selected scenarios, deduplicated, in run order.
    pub(crate) fn selected(&self) -> Vec<Scenario> {
        if self.scenarios.is_empty() {
            return Scenario::ALL.to_vec();
        }
        let mut selected = self.scenarios.clone();
        selected.sort();
        selected.dedup();
        selected
    }
}
