//! `last_used_time`: key uses written in batches, one statement per chunk.

use sea_orm::{
    ConnectionTrait as _, DbBackend, Statement, Value,
    sea_query::{
        Alias, Expr, ExprTrait as _, IntoIden as _, MysqlQueryBuilder, PostgresQueryBuilder, Query,
        SqliteQueryBuilder, TableRef, UnionType, ValueTuple,
    },
};

use super::{Store, StoreError, entity::access_key};
use crate::domain::{key_format::KeyId, model::Timestamp};

/// Key uses written per transaction by [`Store::record_key_uses`].
const USAGE_FLUSH_CHUNK: usize = 500;

impl Store {
    /// Writes a batch of key uses in one transaction. A time never moves
    /// backwards, so replicas flushing in any order converge on the latest.
    pub async fn record_key_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        // Small chunks keep SQLite's write lock short, so a million keys'
        // flush never stalls other writers past their busy timeout.
        for chunk in uses.chunks(USAGE_FLUSH_CHUNK) {
            self.record_key_use_chunk(chunk).await?;
        }
        Ok(())
    }

    /// One UPDATE for a whole chunk, joined to the chunk's (key id, time)
    /// pairs, so each pair costs one index probe. (A `CASE WHEN key_id = …`
    /// per pair, the portable alternative, compares every row with every
    /// pair: five times the CPU, ~40 s for a million keys on SQLite.)
    async fn record_key_use_chunk(&self, uses: &[(KeyId, Timestamp)]) -> Result<(), StoreError> {
        self.bounded(async {
            let backend = self.db.get_database_backend();
            let values = uses.iter().flat_map(|(key_id, time)| {
                [
                    Value::from(key_id.as_str().to_owned()),
                    Value::from(time.as_micros()),
                ]
            });
            let statement = Statement::from_sql_and_values(
                backend,
                key_uses_update(backend, uses.len()),
                values,
            );
            self.written(self.db.execute_raw(statement).await)?;
            Ok(())
        })
        .await
    }
}

/// `UPDATE access_keys` from `pairs` bound (key id, time) pairs; a time
/// never moves backwards. Built from the entities by sea-query, in the one
/// shape each backend runs as a join: PostgreSQL and SQLite update `FROM` a
/// `VALUES` list (whose columns both name `column1`, `column2`); MySQL and
/// MariaDB, which disagree on `VALUES` rows, `JOIN` a `UNION ALL` of
/// selects.
fn key_uses_update(backend: DbBackend, pairs: usize) -> String {
    let used = Alias::new("used");
    let (used_key_id, used_at) = match backend {
        DbBackend::MySql => (Alias::new("key_id"), Alias::new("used_at")),
        _ => (Alias::new("column1"), Alias::new("column2")),
    };
    let pair = || (Expr::val(""), Expr::val(0_i64));
    let source = match backend {
        DbBackend::MySql => {
            let (key_id, time) = pair();
            let mut rows = Query::select()
                .expr_as(key_id, used_key_id.clone())
                .expr_as(time, used_at.clone())
                .to_owned();
            for _ in 1..pairs {
                let (key_id, time) = pair();
                rows.union(
                    UnionType::All,
                    Query::select().expr(key_id).expr(time).to_owned(),
                );
            }
            TableRef::SubQuery(rows.into(), used.clone().into_iden())
        }
        _ => {
            let rows = (0..pairs)
                .map(|_| ValueTuple::Two(String::new().into(), 0_i64.into()))
                .collect();
            TableRef::ValuesList(rows, used.clone().into_iden())
        }
    };
    let stored = Expr::col((access_key::Entity, access_key::Column::LastUsedTime));
    let newer = Expr::col((used.clone(), used_at.clone()));
    let same_key = match backend {
        // The derived table's text has the connection's collation; the
        // key id column is binary.
        DbBackend::MySql => {
            Expr::col((access_key::Entity, access_key::Column::KeyId)).eq(Expr::cust_with_expr(
                "? COLLATE utf8mb4_bin",
                Expr::col((used.clone(), used_key_id)),
            ))
        }
        _ => Expr::col((access_key::Entity, access_key::Column::KeyId))
            .equals((used.clone(), used_key_id)),
    };
    let update = Query::update()
        .table(access_key::Entity)
        .value(access_key::Column::LastUsedTime, newer.clone())
        .from(source)
        .and_where(same_key)
        .and_where(stored.clone().is_null().or(stored.lt(newer)))
        .to_owned();
    match backend {
        DbBackend::Postgres => update.build(PostgresQueryBuilder).0,
        DbBackend::MySql => update.build(MysqlQueryBuilder).0,
        _ => update.build(SqliteQueryBuilder).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_updates_through_one_join() {
        assert_eq!(
            key_uses_update(DbBackend::Postgres, 2),
            r#"UPDATE "access_keys" SET "last_used_time" = "used"."column2" FROM (VALUES ($1, $2), ($3, $4)) AS "used" WHERE "access_keys"."key_id" = "used"."column1" AND ("access_keys"."last_used_time" IS NULL OR "access_keys"."last_used_time" < "used"."column2")"#
        );
        assert_eq!(
            key_uses_update(DbBackend::MySql, 2),
            "UPDATE `access_keys` JOIN (SELECT ? AS `key_id`, ? AS `used_at` UNION ALL (SELECT ?, ?)) AS `used` ON `access_keys`.`key_id` = (`used`.`key_id` COLLATE utf8mb4_bin) AND (`access_keys`.`last_used_time` IS NULL OR `access_keys`.`last_used_time` < `used`.`used_at`) SET `access_keys`.`last_used_time` = `used`.`used_at`"
        );
    }
}
