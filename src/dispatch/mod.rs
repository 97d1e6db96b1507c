//! The dispatcher: claims due notifications with a lease, sends them with no transaction open,
//! and records each outcome. [`Dispatcher::step`] does one round over both channels;
//! [`Dispatcher::run`] runs one thin loop per channel around [`Dispatcher::step_channel`], so a
//! hanging mail relay never holds up SMS, and tests drive the queue step by step without sleeping.
//! In the loop a round hands over to the next once it stops claiming, so the destination never
//! waits for a round's last sends.
//!
//! - [`destinations`]: the relays, gateways and outbox a channel sends through, in failover order
//! - [`health`]: per-destination circuit breaker; [`service_time`]: how long one send takes
//! - [`rate`]: a destination's rate limit, shared by all instances
//! - [`email`], [`sms`], [`outbox`]: the channel backends; [`outcome`]: what an attempt came to
//! - [`progress`]: whether the loops move, for `/readyz`
//! - `compose`: writes the emails queued without a text, after the claim
//! - `held`: what this process claimed and has not recorded yet, so it never sends it twice
//! - `smtp_transaction`: one SMTP transaction, pipelined (RFC 2920) where the relay allows it

mod compose;
pub mod destinations;
pub mod email;
pub mod health;
mod held;
pub mod outbox;
pub mod outcome;
pub mod progress;
pub mod rate;
pub mod service_time;
pub mod sms;
mod smtp_transaction;

use crate::config::{ChannelPolicy, QueueSettings, TenantSettings};
use crate::domain::notification::{self, AttemptResult, Channel, RetryPolicy, Role, Transition};
use crate::messages::TemplateSet;
use crate::owner;
use crate::store::notifications::{self as queue, Claimed};
use crate::store::{Store, leases};
use chrono::{DateTime, Duration, Utc};
use destinations::{Destinations, Prepared};
use progress::Progress;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// How long a group waits for more outcomes once its first is in: each group is a commit (an
/// fsync), and outcomes trickle in one by one as relays answer. A few milliseconds fill groups
/// of ~20 to ~60 at full speed (the speed issue: a third of the commits) and add nothing when
/// sends are few: the last outcome of a round ends the wait at once.
const RECORD_GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// A round claims at most this many batches, one after the other as the sends of the last run
/// low, and refills only within this time: then it ends (expiry, probes, shutdown).
const REFILLS: u32 = 8;
const REFILL_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// After a failed step a channel loop waits this long, doubling with each failure in a row up
/// to [`BACKOFF_MAX`], so a database that refuses writes is not hammered (nor the log filled).
const BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(100);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// A send and what it came to, until its outcome is recorded.
#[derive(Clone)]
struct Done {
    claimed: Claimed,
    result: AttemptResult,
    /// The Message-ID an email carried.
    message_id: Option<String>,
    /// When the send ended: the time its record says, however late it is written.
    at: DateTime<Utc>,
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
    progress: Arc<Progress>,
    /// Per channel: sends that went out but whose outcome the database did not take. They are
    /// recorded before the channel claims anything new, so none of them is claimed and sent
    /// again by this process.
    unrecorded: Mutex<HashMap<&'static str, Vec<Done>>>,
    /// What this process claimed and has not recorded yet: a claim returning it is not sent.
    held: held::Held,
}

