//! Turning a wall-clock time in a tenant's time zone into an instant (UTC).
//!
//! Exports give local times ("10:30" in Europe/Berlin). Twice a year a local time is
//! not one instant, and absage settles it by one rule, the same everywhere:
//!
//! - **Repeated** (autumn, clocks go back: 2026-10-25 02:30 Europe/Berlin happens twice):
//!   the **earlier** instant is taken, i.e. the first occurrence, still in summer time.
//!   Cancelling for the earlier one never tells a citizen too late.
//! - **Skipped** (spring, clocks go forward: 2026-03-29 02:30 Europe/Berlin never happens):
//!   the time is read with the offset in force **just before the gap**, which moves it
//!   forward by the length of the gap (02:30 → 03:30 CEST). That is where a clerk's
//!   "half an hour after two" really falls on that morning.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset as _, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// How a local time became an instant, so an import can count the unusual cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalResolution {
    /// The local time exists exactly once.
    Exact,
    /// The local time exists twice (clocks went back); the earlier instant was taken.
    Ambiguous,
    /// The local time does not exist (clocks went forward); it was moved forward by the gap.
    Shifted,
}

/// The instant of `local` in `tz`, by the rule in the module documentation.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    resolve_local_detailed(tz, local).0
}

/// Like [`resolve_local`], also telling which case applied.
pub fn resolve_local_detailed(tz: Tz, local: NaiveDateTime) -> (DateTime<Utc>, LocalResolution) {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => (at.with_timezone(&Utc), LocalResolution::Exact),
        LocalResult::Ambiguous(earlier, _later) => {
            (earlier.with_timezone(&Utc), LocalResolution::Ambiguous)
        }
        LocalResult::None => (read_before_gap(tz, local), LocalResolution::Shifted),
    }
}

/// Reads a skipped local time with the UTC offset in force just before the gap.
fn read_before_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Walking back in quarter hours finds the last existing local time before the gap;
    // real gaps are at most a day (Samoa 2011), and transitions are months apart, so the
    // offset found there is the one in force just before the gap.
    let step = TimeDelta::minutes(15);
    let mut probe = local;
    for _ in 0..(4 * 48) {
        probe -= step;
        if let Some(before) = tz.from_local_datetime(&probe).latest() {
            let offset = before.offset().fix();
            return (local - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc();
        }
    }
    // Unreachable with real zone data; reading the time as UTC is the least surprising fallback.
    local.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::Europe::Berlin;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, min, 0))
            .expect("valid test date")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        local(y, m, d, h, min).and_utc()
    }

    #[test]
    fn an_ordinary_winter_time_is_one_hour_ahead_of_utc() {
        let got = resolve_local_detailed(Berlin, local(2026, 1, 15, 10, 30));
        assert_eq!(got, (utc(2026, 1, 15, 9, 30), LocalResolution::Exact));
    }

    #[test]
    fn an_ordinary_summer_time_is_two_hours_ahead_of_utc() {
        let got = resolve_local_detailed(Berlin, local(2026, 7, 1, 8, 0));
        assert_eq!(got, (utc(2026, 7, 1, 6, 0), LocalResolution::Exact));
    }

    #[test]
    fn a_time_repeated_in_autumn_is_the_earlier_summer_time_instant() {
        let got = resolve_local_detailed(Berlin, local(2026, 10, 25, 2, 30));
        // 02:30 CEST (+02:00), not 02:30 CET (01:30 UTC).
        assert_eq!(got, (utc(2026, 10, 25, 0, 30), LocalResolution::Ambiguous));
    }

    #[test]
    fn a_time_skipped_in_spring_moves_forward_by_the_gap() {
        let got = resolve_local_detailed(Berlin, local(2026, 3, 29, 2, 30));
        // Read with CET (+01:00): 01:30 UTC, which is 03:30 CEST on the wall.
        assert_eq!(got, (utc(2026, 3, 29, 1, 30), LocalResolution::Shifted));
        let wall = got.0.with_timezone(&Berlin).naive_local();
        assert_eq!(wall, local(2026, 3, 29, 3, 30));
    }

    #[test]
    fn the_first_minute_after_a_gap_is_exact() {
        let got = resolve_local_detailed(Berlin, local(2026, 3, 29, 3, 0));
        assert_eq!(got, (utc(2026, 3, 29, 1, 0), LocalResolution::Exact));
    }

    #[test]
    fn a_skipped_time_in_a_half_hour_gap_moves_by_half_an_hour() {
        // Lord Howe Island moves its clocks by 30 minutes: 02:00 → 02:30 on 2026-10-04.
        let tz: Tz = "Australia/Lord_Howe".parse().expect("known zone");
        let (at, how) = resolve_local_detailed(tz, local(2026, 10, 4, 2, 15));
        assert_eq!(how, LocalResolution::Shifted);
        assert_eq!(
            at.with_timezone(&tz).naive_local(),
            local(2026, 10, 4, 2, 45)
        );
    }
}
