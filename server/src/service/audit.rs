//! The audit RPCs' gRPC side: ListAuditEvents' filters, events as messages,
//! and WatchAuditEvents' stream, bounded in number and ended at shutdown.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use accesskey_proto::pb;
use tokio::sync::{Semaphore, watch};
use tokio_stream::Stream;
use tonic::Status;

use super::convert;
use crate::domain::{
    Busy, Directory, DomainError, InvalidField,
    audit_chain::{ChainFault, ChainReport},
    model::{Actor, AuditAction, AuditEvent, AuditFilter, FieldChange},
};

/// Open WatchAuditEvents streams per replica: each polls the database, so
/// they are few by design (a SIEM shipper or two).
pub(crate) const MAX_AUDIT_WATCHERS: usize = 64;
/// Open streams per user, so that one leaked `audit.read` key cannot take
/// every slot: a shipper and its restart overlap, with room to spare.
pub(crate) const MAX_AUDIT_WATCHERS_PER_USER: usize = 4;
/// How often a watcher looks for events other replicas recorded (this
/// replica's own wake it at once).
const WATCH_POLL: Duration = Duration::from_secs(1);
/// Events read per poll; more wait for the next batch, at once.
const WATCH_BATCH: u64 = 256;
/// How long a refused watcher should wait before trying again.
const WATCHERS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The stream WatchAuditEvents answers with.
pub(crate) type EventStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchAuditEventsResponse, Status>> + Send>>;

/// A validated ListAuditEvents request.
#[derive(Debug)]
pub(super) struct AuditQuery {
    pub(super) page_size: u64,
    pub(super) page_token: String,
    pub(super) filter: AuditFilter,
}

impl TryFrom<pb::ListAuditEventsRequest> for AuditQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListAuditEventsRequest) -> Result<Self, Self::Error> {
        let pb::ListAuditEventsRequest {
            page_size,
            page_token,
            actor_user_id,
            target_user_id,
            action,
            start_time,
            end_time,
        } = request;
        let page_size = u64::try_from(page_size)
            .map_err(|_| InvalidField::new("page_size", "must not be negative"))?;
        let optional_id = |field: &str, id: i64| match id {
            0 => Ok(None),
            id => convert::user_id(field, id).map(Some),
        };
        let since = convert::timestamp("start_time", start_time)?;
        let until = convert::timestamp("end_time", end_time)?;
        if let (Some(since), Some(until)) = (since, until)
            && until <= since
        {
            return Err(InvalidField::new("end_time", "must be after start_time").into());
        }
        Ok(Self {
            page_size,
            page_token,
            filter: AuditFilter {
                actor_user_id: optional_id("actor_user_id", actor_user_id)?,
                target_user_id: optional_id("target_user_id", target_user_id)?,
                action: match action.as_str() {
                    "" => None,
                    named => Some(AuditAction::parse("action", named)?),
                },
                since,
                until,
            },
        })
    }
}

impl From<AuditEvent> for pb::AuditEvent {
    fn from(recorded: AuditEvent) -> Self {
        let AuditEvent { id, event, link } = recorded;
        let actor = match event.origin.actor {
            Actor::Host => pb::AuditActor {
                host: true,
                ..pb::AuditActor::default()
            },
            Actor::User {
                user_id,
                username,
                key_id,
            } => pb::AuditActor {
                host: false,
                user_id,
                username,
                key_id,
            },
        };
        Self {
            id,
            time: Some(convert::to_proto_time(event.time)),
            actor: Some(actor),
            action: event.action.as_str().to_owned(),
            target_user_id: event.target_user_id,
            target_username: event.target_username,
            target_role: event.target_role,
            changes: event
                .changes
                .into_iter()
                .map(|FieldChange { field, old, new }| pb::AuditFieldChange {
                    field,
                    old_value: old,
                    new_value: new,
                })
                .collect(),
            request_id: event.origin.request_id,
            client_request_id: event.origin.client_request_id,
            peer: event.origin.peer,
            link: link.hash,
        }
    }
}

impl From<ChainReport> for pb::VerifyAuditTrailResponse {
    fn from(report: ChainReport) -> Self {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            intact: report.fault.is_none(),
            events_checked: count(report.checked),
            first_id: report.first_id.unwrap_or(0),
            last_id: report.last_id.unwrap_or(0),
            unlinked_events: count(report.unlinked_before),
            head_link: report.head,
            fault: report.fault.map(fault),
        }
    }
}

