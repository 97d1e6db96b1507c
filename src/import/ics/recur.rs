//! Expanding a recurring VEVENT (`RRULE`, `RDATE`, `EXDATE`) into the starts of its
//! occurrences inside the import window, with the `rrule` crate doing the calendar arithmetic.
//!
//! Occurrences are computed in the zone of `DTSTART`, so a weekly 10:00 stays 10:00 across a
//! DST change. `DTSTART` itself is always the first occurrence (RFC 5545 §3.8.5.3), even
//! when the rule would not produce it. Occurrences named by an `EXDATE` (a date-time, or a
//! whole date) and those an override (`RECURRENCE-ID`) replaces are left out.
//!
//! `UNTIL` is rewritten to UTC before the rule is handed over: exporters write it floating
//! or as a bare date, which the crate refuses for a zoned start; both are read in the event's
//! zone (a date as the end of that day).

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rrule::{RRule, RRuleSet, Unvalidated};

use crate::domain::localtime::resolve_local;
use crate::import::ics::content::Event;
use crate::import::ics::when::{When, Zones, value};

/// More occurrences than this in one window is not a booking but a misread rule.
pub(crate) const MAX_OCCURRENCES: usize = 2000;
/// Occurrences walked through (also before the window) before giving up on a rule.
const MAX_EXAMINED: usize = 100_000;

/// The window occurrences must start in: `[from, until)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Starts of the event's occurrences in `window`, ascending, without the excluded and
/// `overridden` ones. `start` is the event's DTSTART, already read.
pub(crate) fn occurrences(
    event: &Event,
    start: When,
    zones: &Zones,
    window: Window,
    overridden: Option<&HashSet<DateTime<Utc>>>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let zone = start.zone(zones.tenant());
    let Some((first, _)) = start.instant() else {
        return Err("a recurring all-day event is not an appointment".to_string());
    };
    let rtz = rrule::Tz::Tz(zone);
    let dtstart = first.with_timezone(&rtz);
    let mut set = RRuleSet::new(dtstart).rdate(dtstart);
    for prop in event.props_named("RRULE") {
        // The crate slices its input by bytes; it only ever sees the characters a rule has.
        let allowed = |c: char| c.is_ascii_alphanumeric() || ";=,+-:".contains(c);
        if !prop.value.chars().all(allowed) {
            let reason = "holds characters no recurrence rule has";
            return Err(format!("line {}: RRULE {reason}", prop.line));
        }
        let text = utc_until(&prop.value, zone)?;
        let rule: RRule<Unvalidated> = text
            .parse()
            .map_err(|e| format!("line {}: RRULE cannot be read: {e}", prop.line))?;
        let rule = rule
            .validate(dtstart)
            .map_err(|e| format!("line {}: RRULE is not valid: {e}", prop.line))?;
        set = set.rrule(rule);
    }
    for prop in event.props_named("RDATE") {
        for when in zones.when_list(prop).map_err(|e| format!("RDATE: {e}"))? {
            let (at, _) = when.instant().ok_or("RDATE: a date without a time")?;
            set = set.rdate(at.with_timezone(&rtz));
        }
    }
    let excluded = Excluded::read(event, zones)?;
    let mut found = Vec::new();
    for (examined, occurrence) in (&set.limit()).into_iter().enumerate() {
        let at = occurrence.with_timezone(&Utc);
        if at >= window.until {
            break;
        }
        if examined >= MAX_EXAMINED {
            return Err(format!(
                "the recurrence has more than {MAX_EXAMINED} occurrences before the window ends"
            ));
        }
        let skip = at < window.from
            || found.last() == Some(&at)
            || excluded.contains(at, zone)
            || overridden.is_some_and(|set| set.contains(&at));
        if skip {
            continue;
        }
        if found.len() == MAX_OCCURRENCES {
            return Err(format!(
                "the recurrence has more than {MAX_OCCURRENCES} occurrences in the import window"
            ));
        }
        found.push(at);
    }
    Ok(found)
}

/// What the EXDATEs leave out: exact instants, or every occurrence on a date.
struct Excluded {
    instants: HashSet<DateTime<Utc>>,
    dates: HashSet<NaiveDate>,
}

impl Excluded {
    fn read(event: &Event, zones: &Zones) -> Result<Excluded, String> {
        let mut excluded = Excluded {
            instants: HashSet::new(),
            dates: HashSet::new(),
        };
        for prop in event.props_named("EXDATE") {
            let list = zones
                .when_list(prop)
                .map_err(|e| format!("line {}: EXDATE: {e}", prop.line))?;
            for when in list {
                match (when, when.instant()) {
                    (When::Date(date), _) => excluded.dates.insert(date),
                    (_, Some((at, _))) => excluded.instants.insert(at),
                    (_, None) => false,
                };
            }
        }
        Ok(excluded)
    }

    fn contains(&self, at: DateTime<Utc>, zone: Tz) -> bool {
        self.instants.contains(&at) || self.dates.contains(&at.with_timezone(&zone).date_naive())
    }
}

