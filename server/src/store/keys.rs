//! Keys: the credential reads verification makes, and recording the
//! fingerprint of a key issued before fingerprints existed.

use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr};

use crate::domain::{key_format::KeyId, model::Credential, secret_hash::Fingerprint};

use super::{Store, StoreError, entity::access_key};

impl Store {
    /// The keys with `key_ids` (at most 128), each with its user; keys that
    /// do not exist are absent. One indexed read, shared with concurrent
    /// callers (see [`key_reads`]).
    pub async fn credentials(&self, key_ids: &[&KeyId]) -> Result<Vec<Credential>, StoreError> {
        self.key_reads.credentials(key_ids).await
    }

    /// The key with `key_id` and its user, in one indexed read.
    pub async fn credential(&self, key_id: &KeyId) -> Result<Option<Credential>, StoreError> {
        let found = self.credentials(&[key_id]).await?;
        Ok(found.into_iter().next())
    }

    /// Records the secret fingerprint of a key that has none yet (issued
    /// before fingerprints existed). Never replaces one.
    pub async fn record_fingerprint(
        &self,
        key_id: &KeyId,
        fingerprint: Fingerprint,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            self.written(
                access_key::Entity::update_many()
                    .col_expr(
                        access_key::Column::SecretFingerprint,
                        Expr::value(fingerprint.to_stored()),
                    )
                    .filter(access_key::Column::KeyId.eq(key_id.as_str()))
                    .filter(access_key::Column::SecretFingerprint.is_null())
                    .exec(&self.db)
                    .await,
            )?;
            Ok(())
        })
        .await
    }
}
