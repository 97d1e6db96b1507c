//! The dispatcher: claims due notifications with a lease, sends them with no transaction open,
//! and records each outcome. [`Dispatcher::step`] does one round over both channels;
//! [`Dispatcher::run`] runs one thin loop per channel around [`Dispatcher::step_channel`], so a
//! hanging mail relay never holds up SMS, and tests drive the queue step by step without sleeping.
//!
//! - [`destinations`]: the relays, gateways and outbox a channel sends through, in failover order
//! - [`health`]: per-destination circuit breaker
//! - [`email`], [`sms`], [`outbox`]: the channel backends; [`outcome`]: what an attempt came to

pub mod destinations;
pub mod email;
pub mod health;
pub mod outbox;
pub mod outcome;
pub mod rate;
pub mod sms;

use crate::config::{ChannelPolicy, QueueSettings, TenantSettings};
use crate::domain::notification::{self, AttemptResult, Channel, RetryPolicy, Role, Transition};
use crate::domain::{from_millis, to_millis};
use crate::store::notifications::{self as queue, Claimed};
use crate::store::{Store, leases};
use chrono::{DateTime, Duration, Utc};
use destinations::{Destinations, Prepared};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where the current time comes from; tests pass a clock they move.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Outcomes are written in groups of at most this many, as they come in, so that a crash loses
/// the record of few sends and a slow destination does not hold back the others' records.
const RECORD_GROUP: usize = 64;

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

    fn add(&mut self, o: &StepOutcome) {
        self.expired += o.expired;
        self.claimed += o.claimed;
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
        self.probed += o.probed;
        self.recovered += o.recovered;
    }
}

pub struct Dispatcher {
    store: Store,
    policy: RetryPolicy,
    owner: String,
    /// What the send tasks need; shared with them, since each send runs as a task of its own
    /// so that sends spread over the runtime's threads.
    shared: Arc<Shared>,
    /// Bumped when another process queued work (PostgreSQL `NOTIFY`), to end an idle wait
    /// early; a bump during a round is not lost, the next idle wait ends at once.
    wake: Arc<tokio::sync::watch::Sender<u64>>,
}

