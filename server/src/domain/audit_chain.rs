//! The audit trail as a hash chain: every event stores the link of the one
//! before it and its own, a hash over that link and every field of the
//! event. An event edited in the database no longer matches its link; one
//! removed leaves a gap in the ids (which are consecutive: one counter,
//! taken in the change's own transaction) and a next event linking to
//! nothing; one inserted links to the wrong predecessor. Like CloudTrail's
//! log file validation, this is tamper *evidence*: with a pepper
//! configured the links are keyed (BLAKE2b-256 MAC under a key derived from
//! it), so a database writer without the pepper cannot forge a chain; without
//! one they are plain BLAKE2b-256 and a writer who rewrites every later link
//! goes unseen unless the head was kept elsewhere (`accesskey audit verify`
//! prints it).

use blake2::{
    Blake2b, Blake2bMac, Digest as _,
    digest::{Mac as _, Update, consts::U32},
};

use super::model::{Actor, AuditAction, AuditEvent, NewAuditEvent};

type KeyedLink = Blake2bMac<U32>;
type PlainLink = Blake2b<U32>;

/// Computes links: keyed when the server has a pepper.
#[derive(Clone, Default)]
pub struct AuditChain {
    key: Option<[u8; 32]>,
}

impl std::fmt::Debug for AuditChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditChain")
            .field("keyed", &self.key.is_some())
            .finish()
    }
}

impl AuditChain {
    /// Links keyed by `secret` (the pepper), or plain without one.
    pub fn new(secret: Option<&[u8]>) -> Self {
        let key = secret.map(|secret| {
            let mut key = [0u8; 32];
            key.copy_from_slice(
                &Blake2b::<U32>::new_with_prefix(b"accesskey audit chain")
                    .chain_update(secret)
                    .finalize(),
            );
            key
        });
        Self { key }
    }

    /// The link of event `id` following the link `previous` (`""` for the
    /// first event, or the first after events recorded without links), as
    /// 64 hex digits.
    pub fn link(&self, previous: &str, id: i64, event: &NewAuditEvent) -> String {
        let fields = canonical(previous, id, event);
        match &self.key {
            Some(key) => {
                #[expect(
                    clippy::expect_used,
                    reason = "the key is 32 bytes, and BLAKE2b takes keys of up to 64"
                )]
                let mut mac = <KeyedLink as blake2::digest::KeyInit>::new_from_slice(key)
                    .expect("a 32-byte key fits BLAKE2b");
                Update::update(&mut mac, &fields);
                hex::encode(mac.finalize().into_bytes())
            }
            None => hex::encode(PlainLink::digest(&fields)),
        }
    }
}

/// Every field, each length-prefixed, so that no two events share an
/// encoding.
fn canonical(previous: &str, id: i64, event: &NewAuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let text = |out: &mut Vec<u8>, value: &str| {
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    };
    text(&mut out, previous);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&event.time.as_micros().to_le_bytes());
    match &event.origin.actor {
        Actor::Host => out.push(0),
        Actor::User {
            user_id,
            username,
            key_id,
        } => {
            out.push(1);
            out.extend_from_slice(&user_id.to_le_bytes());
            text(&mut out, username);
            text(&mut out, key_id);
        }
    }
    text(&mut out, &event.origin.request_id);
    text(&mut out, &event.origin.client_request_id);
    text(&mut out, &event.origin.peer);
    text(&mut out, event.action.as_str());
    out.extend_from_slice(&event.target_user_id.to_le_bytes());
    text(&mut out, &event.target_username);
    // Only for events about a role: events recorded before roles existed
    // keep the links they were given.
    if !event.target_role.is_empty() {
        out.push(2);
        text(&mut out, &event.target_role);
    }
    out.extend_from_slice(&(event.changes.len() as u64).to_le_bytes());
    for change in &event.changes {
        text(&mut out, &change.field);
        for value in [&change.old, &change.new] {
            match value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    text(&mut out, value);
                }
            }
        }
    }
    out
}

