//! Destination health as a small state machine (a circuit breaker): after `down_after`
//! connection-level failures in a row a destination is down; while down, nothing is sent to it
//! and no attempt is spent; every probe interval it is probed, and one good probe brings it back.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub state: HealthState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub down_since: Option<DateTime<Utc>>,
    pub next_probe_at: Option<DateTime<Utc>>,
    /// The service time last stored (`super::service_time`), in microseconds.
    pub send_micros: Option<i64>,
    /// Changed since last persisted.
    pub dirty: bool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: HealthState::Up,
            consecutive_failures: 0,
            last_error: None,
            down_since: None,
            next_probe_at: None,
            send_micros: None,
            dirty: true,
        }
    }
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.state == HealthState::Up
    }

    /// A down destination whose probe is due.
    pub fn probe_due(&self, now: DateTime<Utc>) -> bool {
        self.state == HealthState::Down && self.next_probe_at.is_none_or(|t| t <= now)
    }

    /// The destination answered (even with a refusal of one message): it is up.
    pub fn success(&mut self) {
        if self.state != HealthState::Up || self.consecutive_failures > 0 {
            self.dirty = true;
        }
        self.state = HealthState::Up;
        self.consecutive_failures = 0;
        self.down_since = None;
        self.next_probe_at = None;
    }

    /// A connection-level failure. Returns true when this marked the destination down.
    pub fn failure(
        &mut self,
        now: DateTime<Utc>,
        reason: &str,
        down_after: u32,
        probe_interval: Duration,
    ) -> bool {
        self.dirty = true;
        self.consecutive_failures += 1;
        self.last_error = Some(reason.to_owned());
        match self.state {
            HealthState::Up if self.consecutive_failures >= down_after.max(1) => {
                self.state = HealthState::Down;
                self.down_since = Some(now);
                self.next_probe_at = Some(now + probe_interval);
                true
            }
            HealthState::Up => false,
            HealthState::Down => {
                self.next_probe_at = Some(now + probe_interval);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()
    }

    #[test]
    fn a_destination_goes_down_after_the_configured_failures_in_a_row() {
        let mut h = Health::default();
        let iv = Duration::seconds(30);
        assert!(!h.failure(now(), "refused", 3, iv));
        assert!(!h.failure(now(), "refused", 3, iv));
        assert!(h.is_up());
        assert!(h.failure(now(), "refused", 3, iv));
        assert!(!h.is_up());
        assert_eq!(h.next_probe_at, Some(now() + iv));
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let mut h = Health::default();
        let iv = Duration::seconds(30);
        h.failure(now(), "x", 2, iv);
        h.success();
        assert!(!h.failure(now(), "x", 2, iv));
        assert!(h.is_up());
    }

    #[test]
    fn probes_fall_due_every_interval_while_down_and_one_success_brings_it_back() {
        let mut h = Health::default();
        let iv = Duration::seconds(30);
        h.failure(now(), "x", 1, iv);
        assert!(!h.probe_due(now() + Duration::seconds(29)));
        assert!(h.probe_due(now() + iv));
        h.failure(now() + iv, "still down", 1, iv);
        assert!(!h.probe_due(now() + iv + Duration::seconds(1)));
        assert!(h.probe_due(now() + iv * 2));
        h.success();
        assert!(h.is_up());
        assert!(!h.probe_due(now() + iv * 3));
    }
}
