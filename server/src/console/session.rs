//! The console session: the signed-in access key, the session's CSRF token
//! and its two clocks, sealed into one cookie. The server keeps nothing per
//! session; every request re-authenticates the sealed key through the same
//! path as a gRPC caller, so a revoked key, a disabled user or a removed
//! permission ends the session at the next click.

use std::time::Duration;

use super::seal::Sealer;

/// The session cookie's name.
pub(super) const SESSION_COOKIE: &str = "accesskey_session";
/// What the session is sealed for (see [`Sealer`]).
const PURPOSE: &str = "console-session-v1";
/// A session unused this long is over.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// A session is over this long after sign-in, used or not.
pub(super) const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// A signed-in browser's session.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Session {
    /// The access key the administrator signed in with.
    pub(super) key: String,
    /// Sent back in every form; a request that changes something without
    /// it did not come from a page this session was shown.
    pub(super) csrf: String,
    /// Seconds since the Unix epoch.
    pub(super) signed_in_at: u64,
    pub(super) seen_at: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("key", &"<redacted>")
            .field("signed_in_at", &self.signed_in_at)
            .field("seen_at", &self.seen_at)
            .finish_non_exhaustive()
    }
}

/// Why a session cookie does not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionEnded {
    /// No cookie, or one this service did not seal.
    Absent,
    /// Unused for longer than [`IDLE_TIMEOUT`].
    Idle,
    /// Older than [`ABSOLUTE_TIMEOUT`].
    Expired,
}

impl Session {
    /// A new session for `key`, signed in at `now`. `None` without OS
    /// randomness for the CSRF token.
    pub(super) fn begin(key: String, now: u64) -> Option<Self> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).ok()?;
        Some(Self {
            key,
            csrf: hex::encode(token),
            signed_in_at: now,
            seen_at: now,
        })
    }

    /// The session in `cookie`, if it was sealed by `sealer` and has not
    /// timed out at `now`.
    pub(super) fn open(
        sealer: &Sealer,
        cookie: Option<&str>,
        now: u64,
    ) -> Result<Self, SessionEnded> {
        let sealed = cookie.ok_or(SessionEnded::Absent)?;
        let plain = sealer.open(PURPOSE, sealed).ok_or(SessionEnded::Absent)?;
        let text = String::from_utf8(plain).map_err(|_| SessionEnded::Absent)?;
        let mut fields = text.splitn(4, '\n');
        let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
        let (Some(signed_in_at), Some(seen_at)) = (number(), number()) else {
            return Err(SessionEnded::Absent);
        };
        let (Some(csrf), Some(key)) = (fields.next(), fields.next()) else {
            return Err(SessionEnded::Absent);
        };
        if now.saturating_sub(signed_in_at) >= ABSOLUTE_TIMEOUT.as_secs() {
            return Err(SessionEnded::Expired);
        }
        if now.saturating_sub(seen_at) >= IDLE_TIMEOUT.as_secs() {
            return Err(SessionEnded::Idle);
        }
        Ok(Self {
            key: key.to_owned(),
            csrf: csrf.to_owned(),
            signed_in_at,
            seen_at,
        })
    }

    /// The session seen again at `now`, sealed for its cookie.
    pub(super) fn seal(&self, sealer: &Sealer, now: u64) -> Option<String> {
        let text = format!(
            "{}\n{}\n{}\n{}",
            self.signed_in_at, now, self.csrf, self.key
        );
        sealer.seal(PURPOSE, text.as_bytes())
    }
}

/// Seconds since the Unix epoch.
pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn sealer() -> Sealer {
        Sealer::new(&[7; 32]).expect("32 bytes")
    }

    fn cookie_at(session: &Session, seen: u64) -> String {
        session.seal(&sealer(), seen).expect("sealed")
    }

    #[test]
    fn a_session_round_trips_and_hides_its_key() {
        let session = Session::begin("ak_secret".to_owned(), T0).expect("random");
        let cookie = cookie_at(&session, T0);
        assert!(!cookie.contains("ak_secret"));
        assert_eq!(
            Session::open(&sealer(), Some(&cookie), T0 + 1),
            Ok(session.clone())
        );
        assert!(!format!("{session:?}").contains("ak_secret"));
    }

    #[test]
    fn fifteen_idle_minutes_end_a_session_and_use_keeps_it_alive() {
        let session = Session::begin("k".to_owned(), T0).expect("random");
        let idle = IDLE_TIMEOUT.as_secs();
        let cookie = cookie_at(&session, T0);
        assert_eq!(
            Session::open(&sealer(), Some(&cookie), T0 + idle),
            Err(SessionEnded::Idle)
        );
        // Seen 14 minutes in: alive for another 15 from then.
        let refreshed = cookie_at(&session, T0 + idle - 60);
        assert!(Session::open(&sealer(), Some(&refreshed), T0 + 2 * idle - 61).is_ok());
    }

    #[test]
    fn eight_hours_end_a_session_however_busy() {
        let session = Session::begin("k".to_owned(), T0).expect("random");
        let end = T0 + ABSOLUTE_TIMEOUT.as_secs();
        let cookie = cookie_at(&session, end - 1);
        assert!(Session::open(&sealer(), Some(&cookie), end - 1).is_ok());
        assert_eq!(
            Session::open(&sealer(), Some(&cookie), end),
            Err(SessionEnded::Expired)
        );
    }

    #[test]
    fn a_foreign_or_missing_cookie_signs_no_one_in() {
        assert_eq!(
            Session::open(&sealer(), None, T0),
            Err(SessionEnded::Absent)
        );
        assert_eq!(
            Session::open(&sealer(), Some("forged"), T0),
            Err(SessionEnded::Absent)
        );
        let other = Sealer::new(&[8; 32]).expect("32 bytes");
        let session = Session::begin("k".to_owned(), T0).expect("random");
        let cookie = session.seal(&other, T0).expect("sealed");
        assert_eq!(
            Session::open(&sealer(), Some(&cookie), T0),
            Err(SessionEnded::Absent)
        );
    }
}
