//! The first of two passes over an export: which VEVENT is the current version of its
//! booking, which occurrences of recurring events are overridden, and which zone names the
//! file declares.
//!
//! iCalendar lets the same booking appear more than once: an update with a higher
//! `SEQUENCE`, or a `RECURRENCE-ID` override that replaces one occurrence of a recurring
//! event, possibly before the event it modifies. A streaming reader cannot take back a row
//! it has handed out, so it reads the file twice and keeps in between only this index:
//! per (UID, RECURRENCE-ID) the line of the winning VEVENT, and per recurring UID the
//! overridden instants. UIDs are kept as 128-bit digests (40 bytes an event): a
//! million-event export peaked at about 160 MB in all, whatever the length of its UIDs.
//!
//! The winner is the highest `SEQUENCE`, then the latest `DTSTAMP`, then the first in the
//! file. Losers are skipped silently (they are history, not errors) and counted.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::import::ics::content::{Block, Blocks, Event, Property};
use crate::import::ics::when::{When, Zones, value};

/// What the first pass learned.
#[derive(Debug)]
pub(crate) struct Index {
    winners: HashMap<u128, Winner>,
    overridden: HashMap<u128, HashSet<DateTime<Utc>>>,
    pub zones: Zones,
    /// How many VEVENTs the file holds.
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Winner {
    sequence: i64,
    /// DTSTAMP in seconds; a missing or unreadable one is the oldest.
    stamp: i64,
    /// Reversed so that among equals the earlier line is the greater.
    line: std::cmp::Reverse<u64>,
}

impl Index {
    /// Reads every block; whether the file was complete, `blocks` then tells.
    pub(crate) fn build<R: BufRead>(blocks: &mut Blocks<R>, tenant: Tz) -> io::Result<Index> {
        let mut index = Index {
            winners: HashMap::new(),
            overridden: HashMap::new(),
            zones: Zones::new(tenant),
            events: 0,
        };
        let mut overrides: Vec<(u128, Property)> = Vec::new();
        while let Some(block) = blocks.next_block()? {
            match block {
                Block::TimeZone(tzid) => index.zones.declare(tzid),
                Block::Event(event) => {
                    index.events += 1;
                    if let Some(rid) = index.note(&event) {
                        overrides.push(rid);
                    }
                }
            }
        }
        // Resolved only now: a VTIMEZONE may follow the events that use it.
        for (uid, rid) in overrides {
            let instant = index.zones.when(&rid).ok().and_then(|w| w.instant());
            if let Some((at, _)) = instant {
                index.overridden.entry(uid).or_default().insert(at);
            }
        }
        Ok(index)
    }

    /// Records one event; returns its RECURRENCE-ID when it is an override.
    fn note(&mut self, event: &Event) -> Option<(u128, Property)> {
        let uid = uid(event)?;
        let rid = event.prop("RECURRENCE-ID");
        let candidate = Winner {
            sequence: sequence(event),
            stamp: stamp(event),
            line: std::cmp::Reverse(event.line),
        };
        let slot = self
            .winners
            .entry(identity(uid, rid))
            .or_insert_with(|| candidate.clone());
        if candidate > *slot {
            *slot = candidate;
        }
        rid.map(|rid| (digest(&[uid]), rid.clone()))
    }

    /// Whether the event on `line` is the version of its booking to import.
    pub(crate) fn is_current(&self, event: &Event) -> bool {
        let Some(uid) = uid(event) else {
            return true; // rejected later for its missing UID
        };
        let rid = event.prop("RECURRENCE-ID");
        self.winners
            .get(&identity(uid, rid))
            .is_none_or(|winner| winner.line.0 == event.line)
    }

    /// The instants of `uid`'s occurrences that an override replaces.
    pub(crate) fn overridden(&self, uid: &str) -> Option<&HashSet<DateTime<Utc>>> {
        self.overridden.get(&digest(&[uid]))
    }
}

/// The event's UID, trimmed; `None` when missing or blank.
pub(crate) fn uid(event: &Event) -> Option<&str> {
    event
        .prop("UID")
        .map(|p| p.value.trim())
        .filter(|uid| !uid.is_empty())
}

fn sequence(event: &Event) -> i64 {
    event
        .prop("SEQUENCE")
        .and_then(|p| p.value.trim().parse().ok())
        .unwrap_or(0)
}

fn stamp(event: &Event) -> i64 {
    let when = event
        .prop("DTSTAMP")
        .and_then(|p| value(p.value.trim(), false, Tz::UTC).ok());
    when.and_then(When::instant)
        .map_or(i64::MIN, |(at, _)| at.timestamp())
}

fn identity(uid: &str, rid: Option<&Property>) -> u128 {
    match rid {
        Some(rid) => {
            let tzid = rid.param("TZID").unwrap_or_default();
            digest(&[uid, tzid, rid.value.trim()])
        }
        None => digest(&[uid]),
    }
}

/// 128 bits of SHA-256 over the parts, each length-prefixed so parts cannot run together.
fn digest(parts: &[&str]) -> u128 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let hash = hasher.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ics::content::ContentLines;

    fn events(text: &str) -> (Index, Vec<Event>) {
        let mut blocks = Blocks::new(ContentLines::new(text.as_bytes()));
        let index = Index::build(&mut blocks, chrono_tz::Europe::Berlin).expect("in memory");
        let mut blocks = Blocks::new(ContentLines::new(text.as_bytes()));
        let mut all = Vec::new();
        while let Some(block) = blocks.next_block().expect("in memory") {
            if let Block::Event(event) = block {
                all.push(event);
            }
        }
        (index, all)
    }

    fn current_lines(text: &str) -> Vec<u64> {
        let (index, all) = events(text);
        all.iter()
            .filter(|e| index.is_current(e))
            .map(|e| e.line)
            .collect()
    }

    #[test]
    fn the_highest_sequence_wins_wherever_it_stands() {
        let text = "BEGIN:VCALENDAR\n\
            BEGIN:VEVENT\nUID:a\nSEQUENCE:2\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:a\nSEQUENCE:1\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nEND:VEVENT\n\
            END:VCALENDAR\n";
        assert_eq!(current_lines(text), [2, 10]);
    }

    #[test]
    fn equal_sequences_go_by_dtstamp_then_by_order() {
        let text = "BEGIN:VCALENDAR\n\
            BEGIN:VEVENT\nUID:a\nDTSTAMP:20260101T000000Z\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:a\nDTSTAMP:20260102T000000Z\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nEND:VEVENT\n\
            END:VCALENDAR\n";
        assert_eq!(current_lines(text), [6, 10]);
    }

    #[test]
    fn an_override_is_its_own_booking_and_marks_its_occurrence() {
        let text = "BEGIN:VCALENDAR\n\
            BEGIN:VEVENT\nUID:a\nRECURRENCE-ID;TZID=Custom:20260302T100000\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:a\nRRULE:FREQ=WEEKLY\nEND:VEVENT\n\
            BEGIN:VTIMEZONE\nTZID:Custom\nEND:VTIMEZONE\n\
            END:VCALENDAR\n";
        assert_eq!(current_lines(text), [2, 6]);
        let (index, _) = events(text);
        let at: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().expect("valid");
        assert!(index.overridden("a").is_some_and(|set| set.contains(&at)));
        assert!(index.overridden("b").is_none());
    }
}
