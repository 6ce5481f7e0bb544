//! The write scenarios: GenerateAccessKey for the cold users, and
//! CreateUser. Both leave the seeded keys' warm state stale on SQLite.

use std::sync::Arc;

use accesskey_client::pb::user_admin_client::UserAdminClient;

use super::Bench;
use crate::{
    BoxError,
    load::{self, Measured, Rng},
    ops,
};

impl Bench<'_> {
    /// generate: new keys for the cold users, picked at random.
    pub(super) async fn generate(&mut self) -> Result<Measured, BoxError> {
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
        Ok(measured)
    }

    /// create-user: new users, each with a name of its own.
    pub(super) async fn create_user(&mut self) -> Result<Measured, BoxError> {
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
        Ok(measured)
    }
}
