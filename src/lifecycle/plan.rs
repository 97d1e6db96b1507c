//! What matching does to a run, decided without I/O from the facts [`super::matching`] reads:
//! fresh, changed, revived, withdrawn, or waiting for a person to confirm a removal.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A selected booking as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub booking: i64,
    pub starts_at: DateTime<Utc>,
    pub revision: i64,
}

/// A target of the run as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub id: i64,
    pub booking: i64,
    pub affected: bool,
    pub withdrawn: bool,
    /// The booking's revision when it was last matched.
    pub revision: i64,
}

/// Everything matching decides from.
#[derive(Debug, Default)]
pub struct Facts {
    /// The bookings the selection holds now (active, in the window and scope).
    pub selected: Vec<Selected>,
    /// The run's targets so far.
    pub targets: Vec<Target>,
    /// Bookings another active outage already cancels.
    pub elsewhere: HashSet<i64>,
    /// Bookings that vanished from the export.
    pub gone: HashSet<i64>,
    pub now: DateTime<Utc>,
    /// Whether vanished bookings may leave the run (a person confirmed).
    pub confirm_removals: bool,
}

/// What matching does to a run: the rule "new, revived, changed, left" as data.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Bookings matched for the first time: their notifications are queued.
    pub fresh: Vec<i64>,
    /// Bookings that changed since they were matched: what is queued is refreshed.
    pub changed: Vec<i64>,
    /// Bookings back in the run after leaving it: re-queued, a waiting "stands" cancelled.
    pub revived: Vec<i64>,
    /// Targets whose booking left the run (cancelled, moved, amended out): withdrawn.
    pub withdraw: Vec<(i64, i64)>,
    /// Targets whose booking vanished from the export: stay affected until a person confirms.
    pub pending: Vec<i64>,
    /// Bookings the run affects after the plan.
    pub affected: u64,
    /// Bookings in the selection that another outage already tells.
    pub covered_elsewhere: u64,
}

/// Decides, without I/O, what matching does: a booking whose appointment has started is
/// neither notified nor withdrawn (its history stays); one another outage already cancels is
/// left to it; one that vanished from the export stays affected unless a person confirmed.
pub fn plan(f: &Facts) -> Plan {
    let by_booking: HashMap<i64, &Target> = f.targets.iter().map(|t| (t.booking, t)).collect();
    let mut p = Plan::default();
    for b in &f.selected {
        let upcoming = b.starts_at > f.now;
        let target = by_booking.get(&b.booking);
        if upcoming || target.is_some_and(|t| t.affected) {
            p.affected += 1;
        }
        match target {
            _ if !upcoming => {}
            None if f.elsewhere.contains(&b.booking) => {
                p.affected -= 1;
                p.covered_elsewhere += 1;
            }
            None => p.fresh.push(b.booking),
            Some(t) if t.withdrawn => p.revived.push(b.booking),
            Some(t) if t.revision != b.revision => p.changed.push(b.booking),
            Some(_) => {}
        }
    }
    let selected: HashSet<i64> = f.selected.iter().map(|b| b.booking).collect();
    let mut left: Vec<&Target> = f
        .targets
        .iter()
        .filter(|t| t.affected && !selected.contains(&t.booking))
        .collect();
    left.sort_by_key(|t| t.id);
    for t in left {
        if !f.confirm_removals && f.gone.contains(&t.booking) {
            p.pending.push(t.id);
            p.affected += 1;
        } else {
            p.withdraw.push((t.id, t.booking));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds after the epoch: the tests' now.
    const NOW: i64 = 1_000_000;

    /// A selected booking starting `starts_at` milliseconds after the epoch.
    fn sel(booking: i64, starts_at: i64, revision: i64) -> Selected {
        Selected {
            booking,
            starts_at: DateTime::from_timestamp_millis(starts_at).unwrap(),
            revision,
        }
    }

    fn target(id: i64, booking: i64, state: &str, revision: i64) -> Target {
        Target {
            id,
            booking,
            affected: state == "affected",
            withdrawn: state == "withdrawn",
            revision,
        }
    }

    fn facts(selected: Vec<Selected>, targets: Vec<Target>) -> Facts {
        Facts {
            selected,
            targets,
            now: DateTime::from_timestamp_millis(NOW).unwrap(),
            ..Facts::default()
        }
    }

    #[test]
    fn a_booking_matched_for_the_first_time_is_fresh() {
        let p = plan(&facts(vec![sel(1, NOW + 60_000, 1)], vec![]));
        assert_eq!((p.fresh, p.affected), (vec![1], 1));
    }

    #[test]
    fn an_appointment_that_has_started_is_neither_told_nor_withdrawn() {
        let f = facts(
            vec![sel(1, NOW - 1, 1), sel(2, NOW, 1)],
            vec![target(9, 2, "affected", 1)],
        );
        let p = plan(&f);
        assert_eq!(p.affected, 1, "only the one already in the run counts");
        assert!(p.fresh.is_empty() && p.changed.is_empty() && p.withdraw.is_empty());
    }

    #[test]
    fn a_changed_booking_is_refreshed_and_an_unchanged_one_left_alone() {
        let f = facts(
            vec![sel(1, NOW + 1, 2), sel(2, NOW + 1, 1)],
            vec![target(9, 1, "affected", 1), target(10, 2, "affected", 1)],
        );
        let p = plan(&f);
        assert_eq!((p.changed, p.fresh, p.affected), (vec![1], vec![], 2));
    }

    #[test]
    fn a_booking_amended_out_and_back_in_is_revived() {
        let f = facts(vec![sel(1, NOW + 1, 1)], vec![target(9, 1, "withdrawn", 1)]);
        let p = plan(&f);
        assert_eq!((p.revived, p.affected), (vec![1], 1));
    }

    #[test]
    fn a_booking_another_outage_tells_is_left_to_it() {
        let mut f = facts(vec![sel(1, NOW + 1, 1), sel(2, NOW + 1, 1)], vec![]);
        f.elsewhere.insert(2);
        let p = plan(&f);
        assert_eq!((p.fresh, p.affected, p.covered_elsewhere), (vec![1], 1, 1));
    }

    #[test]
    fn a_cancelled_or_moved_booking_is_withdrawn_a_vanished_one_waits_for_a_person() {
        let targets = vec![
            target(9, 1, "affected", 1), // cancelled or moved: not selected, still exported
            target(10, 2, "affected", 1), // vanished from the export
            target(11, 3, "withdrawn", 1),
        ];
        let mut f = facts(vec![], targets);
        f.gone.insert(2);
        let p = plan(&f);
        assert_eq!(
            (p.withdraw.clone(), p.pending.clone(), p.affected),
            (vec![(9, 1)], vec![10], 1)
        );
        f.confirm_removals = true;
        let p = plan(&f);
        assert_eq!(
            (p.withdraw, p.pending, p.affected),
            (vec![(9, 1), (10, 2)], vec![], 0)
        );
    }
}
