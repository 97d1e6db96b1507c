//! What the events of an export need to be read in order: which VEVENT is the current version
//! of its booking, which occurrences of recurring events are overridden, and which zone names
//! the file declares.
//!
//! iCalendar lets the same booking appear more than once: an update with a higher
//! `SEQUENCE`, or a `RECURRENCE-ID` override that replaces one occurrence of a recurring
//! event, possibly before the event it modifies. A streaming reader cannot take back a row
//! it has handed out, so it reads the file before it hands out any: [`Index::build`] keeps a
//! 64-bit fingerprint of each event's identity (UID and RECURRENCE-ID), 8 bytes an event, and
//! at its end only the fingerprints seen more than once. Only when there are such does
//! [`Index::resolve`] read the file once more and weigh the versions of just those events.
//! What is kept for the events then is the lines of the versions that lost, so a
//! million-event export without repeated UIDs costs 8 MB while it is indexed and nothing after.
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

/// What the passes before the reading learned.
#[derive(Debug)]
pub(crate) struct Index {
    /// The fingerprints of identities seen more than once, sorted; emptied by [`Index::resolve`].
    contested: Vec<u64>,
    /// The lines of the VEVENTs a later version supersedes, sorted.
    losers: Vec<u64>,
    overridden: HashMap<u128, HashSet<DateTime<Utc>>>,
    pub zones: Zones,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Winner {
    sequence: i64,
    /// DTSTAMP in seconds; a missing or unreadable one is the oldest.
    stamp: i64,
    /// Reversed so that among equals the earlier line is the greater.
    line: std::cmp::Reverse<u64>,
}

impl Index {
    /// The first pass: reads every block; whether the file was complete, `blocks` then tells.
    /// When [`Index::contested`], the file must be read once more by [`Index::resolve`].
    pub(crate) fn build<R: BufRead>(blocks: &mut Blocks<R>, tenant: Tz) -> io::Result<Index> {
        let mut index = Index {
            contested: Vec::new(),
            losers: Vec::new(),
            overridden: HashMap::new(),
            zones: Zones::new(tenant),
        };
        let mut fingerprints: Vec<u64> = Vec::new();
        let mut overrides: Vec<(u128, Property)> = Vec::new();
        while let Some(block) = blocks.next_block()? {
            match block {
                Block::TimeZone(tzid) => index.zones.declare(tzid),
                Block::Event(event) => {
                    let Some(uid) = uid(&event) else { continue };
                    let rid = event.prop("RECURRENCE-ID");
                    fingerprints.push(fingerprint(identity(uid, rid)));
                    if let Some(rid) = rid {
                        overrides.push((digest(&[uid]), rid.clone()));
                    }
                }
            }
        }
        fingerprints.sort_unstable();
        index.contested = fingerprints
            .chunk_by(|a, b| a == b)
            .filter(|same| same.len() > 1)
            .map(|same| same[0])
            .collect();
        // Resolved only now: a VTIMEZONE may follow the events that use it.
        for (uid, rid) in overrides {
            let instant = index.zones.when(&rid).ok().and_then(|w| w.instant());
            if let Some((at, _)) = instant {
                index.overridden.entry(uid).or_default().insert(at);
            }
        }
        Ok(index)
    }

    /// Whether some booking may be in the file more than once, so that [`Index::resolve`] must
    /// read it again before its events are.
    pub(crate) fn contested(&self) -> bool {
        !self.contested.is_empty()
    }

    /// The pass for repeated bookings: weighs the versions of the events whose fingerprint
    /// was seen more than once (by their full identity, since fingerprints may collide) and
    /// keeps the lines of those that lose.
    pub(crate) fn resolve<R: BufRead>(&mut self, blocks: &mut Blocks<R>) -> io::Result<()> {
        let mut versions: Vec<([u64; 2], Winner)> = Vec::new();
        while let Some(block) = blocks.next_block()? {
            let Block::Event(event) = block else { continue };
            let Some(uid) = uid(&event) else { continue };
            let identity = identity(uid, event.prop("RECURRENCE-ID"));
            if self.contested.binary_search(&fingerprint(identity)).is_ok() {
                // As halves: aligned to 8, a version takes 40 bytes instead of 48.
                let halves = [identity as u64, (identity >> 64) as u64];
                versions.push((halves, version(&event)));
            }
        }
        // The same identity together, its winner first.
        versions.sort_unstable_by(|(a, x), (b, y)| a.cmp(b).then(y.cmp(x)));
        self.losers = versions
            .chunk_by(|(a, _), (b, _)| a == b)
            .flat_map(|same| same[1..].iter().map(|(_, loser)| loser.line.0))
            .collect();
        self.losers.sort_unstable();
        self.contested = Vec::new();
        Ok(())
    }

    /// Whether the event is the version of its booking to import.
    pub(crate) fn is_current(&self, event: &Event) -> bool {
        self.losers.binary_search(&event.line).is_err()
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

/// How one version of a booking ranks against the others.
fn version(event: &Event) -> Winner {
    Winner {
        sequence: sequence(event),
        stamp: stamp(event),
        line: std::cmp::Reverse(event.line),
    }
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

/// The 64 bits of an identity that the first pass keeps for every event.
fn fingerprint(identity: u128) -> u64 {
    identity as u64
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

    fn blocks(text: &str) -> Blocks<&[u8]> {
        Blocks::new(ContentLines::new(text.as_bytes()))
    }

    fn events(text: &str) -> (Index, Vec<Event>) {
        let mut index =
            Index::build(&mut blocks(text), chrono_tz::Europe::Berlin).expect("in memory");
        if index.contested() {
            index.resolve(&mut blocks(text)).expect("in memory");
        }
        let mut blocks = blocks(text);
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

    #[test]
    fn distinct_bookings_need_no_second_look_and_leave_nothing_behind() {
        let text = "BEGIN:VCALENDAR\n\
            BEGIN:VEVENT\nUID:a\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:a\nRECURRENCE-ID:20260302T090000Z\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nEND:VEVENT\n\
            END:VCALENDAR\n";
        let index = Index::build(&mut blocks(text), chrono_tz::Europe::Berlin).expect("in memory");
        assert!(!index.contested());
        assert!(index.losers.is_empty());
        assert_eq!(current_lines(text), [2, 5, 9]);
    }

    #[test]
    fn a_fingerprint_seen_twice_is_weighed_by_the_whole_identity() {
        // Two bookings whose fingerprints stand for a collision: neither supersedes the other.
        let text = "BEGIN:VCALENDAR\n\
            BEGIN:VEVENT\nUID:a\nSEQUENCE:1\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nEND:VEVENT\n\
            BEGIN:VEVENT\nUID:b\nSEQUENCE:3\nEND:VEVENT\n\
            END:VCALENDAR\n";
        let mut index =
            Index::build(&mut blocks(text), chrono_tz::Europe::Berlin).expect("in memory");
        index.contested = vec![
            fingerprint(identity("a", None)),
            fingerprint(identity("b", None)),
        ];
        index.contested.sort_unstable();
        index.resolve(&mut blocks(text)).expect("in memory");
        assert_eq!(index.losers, [6]);
    }
}
