//! What a new key's page shows, as sealed for it between the POST that
//! generated the key and the page that shows it once: the key and the
//! facts the generating call returned with it, and its expiry in words.

use accesskey_proto::pb;

use super::layout::time;
use crate::domain::model::Timestamp;

/// What the key's page shows, as sealed for it: the key and the facts the
/// generating call returned with it.
pub(super) struct NewKeyNote {
    pub(super) key: String,
    pub(super) key_id: String,
    /// The key's `expire_time`, in seconds; `None`: it does not expire.
    pub(super) expire_seconds: Option<i64>,
}

/// The key id and expiry; never the key.
impl std::fmt::Debug for NewKeyNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeyNote")
            .field("key", &"<redacted>")
            .field("key_id", &self.key_id)
            .field("expire_seconds", &self.expire_seconds)
            .finish()
    }
}

impl NewKeyNote {
    pub(super) fn of(generated: &pb::GenerateAccessKeyResponse) -> Self {
        let info = generated.access_key_info.as_ref();
        Self {
            key: generated.access_key.clone(),
            key_id: info.map(|info| info.key_id.clone()).unwrap_or_default(),
            expire_seconds: info
                .and_then(|info| info.expire_time.as_ref())
                .map(|time| time.seconds),
        }
    }

    /// One line each: a key and a key id are `[0-9A-Za-z_]`, so never hold
    /// a line break.
    pub(super) fn to_bytes(&self) -> String {
        let expiry = self
            .expire_seconds
            .map_or_else(String::new, |seconds| seconds.to_string());
        format!("{}\n{}\n{expiry}", self.key, self.key_id)
    }

    pub(super) fn from_bytes(text: &str) -> Option<Self> {
        let mut lines = text.split('\n');
        let key = lines.next()?.to_owned();
        let key_id = lines.next()?.to_owned();
        let expire_seconds = match lines.next()? {
            "" => None,
            seconds => Some(seconds.parse().ok()?),
        };
        Some(Self {
            key,
            key_id,
            expire_seconds,
        })
    }
}

/// Until when a key works, in words: a key that stops at a UTC midnight
/// (as the console's date field makes them) works until the end of the
/// day before.
pub(super) fn expiry_words(expire_seconds: Option<i64>) -> String {
    let Some(seconds) = expire_seconds else {
        return "The key does not expire.".to_owned();
    };
    if seconds % 86_400 == 0
        && let Some(day) = Timestamp::from_parts(seconds - 86_400, 0)
    {
        let text = day.rfc3339();
        return format!(
            "Works until the end of {} (UTC).",
            text.get(..10).unwrap_or(&text)
        );
    }
    let at = prost_types::Timestamp { seconds, nanos: 0 };
    format!("Works until {}.", time(Some(&at), "—"))
}

#[cfg(test)]
mod tests {
    use super::{NewKeyNote, expiry_words};
    use crate::console::pages::keys::end_of_day;

    #[test]
    fn a_new_keys_note_round_trips_and_its_expiry_reads_as_a_day() {
        for expire_seconds in [None, Some(1_796_083_200)] {
            let note = NewKeyNote {
                key: "akey_abc_def".to_owned(),
                key_id: "abc".to_owned(),
                expire_seconds,
            };
            let back = NewKeyNote::from_bytes(&note.to_bytes()).expect("its own bytes");
            assert_eq!(
                (back.key, back.key_id, back.expire_seconds),
                (note.key, note.key_id, expire_seconds)
            );
        }
        assert!(NewKeyNote::from_bytes("a key alone").is_none());
        let shown = format!(
            "{:?}",
            NewKeyNote::from_bytes("akey_secret\nid\n").expect("note")
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(
            expiry_words(end_of_day("2027-03-31").map(|t| t.seconds)),
            "Works until the end of 2027-03-31 (UTC)."
        );
        assert_eq!(expiry_words(None), "The key does not expire.");
        assert_eq!(
            expiry_words(Some(1_796_083_201)),
            "Works until 2026-12-01 00:00:01 UTC."
        );
    }
}
