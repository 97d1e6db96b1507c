//! The dispatcher: claims due notifications with a lease, sends them with no transaction open,
//! and records each outcome. One [`Dispatcher::step`] does one round; [`Dispatcher::run`] is the
//! thin loop around it, so tests drive the queue step by step without sleeping.
//!
//! - [`destinations`]: the relays, gateways and outbox a channel sends through, in failover order
//! - [`health`]: per-destination circuit breaker
//! - [`email`], [`sms`], [`outbox`]: the channel backends; [`outcome`]: what an attempt came to

pub mod destinations;
pub mod email;
pub mod health;
pub mod outbox;
pub mod outcome;
pub mod sms;

use crate::config::{QueueSettings, TenantSettings};
use crate::domain::notification::{self, AttemptResult, Channel, RetryPolicy, Transition};
use crate::domain::{from_millis, to_millis};
use crate::store::Store;
use crate::store::notifications::{self as queue, Claimed};
use chrono::{DateTime, Duration, Utc};
use destinations::{Destinations, Prepared};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where the current time comes from; tests pass a fixed or stepping clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    pub expired: u64,
    pub claimed: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// Probes of down destinations run in this step, and how many came back up.
    pub probed: u64,
    pub recovered: u64,
}

impl StepOutcome {
    /// Nothing was due: the loop may sleep.
    pub fn idle(&self) -> bool {
        self.claimed == 0 && self.expired == 0 && self.recovered == 0
    }
}

