//! The audit RPCs' gRPC side: ListAuditEvents' filters, events as messages,
//! and WatchAuditEvents' stream, bounded in number and ended at shutdown.

use std::{pin::Pin, sync::Arc, time::Duration};

use accesskey_proto::pb;
use tokio::sync::{Semaphore, watch};
use tokio_stream::Stream;
use tonic::Status;

use super::convert;
use crate::domain::{
    Busy, Directory, DomainError, InvalidField,
    model::{Actor, AuditAction, AuditEvent, AuditFilter, FieldChange},
};

/// Open WatchAuditEvents streams per replica: each polls the database, so
/// they are few by design (a SIEM shipper or two).
pub(crate) const MAX_AUDIT_WATCHERS: usize = 64;
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
        let AuditEvent { id, event } = recorded;
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
            peer: event.origin.peer,
        }
    }
}

/// The open audit streams: at most [`MAX_AUDIT_WATCHERS`], all ended when
/// the server stops (or graceful shutdown would wait for them forever).
#[derive(Debug, Clone)]
pub(crate) struct AuditWatchers {
    slots: Arc<Semaphore>,
    stopping: watch::Receiver<bool>,
}

impl AuditWatchers {
    /// Streams end once `stopping` turns true.
    pub(crate) fn new(stopping: watch::Receiver<bool>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_AUDIT_WATCHERS)),
            stopping,
        }
    }

    /// A stream of the events after `after_id` (from
    /// [`Directory::watch_start`]) for the caller whose key is `caller_key`,
    /// authenticated again before every batch.
    pub(super) fn watch(
        &self,
        directory: &Directory,
        caller_key: String,
        after_id: i64,
    ) -> Result<EventStream, DomainError> {
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
            let _slot = slot;
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
