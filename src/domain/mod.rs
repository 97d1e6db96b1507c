//! The domain: values parsed at the edges and the pure rules that decide who is told what, when.
//! Nothing in here does I/O.

pub mod account;
pub mod booking;
pub mod dlr;
pub mod email;
pub mod language;
pub mod localtime;
pub mod names;
pub mod notification;
pub mod outage;
pub mod phone;
pub mod quiet;

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC: how every instant is stored.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
