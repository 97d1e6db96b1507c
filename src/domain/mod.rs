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
mod numbering;
pub mod outage;
pub mod phone;
pub mod quiet;
pub mod return_path;
pub mod signature;
pub mod text;

use chrono::{DateTime, TimeZone, Utc};

/// A stored name that is none of an enum's values: written by a newer absage, or by hand.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
}

/// Reading an enum back from the name its `as_str` gives (how the store keeps it).
macro_rules! stored_as_names {
    ($($ty:ty, $what:literal, [$($v:expr),+ $(,)?];)+) => {$(
        impl TryFrom<String> for $ty {
            type Error = $crate::domain::Unknown;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                [$($v),+]
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or($crate::domain::Unknown { what: $what, value: s })
            }
        }
    )+};
}

stored_as_names! {
    notification::Channel, "channel", [notification::Channel::Email, notification::Channel::Sms];
    notification::State, "notification state", [
        notification::State::Queued, notification::State::Sending, notification::State::Sent,
        notification::State::Failed, notification::State::Expired, notification::State::Cancelled,
    ];
    notification::Kind, "message kind", [notification::Kind::Cancellation, notification::Kind::Retraction];
    notification::Role, "message role", [notification::Role::Primary, notification::Role::Fallback];
    outage::RunKind, "run kind", [outage::RunKind::Outage, outage::RunKind::Batch];
    outage::RunState, "run state", [outage::RunState::Active, outage::RunState::Retracted, outage::RunState::Closed];
}

/// Milliseconds since the Unix epoch, UTC: how every instant is stored.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::notification::{Channel, State};
    use super::outage::RunState;

    #[test]
    fn a_stored_name_outside_the_enum_is_an_error_not_a_guess() {
        assert_eq!(
            RunState::try_from("retracted".to_owned()).unwrap(),
            RunState::Retracted
        );
        let e = RunState::try_from("paused".to_owned()).unwrap_err();
        assert_eq!(e.to_string(), "unknown run state \"paused\"");
        assert!(Channel::try_from("fax".to_owned()).is_err());
        for s in State::ALL {
            assert_eq!(State::try_from(s.as_str().to_owned()).unwrap(), s);
        }
    }
}