struct Shared {
    queue: QueueSettings,
    tenants: HashMap<String, TenantSettings>,
    destinations: Destinations,
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
            std::env::var("HOSTNAME").unwrap_or_else(|_| "absage".into()),
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            policy: queue.retry_policy(),
            store,
            owner,
            wake: Arc::new(tokio::sync::watch::Sender::new(0)),
            shared: Arc::new(Shared {
                queue,
                tenants: tenants.iter().map(|t| (t.id.clone(), t.clone())).collect(),
                destinations,
                clock,
            }),
        }
    }

    /// The handle that wakes idle loops at once.
    pub fn waker(&self) -> Arc<tokio::sync::watch::Sender<u64>> {
        self.wake.clone()
    }

    /// One round over both channels: expire what can no longer be sent in time, probe down
    /// destinations, and for each channel claim, send and record.
    pub async fn step(&self) -> anyhow::Result<StepOutcome> {
        let (email, sms) = tokio::join!(
            self.step_channel(Channel::Email),
            self.step_channel(Channel::Sms)
        );
        let mut out = email?;
        out.add(&sms?);
        Ok(out)
    }

    /// One round for one channel: expire, probe, claim due notifications (earliest appointment
    /// first) with a lease, send them concurrently, record outcomes as they come in.
    #[tracing::instrument(skip_all, name = "dispatch_step", fields(channel = channel.as_str()))]
    pub async fn step_channel(&self, channel: Channel) -> anyhow::Result<StepOutcome> {
        let now = (self.shared.clock)();
        let now_ms = to_millis(now);
        let mut out = StepOutcome {
            expired: self.expire(channel, now_ms).await?,
            ..StepOutcome::default()
        };
        let (probed, recovered) = self
            .shared
            .destinations
            .probe_due(channel, now, &self.shared.queue)
            .await;
        out.probed = probed;
        out.recovered = recovered;

        let claimed = if self.shared.destinations.any_up(channel) {
            let limit = self
                .shared
                .destinations
                .claim_limit(channel, self.shared.queue.lease_secs)
                .min(self.shared.queue.batch_size);
            let lease_until = now_ms + (self.shared.queue.lease_secs as i64) * 1000;
            let mut tx = self.store.begin().await?;
            let rows = queue::claim(
                &mut tx,
                self.store.backend(),
                channel.as_str(),
                &self.owner,
                now_ms,
                lease_until,
                i64::from(limit.max(1)),
            )
            .await?;
            tx.commit().await?;
            rows
        } else {
            Vec::new()
        };
        out.claimed = claimed.len() as u64;

        // Sends run (each as a task) while earlier outcomes are being written: the two halves are
        // joined, not sequenced, so a slow disk does not stall the relay and vice versa.
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = self.shared.clone();
        let sending = async move {
            let mut tasks = tokio::task::JoinSet::new();
            for c in claimed {
                let (shared, done_tx) = (shared.clone(), done_tx.clone());
                tasks.spawn(async move {
                    let (r, message_id) = shared.send_one(&c).await;
                    // The receiver outlives every task here, so this cannot fail.
                    let _ = done_tx.send((c, r, message_id));
                });
            }
            drop(done_tx);
            while tasks.join_next().await.is_some() {}
        };
        let recording = async {
            let mut group = Vec::with_capacity(RECORD_GROUP);
            while let Some(first) = done_rx.recv().await {
                group.push(first);
                while group.len() < RECORD_GROUP {
                    match done_rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                self.record(std::mem::take(&mut group), &mut out).await?;
            }
            anyhow::Ok(())
        };
        let ((), recorded) = tokio::join!(sending, recording);
        recorded?;
        self.shared
            .destinations
            .persist(&self.store, (self.shared.clock)())
            .await?;
        Ok(out)
    }

    /// Expires the channel's notifications whose appointment has started (a read first, so an
    /// idle dispatcher does not take the write lock every round).
    async fn expire(&self, channel: Channel, now_ms: i64) -> anyhow::Result<u64> {
        let mut conn = self.store.conn().await?;
        if !queue::any_overdue(&mut conn, channel.as_str(), now_ms).await? {
            return Ok(0);
        }
        drop(conn);
        let mut tx = self.store.begin().await?;
        let n = queue::expire_due(&mut tx, channel.as_str(), now_ms).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Writes a group of outcomes in one transaction. A failing write is retried for a while
    /// before giving up: the sends happened, and losing their record would send them again.
    async fn record(
        &self,
        group: Vec<(Claimed, AttemptResult, Option<String>)>,
        out: &mut StepOutcome,
    ) -> anyhow::Result<()> {
        // Never give up: these messages went out, and a lost record would send them again once
        // their lease runs out. Keep trying until the database takes it (or shutdown's grace
        // period ends the step).
        let mut delay = std::time::Duration::from_millis(200);
        let mut tries = 0u32;
        loop {
            let mut counts = StepOutcome::default();
            match self.try_record(&group, &mut counts).await {
                Ok(()) => {
                    out.add(&counts);
                    return Ok(());
                }
                Err(e) => {
                    tries += 1;
                    tracing::error!(error = %format!("{e:#}"), tries, messages = group.len(), "recording send outcomes failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
    }

    async fn try_record(
        &self,
        group: &[(Claimed, AttemptResult, Option<String>)],
        out: &mut StepOutcome,
    ) -> anyhow::Result<()> {
        let now = (self.shared.clock)();
        let now_ms = to_millis(now);
        let mut tx = self.store.begin().await?;
        for (c, result, message_id) in group {
            let transition = notification::decide(
                &self.policy,
                c.attempts as u32,
                result.clone(),
                from_millis(c.deadline),
                now,
                rand::random::<f64>(),
            );
            // Only the policies email_first and sms_first queue fallbacks.
            let has_fallback = c.role == Role::Primary.as_str()
                && self
                    .shared
                    .tenants
                    .get(&c.tenant_id)
                    .is_some_and(|t| t.channel_policy != ChannelPolicy::Both);
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
                    if has_fallback {
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
                    queue::mark_retry(
                        &mut tx,
                        c.id,
                        &self.owner,
                        attempts.into(),
                        to_millis(at),
                        &reason,
                    )
                    .await?;
                }
                Transition::Failed { attempts, reason } => {
                    out.failed += 1;
                    self.end_unsent(&mut tx, c, queue::Final::Failed, attempts, &reason, now_ms)
                        .await?;
                }
                Transition::Expired { attempts, reason } => {
                    out.expired += 1;
                    self.end_unsent(&mut tx, c, queue::Final::Expired, attempts, &reason, now_ms)
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
        state: queue::Final,
        attempts: u32,
        reason: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        tracing::warn!(notification = c.id, channel = %c.channel, state = state.as_str(), %reason, "notification ended without being sent");
        queue::mark_final(
            tx,
            c.id,
            &self.owner,
            state,
            attempts.into(),
            reason,
            now_ms,
        )
        .await?;
        if c.role == Role::Primary.as_str() {
            queue::release_fallbacks(tx, c.outage_id, c.booking_id, &c.kind, now_ms).await?;
        }
        Ok(())
    }

    /// Runs one loop per channel until shut down. When nothing is due a loop sleeps until the
    /// next notification falls due, at most `idle_poll_ms`. On shutdown the loops stop claiming
    /// and let the round in flight finish within `shutdown_grace_secs`. With `exit_when_idle`
    /// they return once nothing is pending any more.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        let beat = CancellationToken::new();
        let channels = async {
            let done = tokio::join!(
                self.run_channel(Channel::Email, shutdown.clone(), exit_when_idle),
                self.run_channel(Channel::Sms, shutdown, exit_when_idle)
            );
            beat.cancel();
            done
        };
        let ((email, sms), ()) = tokio::join!(channels, self.heartbeat(beat.clone()));
        email.and(sms)
    }

    /// Tells the database every `lease_secs / 4` (1 to 10 s) that this instance is alive, and
    /// counts the instances that are, to claim no more than its share of a rate limit lets go
    /// out within the lease. A dead instance drops out after three missed beats; one that stops
    /// cleanly leaves at once. (The limits themselves hold without the count: `rate`.)
    async fn heartbeat(&self, stop: CancellationToken) {
        let every = std::time::Duration::from_secs((self.shared.queue.lease_secs / 4).clamp(1, 10));
        let mut known = 0;
        loop {
            let now = to_millis((self.shared.clock)());
            let ttl = 3 * every.as_millis() as i64;
            let beat = async {
                let mut conn = self.store.conn().await?;
                anyhow::Ok(leases::heartbeat(&mut conn, &self.owner, now, now + ttl).await?)
            };
            match beat.await {
                Ok(instances) => {
                    let instances = u32::try_from(instances).unwrap_or(u32::MAX);
                    if instances != known {
                        known = instances;
                        self.shared.destinations.share_rates(instances);
                        tracing::info!(
                            instances,
                            "instances running; claims sized to a share of the rate limits"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "heartbeat failed; keeping the last instance count")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => break,
            }
        }
        if let Ok(mut conn) = self.store.conn().await
            && let Err(e) = leases::leave(&mut conn, &self.owner).await
        {
            tracing::warn!(error = %e, "could not end the heartbeat; it runs out by itself");
        }
    }

    async fn run_channel(
        &self,
        channel: Channel,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        let grace = std::time::Duration::from_secs(self.shared.queue.shutdown_grace_secs);
        let mut woken = self.wake.subscribe();
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let step = self.step_channel(channel);
            tokio::pin!(step);
            let result = tokio::select! {
                r = &mut step => r,
                () = shutdown.cancelled() => {
                    match tokio::time::timeout(grace, &mut step).await {
                        Ok(r) => log_step_error(channel, &r),
                        Err(_) => tracing::warn!(channel = channel.as_str(), "shutdown: in-flight sends did not finish in time; their leases will run out"),
                    }
                    return Ok(());
                }
            };
            log_step_error(channel, &result);
            if result.as_ref().is_ok_and(|o| !o.idle()) {
                continue;
            }
            if exit_when_idle && self.nothing_pending(channel).await? {
                return Ok(());
            }
            let wait = self.idle_wait(channel).await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = woken.changed() => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    async fn nothing_pending(&self, channel: Channel) -> anyhow::Result<bool> {
        let mut conn = self.store.conn().await?;
        Ok(queue::count_pending(&mut conn, channel.as_str()).await? == 0)
    }

    async fn idle_wait(&self, channel: Channel) -> std::time::Duration {
        let poll = Duration::milliseconds(self.shared.queue.idle_poll_ms as i64);
        let now = (self.shared.clock)();
        let next = match self.store.conn().await {
            Ok(mut conn) => queue::next_due(&mut conn, channel.as_str())
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let until = next.map_or(now + poll, |n| from_millis(n).min(now + poll));
        (until - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_millis(10))
    }
}

impl Shared {
    /// Sends one claimed notification through the first destination of its channel that is up,
    /// failing over to the next when one fails at the connection level. Gives up when the
    /// appointment starts before the send completes. Returns the outcome and, for email, the
    /// Message-ID it carried.
    async fn send_one(&self, c: &Claimed) -> (AttemptResult, Option<String>) {
        let now = (self.clock)();
        let Ok(time_left) = (from_millis(c.deadline) - now).to_std() else {
            return (AttemptResult::TooLate, None);
        };
        let Some(tenant) = self.tenants.get(&c.tenant_id) else {
            let reason = format!("tenant {:?} is no longer configured", c.tenant_id);
            return (AttemptResult::Permanent { reason }, None);
        };
        if c.channel == Channel::Sms.as_str()
            && let Some(quiet) = &tenant.quiet_hours
        {
            let urgent = Duration::minutes(tenant.quiet_hours_urgent_minutes);
            let appointment = from_millis(c.deadline);
            if let Some(until) = quiet.defer_until(now, tenant.time_zone, appointment, urgent) {
                let reason = format!("quiet hours {quiet}: waits until they end");
                return (AttemptResult::Deferred { until, reason }, None);
            }
        }
        let id_domain = self.destinations.message_id_domain.as_deref();
        let reports = self
            .destinations
            .delivery_reports
            .as_ref()
            .map(|(url, secret)| (url.as_str(), secret.as_str()));
        let prepared = match Prepared::new(c, tenant, id_domain, reports, now) {
            Ok(p) => p,
            Err(reason) => return (AttemptResult::Permanent { reason }, None),
        };
        let send = self
            .destinations
            .send(&prepared, now, &self.queue, &self.clock);
        // A send must end well within the lease, or another process could take the message
        // over and send it too; and it must not go on once the appointment has started.
        let lease_bound = Duration::seconds(self.queue.lease_secs as i64 * 3 / 4)
            .to_std()
            .unwrap_or_default();
        let result = match tokio::time::timeout(time_left.min(lease_bound), send).await {
            Ok(result) => result,
            Err(_) if time_left <= lease_bound => AttemptResult::TooLate,
            Err(_) => AttemptResult::DestinationDown {
                reason: "the send took longer than three quarters of the lease".into(),
                retry_at: now,
            },
        };
        (result, prepared.message_id().map(str::to_owned))
    }
}

fn log_step_error(channel: Channel, r: &anyhow::Result<StepOutcome>) {
    if let Err(e) = r {
        tracing::error!(channel = channel.as_str(), error = %format!("{e:#}"), "dispatch step failed; retrying");
    }
}