pub struct Dispatcher {
    store: Store,
    queue: QueueSettings,
    policy: RetryPolicy,
    tenants: HashMap<String, TenantSettings>,
    destinations: Destinations,
    owner: String,
    clock: Clock,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        queue: QueueSettings,
        tenants: &[TenantSettings],
        destinations: Destinations,
        clock: Clock,
    ) -> Self {
        let owner = format!(
            "{}-{}-{:08x}",
            hostname_or_unknown(),
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            policy: queue.retry_policy(),
            store,
            queue,
            tenants: tenants.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            destinations,
            owner,
            clock,
        }
    }

    /// One round: expire what can no longer be sent in time, probe down destinations, claim
    /// due notifications per channel (earliest appointment first), send them concurrently and
    /// record every outcome in one transaction.
    #[tracing::instrument(skip_all, name = "dispatch_step")]
    pub async fn step(&self) -> anyhow::Result<StepOutcome> {
        let now = (self.clock)();
        let now_ms = to_millis(now);
        let mut out = StepOutcome::default();
        {
            let mut tx = self.store.begin().await?;
            out.expired = queue::expire_due(&mut tx, now_ms).await?;
            queue::release_fallbacks_of_finished_primaries(&mut tx, now_ms).await?;
            tx.commit().await?;
        }
        let (probed, recovered) = self.destinations.probe_due(now, &self.queue).await;
        out.probed = probed;
        out.recovered = recovered;

        let lease_until = now_ms + (self.queue.lease_secs as i64) * 1000;
        let mut claimed = Vec::new();
        for channel in [Channel::Email, Channel::Sms] {
            if !self.destinations.any_up(channel) {
                continue;
            }
            let mut tx = self.store.begin().await?;
            let rows = queue::claim(
                &mut tx,
                self.store.backend(),
                channel.as_str(),
                &self.owner,
                now_ms,
                lease_until,
                i64::from(self.queue.batch_size),
            )
            .await?;
            tx.commit().await?;
            claimed.extend(rows);
        }
        out.claimed = claimed.len() as u64;
        if claimed.is_empty() {
            self.destinations.persist(&self.store, now).await?;
            return Ok(out);
        }

        let results: Vec<(Claimed, AttemptResult, Option<String>)> = futures::stream::iter(claimed)
            .map(|c| async move {
                let (r, message_id) = self.send_one(&c).await;
                (c, r, message_id)
            })
            .buffer_unordered(self.queue.batch_size as usize * 2)
            .collect()
            .await;

        self.record(results, &mut out).await?;
        self.destinations
            .persist(&self.store, (self.clock)())
            .await?;
        Ok(out)
    }

    /// Sends one claimed notification through the first destination of its channel that is up,
    /// failing over to the next when one fails at the connection level. Returns the outcome
    /// and, for email, the Message-ID it carried.
    async fn send_one(&self, c: &Claimed) -> (AttemptResult, Option<String>) {
        let now = (self.clock)();
        if now >= from_millis(c.deadline) {
            return (AttemptResult::TooLate, None);
        }
        let Some(tenant) = self.tenants.get(&c.tenant_id) else {
            let reason = format!("tenant {:?} is no longer configured", c.tenant_id);
            return (AttemptResult::Permanent { reason }, None);
        };
        let prepared = match Prepared::new(c, tenant) {
            Ok(p) => p,
            Err(reason) => return (AttemptResult::Permanent { reason }, None),
        };
        let result = self
            .destinations
            .send(&prepared, now, &self.queue, &self.clock)
            .await;
        (result, prepared.message_id().map(str::to_owned))
    }

    /// Writes the outcomes of one step in one transaction.
    async fn record(
        &self,
        results: Vec<(Claimed, AttemptResult, Option<String>)>,
        out: &mut StepOutcome,
    ) -> anyhow::Result<()> {
        let now = (self.clock)();
        let now_ms = to_millis(now);
        let mut tx = self.store.begin().await?;
        for (c, result, message_id) in results {
            let transition = notification::decide(
                &self.policy,
                c.attempts as u32,
                result,
                from_millis(c.deadline),
                now,
                rand::random::<f64>(),
            );
            match transition {
                Transition::Sent {
                    destination,
                    provider_id,
                } => {
                    out.sent += 1;
                    queue::mark_sent(
                        &mut tx,
                        c.id,
                        &destination,
                        provider_id.as_deref(),
                        message_id.as_deref(),
                        now_ms,
                    )
                    .await?;
                    if c.role == "primary" {
                        queue::cancel_fallbacks(
                            &mut tx,
                            c.outage_id,
                            c.booking_id,
                            &c.kind,
                            now_ms,
                        )
                        .await?;
                    }
                }
                Transition::Retry {
                    attempts,
                    at,
                    reason,
                } => {
                    out.retried += 1;
                    queue::mark_retry(&mut tx, c.id, attempts.into(), to_millis(at), &reason)
                        .await?;
                }
                Transition::Failed { attempts, reason } => {
                    out.failed += 1;
                    self.end_unsent(&mut tx, &c, "failed", attempts, &reason, now_ms)
                        .await?;
                }
                Transition::Expired { attempts, reason } => {
                    out.expired += 1;
                    self.end_unsent(&mut tx, &c, "expired", attempts, &reason, now_ms)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends a notification unsent; its fallback on the other channel (if any) goes now.
    async fn end_unsent(
        &self,
        tx: &mut crate::store::Tx,
        c: &Claimed,
        state: &str,
        attempts: u32,
        reason: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        tracing::warn!(notification = c.id, channel = %c.channel, state, %reason, "notification ended without being sent");
        queue::mark_final(tx, c.id, state, attempts.into(), reason, now_ms).await?;
        if c.role == "primary" {
            queue::release_fallbacks(tx, c.outage_id, c.booking_id, &c.kind, now_ms).await?;
        }
        Ok(())
    }

    /// Steps until shut down. When nothing is due it sleeps until the next notification falls
    /// due, at most `idle_poll_secs`. On shutdown it stops claiming and lets the step in flight
    /// finish within `shutdown_grace_secs`. With `exit_when_idle` it returns once nothing is
    /// pending any more.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        let grace = std::time::Duration::from_secs(self.queue.shutdown_grace_secs);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let step = self.step();
            tokio::pin!(step);
            let result = tokio::select! {
                r = &mut step => r,
                () = shutdown.cancelled() => {
                    match tokio::time::timeout(grace, &mut step).await {
                        Ok(r) => { log_step_error(&r); }
                        Err(_) => tracing::warn!("shutdown: in-flight sends did not finish in time; their leases will run out"),
                    }
                    return Ok(());
                }
            };
            log_step_error(&result);
            let busy = result.as_ref().is_ok_and(|o| !o.idle());
            if busy {
                continue;
            }
            if exit_when_idle && self.nothing_pending().await? {
                tracing::info!("nothing pending: exiting");
                return Ok(());
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    async fn nothing_pending(&self) -> anyhow::Result<bool> {
        let mut conn = self.store.conn().await?;
        Ok(queue::count_pending(&mut conn).await? == 0)
    }

    async fn idle_wait(&self) -> std::time::Duration {
        let poll = Duration::milliseconds(self.queue.idle_poll_ms as i64);
        let now = (self.clock)();
        let next = match self.store.conn().await {
            Ok(mut conn) => queue::next_due(&mut conn).await.ok().flatten(),
            Err(_) => None,
        };
        let until = next.map_or(now + poll, |n| from_millis(n).min(now + poll));
        (until - now)
            .to_std()
            .unwrap_or(std::time::Duration::from_millis(10))
            .max(std::time::Duration::from_millis(10))
    }
}

fn log_step_error(r: &anyhow::Result<StepOutcome>) {
    if let Err(e) = r {
        tracing::error!(error = %format!("{e:#}"), "dispatch step failed; retrying");
    }
}

fn hostname_or_unknown() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "absage".into())
}