/// The first thing wrong with the trail, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The event's fields or link no longer match what was recorded.
    Edited { id: i64 },
    /// The event does not follow the one before it: it was inserted, or
    /// the one before it was replaced.
    Inserted { id: i64 },
    /// Events between two kept ones are gone.
    Removed { after_id: i64, before_id: i64 },
    /// The oldest events are gone beyond what the recorded prunes deleted.
    RemovedAtStart { pruned_through: i64, first_id: i64 },
    /// The newest events are gone: the counter handed out more ids.
    RemovedAtEnd { last_id: i64, issued: i64 },
    /// An event has no link, though events before it have.
    Unlinked { id: i64 },
}

/// What a walk along the whole trail found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Events read.
    pub checked: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    /// Events older than the first link (recorded before links existed).
    pub unlinked_before: u64,
    /// The newest event's link: kept elsewhere, it proves later that
    /// nothing up to it was rewritten.
    pub head: String,
    pub fault: Option<ChainFault>,
}

/// Walks events in id order, stopping at the first fault.
#[derive(Debug)]
pub(crate) struct ChainWalk<'a> {
    chain: &'a AuditChain,
    report: ChainReport,
    /// The highest id a recorded prune deleted.
    pruned_through: i64,
}

impl<'a> ChainWalk<'a> {
    pub(crate) fn new(chain: &'a AuditChain) -> Self {
        Self {
            chain,
            report: ChainReport::default(),
            pruned_through: 0,
        }
    }

    /// Takes the next event; false once a fault is found.
    pub(crate) fn next(&mut self, recorded: &AuditEvent) -> bool {
        if self.report.fault.is_some() {
            return false;
        }
        let report = &mut self.report;
        report.checked += 1;
        let id = recorded.id;
        if recorded.event.action == AuditAction::AuditPruned {
            let through = recorded
                .event
                .changes
                .iter()
                .find(|change| change.field == "through_id")
                .and_then(|change| change.old.as_deref()?.parse::<i64>().ok());
            self.pruned_through = self.pruned_through.max(through.unwrap_or(0));
        }
        let previous_id = report.last_id.replace(id);
        report.first_id.get_or_insert(id);
        if let Some(previous_id) = previous_id
            && id != previous_id + 1
        {
            report.fault = Some(ChainFault::Removed {
                after_id: previous_id,
                before_id: id,
            });
            return false;
        }
        let link = &recorded.link;
        if link.hash.is_empty() {
            if report.head.is_empty() {
                report.unlinked_before += 1;
                return true;
            }
            report.fault = Some(ChainFault::Unlinked { id });
            return false;
        }
        let first_link = report.head.is_empty();
        if !first_link && link.previous != report.head {
            report.fault = Some(ChainFault::Inserted { id });
            return false;
        }
        if self.chain.link(&link.previous, id, &recorded.event) != link.hash {
            report.fault = Some(ChainFault::Edited { id });
            return false;
        }
        report.head.clone_from(&link.hash);
        true
    }

