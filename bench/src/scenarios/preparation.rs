//! What the scenarios need before they run: the seeded keys verified once
//! (and their first uses written), and cold users whose keys were made
//! through the RPCs, with production argon2 hashes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use accesskey_client::{Client, NewUser};
use tokio::task::JoinSet;

use super::{Bench, setup_retry};
use crate::{BoxError, database, seed::APP_PERMISSION};

/// How long to wait for the warm-up's first uses to be written: the
/// default flush period is 60 s, and a million rows take about 10 s more.
const FIRST_USES_LIMIT: Duration = Duration::from_secs(300);

/// Users created through the real RPCs, so with production argon2 hashes.
#[derive(Debug)]
pub(super) struct ColdUsers {
    pub(super) ids: Arc<[i64]>,
    pub(super) keys: Arc<[String]>,
}

impl Bench<'_> {
    /// Verifies every seeded key once, so that the warm scenarios find all
    /// of them already checked (no argon2, and on SQLite no database read).
    pub(super) async fn warm_up(&mut self, step: &str) -> Result<(), BoxError> {
        let keys: Arc<[String]> = self
            .seeded
            .keys
            .iter()
            .chain(self.seeded.role_keys.iter())
            .cloned()
            .collect();
        eprintln!("{step}: verifying all {} seeded keys once…", keys.len());
        let measured = self.verify_each_once(&keys, true).await?;
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
    pub(super) async fn wait_for_first_uses(&mut self) -> Result<(), BoxError> {
        eprintln!("waiting for the server to write the warm-up's first key uses…");
        let started = Instant::now();
        let unused = u64::try_from(self.seeded.flood_targets.len())?;
        let recorded =
            database::wait_until_uses_recorded(&self.database.url, unused, FIRST_USES_LIMIT)
                .await?;
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
    pub(super) async fn create_cold_users(&mut self) -> Result<(), BoxError> {
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

    pub(super) fn cold(&self) -> Result<&ColdUsers, BoxError> {
        self.cold
            .as_ref()
            .ok_or_else(|| "the cold users were not created".into())
    }

    /// `count` users with keys made through the RPCs and never used.
    pub(super) async fn fresh_keys(&mut self, count: usize) -> Result<Vec<String>, BoxError> {
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
}
