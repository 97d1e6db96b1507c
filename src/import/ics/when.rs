//! iCalendar times (RFC 5545 §3.3.4–3.3.6): DATE and DATE-TIME values with their `TZID`, and
//! DURATION values.
//!
//! Time zones, in order: an IANA name (`Europe/Berlin`); an IANA name behind a vendor prefix
//! (`/mozilla.org/20050126_1/Europe/Berlin`); any other name that a VTIMEZONE in the file
//! declares (Outlook's `W. Europe Standard Time`) is taken as the tenant's zone, since the
//! export comes from the tenant's own office and its rules are not re-derived from the
//! VTIMEZONE; a name nobody declares rejects the event rather than guess. UTC times (`Z`)
//! are instants; floating times (no zone) are read in the tenant's zone. Local times that
//! do not exist or exist twice follow [`crate::domain::localtime`].

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::domain::localtime::{LocalResolution, resolve_local_detailed};
use crate::import::ics::content::Property;

/// A DATE or DATE-TIME value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// A date without a time (`VALUE=DATE`): all day.
    Date(NaiveDate),
    /// A wall-clock time in a zone (its `TZID`, or the tenant's for a floating time).
    Local(NaiveDateTime, Tz),
    /// A UTC time (`…Z`).
    Utc(DateTime<Utc>),
}

impl When {
    /// The instant, and how a local time was resolved; `None` for a date.
    pub(crate) fn instant(self) -> Option<(DateTime<Utc>, LocalResolution)> {
        match self {
            When::Date(_) => None,
            When::Local(local, tz) => Some(resolve_local_detailed(tz, local)),
            When::Utc(at) => Some((at, LocalResolution::Exact)),
        }
    }

    /// The zone occurrences of a recurrence are computed in.
    pub(crate) fn zone(self, tenant: Tz) -> Tz {
        match self {
            When::Local(_, tz) => tz,
            When::Utc(_) => Tz::UTC,
            When::Date(_) => tenant,
        }
    }
}

/// The zones an export can name: IANA ones, and those its VTIMEZONEs declare.
#[derive(Debug, Clone)]
pub(crate) struct Zones {
    declared: HashSet<String>,
    tenant: Tz,
}

impl Zones {
    pub(crate) fn new(tenant: Tz) -> Zones {
        Zones {
            declared: HashSet::new(),
            tenant,
        }
    }

    pub(crate) fn tenant(&self) -> Tz {
        self.tenant
    }

    /// Notes a TZID declared by a VTIMEZONE.
    pub(crate) fn declare(&mut self, tzid: String) {
        self.declared.insert(tzid);
    }

    /// The zone a `TZID` parameter names, by the rules in the module documentation.
    pub(crate) fn resolve(&self, tzid: &str) -> Result<Tz, String> {
        let tzid = tzid.trim();
        if let Ok(tz) = tzid.parse::<Tz>() {
            return Ok(tz);
        }
        let behind_prefix = tzid
            .match_indices('/')
            .find_map(|(at, _)| tzid[at + 1..].parse::<Tz>().ok());
        if let Some(tz) = behind_prefix {
            return Ok(tz);
        }
        if self.declared.contains(tzid) {
            return Ok(self.tenant);
        }
        Err(format!(
            "the time zone {} is neither an IANA name nor declared by a VTIMEZONE in the file",
            shown(tzid)
        ))
    }

    /// A property's single DATE or DATE-TIME value.
    pub(crate) fn when(&self, prop: &Property) -> Result<When, String> {
        let zone = self.zone_of(prop)?;
        value(prop.value.trim(), is_date(prop), zone)
    }

    /// A property's comma-separated values (EXDATE, RDATE).
    pub(crate) fn when_list(&self, prop: &Property) -> Result<Vec<When>, String> {
        let zone = self.zone_of(prop)?;
        prop.value
            .split(',')
            .map(|one| value(one.trim(), is_date(prop), zone))
            .collect()
    }

    fn zone_of(&self, prop: &Property) -> Result<Tz, String> {
        match prop.param("TZID") {
            Some(tzid) => self.resolve(tzid),
            None => Ok(self.tenant),
        }
    }
}

fn is_date(prop: &Property) -> bool {
    prop.param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
}

/// `20260302`, `20260302T103000` (in `zone`) or `20260302T093000Z`.
pub(crate) fn value(text: &str, date_only: bool, zone: Tz) -> Result<When, String> {
    let bad = || {
        format!(
            "{} is not an iCalendar date-time like 20260302T103000",
            shown(text)
        )
    };
    if date_only || text.len() == 8 {
        return NaiveDate::parse_from_str(text, "%Y%m%d")
            .map(When::Date)
            .map_err(|_| bad());
    }
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        return parse_local(utc)
            .map(|at| When::Utc(at.and_utc()))
            .ok_or_else(bad);
    }
    parse_local(text)
        .map(|local| When::Local(local, zone))
        .ok_or_else(bad)
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    if text.len() != 15 || !text.is_ascii() {
        return None;
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").ok()
}

