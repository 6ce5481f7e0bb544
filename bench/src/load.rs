//! The load generator: closed request loops, each with its own latency
//! histogram, merged when the scenario ends.

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use crate::BoxError;

/// Latencies are recorded in microseconds; one minute is far beyond any
/// answer the server may give (its own request timeout is shorter), and
/// anything slower is clamped rather than lost.
const HIGHEST_MICROS: u64 = 60_000_000;

/// How one request ended: a label for the outcome mix, and whether it was
/// the answer the scenario expects (anything else counts as an error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) label: &'static str,
    pub(crate) expected: bool,
}

/// One request loop's work. `None` means the loop has nothing left to send
/// (for scenarios that go through a fixed set of keys exactly once).
pub(crate) trait Op: Send + 'static {
    fn call(&mut self) -> impl Future<Output = Option<Outcome>> + Send;

    /// Waits, untimed, until the next request is due: for loops that send
    /// at a set rate rather than as fast as they are answered.
    fn pace(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What a scenario measured, all loops merged.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) latencies: Histogram<u64>,
    pub(crate) outcomes: BTreeMap<&'static str, u64>,
    pub(crate) errors: u64,
    /// From the first request to the last answer.
    pub(crate) elapsed: Duration,
}

impl Measured {
    fn empty() -> Result<Self, BoxError> {
        Ok(Self {
            latencies: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)?,
            outcomes: BTreeMap::new(),
            errors: 0,
            elapsed: Duration::ZERO,
        })
    }

    fn merge(&mut self, other: &Self) -> Result<(), BoxError> {
        self.latencies.add(&other.latencies)?;
        for (label, count) in &other.outcomes {
            *self.outcomes.entry(label).or_default() += count;
        }
        self.errors += other.errors;
        Ok(())
    }

    pub(crate) fn requests(&self) -> u64 {
        self.latencies.len()
    }

    pub(crate) fn per_second(&self) -> f64 {
        self.rate(self.requests())
    }

    /// Answers as expected per second: what is left of the throughput
    /// once the requests the server shed or got wrong are taken out.
    pub(crate) fn ok_per_second(&self) -> f64 {
        self.rate(self.requests() - self.errors)
    }

    fn rate(&self, count: u64) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Runs every op in its own task until `deadline` (no new request starts
/// after it; requests in flight are waited for) or until the op runs dry.
pub(crate) async fn drive<O: Op>(ops: Vec<O>, deadline: Instant) -> Result<Measured, BoxError> {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for mut op in ops {
        let mut mine = Measured::empty()?;
        tasks.spawn(async move {
            while Instant::now() < deadline {
                op.pace().await;
                let sent = Instant::now();
                let Some(outcome) = op.call().await else {
                    break;
                };
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                mine.latencies.saturating_record(micros.max(1));
                *mine.outcomes.entry(outcome.label).or_default() += 1;
                if !outcome.expected {
                    mine.errors += 1;
                }
            }
            mine
        });
    }
    let mut total = Measured::empty()?;
    while let Some(finished) = tasks.join_next().await {
        total.merge(&finished?)?;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// xorshift64*: fast and good enough to pick keys uniformly; each loop has
/// its own, so no loop waits on another for a random number.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for loop `stream`, different on every run.
    pub(crate) fn for_stream(stream: u64) -> Self {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // splitmix64 of the inputs, so neighbouring streams start far apart
        // and the state is never zero.
        let mut z = clock ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is negligible for the
    /// pool sizes used here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
