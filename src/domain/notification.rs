//! Notifications: their states, the retry policy as data, and the pure decision of what a send
//! attempt's outcome does to a notification. Time is always passed in as `now`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The way a message travels to a citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A channel name that is neither "email" nor "sms".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}: expected \"email\" or \"sms\"")]
pub struct UnknownChannel(pub String);

impl std::str::FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            _ => Err(UnknownChannel(s.to_owned())),
        }
    }
}

/// Where a notification is in its life. `Sent`, `Failed`, `Expired` and `Cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Sending,
    Sent,
    Failed,
    Expired,
    Cancelled,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Queued,
        State::Sending,
        State::Sent,
        State::Failed,
        State::Expired,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Your appointment does not take place.
    Cancellation,
    /// Your appointment stands after all (the outage was retracted or no longer covers it).
    Retraction,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cancellation => "cancellation",
            Kind::Retraction => "retraction",
        }
    }
}

/// A primary message goes out at once; a fallback waits until the primary has failed for good
/// or has not gone out by a lead time before the appointment (channel policy `email_first` /
/// `sms_first`), and is dropped when the primary was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Fallback,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Fallback => "fallback",
        }
    }
}

/// The retry schedule as data: the delay before attempt n+1 is `delays[n-1]` (the last one
/// repeats), stretched by up to `jitter` (a share, 0.2 = up to +20 %) so that a backlog does not
/// come back as one burst. After `max_attempts` transient failures the message fails for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
    pub jitter: f64,
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// When the next attempt may run after `attempts` attempts have been spent; `unit_random` is
    /// a number in `[0, 1)` so that tests can fix it.
    pub fn next_attempt(
        &self,
        attempts: u32,
        now: DateTime<Utc>,
        unit_random: f64,
    ) -> DateTime<Utc> {
        let idx = (attempts.max(1) as usize - 1).min(self.delays.len().saturating_sub(1));
        let base = self
            .delays
            .get(idx)
            .copied()
            .unwrap_or(Duration::seconds(60));
        let stretch = (base.num_milliseconds() as f64 * self.jitter * unit_random) as i64;
        now + base + Duration::milliseconds(stretch)
    }
}

/// How an attempt ended, as far as the queue cares.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Sent {
        destination: String,
        provider_id: Option<String>,
    },
    /// The destination was down: no attempt spent, try again at `retry_at`.
    DestinationDown {
        reason: String,
        retry_at: DateTime<Utc>,
    },
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    Permanent {
        reason: String,
    },
    /// The appointment started before the message could go out; it was not sent.
    TooLate,
    /// Not now (quiet hours): wait until `until`, no attempt spent.
    Deferred {
        until: DateTime<Utc>,
        reason: String,
    },
}

/// What to write to the notification after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Sent {
        destination: String,
        provider_id: Option<String>,
    },
    Retry {
        attempts: u32,
        at: DateTime<Utc>,
        reason: String,
    },
    Failed {
        attempts: u32,
        reason: String,
    },
    Expired {
        attempts: u32,
        reason: String,
    },
}

/// Decides the transition for an attempt result. A retry that could only happen at or after the
/// deadline expires the notification now instead: it could never be sent in time.
pub fn decide(
    policy: &RetryPolicy,
    attempts_before: u32,
    result: AttemptResult,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    unit_random: f64,
) -> Transition {
    match result {
        AttemptResult::Sent {
            destination,
            provider_id,
        } => Transition::Sent {
            destination,
            provider_id,
        },
        AttemptResult::DestinationDown { reason, retry_at } => {
            retry_or_expire(attempts_before, retry_at, deadline, reason)
        }
        AttemptResult::Transient {
            reason,
            retry_after,
        } => {
            let attempts = attempts_before + 1;
            if attempts >= policy.max_attempts {
                return Transition::Failed {
                    attempts,
                    reason: format!("gave up after {attempts} attempts: {reason}"),
                };
            }
            let scheduled = policy.next_attempt(attempts, now, unit_random);
            let at = retry_after.map_or(scheduled, |ra| scheduled.max(now + ra));
            retry_or_expire(attempts, at, deadline, reason)
        }
        AttemptResult::Permanent { reason } => Transition::Failed {
            attempts: attempts_before + 1,
            reason,
        },
        AttemptResult::Deferred { until, reason } => {
            retry_or_expire(attempts_before, until, deadline, reason)
        }
        AttemptResult::TooLate => Transition::Expired {
            attempts: attempts_before,
            reason: "not sent: the appointment had started".into(),
        },
    }
}

