//! Audit events: written inside the transaction of the change they record,
//! listed newest first, read in id order by watchers, and pruned.
//!
//! Ids come from the `audit_sequence` settings row, locked and incremented
//! as the last step before the commit. Writers therefore take ids in the
//! order they commit, so "every event with an id above N" never later gains
//! one below an id already seen, on any replica, and a watcher resuming from
//! the last id it saw misses nothing. Every other lock a change takes comes
//! before this one, so the order cannot deadlock; the lock is held only
//! for the insert and the commit.

use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use serde_json::{Map, Value, json};

use super::{
    Store, StoreError,
    entity::{audit_event, setting},
    error::{Reason, SettingProblem, setting_fault},
};
use crate::domain::{
    audit_chain::AuditChain,
    model::{
        Actor, AuditAction, AuditEvent, AuditFilter, ChainLink, FieldChange, NewAuditEvent, Origin,
        Timestamp,
    },
};

/// The `settings` row holding the last id handed out (created by migration
/// m20261202_000006).
const AUDIT_SEQUENCE: &str = "audit_sequence";

/// Records `event` in `txn`, the transaction making the change it
/// describes, linked by `chain` to the event before it.
pub(super) async fn record(
    txn: &DatabaseTransaction,
    chain: &AuditChain,
    event: &NewAuditEvent,
) -> Result<(), DbErr> {
    let mut sequence = setting::Entity::find_by_id(AUDIT_SEQUENCE.to_owned());
    if txn.get_database_backend() != DbBackend::Sqlite {
        // SQLite's transaction already holds the database's write lock.
        sequence = sequence.lock_exclusive();
    }
    let last: i64 = sequence
        .one(txn)
        .await?
        .ok_or_else(|| {
            DbErr::Custom(format!(
                "the `{AUDIT_SEQUENCE}` settings row is missing; run `accesskeyd migrate`"
            ))
        })?
        .value
        .parse()
        .map_err(|_| DbErr::Custom(format!("the `{AUDIT_SEQUENCE}` setting is not a number")))?;
    let id = last + 1;
    setting::Entity::update_many()
        .col_expr(setting::Column::Value, id.to_string().into())
        .filter(setting::Column::Name.eq(AUDIT_SEQUENCE))
        .exec(txn)
        .await?;
    // The event before: ids are consecutive, and a prune records its own
    // event after deleting. Empty for the first event, the first after
    // events without links, or the first after a prune that took them all.
    let mut previous = audit_event::Entity::find_by_id(last)
        .select_only()
        .column(audit_event::Column::Link);
    if txn.get_database_backend() != DbBackend::Sqlite {
        // A locking read sees the latest commit: MySQL's plain reads see the
        // snapshot this transaction's first read took, from before the
        // previous event committed (REPEATABLE READ), and found no row.
        previous = previous.lock_shared();
    }
    let previous: String = previous.into_tuple().one(txn).await?.unwrap_or_default();
    let link = chain.link(&previous, id, event);
    audit_event::Entity::insert(to_row(id, event, previous, link))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

impl Store {
    /// Events matching `filter` with an id below `before_id` (all when
    /// `None`), newest first.
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let mut query = audit_event::Entity::find();
            if let Some(before) = before_id {
                query = query.filter(audit_event::Column::Id.lt(before));
            }
            if let Some(actor) = filter.actor_user_id {
                query = query.filter(audit_event::Column::ActorUserId.eq(actor));
            }
            if let Some(target) = filter.target_user_id {
                query = query.filter(audit_event::Column::TargetUserId.eq(target));
            }
            if let Some(action) = filter.action {
                query = query.filter(audit_event::Column::Action.eq(action.as_str()));
            }
            if let Some(since) = filter.since {
                query = query.filter(audit_event::Column::Time.gte(since.as_micros()));
            }
            if let Some(until) = filter.until {
                query = query.filter(audit_event::Column::Time.lt(until.as_micros()));
            }
            let rows = query
                .order_by_desc(audit_event::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?;
            rows.into_iter().map(from_row).collect()
        })
        .await
    }

    /// Up to `limit` events with an id above `after_id`, oldest first.
    pub async fn audit_events_after(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.bounded(async {
            let rows = audit_event::Entity::find()
                .filter(audit_event::Column::Id.gt(after_id))
                .order_by_asc(audit_event::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?;
            rows.into_iter().map(from_row).collect()
        })
        .await
    }

    /// The id of the latest committed event (0 before the first).
    pub async fn latest_audit_event_id(&self) -> Result<i64, StoreError> {
        self.bounded(async {
            let row = setting::Entity::find_by_id(AUDIT_SEQUENCE.to_owned())
                .one(&self.db)
                .await?
                .ok_or_else(|| setting_fault(AUDIT_SEQUENCE, SettingProblem::Missing))?;
            row.value
                .parse()
                .map_err(|_| setting_fault(AUDIT_SEQUENCE, SettingProblem::NotANumber))
        })
        .await
    }

    /// Deletes up to `batch` of the oldest events, up to the first one
    /// recorded at or after `cutoff`, recording the prune as an event
    /// (`describe`: how many, the highest id deleted) in the same
    /// transaction; returns how many it deleted. Only ever the oldest ids:
    /// an event stamped early by a replica with a slow clock waits for the
    /// events before it, so the trail that remains has no gap (which the
    /// chain's walk would report as removed). One short transaction per
    /// call, so pruning a large backlog never holds locks for long.
    pub async fn prune_audit_events(
        &self,
        cutoff: Timestamp,
        batch: u64,
        describe: impl FnOnce(u64, i64) -> NewAuditEvent,
    ) -> Result<u64, StoreError> {
        self.bounded(async {
            let outcome = async {
                let txn = self.begin_write().await?;
                // The first event to keep, then the highest id among the
                // `batch` oldest before it, then one range delete up to
                // that: the portable form of DELETE … ORDER BY … LIMIT.
                let kept: Option<i64> = audit_event::Entity::find()
                    .select_only()
                    .column(audit_event::Column::Id)
                    .filter(audit_event::Column::Time.gte(cutoff.as_micros()))
                    .order_by_asc(audit_event::Column::Id)
                    .limit(1)
                    .into_tuple()
                    .one(&txn)
                    .await?;
                let mut oldest = audit_event::Entity::find()
                    .select_only()
                    .column(audit_event::Column::Id)
                    .order_by_asc(audit_event::Column::Id)
                    .limit(batch);
                if let Some(kept) = kept {
                    oldest = oldest.filter(audit_event::Column::Id.lt(kept));
                }
                let ids: Vec<i64> = oldest.into_tuple().all(&txn).await?;
                let Some(&highest) = ids.last() else {
                    // Ended here, not by a drop: a connection returned
                    // inside a transaction is closed (with a warning).
                    txn.rollback().await?;
                    return Ok(0);
                };
                let deleted = audit_event::Entity::delete_many()
                    .filter(audit_event::Column::Id.lte(highest))
                    .exec(&txn)
                    .await?
                    .rows_affected;
                if deleted == 0 {
                    // Another replica pruned them first.
                    txn.rollback().await?;
                    return Ok(0);
                }
                record(&txn, &self.audit_chain, &describe(deleted, highest)).await?;
                txn.commit().await?;
                Ok(deleted)
            }
            .await;
            self.written(outcome)
        })
        .await
    }

    /// The database's own clock, in microseconds since the Unix epoch: one
    /// clock for every replica, whatever theirs say.
    pub async fn database_now(&self) -> Result<Timestamp, StoreError> {
        self.bounded(async {
            let sql = match self.db.get_database_backend() {
                DbBackend::Sqlite => {
                    "SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS now"
                }
                DbBackend::Postgres => {
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now"
                }
                _ => "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS now",
            };
            let backend = self.db.get_database_backend();
            let row = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(backend, sql))
                .await?
                .ok_or_else(|| StoreError::database(Reason::NoDatabaseTime))?;
            let micros: i64 = row.try_get("", "now")?;
            Ok(Timestamp::from_micros(micros))
        })
        .await
    }
}

