//! The admin console's sessions: opened for a caller its key just
//! authenticated, re-checked on every page against the user's current key,
//! ended by their user, and the one place a just-generated key waits for
//! the page that shows it once.
//!
//! The database holds a session's id hashed, the user, the key id the
//! session was opened with, its CSRF token and its clocks; no key, and
//! nothing that opens the stashed new key (sealed under a key derived from
//! the session id, which only the browser's cookie holds).

use crate::domain::{
    AuthFailure, DomainError,
    key_format::KeyId,
    model::{
        AuditAction, ConsoleSession, MAX_SESSIONS_PER_USER, NEW_KEY_TTL_SECS, NewAuditEvent,
        Origin, Principal, SESSION_ABSOLUTE_TIMEOUT_SECS, SESSION_IDLE_TIMEOUT_SECS, SessionEnded,
        SessionId, Timestamp,
    },
};
use crate::store::SessionCutoffs;

use super::Directory;

const SECOND: i64 = 1_000_000;
/// A session's `seen_time` is written at most this often: a page view is
/// a read, not a write, unless the idle clock has moved a minute.
const TOUCH_EVERY_SECS: i64 = 60;

fn seconds_before(now: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_micros(now.as_micros() - seconds * SECOND)
}

impl Directory {
    /// Opens a console session for `caller`, whose key just authenticated,
    /// and records the sign-in. The id goes to the browser; the database
    /// keeps its hash.
    pub async fn open_console_session(
        &self,
        caller: &Principal,
        origin: &Origin,
    ) -> Result<(SessionId, ConsoleSession), DomainError> {
        let no_randomness = || DomainError::internal("no OS randomness for a console session");
        let id = SessionId::generate().ok_or_else(no_randomness)?;
        let csrf = SessionId::generate().ok_or_else(no_randomness)?;
        let now = Timestamp::now();
        let session = ConsoleSession {
            id_hash: id.hash(),
            user_id: caller.user_id,
            key_id: caller.key_id.clone(),
            csrf: csrf.to_cookie(),
            create_time: now,
            seen_time: now,
        };
        let event = NewAuditEvent::console_signed_in(origin, caller, &session.id_hash);
        let cutoffs = SessionCutoffs {
            idle_before: seconds_before(now, SESSION_IDLE_TIMEOUT_SECS),
            opened_before: seconds_before(now, SESSION_ABSOLUTE_TIMEOUT_SECS),
        };
        let stored = session.clone();
        self.write(move |store| async move {
            store
                .open_console_session(&stored, &event, cutoffs, MAX_SESSIONS_PER_USER)
                .await
        })
        .await?;
        self.recorded(AuditAction::ConsoleSignedIn);
        Ok((id, session))
    }

    /// The open session `id` names, if it has not timed out. A timed-out
    /// session is deleted on the way.
    pub async fn console_session(
        &self,
        id: &SessionId,
    ) -> Result<Result<ConsoleSession, SessionEnded>, DomainError> {
        let id_hash = id.hash();
        let Some(session) = self.store.console_session(&id_hash).await? else {
            return Ok(Err(SessionEnded::Absent));
        };
        let now = Timestamp::now();
        if let Some(ended) = session.timed_out_at(now) {
            self.store.forget_console_session(&id_hash).await?;
            return Ok(Err(ended));
        }
        if now.as_micros() - session.seen_time.as_micros() >= TOUCH_EVERY_SECS * SECOND {
            self.store.touch_console_session(&id_hash, now).await?;
        }
        Ok(Ok(session))
    }

    /// Authenticates a console page's call: the session's user, while
    /// `key_id` (the key the session was opened with) is still that
    /// user's current, unexpired key and the user is enabled. Fails as a
    /// revoked, expired or disabled key would.
    pub async fn authenticate_session(
        &self,
        user_id: i64,
        key_id: &KeyId,
    ) -> Result<Principal, DomainError> {
        let failure = match self.store.credential(key_id).await? {
            Some(credential) if credential.principal.user_id == user_id => {
                if credential.authenticates_at(Timestamp::now()) {
                    return Ok(credential.principal);
                }
                if credential.user_disabled {
                    AuthFailure::UserDisabled
                } else {
                    AuthFailure::Expired
                }
            }
            _ => AuthFailure::NotValid,
        };
        Err(DomainError::Unauthenticated(failure))
    }

    /// Deletes session `id`, found no longer authenticating (its key
    /// revoked or replaced, its user disabled): nothing to record, the
    /// change that ended it was.
    pub async fn forget_console_session(&self, id: &SessionId) -> Result<(), DomainError> {
        Ok(self.store.forget_console_session(&id.hash()).await?)
    }

    /// Signs `caller` out of session `id` (`Some`) or of every session it
    /// has (`None`), recording it. Returns how many sessions ended.
    pub async fn sign_out(
        &self,
        caller: &Principal,
        id: Option<&SessionId>,
        origin: &Origin,
    ) -> Result<u64, DomainError> {
        let id_hash = id.map(SessionId::hash);
        let caller = caller.clone();
        let origin = origin.clone();
        let user_id = caller.user_id;
        let ended = self
            .write(move |store| async move {
                store
                    .end_console_sessions(user_id, id_hash.as_deref(), |ended| {
                        NewAuditEvent::console_signed_out(
                            &origin,
                            &caller,
                            id_hash.as_deref(),
                            ended,
                        )
                    })
                    .await
            })
            .await?;
        if ended > 0 {
            self.recorded(AuditAction::ConsoleSignedOut);
        }
        Ok(ended)
    }

    /// Session `id` goes on with `key_id`, the key it just generated for
    /// its own user (whose old key, the session's, stopped working).
    pub async fn rebind_console_session(
        &self,
        id: &SessionId,
        key_id: &KeyId,
    ) -> Result<(), DomainError> {
        Ok(self
            .store
            .rebind_console_session(&id.hash(), key_id)
            .await?)
    }

    /// Keeps `sealed`, a key session `id` just generated for `user_id`,
    /// for [`take_new_key`](Self::take_new_key).
    pub async fn stash_new_key(
        &self,
        id: &SessionId,
        user_id: i64,
        sealed: &str,
    ) -> Result<(), DomainError> {
        Ok(self
            .store
            .stash_new_key(&id.hash(), user_id, sealed, Timestamp::now())
            .await?)
    }

    /// The key session `id` stashed for `user_id`, once, within
    /// [`NEW_KEY_TTL_SECS`]: every later or concurrent call gets `None`.
    pub async fn take_new_key(
        &self,
        id: &SessionId,
        user_id: i64,
    ) -> Result<Option<String>, DomainError> {
        let taken = self.store.take_new_key(&id.hash(), user_id).await?;
        let now = Timestamp::now();
        Ok(taken.and_then(|(sealed, time)| {
            (now.as_micros() - time.as_micros() < NEW_KEY_TTL_SECS * SECOND).then_some(sealed)
        }))
    }
}
