//! Console sessions as the rules see them: the random id only a browser's
//! cookie holds, and what the database keeps about the session (never the
//! id, never a key).

use std::fmt;

use ring::digest::{SHA256, digest};

use super::Timestamp;
use crate::domain::key_format::KeyId;

/// A session unused this long is over.
pub const SESSION_IDLE_TIMEOUT_SECS: i64 = 15 * 60;
/// A session is over this long after sign-in, used or not.
pub const SESSION_ABSOLUTE_TIMEOUT_SECS: i64 = 8 * 3600;
/// Sessions one user may hold at once; signing in again beyond this ends
/// the oldest, so nobody can grow the table without bound.
pub const MAX_SESSIONS_PER_USER: u64 = 16;
/// How long a just-generated key waits for the page that shows it once.
pub const NEW_KEY_TTL_SECS: i64 = 120;

/// A session's id: 256 random bits, in the browser's cookie and nowhere
/// else. The database keeps its SHA-256 ([`SessionId::hash`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; 32]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl SessionId {
    /// A fresh id; `None` without OS randomness.
    pub fn generate() -> Option<Self> {
        let mut id = [0u8; 32];
        getrandom::fill(&mut id).ok()?;
        Some(Self(id))
    }

    /// The id a cookie value holds: exactly 64 lower-case hex digits.
    pub fn parse(cookie: &str) -> Option<Self> {
        if cookie.len() != 64
            || !cookie
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(cookie, &mut id).ok()?;
        Some(Self(id))
    }

    /// The cookie's value.
    pub fn to_cookie(&self) -> String {
        hex::encode(self.0)
    }

    /// What the database keys the session by: its SHA-256, hex. A
    /// preimage is out of reach, so a database dump names no session.
    pub fn hash(&self) -> String {
        hex::encode(digest(&SHA256, &self.0))
    }

    /// A 32-byte key for `purpose`, derived from the id (so from the
    /// cookie alone, never from anything the database holds).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut input = Vec::with_capacity(purpose.len() + 1 + 32);
        input.extend_from_slice(purpose.as_bytes());
        input.push(0);
        input.extend_from_slice(&self.0);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, &input).as_ref());
        key
    }
}

/// What the database keeps about a signed-in console browser.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub user_id: i64,
    /// The key the session was opened with; the session lives only while
    /// it is the user's current key.
    pub key_id: KeyId,
    /// Sent back in every form.
    pub csrf: String,
    pub create_time: Timestamp,
    pub seen_time: Timestamp,
}

impl fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("user_id", &self.user_id)
            .field("key_id", &self.key_id)
            .field("create_time", &self.create_time)
            .field("seen_time", &self.seen_time)
            .finish_non_exhaustive()
    }
}

/// Why a session cookie signs nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// No such session: never opened, signed out, or ended everywhere.
    Absent,
    /// Unused for longer than [`SESSION_IDLE_TIMEOUT_SECS`].
    Idle,
    /// Older than [`SESSION_ABSOLUTE_TIMEOUT_SECS`].
    Expired,
}

impl ConsoleSession {
    /// Whether the session is still open at `now` by its two clocks.
    pub fn timed_out_at(&self, now: Timestamp) -> Option<SessionEnded> {
        let since = |then: Timestamp| (now.as_micros() - then.as_micros()) / 1_000_000;
        if since(self.create_time) >= SESSION_ABSOLUTE_TIMEOUT_SECS {
            Some(SessionEnded::Expired)
        } else if since(self.seen_time) >= SESSION_IDLE_TIMEOUT_SECS {
            Some(SessionEnded::Idle)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000_000;
    const SECOND: i64 = 1_000_000;

    fn session() -> ConsoleSession {
        ConsoleSession {
            id_hash: "h".into(),
            user_id: 1,
            key_id: KeyId::from_stored("k".into()),
            csrf: "c".into(),
            create_time: Timestamp::from_micros(T0),
            seen_time: Timestamp::from_micros(T0),
        }
    }

    #[test]
    fn an_id_round_trips_through_its_cookie_and_hides_in_debug() {
        let id = SessionId::generate().expect("random");
        let cookie = id.to_cookie();
        assert_eq!(SessionId::parse(&cookie), Some(id.clone()));
        assert!(!format!("{id:?}").contains(&cookie));
        assert_ne!(id.hash(), cookie);
        assert_ne!(id.derive_key("a"), id.derive_key("b"));
    }

    #[test]
    fn only_64_lower_case_hex_digits_are_an_id() {
        let cookie = SessionId::generate().expect("random").to_cookie();
        assert!(SessionId::parse(&cookie.to_uppercase()).is_none());
        assert!(SessionId::parse(&cookie[1..]).is_none());
        assert!(SessionId::parse(&format!("{cookie}0")).is_none());
        assert!(SessionId::parse("").is_none());
    }

    #[test]
    fn fifteen_idle_minutes_or_eight_hours_end_a_session() {
        let mut s = session();
        let at = |seconds: i64| Timestamp::from_micros(T0 + seconds * SECOND);
        assert_eq!(s.timed_out_at(at(SESSION_IDLE_TIMEOUT_SECS - 1)), None);
        assert_eq!(
            s.timed_out_at(at(SESSION_IDLE_TIMEOUT_SECS)),
            Some(SessionEnded::Idle)
        );
        s.seen_time = at(SESSION_ABSOLUTE_TIMEOUT_SECS - 60);
        assert_eq!(s.timed_out_at(at(SESSION_ABSOLUTE_TIMEOUT_SECS - 1)), None);
        assert_eq!(
            s.timed_out_at(at(SESSION_ABSOLUTE_TIMEOUT_SECS)),
            Some(SessionEnded::Expired)
        );
    }
}
