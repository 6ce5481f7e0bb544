//! The audit trail: listing events, the batches a watcher receives, and
//! retention. (Events are recorded by each change, in its transaction.)

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::domain::{
    DomainError,
    model::{AuditEvent, AuditFilter, Principal, ServicePermission, Timestamp},
};

use super::{
    Directory,
    users::{DEFAULT_PAGE_SIZE, MAX_PAGE_BYTES, MAX_PAGE_SIZE},
};

/// Events deleted per statement when pruning: small enough that no prune
/// holds locks for long.
const PRUNE_BATCH: u64 = 1_000;

/// One page of events, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_page_token: Option<String>,
}

/// How many of `events`, from the first, fit in `budget` bytes of response
/// (at least one): an estimate from the variable-length fields.
pub(crate) fn fitting(events: &[AuditEvent], budget: usize) -> usize {
    let mut used = 0;
    events
        .iter()
        .take_while(|recorded| {
            let event = &recorded.event;
            let size = 256
                + event.target_username.len()
                + event.origin.request_id.len()
                + event
                    .changes
                    .iter()
                    .map(|change| {
                        16 + change.field.len()
                            + change.old.as_ref().map_or(0, String::len)
                            + change.new.as_ref().map_or(0, String::len)
                    })
                    .sum::<usize>();
            used += size;
            used <= budget || used == size
        })
        .count()
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
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
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
        let kept = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(fitting(&events, MAX_PAGE_BYTES));
        let next_page_token = if events.len() > kept {
            events.truncate(kept);
            events
                .last()
                .map(|last| self.page_tokens.sign(last.id, &query))
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_page_token,
        })
    }

    /// Where a new watcher starts when it names no event: after the latest.
    pub async fn latest_audit_event_id(&self, caller: &Principal) -> Result<i64, DomainError> {
        caller.require(ServicePermission::AuditRead)?;
        Ok(self.store.latest_audit_event_id().await?)
    }

    /// A watcher's next batch: authenticates `caller_key` again (so a
    /// revoked key, a disabled user or a removed `audit.read` ends the
    /// stream), then up to `limit` events after `after_id`, oldest first,
    /// as many as fit in one response.
    pub async fn audit_events_after(
        &self,
        caller_key: &str,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, DomainError> {
        let caller = self.authenticate(caller_key).await?;
        caller.require(ServicePermission::AuditRead)?;
        let mut events = self.store.audit_events_after(after_id, limit).await?;
        events.truncate(fitting(&events, MAX_PAGE_BYTES));
        Ok(events)
    }

    /// Notified after every write this process makes (changes made on
    /// other replicas are not signalled: watchers also poll).
    pub fn audit_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.audit_recorded)
    }

    /// Deletes events older than `retention`, a batch at a time; returns
    /// how many.
    pub async fn prune_audit_events(&self, retention: Duration) -> Result<u64, DomainError> {
        let retention = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = Timestamp::from_micros(Timestamp::now().as_micros().saturating_sub(retention));
        let mut pruned = 0;
        loop {
            let deleted = self.store.prune_audit_events(cutoff, PRUNE_BATCH).await?;
            pruned += deleted;
            if deleted < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }
}