fn retry_or_expire(
    attempts: u32,
    at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    reason: String,
) -> Transition {
    if at >= deadline {
        Transition::Expired {
            attempts,
            reason: format!("appointment starts before the next try: {reason}"),
        }
    } else {
        Transition::Retry {
            attempts,
            at,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            delays: vec![
                Duration::seconds(30),
                Duration::seconds(120),
                Duration::seconds(600),
            ],
            jitter: 0.5,
            max_attempts: 5,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()
    }

    #[test]
    fn retry_delays_follow_the_list_and_the_last_one_repeats() {
        let p = policy();
        assert_eq!(p.next_attempt(1, now(), 0.0), now() + Duration::seconds(30));
        assert_eq!(
            p.next_attempt(2, now(), 0.0),
            now() + Duration::seconds(120)
        );
        assert_eq!(
            p.next_attempt(3, now(), 0.0),
            now() + Duration::seconds(600)
        );
        assert_eq!(
            p.next_attempt(9, now(), 0.0),
            now() + Duration::seconds(600)
        );
        assert_eq!(
            p.next_attempt(1, now(), 0.999_999),
            now() + Duration::milliseconds(44_999)
        );
    }

    #[test]
    fn a_transient_failure_spends_an_attempt_and_schedules_a_retry() {
        let t = decide(
            &policy(),
            0,
            AttemptResult::Transient {
                reason: "450".into(),
                retry_after: None,
            },
            now() + Duration::hours(3),
            now(),
            0.0,
        );
        assert_eq!(
            t,
            Transition::Retry {
                attempts: 1,
                at: now() + Duration::seconds(30),
                reason: "450".into()
            }
        );
    }

    #[test]
    fn retry_after_from_the_gateway_is_honoured_when_longer() {
        let t = decide(
            &policy(),
            0,
            AttemptResult::Transient {
                reason: "429".into(),
                retry_after: Some(Duration::seconds(90)),
            },
            now() + Duration::hours(3),
            now(),
            0.0,
        );
        assert!(matches!(t, Transition::Retry { at, .. } if at == now() + Duration::seconds(90)));
    }

    #[test]
    fn a_down_destination_does_not_spend_an_attempt() {
        let retry_at = now() + Duration::seconds(30);
        let t = decide(
            &policy(),
            2,
            AttemptResult::DestinationDown {
                reason: "refused".into(),
                retry_at,
            },
            now() + Duration::hours(1),
            now(),
            0.0,
        );
        assert_eq!(
            t,
            Transition::Retry {
                attempts: 2,
                at: retry_at,
                reason: "refused".into()
            }
        );
    }

    #[test]
    fn a_retry_that_would_come_after_the_appointment_started_expires_instead() {
        let t = decide(
            &policy(),
            0,
            AttemptResult::Transient {
                reason: "450".into(),
                retry_after: None,
            },
            now() + Duration::seconds(20),
            now(),
            0.0,
        );
        assert!(matches!(t, Transition::Expired { attempts: 1, .. }));
    }

    #[test]
    fn permanent_failures_and_exhausted_retries_fail_for_good() {
        let t = decide(
            &policy(),
            0,
            AttemptResult::Permanent {
                reason: "550".into(),
            },
            now() + Duration::hours(1),
            now(),
            0.0,
        );
        assert!(matches!(t, Transition::Failed { attempts: 1, .. }));
        let t = decide(
            &policy(),
            4,
            AttemptResult::Transient {
                reason: "450".into(),
                retry_after: None,
            },
            now() + Duration::hours(1),
            now(),
            0.0,
        );
        assert!(matches!(t, Transition::Failed { attempts: 5, .. }));
    }
}
