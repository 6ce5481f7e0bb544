//! Points in time, as the store keeps them and protobuf carries them.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in microseconds since the Unix epoch (UTC).
///
/// Stored as an integer so SQLite, PostgreSQL and MySQL agree on range and
/// precision (MySQL's TIMESTAMP stops in 2038).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The latest representable time: 9999-12-31T23:59:59Z, as protobuf's
    /// Timestamp allows.
    const MAX_SECONDS: i64 = 253_402_300_799;
    const MIN_SECONDS: i64 = -62_135_596_800;

    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(micros)
    }

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// From protobuf's (seconds, nanos), rejecting values it does not allow.
    pub fn from_parts(seconds: i64, nanos: i32) -> Option<Self> {
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&seconds)
            || !(0..1_000_000_000).contains(&nanos)
        {
            return None;
        }
        Some(Self(seconds * 1_000_000 + i64::from(nanos / 1_000)))
    }

    /// As RFC 3339 text in UTC, e.g. `2026-12-01T12:00:00.5Z`.
    pub fn rfc3339(self) -> String {
        let (seconds, nanos) = self.to_parts();
        prost_types::Timestamp { seconds, nanos }.to_string()
    }

    /// To protobuf's (seconds, nanos).
    pub fn to_parts(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        // rem_euclid(1e6) < 1e6, so × 1000 fits in i32.
        (seconds, i32::try_from(micros * 1_000).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_protobuf_parts() {
        let time = Timestamp::from_parts(1_700_000_000, 123_456_000).expect("in range");
        assert_eq!(time.to_parts(), (1_700_000_000, 123_456_000));
        let before_epoch = Timestamp::from_parts(-1, 500_000_000).expect("in range");
        assert_eq!(before_epoch.to_parts(), (-1, 500_000_000));
        assert!(Timestamp::from_parts(0, -1).is_none());
        assert!(Timestamp::from_parts(i64::MAX, 0).is_none());
    }
}
