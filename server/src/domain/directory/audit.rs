//! The audit trail: listing events, the batches a watcher receives,
//! retention, and walking the hash chain. (Events are recorded by each
//! change, in its transaction.)

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::domain::{
    DomainError,
    audit_chain::{ChainReport, ChainWalk},
    model::{AuditEvent, AuditFilter, NewAuditEvent, Principal, ServicePermission, Timestamp},
};

use super::{
    Directory,
    paging::{MAX_PAGE_BYTES, cut_page, fitting, page_limit},
};

/// Events deleted per statement when pruning: small enough that no prune
/// holds locks for long.
const PRUNE_BATCH: u64 = 1_000;
/// The youngest an event may be and still be pruned, whatever the
/// retention says.
const MIN_RETENTION: Duration = Duration::from_secs(86_400);
/// Events read per query when walking the chain.
const WALK_BATCH: u64 = 1_000;

/// One page of events, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_page_token: Option<String>,
}

/// An event's size in a response: an estimate from the variable-length
/// fields, plus an allowance for the fixed ones and the encoding.
fn response_size(recorded: &AuditEvent) -> usize {
    let event = &recorded.event;
    256 + event.target_username.len()
        + event.origin.request_id.len()
        + event.origin.client_request_id.len()
        + event
            .changes
            .iter()
            .map(|change| {
                16 + change.field.len()
                    + change.old.as_ref().map_or(0, String::len)
                    + change.new.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
}

impl Directory {
    /// One page of the events matching `filter`, newest first. Paging by id
    /// below the last one returned: events recorded meanwhile are newer than
    /// every page, so no event is skipped or repeated.
    pub async fn list_audit_events(
        &self,
        caller: &Principal,
        filter: &AuditFilter,
        page_size: u64,
        page_token: &str,
    ) -> Result<AuditPage, DomainError> {
        caller.require(ServicePermission::AuditRead)?;
        let limit = page_limit(page_size);
        let query = filter.canonical();
        let before_id = if page_token.is_empty() {
            None
        } else {
            Some(self.page_tokens.open(page_token, &query)?)
        };
        // One extra row tells whether another page exists.
        let mut events = self
            .store
            .audit_events(filter, before_id, limit + 1)
            .await?;
        let more = cut_page(&mut events, limit, response_size);
        let next_page_token = events
            .last()
            .filter(|_| more)
            .map(|last| self.page_tokens.sign(last.id, &query));
        Ok(AuditPage {
            events,
            next_page_token,
        })
    }

    /// Where a watcher for `caller` starts: after `after_id`, or when it
    /// names none, after the latest event.
    pub async fn watch_start(
        &self,
        caller: &Principal,
        after_id: Option<i64>,
    ) -> Result<i64, DomainError> {
        caller.require(ServicePermission::AuditRead)?;
        match after_id {
            Some(id) => Ok(id),
            None => Ok(self.store.latest_audit_event_id().await?),
        }
    }

    /// A watcher's next batch: up to `limit` events after `after_id`,
    /// oldest first, as many as fit in one response, once `caller_key` is
    /// authenticated again (so a revoked key, a disabled user or a removed
    /// `audit.read` ends the stream).
    ///
    /// Authenticated *after* the events are read: a change that ends the
    /// caller's access commits with its own event, so a batch that holds
    /// that event is read before an authentication that sees the change.
    /// Checked before the read instead, a revocation committed between the
    /// two would reach the very watcher it revokes.
    pub async fn audit_events_after(
        &self,
        caller_key: &str,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, DomainError> {
        let mut events = self.store.audit_events_after(after_id, limit).await?;
        let caller = self.authenticate(caller_key).await?;
        caller.require(ServicePermission::AuditRead)?;
        events.truncate(fitting(&events, MAX_PAGE_BYTES, response_size));
        Ok(events)
    }

    /// Notified after every write this process makes (changes made on
    /// other replicas are not signalled: watchers also poll).
    pub fn audit_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.audit_recorded)
    }

    /// Deletes events older than `retention` (at least a day) by the
    /// database's clock, never this replica's (a replica whose clock jumped
    /// ahead would otherwise delete recent events for everyone), a batch
    /// at a time, each batch recorded as an `audit.pruned` event; returns
    /// how many.
    pub async fn prune_audit_events(&self, retention: Duration) -> Result<u64, DomainError> {
        let retention = retention.max(MIN_RETENTION);
        let retention = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let now = self.store.database_now().await?;
        let cutoff = Timestamp::from_micros(now.as_micros().saturating_sub(retention));
        let mut pruned = 0;
        loop {
            let deleted = self
                .store
                .prune_audit_events(cutoff, PRUNE_BATCH, |count, through_id| {
                    NewAuditEvent::audit_pruned(count, through_id, cutoff)
                })
                .await?;
            if deleted > 0 {
                self.audit_recorded.notify_waiters();
            }
            pruned += deleted;
            if deleted < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    /// Walks the whole trail in id order and reports the first event that
    /// was edited, removed or inserted since it was recorded, if any.
    pub async fn verify_audit_trail(&self, caller: &Principal) -> Result<ChainReport, DomainError> {
        caller.require(ServicePermission::AuditRead)?;
        let mut walk = ChainWalk::new(self.store.audit_chain());
        let mut cursor = 0;
        let mut issued = None;
        loop {
            let events = self.store.audit_events_after(cursor, WALK_BATCH).await?;
            let Some(last) = events.last() else {
                if let Some(issued) = issued {
                    return Ok(walk.finish(issued));
                }
                // The counter, then one more read: an event the counter
                // counts committed with it, so that read holds it. Only
                // an event removed from the end is then missing.
                issued = Some(self.store.latest_audit_event_id().await?);
                continue;
            };
            cursor = last.id;
            issued = None;
            for event in &events {
                if !walk.next(event) {
                    return Ok(walk.finish(i64::MAX));
                }
            }
        }
    }
}
