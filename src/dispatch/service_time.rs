//! How long a destination takes to accept one message once a connection is free: a moving
//! average of the successful sends, kept per relay and gateway and stored with its health
//! (`destinations.send_micros`). With the destination's concurrency it gives the rate the
//! deadline planner assumes where no rate limit is set (`lifecycle::planner`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Weight of the newest send in the average (out of [`SCALE`]).
const NEW: u64 = 1;
const SCALE: u64 = 8;

#[derive(Default, Debug)]
pub struct ServiceTime {
    /// Microseconds; 0 = nothing measured yet.
    micros: AtomicU64,
}

impl ServiceTime {
    /// Notes one successful send that began at `started`.
    pub fn record_since(&self, started: Instant) {
        self.record(started.elapsed());
    }

    pub fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        // Lost updates between concurrent senders only drop a sample; the average holds.
        let old = self.micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(SCALE - NEW)).saturating_add(sample.saturating_mul(NEW)) / SCALE
        };
        self.micros.store(new.max(1), Ordering::Relaxed);
    }

    /// The average so far; None before the first success.
    pub fn get(&self) -> Option<Duration> {
        match self.micros.load(Ordering::Relaxed) {
            0 => None,
            m => Some(Duration::from_micros(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_follows_the_sends_and_starts_empty() {
        let s = ServiceTime::default();
        assert_eq!(s.get(), None);
        s.record(Duration::from_millis(100));
        assert_eq!(s.get(), Some(Duration::from_millis(100)));
        for _ in 0..60 {
            s.record(Duration::from_millis(20));
        }
        let now = s.get().unwrap();
        assert!(now < Duration::from_millis(21), "{now:?}");
        assert!(now >= Duration::from_millis(20), "{now:?}");
    }
}