/// The rule with its `UNTIL` (if any) as a UTC date-time.
fn utc_until(rule: &str, zone: Tz) -> Result<String, String> {
    let parts: Vec<String> = rule
        .trim()
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((key, until)) if key.trim().eq_ignore_ascii_case("UNTIL") => {
                let at = match value(until.trim(), false, zone)? {
                    When::Utc(at) => at,
                    When::Local(local, tz) => resolve_local(tz, local),
                    When::Date(date) => {
                        let last = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
                        resolve_local(zone, date.and_time(last))
                    }
                };
                Ok(format!("UNTIL={}", at.format("%Y%m%dT%H%M%SZ")))
            }
            _ => Ok(part.to_string()),
        })
        .collect::<Result<_, String>>()
        .map_err(|e| format!("RRULE UNTIL: {e}"))?;
    Ok(parts.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ics::content::Property;
    use chrono_tz::Europe::Berlin;

    fn event(lines: &[&str]) -> Event {
        let props = lines
            .iter()
            .map(|l| Property::parse(1, l).expect("valid line"))
            .collect();
        Event {
            line: 1,
            props,
            broken: None,
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid instant")
    }

    fn window(from: &str, until: &str) -> Window {
        Window {
            from: utc(from),
            until: utc(until),
        }
    }

    fn expand(lines: &[&str], window: Window) -> Result<Vec<DateTime<Utc>>, String> {
        let zones = Zones::new(Berlin);
        let ev = event(lines);
        let start = zones.when(ev.prop("DTSTART").expect("has DTSTART"))?;
        occurrences(&ev, start, &zones, window, None)
    }

    #[test]
    fn a_weekly_rule_keeps_its_wall_clock_time_across_dst() {
        let got = expand(
            &[
                "DTSTART;TZID=Europe/Berlin:20260316T100000",
                "RRULE:FREQ=WEEKLY;COUNT=3",
            ],
            window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        );
        let want = [
            "2026-03-16T09:00:00Z",
            "2026-03-23T09:00:00Z",
            "2026-03-30T08:00:00Z",
        ];
        assert_eq!(got, Ok(want.map(utc).to_vec()));
    }

    #[test]
    fn only_occurrences_inside_the_window_are_given() {
        let got = expand(
            &["DTSTART:20260105T090000Z", "RRULE:FREQ=DAILY"],
            window("2026-02-01T00:00:00Z", "2026-02-03T12:00:00Z"),
        );
        let want = [
            "2026-02-01T09:00:00Z",
            "2026-02-02T09:00:00Z",
            "2026-02-03T09:00:00Z",
        ];
        assert_eq!(got, Ok(want.map(utc).to_vec()));
    }

    #[test]
    fn exdates_remove_an_instant_or_a_whole_day() {
        let got = expand(
            &[
                "DTSTART;TZID=Europe/Berlin:20260302T100000",
                "RRULE:FREQ=DAILY;UNTIL=20260306",
                "EXDATE;TZID=Europe/Berlin:20260303T100000",
                "EXDATE;VALUE=DATE:20260305",
            ],
            window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        );
        let want = [
            "2026-03-02T09:00:00Z",
            "2026-03-04T09:00:00Z",
            "2026-03-06T09:00:00Z",
        ];
        assert_eq!(got, Ok(want.map(utc).to_vec()));
    }

    #[test]
    fn a_floating_until_is_read_in_the_events_zone() {
        let got = expand(
            &[
                "DTSTART;TZID=Europe/Berlin:20260302T100000",
                "RRULE:FREQ=DAILY;UNTIL=20260303T100000",
            ],
            window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        );
        assert_eq!(got.map(|v| v.len()), Ok(2));
    }

    #[test]
    fn dtstart_counts_even_when_the_rule_skips_it() {
        let got = expand(
            &[
                "DTSTART:20260303T090000Z",
                "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=1",
            ],
            window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        );
        let want = ["2026-03-03T09:00:00Z", "2026-03-09T09:00:00Z"];
        assert_eq!(got, Ok(want.map(utc).to_vec()));
    }

    #[test]
    fn a_runaway_or_broken_rule_is_refused() {
        let wide = window("2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z");
        let err = expand(&["DTSTART:20260101T000000Z", "RRULE:FREQ=MINUTELY"], wide)
            .expect_err("too many");
        assert!(err.contains("more than"), "{err}");
        let err = expand(&["DTSTART:20260101T000000Z", "RRULE:FREQ=SOMETIMES"], wide)
            .expect_err("unknown frequency");
        assert!(err.contains("RRULE"), "{err}");
        let err = expand(
            &["DTSTART:20260101T000000Z", "RRULE:FREQ=WEEKLY;BYDAY=TñU"],
            wide,
        )
        .expect_err("not a rule's character");
        assert!(err.contains("RRULE"), "{err}");
        let err = expand(&["DTSTART:19000101T000000Z", "RRULE:FREQ=SECONDLY"], wide)
            .expect_err("too far to walk");
        assert!(err.contains("before the window"), "{err}");
    }
}