fn to_row(
    id: i64,
    event: &NewAuditEvent,
    previous_link: String,
    link: String,
) -> audit_event::ActiveModel {
    let (actor_user_id, actor_username, actor_key_id) = match &event.origin.actor {
        Actor::Host => (None, String::new(), String::new()),
        Actor::User {
            user_id,
            username,
            key_id,
        } => (Some(*user_id), username.clone(), key_id.clone()),
    };
    let changes: Vec<Value> = event
        .changes
        .iter()
        .map(|change| json!({"field": change.field, "old": change.old, "new": change.new}))
        .collect();
    audit_event::ActiveModel {
        id: Set(id),
        time: Set(event.time.as_micros()),
        actor_user_id: Set(actor_user_id),
        actor_username: Set(actor_username),
        actor_key_id: Set(actor_key_id),
        action: Set(event.action.as_str().to_owned()),
        target_user_id: Set(event.target_user_id),
        target_username: Set(event.target_username.clone()),
        target_role: Set(event.target_role.clone()),
        changes: Set(Value::Array(changes).to_string()),
        request_id: Set(event.origin.request_id.clone()),
        client_request_id: Set(event.origin.client_request_id.clone()),
        previous_link: Set(previous_link),
        link: Set(link),
        peer: Set(event.origin.peer.clone()),
    }
}

fn from_row(row: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let corrupt = |problem: &'static str| {
        StoreError::database(Reason::CorruptAuditEvent {
            id: row.id,
            problem,
        })
    };
    let action = AuditAction::from_stored(&row.action).ok_or_else(|| corrupt("unknown action"))?;
    let parsed: Value =
        serde_json::from_str(&row.changes).map_err(|_| corrupt("changes are not JSON"))?;
    let text = |object: &Map<String, Value>, name: &str| {
        object.get(name).and_then(Value::as_str).map(str::to_owned)
    };
    let changes = parsed
        .as_array()
        .ok_or_else(|| corrupt("changes are not a list"))?
        .iter()
        .map(|change| {
            let object = change
                .as_object()
                .ok_or_else(|| corrupt("a change is not an object"))?;
            Ok(FieldChange {
                field: text(object, "field").ok_or_else(|| corrupt("a change has no field"))?,
                old: text(object, "old"),
                new: text(object, "new"),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let actor = match row.actor_user_id {
        None => Actor::Host,
        Some(user_id) => Actor::User {
            user_id,
            username: row.actor_username,
            key_id: row.actor_key_id,
        },
    };
    Ok(AuditEvent {
        id: row.id,
        event: NewAuditEvent {
            time: Timestamp::from_micros(row.time),
            origin: Origin {
                actor,
                request_id: row.request_id,
                client_request_id: row.client_request_id,
                peer: row.peer,
            },
            action,
            target_user_id: row.target_user_id,
            target_username: row.target_username,
            target_role: row.target_role,
            changes,
        },
        link: ChainLink {
            previous: row.previous_link,
            hash: row.link,
        },
    })
}
