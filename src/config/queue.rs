//! `[queue]`: retries, leases, batches and rates of the notification queue.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// Delay before each retry after a transient failure; the last one repeats.
    pub retry_delays_secs: Vec<u64>,
    /// Up to this share is added at random to each delay, so a backlog does not return as a burst.
    pub retry_jitter: f64,
    pub max_attempts: u32,
    /// How long a claimed notification belongs to one process; after a crash it is due again then.
    pub lease_secs: u64,
    /// How often a destination marked down is tried again.
    pub probe_interval_secs: u64,
    /// Connection-level failures in a row that mark a destination down.
    pub down_after_failures: u32,
    /// Notifications claimed per step.
    pub batch_size: u32,
    /// How often an idle dispatcher looks for due work, in milliseconds. A declaration made by
    /// another process is picked up within this time.
    pub idle_poll_ms: u64,
    /// On shutdown, how long in-flight sends may take before the process exits anyway.
    pub shutdown_grace_secs: u64,
    /// `/readyz` fails once the dispatcher's steps have failed this long without a success
    /// (the database refuses writes, say).
    pub stall_secs: u64,
    /// Per destination name: emails per second through a relay, SMS segments per second
    /// through a gateway (what providers and SMS centres count); for all instances together,
    /// spread evenly (no burst); absent = unlimited.
    pub rate_limits: BTreeMap<String, f64>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            retry_delays_secs: vec![30, 120, 600, 1800, 3600],
            retry_jitter: 0.2,
            max_attempts: 8,
            lease_secs: 120,
            probe_interval_secs: 30,
            down_after_failures: 3,
            batch_size: 200,
            idle_poll_ms: 200,
            shutdown_grace_secs: 20,
            stall_secs: 60,
            rate_limits: BTreeMap::new(),
        }
    }
}

impl QueueSettings {
    pub fn retry_policy(&self) -> crate::domain::notification::RetryPolicy {
        crate::domain::notification::RetryPolicy {
            delays: self
                .retry_delays_secs
                .iter()
                .map(|s| chrono::Duration::seconds(*s as i64))
                .collect(),
            jitter: self.retry_jitter,
            max_attempts: self.max_attempts,
        }
    }
}
