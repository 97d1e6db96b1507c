//! Quiet hours for SMS: no text message wakes a citizen at night. A message due in the quiet
//! hours waits until they end — unless waiting would leave less than the urgent lead time before
//! the appointment; then it goes at once, because a late cancellation is worse than a late-evening
//! one.

use super::localtime::resolve_local;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A daily quiet period in local time, `start`–`end`; it may span midnight (21:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether a local time of day is quiet: `start` is, `end` is not.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// Until when an SMS due `now` must wait, or `None` to send it now.
    pub fn defer_until(
        &self,
        now: DateTime<Utc>,
        tz: Tz,
        appointment: DateTime<Utc>,
        urgent: Duration,
    ) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz).naive_local();
        if !self.contains(local.time()) {
            return None;
        }
        let mut end = local.date().and_time(self.end);
        if end <= local {
            end += Duration::days(1);
        }
        let end = resolve_local(tz, end);
        (appointment - end >= urgent).then_some(end)
    }
}

impl FromStr for QuietHours {
    type Err = String;

    /// `"21:00-07:00"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a period like \"21:00-07:00\""))?;
        let parse = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("{t:?} in {s:?} is not a time like 21:00"))
        };
        let (start, end) = (parse(a)?, parse(b)?);
        if start == end {
            return Err(format!("{s:?} is empty: start and end are the same"));
        }
        Ok(QuietHours { start, end })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Serialize for QuietHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for QuietHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn quiet() -> QuietHours {
        "21:00-07:00".parse().unwrap()
    }
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    /// A Berlin local time on 7 January 2030 (CET, UTC+1) as an instant.
    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        BERLIN
            .with_ymd_and_hms(2030, 1, day, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_include_their_start_and_exclude_their_end() {
        let q = quiet();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(!q.contains(t(20, 59)));
        assert!(q.contains(t(21, 0)));
        assert!(q.contains(t(0, 0)));
        assert!(q.contains(t(6, 59)));
        assert!(!q.contains(t(7, 0)));
    }

    #[test]
    fn an_sms_due_in_the_quiet_hours_waits_until_they_end() {
        let urgent = Duration::hours(2);
        assert_eq!(
            quiet().defer_until(at(7, 21, 0), BERLIN, at(8, 14, 0), urgent),
            Some(at(8, 7, 0))
        );
        assert_eq!(
            quiet().defer_until(at(8, 3, 0), BERLIN, at(8, 14, 0), urgent),
            Some(at(8, 7, 0))
        );
        assert_eq!(
            quiet().defer_until(at(7, 20, 59), BERLIN, at(8, 14, 0), urgent),
            None
        );
        assert_eq!(
            quiet().defer_until(at(8, 7, 0), BERLIN, at(8, 14, 0), urgent),
            None
        );
    }

    #[test]
    fn an_sms_for_an_appointment_soon_after_the_quiet_hours_goes_at_once() {
        let urgent = Duration::hours(2);
        assert_eq!(
            quiet().defer_until(at(7, 23, 0), BERLIN, at(8, 8, 30), urgent),
            None
        );
        assert_eq!(
            quiet().defer_until(at(7, 23, 0), BERLIN, at(8, 9, 0), urgent),
            Some(at(8, 7, 0))
        );
    }

    #[test]
    fn quiet_hours_are_read_from_config_text() {
        assert_eq!(quiet().to_string(), "21:00-07:00");
        assert!("21:00".parse::<QuietHours>().is_err());
        assert!("7:00-7:00".parse::<QuietHours>().is_err());
        let day: QuietHours = "12:00-14:00".parse().unwrap();
        assert!(day.contains(NaiveTime::from_hms_opt(13, 0, 0).unwrap()));
        assert!(!day.contains(NaiveTime::from_hms_opt(15, 0, 0).unwrap()));
    }
}