/// A fault in words: which event, and what happened to it.
fn fault(fault: ChainFault) -> pb::AuditTrailFault {
    let (kind, event_id, description) = match fault {
        ChainFault::Edited { id } => (
            "edited",
            id,
            format!("event {id} no longer matches its link: it was edited after it was recorded"),
        ),
        ChainFault::Inserted { id } => (
            "inserted",
            id,
            format!(
                "event {id} does not link to the event before it: it was inserted, or the one \
                 before it replaced"
            ),
        ),
        ChainFault::Removed {
            after_id,
            before_id,
        } => (
            "removed",
            after_id + 1,
            format!("events {} to {} are missing", after_id + 1, before_id - 1),
        ),
        ChainFault::RemovedAtStart {
            pruned_through,
            first_id,
        } => (
            "removed_at_start",
            pruned_through + 1,
            format!(
                "events {} to {} are missing, though no recorded prune deleted them",
                pruned_through + 1,
                first_id - 1
            ),
        ),
        ChainFault::RemovedAtEnd { last_id, issued } => (
            "removed_at_end",
            last_id + 1,
            format!(
                "events {} to {issued} are missing: the newest events were deleted",
                last_id + 1
            ),
        ),
        ChainFault::Unlinked { id } => (
            "unlinked",
            id,
            format!("event {id} has no link, though events before it have: it was edited"),
        ),
    };
    pb::AuditTrailFault {
        kind: kind.to_owned(),
        event_id,
        description,
    }
}

/// The open audit streams: at most [`MAX_AUDIT_WATCHERS`], of which at most
/// [`MAX_AUDIT_WATCHERS_PER_USER`] for any one user, all ended when the
/// server stops (or graceful shutdown would wait for them forever).
#[derive(Debug, Clone)]
pub(crate) struct AuditWatchers {
    slots: Arc<Semaphore>,
    /// Open streams by user id; users with none have no entry, so the map
    /// holds at most [`MAX_AUDIT_WATCHERS`] entries.
    per_user: Arc<Mutex<HashMap<i64, usize>>>,
    stopping: watch::Receiver<bool>,
}

/// One user's share of the streams, given back when the stream ends.
struct UserSlot {
    per_user: Arc<Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl UserSlot {
    fn take(per_user: &Arc<Mutex<HashMap<i64, usize>>>, user_id: i64) -> Option<Self> {
        let mut open = per_user.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user_id).or_default();
        if *count >= MAX_AUDIT_WATCHERS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Self {
            per_user: Arc::clone(per_user),
            user_id,
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut open = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

impl AuditWatchers {
    /// Streams end once `stopping` turns true.
    pub(crate) fn new(stopping: watch::Receiver<bool>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_AUDIT_WATCHERS)),
            per_user: Arc::default(),
            stopping,
        }
    }

    /// A stream of the events after `after_id` (from
    /// [`Directory::watch_start`]) for user `user_id`, whose key is
    /// `caller_key`, authenticated again before every batch.
    pub(super) fn watch(
        &self,
        directory: &Directory,
        user_id: i64,
        caller_key: String,
        after_id: i64,
    ) -> Result<EventStream, DomainError> {
        let user_slot =
            UserSlot::take(&self.per_user, user_id).ok_or(DomainError::ResourceExhausted {
                what: Busy::AuditWatchersOfUser {
                    most: MAX_AUDIT_WATCHERS_PER_USER,
                },
                retry_after: WATCHERS_RETRY_AFTER,
            })?;
        let slot = Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            DomainError::ResourceExhausted {
                what: Busy::AuditWatchers,
                retry_after: WATCHERS_RETRY_AFTER,
            }
        })?;
        let directory = directory.clone();
        let mut stopping = self.stopping.clone();
        Ok(Box::pin(async_stream::try_stream! {
            // Released when the stream ends or the caller hangs up.
            let _slots = (slot, user_slot);
            let mut cursor = after_id;
            loop {
                // Taken before the read, so a write committed after the read
                // still wakes this watcher.
                let signal = directory.audit_signal();
                let recorded = signal.notified();
                tokio::pin!(recorded);
                recorded.as_mut().enable();
                if *stopping.borrow() {
                    Err::<(), Status>(shutting_down())?;
                }
                let events = directory
                    .audit_events_after(&caller_key, cursor, WATCH_BATCH)
                    .await
                    .map_err(Status::from)?;
                if let Some(last) = events.last() {
                    cursor = last.id;
                    yield pb::WatchAuditEventsResponse {
                        events: events.into_iter().map(Into::into).collect(),
                    };
                    continue;
                }
                let sender_gone = tokio::select! {
                    () = &mut recorded => false,
                    () = tokio::time::sleep(WATCH_POLL) => false,
                    changed = stopping.changed() => changed.is_err(),
                };
                if sender_gone {
                    Err::<(), Status>(shutting_down())?;
                }
            }
        }))
    }
}

fn shutting_down() -> Status {
    Status::unavailable(
        "the server is shutting down; resume with after_id set to the last event id received",
    )
}
