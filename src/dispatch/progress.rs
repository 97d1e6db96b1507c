//! Whether the dispatcher moves: each channel loop reports how its steps end, and `/readyz`
//! asks [`Progress::check`]. A loop whose steps have failed for longer than `stall_secs` (the
//! database refuses writes, say) makes the instance unready, so a supervisor or a load balancer
//! sees what the log says; the first step that succeeds again makes it ready.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Shared between the dispatcher's loops and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Progress {
    channels: Mutex<BTreeMap<&'static str, Stall>>,
}

/// A channel loop whose steps fail.
#[derive(Debug, Clone)]
struct Stall {
    since: DateTime<Utc>,
    error: String,
    /// Sends that went out but are not yet recorded.
    unrecorded: usize,
}

impl Progress {
    /// A step of the channel ended well (whether or not there was work).
    pub fn step_ok(&self, channel: &'static str) {
        self.with(|c| c.remove(channel));
    }

    /// A step of the channel failed at `now`; `unrecorded` sends wait to be written.
    pub fn step_failed(
        &self,
        channel: &'static str,
        now: DateTime<Utc>,
        error: &str,
        unrecorded: usize,
    ) {
        self.with(|c| {
            let stall = c.entry(channel).or_insert_with(|| Stall {
                since: now,
                error: String::new(),
                unrecorded: 0,
            });
            stall.error = error.to_owned();
            stall.unrecorded = unrecorded;
        });
    }

    /// `Err` with the reason when some channel has made no progress for `stall_after`.
    pub fn check(&self, now: DateTime<Utc>, stall_after: Duration) -> Result<(), String> {
        let stalled: Vec<String> = self.with(|c| {
            c.iter()
                .filter(|(_, s)| now - s.since >= stall_after)
                .map(|(channel, s)| {
                    format!(
                        "{channel} dispatcher has made no progress for {} s ({} sends not yet recorded): {}",
                        (now - s.since).num_seconds(),
                        s.unrecorded,
                        s.error
                    )
                })
                .collect()
        });
        if stalled.is_empty() {
            Ok(())
        } else {
            Err(stalled.join("; "))
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, Stall>) -> T) -> T {
        f(&mut self.channels.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, 6, 0, 0).unwrap() + Duration::seconds(secs)
    }

    #[test]
    fn failing_steps_make_the_dispatcher_stalled_only_after_the_grace_and_one_success_clears_it() {
        let p = Progress::default();
        let grace = Duration::seconds(30);
        assert!(p.check(at(0), grace).is_ok());
        p.step_failed("email", at(0), "database is read-only", 50);
        p.step_failed("email", at(10), "database is read-only", 50);
        assert!(
            p.check(at(29), grace).is_ok(),
            "a short failure is no stall"
        );
        let why = p.check(at(30), grace).unwrap_err();
        assert!(
            why.contains("email") && why.contains("50 sends not yet recorded"),
            "{why}"
        );
        assert!(
            why.contains("30 s"),
            "counted from the first failure: {why}"
        );
        p.step_ok("sms");
        assert!(
            p.check(at(31), grace).is_err(),
            "another channel's success changes nothing"
        );
        p.step_ok("email");
        assert!(p.check(at(31), grace).is_ok());
    }
}
