//! The audit trail (`UserAdmin.ListAuditEvents`, `WatchAuditEvents`):
//! listing events, and a watch that resumes where it stopped.

use std::{collections::VecDeque, error::Error as _, time::SystemTime};

use tonic::Streaming;

use crate::{Client, Error, pb, retry::Repeat};

/// A ListAuditEvents query: filters (all optional, combined with AND), page
/// size and page token.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    request: pb::ListAuditEventsRequest,
}

impl AuditQuery {
    /// Every event, newest first, in pages of the server's default size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only changes made by this user.
    #[must_use]
    pub fn actor(mut self, user_id: i64) -> Self {
        self.request.actor_user_id = user_id;
        self
    }

    /// Only changes made to this user.
    #[must_use]
    pub fn target(mut self, user_id: i64) -> Self {
        self.request.target_user_id = user_id;
        self
    }

    /// Only this action (`user.created`, `user.updated`, `user.deleted`,
    /// `key.generated`, `key.revoked`, `console.signed_in`,
    /// `console.signed_out`).
    #[must_use]
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.request.action = action.into();
        self
    }

    /// Only events at or after `time`.
    #[must_use]
    pub fn since(mut self, time: SystemTime) -> Self {
        self.request.start_time = Some(time.into());
        self
    }

    /// Only events before `time`.
    #[must_use]
    pub fn until(mut self, time: SystemTime) -> Self {
        self.request.end_time = Some(time.into());
        self
    }

    /// At most this many events per page (0: the server's default, 50;
    /// at most 1000).
    #[must_use]
    pub fn page_size(mut self, size: i32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Continue after a previous page (with the same filters).
    #[must_use]
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.request.page_token = token.into();
        self
    }
}

/// The audit trail. Needs `audit.read`.
impl Client {
    /// One page of events, newest first.
    pub async fn list_audit_events(
        &self,
        query: AuditQuery,
    ) -> Result<pb::ListAuditEventsResponse, Error> {
        self.call_admin(
            Repeat::Safe,
            query.request,
            |mut admin, request| async move { admin.list_audit_events(request).await },
        )
        .await
    }

    /// Walks the trail's hash chain on the server and reports the first
    /// event edited, removed or inserted since it was recorded, if any
    /// (`intact` says which). Reads every event kept: slow on a long trail.
    pub async fn verify_audit_trail(&self) -> Result<pb::VerifyAuditTrailResponse, Error> {
        self.call_admin(
            Repeat::Safe,
            pb::VerifyAuditTrailRequest {},
            |mut admin, request| async move { admin.verify_audit_trail(request).await },
        )
        .await
    }

    /// Events as they are recorded, in id order: those after `after_id`
    /// (0: every event kept), or with `None`, those recorded from this call
    /// on. The stream is open when this returns. See [`AuditWatch`].
    pub async fn watch_audit_events(&self, after_id: Option<i64>) -> Result<AuditWatch, Error> {
        let after_id = match after_id {
            Some(id) => id,
            // Named explicitly (rather than left to the server), so that a
            // reconnect before the first event resumes from here too.
            None => self
                .list_audit_events(AuditQuery::new().page_size(1))
                .await?
                .events
                .first()
                .map_or(0, |newest| newest.id),
        };
        let mut watch = AuditWatch {
            client: self.clone(),
            after_id,
            stream: None,
            pending: VecDeque::new(),
        };
        watch.open().await?;
        Ok(watch)
    }
}

/// A WatchAuditEvents stream that resumes after the last event it handed
/// out when the server ends it (a replica shutting down, a lost
/// connection), so no event is missed or repeated across reconnects. The
/// client's [`RetryPolicy`](crate::RetryPolicy), if any, paces reconnects.
/// [`next`](Self::next) is cancel-safe: an event it was about to return
/// stays queued.
#[derive(Debug)]
pub struct AuditWatch {
    client: Client,
    /// The last event handed out, or where the watch started.
    after_id: i64,
    stream: Option<Streaming<pb::WatchAuditEventsResponse>>,
    pending: VecDeque<pb::AuditEvent>,
}

impl AuditWatch {
    /// The next event, waiting as long as it takes. Fails on an error a
    /// reconnect cannot cure (the key revoked, `audit.read` removed), and on
    /// UNAVAILABLE when reconnecting does not succeed.
    pub async fn next(&mut self) -> Result<pb::AuditEvent, Error> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after_id = event.id;
                return Ok(event);
            }
            let stream = match self.stream.as_mut() {
                Some(stream) => stream,
                None => self.open().await?,
            };
            match stream.message().await {
                Ok(Some(batch)) => self.pending.extend(batch.events),
                // The server ended the stream: resume.
                Ok(None) => self.stream = None,
                Err(status) => {
                    self.stream = None;
                    // A status with a source came from the transport (a
                    // reset, a closed connection), not from the server:
                    // as resumable as the UNAVAILABLE a shutdown sends.
                    let broken = status.source().is_some();
                    let error = Error::from(status);
                    if !(broken || error.is_unavailable()) {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// The id of the last event [`next`](Self::next) returned (before the
    /// first: the id the watch started after). Resuming from it later,
    /// with [`Client::watch_audit_events`], misses nothing.
    pub fn last_id(&self) -> i64 {
        self.after_id
    }

    async fn open(&mut self) -> Result<&mut Streaming<pb::WatchAuditEventsResponse>, Error> {
        let request = pb::WatchAuditEventsRequest {
            after_id: Some(self.after_id),
        };
        let opened = self
            .client
            .call_admin(Repeat::Safe, request, |mut admin, request| async move {
                admin.watch_audit_events(request).await
            })
            .await?;
        Ok(self.stream.insert(opened))
    }
}