    /// The report, once every event was taken; `issued` is the last id the
    /// counter handed out (read after the last event).
    pub(crate) fn finish(mut self, issued: i64) -> ChainReport {
        let report = &mut self.report;
        if report.fault.is_some() {
            return self.report;
        }
        let last = report.last_id.unwrap_or(self.pruned_through);
        if let Some(first) = report.first_id
            && first > self.pruned_through + 1
        {
            report.fault = Some(ChainFault::RemovedAtStart {
                pruned_through: self.pruned_through,
                first_id: first,
            });
        } else if last < issued {
            report.fault = Some(ChainFault::RemovedAtEnd {
                last_id: last,
                issued,
            });
        } else if last > issued {
            // Past every id the counter handed out: written around it.
            report.fault = Some(ChainFault::Inserted { id: issued + 1 });
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ChainLink, FieldChange, NewAuditEvent, Origin, Timestamp};

    fn event(name: &str) -> NewAuditEvent {
        NewAuditEvent {
            time: Timestamp::from_micros(1_700_000_000_000_000),
            origin: Origin::host(),
            action: AuditAction::UserCreated,
            target_user_id: 7,
            target_username: name.to_owned(),
            target_role: String::new(),
            changes: vec![FieldChange {
                field: "username".to_owned(),
                old: None,
                new: Some(name.to_owned()),
            }],
        }
    }

    /// Events 1..=n linked by `chain`.
    fn trail(chain: &AuditChain, names: &[&str]) -> Vec<AuditEvent> {
        let mut previous = String::new();
        let mut events = Vec::new();
        for (id, name) in (1..).zip(names) {
            let event = event(name);
            let hash = chain.link(&previous, id, &event);
            events.push(AuditEvent {
                id,
                event,
                link: ChainLink {
                    previous: std::mem::replace(&mut previous, hash.clone()),
                    hash,
                },
            });
        }
        events
    }

    fn walk(chain: &AuditChain, events: &[AuditEvent], issued: i64) -> ChainReport {
        let mut walk = ChainWalk::new(chain);
        for event in events {
            if !walk.next(event) {
                break;
            }
        }
        walk.finish(issued)
    }

    #[test]
    fn an_untouched_trail_is_intact_and_its_head_is_the_newest_link() {
        let chain = AuditChain::new(None);
        let events = trail(&chain, &["a", "b", "c"]);
        let report = walk(&chain, &events, 3);
        assert_eq!(report.fault, None);
        assert_eq!(report.checked, 3);
        assert_eq!(report.head, events[2].link.hash);
    }

    /// A database writer without the pepper edits an event and recomputes
    /// its link the only way it can, unkeyed: the keyed walk still sees it.
    #[test]
    fn an_event_relinked_without_the_pepper_is_still_found_edited() {
        let keyed = AuditChain::new(Some(b"a pepper of thirty-two bytes!!!!"));
        let mut events = trail(&keyed, &["a", "b", "c"]);
        events[2].event.target_username = "mallory".to_owned();
        events[2].link.hash =
            AuditChain::new(None).link(&events[2].link.previous, 3, &events[2].event);
        assert_eq!(
            walk(&keyed, &events, 3).fault,
            Some(ChainFault::Edited { id: 3 })
        );
        assert_ne!(
            keyed.link("", 1, &event("a")),
            AuditChain::new(Some(b"another pepper of 32 bytes!!!!!!")).link("", 1, &event("a")),
            "links depend on the key"
        );
    }

    #[test]
    fn removals_and_insertions_are_named_by_the_first_event_concerned() {
        let chain = AuditChain::new(None);
        let events = trail(&chain, &["a", "b", "c", "d"]);
        let without_b: Vec<_> = events.iter().filter(|e| e.id != 2).cloned().collect();
        assert_eq!(
            walk(&chain, &without_b, 4).fault,
            Some(ChainFault::Removed {
                after_id: 1,
                before_id: 3
            })
        );
        assert_eq!(
            walk(&chain, &events[..3], 4).fault,
            Some(ChainFault::RemovedAtEnd {
                last_id: 3,
                issued: 4
            })
        );
        assert_eq!(
            walk(&chain, &events[1..], 4).fault,
            Some(ChainFault::RemovedAtStart {
                pruned_through: 0,
                first_id: 2
            })
        );
        let mut forged = trail(&chain, &["a", "x", "c", "d"]);
        forged[1..].clone_from_slice(&trail(&chain, &["z", "x", "c", "d"])[1..]);
        assert_eq!(
            walk(&chain, &forged, 4).fault,
            Some(ChainFault::Inserted { id: 2 }),
            "event 2 was made to follow another event 1"
        );
    }

    #[test]
    fn events_before_the_chain_are_counted_and_a_pruned_start_is_accepted() {
        let chain = AuditChain::new(None);
        let mut events = trail(&chain, &["a", "b", "c"]);
        events[0].link = ChainLink::default();
        // The chain starts at event 2, as after the migration.
        events[1].link.previous = String::new();
        events[1].link.hash = chain.link("", 2, &events[1].event);
        events[2].link.previous = events[1].link.hash.clone();
        events[2].link.hash = chain.link(&events[2].link.previous, 3, &events[2].event);
        let report = walk(&chain, &events, 3);
        assert_eq!((report.fault, report.unlinked_before), (None, 1));

        let pruned = NewAuditEvent::audit_pruned(5, 5, Timestamp::from_micros(0));
        let hash = chain.link("", 6, &pruned);
        let after_prune = [AuditEvent {
            id: 6,
            event: pruned,
            link: ChainLink {
                previous: String::new(),
                hash,
            },
        }];
        assert_eq!(walk(&chain, &after_prune, 6).fault, None);
    }
}