/// A DURATION value (`PT30M`, `PT1H15M`, `P1D`, `P1W`); a negative one is refused.
pub(crate) fn duration(text: &str) -> Result<TimeDelta, String> {
    let bad = || format!("{} is not a duration like PT30M", shown(text));
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("{} is a negative duration", shown(text)));
    }
    let rest = text.strip_prefix('+').unwrap_or(text);
    let rest = rest.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let mut seconds: i64 = 0;
    let mut number = String::new();
    let mut in_time = false;
    let mut units = 0;
    for c in rest.chars() {
        let unit: i64 = match c.to_ascii_uppercase() {
            '0'..='9' => {
                number.push(c);
                continue;
            }
            'T' if !in_time && number.is_empty() => {
                in_time = true;
                continue;
            }
            'W' if !in_time => 7 * 86_400,
            'D' if !in_time => 86_400,
            'H' if in_time => 3_600,
            'M' if in_time => 60,
            'S' if in_time => 1,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        units += 1;
        seconds = n
            .checked_mul(unit)
            .and_then(|s| s.checked_add(seconds))
            .filter(|s| *s <= 366 * 86_400)
            .ok_or_else(|| format!("{} is longer than a year", shown(text)))?;
    }
    if units == 0 || !number.is_empty() {
        return Err(bad());
    }
    Ok(TimeDelta::seconds(seconds))
}

/// A value for a message, cut short so a misplaced long text cannot flood a report.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn prop(text: &str) -> Property {
        Property::parse(1, text).expect("valid line")
    }

    fn zones() -> Zones {
        let mut zones = Zones::new(Berlin);
        zones.declare("W. Europe Standard Time".into());
        zones
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid instant")
    }

    fn instant(text: &str) -> DateTime<Utc> {
        let when = zones().when(&prop(text)).expect("valid");
        when.instant().expect("a date-time").0
    }

    #[test]
    fn zoned_utc_and_floating_times_become_instants() {
        let new_york = instant("DTSTART;TZID=America/New_York:20260302T100000");
        assert_eq!(new_york, utc("2026-03-02T15:00:00Z"));
        assert_eq!(
            instant("DTSTART:20260302T100000Z"),
            utc("2026-03-02T10:00:00Z")
        );
        let floating = instant("DTSTART:20260302T100000");
        assert_eq!(floating, utc("2026-03-02T09:00:00Z"), "tenant zone");
    }

    #[test]
    fn vendor_prefixed_and_declared_zone_names_are_understood() {
        let prefixed =
            instant("DTSTART;TZID=/mozilla.org/20050126_1/America/New_York:20260302T100000");
        assert_eq!(prefixed, utc("2026-03-02T15:00:00Z"));
        let declared = instant("DTSTART;TZID=W. Europe Standard Time:20260701T100000");
        assert_eq!(declared, utc("2026-07-01T08:00:00Z"));
        let err = zones()
            .when(&prop("DTSTART;TZID=Mars/Olympus:20260701T100000"))
            .expect_err("unknown zone");
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn a_date_value_is_a_date_and_bad_values_are_named() {
        let when = zones().when(&prop("DTSTART;VALUE=DATE:20260302"));
        assert_eq!(
            when,
            Ok(When::Date(
                NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid")
            ))
        );
        let err = zones()
            .when(&prop("DTSTART:2026-03-02 10:00"))
            .expect_err("not iCalendar");
        assert!(err.contains("2026-03-02 10:00"), "{err}");
        assert!(zones().when(&prop("DTSTART:20261302T100000")).is_err());
    }

    #[test]
    fn a_skipped_local_time_is_resolved_by_the_common_rule() {
        let when = zones()
            .when(&prop("DTSTART;TZID=Europe/Berlin:20260329T023000"))
            .expect("valid");
        let (at, how) = when.instant().expect("a date-time");
        assert_eq!(
            (at, how),
            (utc("2026-03-29T01:30:00Z"), LocalResolution::Shifted)
        );
    }

    #[test]
    fn durations_are_read_in_weeks_days_hours_minutes_seconds() {
        assert_eq!(duration("PT30M"), Ok(TimeDelta::minutes(30)));
        assert_eq!(duration("PT1H15M"), Ok(TimeDelta::minutes(75)));
        assert_eq!(duration("+P1DT2H"), Ok(TimeDelta::hours(26)));
        assert_eq!(duration("P1W"), Ok(TimeDelta::days(7)));
        for bad in [
            "30",
            "PT",
            "P1H",
            "PT30",
            "-PT5M",
            "P99999999999999W",
            "PTM",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exdate_lists_hold_several_values() {
        let list = zones()
            .when_list(&prop(
                "EXDATE;TZID=Europe/Berlin:20260302T100000,20260309T100000",
            ))
            .expect("valid");
        assert_eq!(list.len(), 2);
    }
}