struct Shared {
    queue: QueueSettings,
    tenants: HashMap<String, TenantSettings>,
    templates: Arc<TemplateSet>,
    destinations: Destinations,
    clock: Clock,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        queue: QueueSettings,
        tenants: &[TenantSettings],
        templates: Arc<TemplateSet>,
        destinations: Destinations,
        clock: Clock,
        progress: Arc<Progress>,
    ) -> Self {
        let owner = owner::this_process();
        Self {
            policy: queue.retry_policy(),
            store,
            owner,
            wake: Arc::new(tokio::sync::watch::Sender::new(0)),
            progress,
            unrecorded: Mutex::new(HashMap::new()),
            held: held::Held::default(),
            shared: Arc::new(Shared {
                queue,
                tenants: tenants.iter().map(|t| (t.id.clone(), t.clone())).collect(),
                templates,
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

    /// One round for one channel: record what earlier rounds could not, expire, probe, claim
    /// due notifications (earliest appointment first) with a lease, send them concurrently,
    /// record outcomes as they come in. Outcomes the database does not take are kept and the
    /// step fails; the next step records them before it claims anything.
    /// How the step ended is told to [`Progress`] (for `/readyz`).
    pub async fn step_channel(&self, channel: Channel) -> anyhow::Result<StepOutcome> {
        self.step_handing_over(channel, None).await
    }

    /// [`Self::step_channel`], telling `hand_over` when the round has stopped claiming while
    /// more is due, once its sends in flight are down to what a refill would leave: the next
    /// round may start then, beside this one's last sends (see [`Self::run_channel`]).
    #[tracing::instrument(skip_all, name = "dispatch_step", fields(channel = channel.as_str()))]
    async fn step_handing_over(
        &self,
        channel: Channel,
        hand_over: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> anyhow::Result<StepOutcome> {
        let result = self.round(channel, hand_over).await;
        match &result {
            Ok(_) => self.progress.step_ok(channel.as_str()),
            Err(e) => self.progress.step_failed(
                channel.as_str(),
                (self.shared.clock)(),
                &format!("{e:#}"),
                self.unrecorded_count(channel),
            ),
        }
        result
    }

    async fn round(
        &self,
        channel: Channel,
        mut hand_over: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> anyhow::Result<StepOutcome> {
        let mut out = StepOutcome::default();
        self.record_unrecorded(channel, &mut out).await?;
        let now = (self.shared.clock)();
        out.expired += self.expire(channel, now).await?;
        // Probes of down destinations run beside the sending: a relay that hangs takes its
        // whole timeout to fail a probe, and the round keeps sending through the others
        // meanwhile instead of waiting for it.
        let probing = AtomicBool::new(true);
        let probes = async {
            let done = (self.shared.destinations)
                .probe_due(channel, now, &self.shared.queue)
                .await;
            probing.store(false, Ordering::Relaxed);
            done
        };

        let cap = (self.shared.destinations).claim_limit(channel, self.shared.queue.lease_secs);
        let limit = cap.min(self.shared.queue.batch_size).max(1) as usize;
        // The next batch is claimed while a whole batch is still in flight: a claim waits for
        // the database's writer behind the recording (5–40 ms for 500), longer than a quarter
        // batch takes to send at full speed (the speed issue). Where a rate limit sizes the
        // batch, a quarter: the last of two whole batches would leave only at the lease's end.
        let low_water = if 2 * limit as u64 <= u64::from(cap) {
            limit
        } else {
            limit / 4
        };
        let claimed = self.claim_batch(channel, limit).await?;
        let claimed_total = AtomicU64::new(claimed.len() as u64);
        let recording_failed = AtomicBool::new(false);

        // Sends run (each as a task) while earlier outcomes are being written: the two halves are
        // joined, not sequenced, so a slow disk does not stall the relay and vice versa. When a
        // full batch is down to `low_water` in flight, the next is claimed, so the relay never
        // waits for the batch to drain and the claim (the speed issue); a round ends after
        // REFILLS batches or REFILL_WINDOW, so expiry, probes and shutdown come round often
        // (and in the daemon's loop the next round begins while its last sends are out).
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let started = tokio::time::Instant::now();
        let sending = async {
            let mut tasks = tokio::task::JoinSet::new();
            let mut batch = claimed;
            let mut batches = 1;
            loop {
                let full = batch.len() >= limit;
                for c in batch.drain(..) {
                    let (shared, done_tx) = (self.shared.clone(), done_tx.clone());
                    tasks.spawn(async move {
                        let (result, message_id) = shared.send_one(&c).await;
                        let at = (shared.clock)();
                        // The receiver outlives every task here, so this cannot fail.
                        let _ = done_tx.send(Done {
                            claimed: c,
                            result,
                            message_id,
                            at,
                        });
                    });
                }
                // Batches of one to three (strict pacing, tests) are sent one round each.
                // Nothing new is claimed while sends of this channel are unrecorded (here or
                // in the round before, which may still be recording).
                let recording = !recording_failed.load(Ordering::Relaxed)
                    && self.unrecorded_count(channel) == 0;
                let more = full && limit >= 4 && recording;
                let refill = more && batches < REFILLS && started.elapsed() < REFILL_WINDOW;
                // While a probe runs the round goes on claiming, paced by the idle poll when
                // there was nothing to claim.
                let probing = probing.load(Ordering::Relaxed) && recording;
                if !refill && !probing {
                    // More is due: the next round starts when a refill would have been
                    // claimed, so the destination does not wait for this round's last sends
                    // (a peer may hold its last answers back: Kannel 40 ms) and its claim.
                    if more && let Some(next) = hand_over.take() {
                        while tasks.len() > low_water && tasks.join_next().await.is_some() {}
                        let _ = next.send(());
                    }
                    break;
                }
                while tasks.len() > low_water && tasks.join_next().await.is_some() {}
                if !refill && !full {
                    let poll = std::time::Duration::from_millis(self.shared.queue.idle_poll_ms);
                    tokio::time::sleep(poll.max(std::time::Duration::from_millis(10))).await;
                }
                // A claim that fails here leaves the next round to claim (and report).
                batch = match self.claim_batch(channel, limit).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "refill claim failed");
                        Vec::new()
                    }
                };
                claimed_total.fetch_add(batch.len() as u64, Ordering::Relaxed);
                batches += 1;
            }
            drop(done_tx);
            while tasks.join_next().await.is_some() {}
        };
        let recording = async {
            let mut failed = None;
            let mut group = Vec::with_capacity(RECORD_GROUP);
            while let Some(first) = done_rx.recv().await {
                group.push(first);
                let until = tokio::time::Instant::now() + RECORD_GATHER;
                while group.len() < RECORD_GROUP {
                    match tokio::time::timeout_at(until, done_rx.recv()).await {
                        Ok(Some(next)) => group.push(next),
                        // The wait is over, or every send of the round is in.
                        Ok(None) | Err(_) => break,
                    }
                }
                let group = std::mem::take(&mut group);
                // Once the database has refused one group, the rest of this round is kept
                // without asking it again: the next step tries after a pause.
                if failed.is_none() {
                    match self.record(&group).await {
                        Ok(counts) => {
                            out.add(&counts);
                            continue;
                        }
                        Err(e) => {
                            recording_failed.store(true, Ordering::Relaxed);
                            failed = Some(e);
                        }
                    }
                }
                self.keep_unrecorded(channel, group);
            }
            failed
        };
        let ((probed, recovered), (), failed) = tokio::join!(probes, sending, recording);
        out.probed = probed;
        out.recovered = recovered;
        out.claimed = claimed_total.into_inner();
        if let Some(e) = failed {
            let n = self.unrecorded_count(channel);
            return Err(e.context(format!(
                "{n} sends went out but could not be recorded; they are recorded before anything new is claimed"
            )));
        }
        self.shared
            .destinations
            .persist(&self.store, (self.shared.clock)())
            .await?;
        Ok(out)
    }

    /// Claims up to `limit` due notifications of the channel with a lease (none while every
    /// destination of the channel is down) and writes the texts of emails queued without one.
    async fn claim_batch(&self, channel: Channel, limit: usize) -> anyhow::Result<Vec<Claimed>> {
        if !self.shared.destinations.any_up(channel) {
            return Ok(Vec::new());
        }
        let now = (self.shared.clock)();
        let lease_until = now + Duration::seconds(self.shared.queue.lease_secs as i64);
        let mut tx = self.store.begin_claim().await?;
        let mut rows = queue::claim(
            &mut tx,
            self.store.backend(),
            channel.as_str(),
            &self.owner,
            now,
            lease_until,
            limit as i64,
        )
        .await?;
        let facts = compose::Facts::read(&mut tx, &rows).await?;
        tx.commit().await?;
        let again = self.held.take(&mut rows, |c| c.id);
        if again > 0 {
            tracing::info!(
                channel = channel.as_str(),
                notifications = again,
                "claimed again what this process sent and has not recorded yet; not sent again"
            );
        }
        facts.write(&self.shared.templates, &self.shared.tenants, &mut rows);
        Ok(rows)
    }

    /// Records the outcomes earlier steps could not, a group at a time; a group leaves the list
    /// only once it is written, so what the database still refuses (or a cancelled call) keeps
    /// it for the next try.
    async fn record_unrecorded(
        &self,
        channel: Channel,
        out: &mut StepOutcome,
    ) -> anyhow::Result<()> {
        let mut recorded = 0;
        loop {
            let group: Vec<Done> = {
                let all = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
                let waiting = all.get(channel.as_str()).map_or(&[][..], Vec::as_slice);
                waiting[..waiting.len().min(RECORD_GROUP)].to_vec()
            };
            if group.is_empty() {
                break;
            }
            match self.record(&group).await {
                Ok(counts) => {
                    out.add(&counts);
                    recorded += group.len();
                    let mut all = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
                    all.entry(channel.as_str())
                        .or_default()
                        .drain(..group.len());
                }
                Err(e) => {
                    let n = self.unrecorded_count(channel);
                    return Err(e.context(format!(
                        "{n} sends went out but are not recorded yet; nothing new is claimed until they are"
                    )));
                }
            }
        }
        if recorded > 0 {
            tracing::info!(
                channel = channel.as_str(),
                recorded,
                "outcomes of earlier sends are recorded now"
            );
        }
        Ok(())
    }

    fn keep_unrecorded(&self, channel: Channel, group: Vec<Done>) {
        let mut all = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(channel.as_str()).or_default().extend(group);
    }

    fn unrecorded_count(&self, channel: Channel) -> usize {
        let all = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        all.get(channel.as_str()).map_or(0, Vec::len)
    }

    /// Expires the channel's notifications whose appointment has started (a read first, so an
    /// idle dispatcher does not take the write lock every round).
    async fn expire(&self, channel: Channel, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let mut conn = self.store.conn().await?;
        if !queue::any_overdue(&mut conn, channel.as_str(), now).await? {
            return Ok(0);
        }
        drop(conn);
        let mut tx = self.store.begin().await?;
        let n = queue::expire_due(&mut tx, channel.as_str(), now).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Writes a group of outcomes in one transaction and returns their counts. On error nothing
    /// of the group is written (the transaction rolls back; a connection that cannot roll back
    /// is discarded by the store).
    async fn record(&self, group: &[Done]) -> anyhow::Result<StepOutcome> {
        let mut out = StepOutcome::default();
        let transitions: Vec<(&Done, Transition)> = group
            .iter()
            .map(|d| {
                let t = notification::decide(
                    &self.policy,
                    d.claimed.attempts as u32,
                    d.result.clone(),
                    d.claimed.deadline,
                    d.at,
                    rand::random::<f64>(),
                );
                (d, t)
            })
            .collect();
        let sent: Vec<queue::SentRecord<'_>> = transitions
            .iter()
            .filter_map(|(d, t)| match t {
                Transition::Sent {
                    destination,
                    provider_id,
                } => Some(queue::SentRecord {
                    id: d.claimed.id,
                    destination,
                    provider_id: provider_id.as_deref(),
                    message_id: d.message_id.as_deref(),
                    at: d.at,
                }),
                _ => None,
            })
            .collect();
        let mut tx = self.store.begin().await?;
        // The sends in one statement; what depends on each (a delivery report that came first,
        // a fallback no longer needed) follows.
        let reported = queue::mark_sent_many(&mut tx, &sent).await?;
        for (d, transition) in &transitions {
            let (c, now) = (&d.claimed, d.at);
            // Only the policies email_first and sms_first queue fallbacks.
            let has_fallback = c.role == Role::Primary
                && self
                    .shared
                    .tenants
                    .get(&c.tenant_id)
                    .is_some_and(|t| t.channel_policy != ChannelPolicy::Both);
            match transition {
                Transition::Sent { .. } => {
                    out.sent += 1;
                    // The gateway said it did not arrive before the send was recorded here.
                    let failed = reported
                        .get(&c.id)
                        .and_then(|r| r.as_deref())
                        .filter(|r| crate::domain::dlr::is_failure(r));
                    if let Some(failed) = failed {
                        queue::delivery_failed(&mut tx, c.id, failed, now).await?;
                    } else if has_fallback {
                        queue::cancel_fallbacks(
                            &mut tx,
                            c.outage_id,
                            c.booking_id,
                            c.kind.as_str(),
                            now,
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
                    let attempts = (*attempts).into();
                    queue::mark_retry(&mut tx, c.id, &self.owner, attempts, *at, reason).await?;
                }
                Transition::Failed { attempts, reason } => {
                    out.failed += 1;
                    self.end_unsent(&mut tx, c, queue::Final::Failed, *attempts, reason, now)
                        .await?;
                }
                Transition::Expired { attempts, reason } => {
                    out.expired += 1;
                    self.end_unsent(&mut tx, c, queue::Final::Expired, *attempts, reason, now)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        self.held.release(group.iter().map(|d| d.claimed.id));
        Ok(out)
    }

    /// Ends a notification unsent; its fallback on the other channel (if any) goes now.
    async fn end_unsent(
        &self,
        tx: &mut crate::store::Tx,
        c: &Claimed,
        state: queue::Final,
        attempts: u32,
        reason: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        tracing::warn!(notification = c.id, channel = %c.channel, state = state.as_str(), %reason, "notification ended without being sent");
        queue::mark_final(tx, c.id, &self.owner, state, attempts.into(), reason, now).await?;
        if c.role == Role::Primary {
            queue::release_fallbacks(tx, c.outage_id, c.booking_id, c.kind.as_str(), now).await?;
        }
        Ok(())
    }

    /// Runs one loop per channel until shut down. When nothing is due a loop sleeps until the
    /// next notification falls due, at most `idle_poll_ms`. On shutdown the loops stop claiming
    /// and let the rounds in flight finish within `shutdown_grace_secs`. With `exit_when_idle`
    /// they return once nothing is pending any more.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        if let Err(e) = self.take_back_from_the_gone().await {
            tracing::warn!(error = %format!("{e:#}"), "could not look for claims of stopped processes; they are due again when their leases run out");
        }
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

    /// Makes due at once what a process of this machine that no longer runs had claimed (a
    /// kill -9, a crash: the restarted daemon finds it), instead of when its lease runs out;
    /// and forgets its heartbeat, which would otherwise count it among the instances sharing
    /// the rate limits for three more beats. What it had sent but not recorded goes out again,
    /// as it would after the lease.
    async fn take_back_from_the_gone(&self) -> anyhow::Result<()> {
        let now = (self.shared.clock)();
        let mut conn = self.store.conn().await?;
        for holder in queue::live_lease_owners(&mut conn, now).await? {
            if holder == self.owner || !owner::is_gone(&holder) {
                continue;
            }
            let n = queue::end_leases_of(&mut conn, &holder, now).await?;
            tracing::info!(
                holder,
                notifications = n,
                "claims of a process that no longer runs are due again"
            );
        }
        for instance in leases::instances(&mut conn).await? {
            if instance != self.owner && owner::is_gone(&instance) {
                leases::leave(&mut conn, &instance).await?;
            }
        }
        Ok(())
    }

    /// Tells the database every `lease_secs / 4` (1 to 10 s) that this instance is alive, and
    /// counts the instances that are, to claim no more than its share of a rate limit lets go
    /// out within the lease. A dead instance drops out after three missed beats; one that stops
    /// cleanly leaves at once. (The limits themselves hold without the count: `rate`.)
    async fn heartbeat(&self, stop: CancellationToken) {
        let every = std::time::Duration::from_secs((self.shared.queue.lease_secs / 4).clamp(1, 10));
        let mut known = 0;
        loop {
            let now = (self.shared.clock)();
            let ttl = Duration::milliseconds(3 * every.as_millis() as i64);
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

    /// One channel's loop: a round after the other, the next starting as soon as one hands
    /// over ([`Self::step_handing_over`]), so at most two run at once: the newest, and the one
    /// before it while its last sends finish and are recorded.
    async fn run_channel(
        &self,
        channel: Channel,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        let grace = std::time::Duration::from_secs(self.shared.queue.shutdown_grace_secs);
        let mut woken = self.wake.subscribe();
        let mut failures = 0u32;
        let mut rounds = futures::stream::FuturesUnordered::new();
        loop {
            if shutdown.is_cancelled() {
                return self.finish(channel, rounds, grace).await;
            }
            let (handed_tx, mut handed_rx) = tokio::sync::oneshot::channel();
            rounds.push(self.step_handing_over(channel, Some(handed_tx)));
            // Until the newest round hands over, or every round has ended.
            let (mut waiting, mut handed, mut last) = (true, false, None);
            while !handed && !rounds.is_empty() {
                tokio::select! {
                    Some(result) = futures::StreamExt::next(&mut rounds) => {
                        match &result {
                            Ok(_) if failures > 0 => {
                                tracing::info!(channel = channel.as_str(), failed_steps = failures, "dispatch works again");
                                failures = 0;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                failures += 1;
                                // One line per failure; the pauses grow, so a lasting fault
                                // costs a line every few seconds rather than hundreds.
                                let pause = backoff(failures).as_millis() as u64;
                                tracing::error!(channel = channel.as_str(), error = %format!("{e:#}"), failed_steps = failures, retry_in_ms = pause, "dispatch step failed; retrying");
                            }
                        }
                        last = Some(result);
                    }
                    r = &mut handed_rx, if waiting => {
                        waiting = false;
                        handed = r.is_ok();
                    }
                    () = shutdown.cancelled() => return self.finish(channel, rounds, grace).await,
                }
            }
            if handed {
                continue;
            }
            let outcome = match last {
                Some(Ok(outcome)) => outcome,
                Some(Err(_)) => {
                    tokio::select! {
                        () = tokio::time::sleep(backoff(failures)) => {}
                        () = shutdown.cancelled() => return self.finish(channel, rounds, grace).await,
                    }
                    continue;
                }
                None => continue,
            };
            if !outcome.idle() {
                continue;
            }
            // A database error here is no reason to stop: the next step reports it.
            if exit_when_idle && self.nothing_pending(channel).await.unwrap_or(false) {
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

    /// On shutdown: lets the rounds in flight finish within the grace time, then tries once
    /// more to record what is unrecorded.
    async fn finish<F>(
        &self,
        channel: Channel,
        mut rounds: futures::stream::FuturesUnordered<F>,
        grace: std::time::Duration,
    ) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = anyhow::Result<StepOutcome>>,
    {
        let ended = tokio::time::timeout(grace, async {
            while let Some(result) = futures::StreamExt::next(&mut rounds).await {
                if let Err(e) = result {
                    tracing::error!(channel = channel.as_str(), error = %format!("{e:#}"), "dispatch step failed");
                }
            }
        });
        if ended.await.is_err() {
            tracing::warn!(
                channel = channel.as_str(),
                "shutdown: in-flight sends did not finish in time; their leases will run out"
            );
        }
        drop(rounds);
        self.record_before_exit(channel, grace).await;
        Ok(())
    }

    /// Tries once more to record what is unrecorded, then says how many sends the process ends
    /// with unrecorded: they go out again once their leases run out.
    async fn record_before_exit(&self, channel: Channel, grace: std::time::Duration) {
        if self.unrecorded_count(channel) > 0 {
            let mut ignored = StepOutcome::default();
            let _ =
                tokio::time::timeout(grace, self.record_unrecorded(channel, &mut ignored)).await;
        }
        let n = self.unrecorded_count(channel);
        if n > 0 {
            tracing::error!(
                channel = channel.as_str(),
                unrecorded = n,
                "shutdown: sends that went out could not be recorded; they will be sent again when their leases run out"
            );
        }
    }

    async fn nothing_pending(&self, channel: Channel) -> anyhow::Result<bool> {
        let mut conn = self.store.conn().await?;
        Ok(queue::count_pending(&mut conn, channel.as_str()).await? == 0)
    }

    async fn idle_wait(&self, channel: Channel) -> std::time::Duration {
        let poll = Duration::milliseconds(self.shared.queue.idle_poll_ms as i64);
        let now = (self.shared.clock)();
        // While every destination is down, what is due waits for a probe: the usual poll.
        if !self.shared.destinations.any_up(channel) {
            return poll.to_std().unwrap_or_default();
        }
        let next = match self.store.conn().await {
            Ok(mut conn) => queue::next_due(&mut conn, channel.as_str())
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let until = next.map_or(now + poll, |n| n.min(now + poll));
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
        let Ok(time_left) = (c.deadline - now).to_std() else {
            return (AttemptResult::TooLate, None);
        };
        let Some(tenant) = self.tenants.get(&c.tenant_id) else {
            let reason = format!("tenant {:?} is no longer configured", c.tenant_id);
            return (AttemptResult::Permanent { reason }, None);
        };
        if c.channel == Channel::Sms
            && let Some(quiet) = &tenant.quiet_hours
        {
            let urgent = Duration::minutes(tenant.quiet_hours_urgent_minutes);
            let appointment = c.deadline;
            if let Some(until) = quiet.defer_until(now, tenant.time_zone, appointment, urgent) {
                let reason = format!("quiet hours {quiet}: waits until they end");
                return (AttemptResult::Deferred { until, reason }, None);
            }
        }
        if let Some(reason) = &c.unwritable {
            let reason = format!("the message could not be written: {reason}");
            return (AttemptResult::Permanent { reason }, None);
        }
        let prepared = match Prepared::new(c, tenant, &self.destinations.addressing, now) {
            Ok(p) => p,
            Err(reason) => return (AttemptResult::Permanent { reason }, None),
        };
        // A send must end, and be recorded, before its claim's lease runs out, or another
        // process could take the message over and send it too: it begins only early enough to
        // end before the lease's last quarter (see `Destinations::send`), and is cut off there
        // only as a last resort (a relay that took one timeout per step). Nor may it go on
        // once the appointment has started.
        let lease_left = (send_by(c.lease_until, self.queue.lease_secs) - now)
            .to_std()
            .unwrap_or_default();
        let end_by = tokio::time::Instant::now() + lease_left;
        let send = (self.destinations).send(&prepared, now, &self.queue, &self.clock, end_by);
        let result = match tokio::time::timeout(time_left.min(lease_left), send).await {
            Ok(result) => result,
            Err(_) if time_left <= lease_left => AttemptResult::TooLate,
            Err(_) => AttemptResult::DestinationDown {
                reason: "the send did not end before the last quarter of its lease".into(),
                retry_at: now,
            },
        };
        (result, prepared.message_id().map(str::to_owned))
    }
}

/// When a send under a lease until `lease_until` must have ended: its last quarter is left for
/// recording the outcome before another claim may take the message.
fn send_by(lease_until: DateTime<Utc>, lease_secs: u64) -> DateTime<Utc> {
    lease_until - Duration::milliseconds(lease_secs as i64 * 250)
}

/// The pause after `failures` failed steps in a row.
fn backoff(failures: u32) -> std::time::Duration {
    BACKOFF_MIN
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_ends_before_the_last_quarter_of_its_claims_lease() {
        let until = chrono::DateTime::parse_from_rfc3339("2030-01-07T08:00:00Z").unwrap();
        let until = until.with_timezone(&Utc);
        assert_eq!(send_by(until, 120), until - Duration::seconds(30));
        assert_eq!(send_by(until, 5), until - Duration::milliseconds(1250));
    }

    #[test]
    fn failed_steps_back_off_exponentially_up_to_a_cap() {
        let ms = |n| backoff(n).as_millis();
        assert_eq!((ms(1), ms(2), ms(3), ms(7)), (100, 200, 400, 6400));
        assert_eq!(ms(8), 10_000);
        assert_eq!(ms(1000), 10_000);
    }
}
