//! A destination's rate limit (`queue.rate_limits`), held by all instances together from the
//! first message on, also while instances start or die.
//!
//! Sends go out in evenly spaced slots, one every `1 / limit` seconds, with no burst. An instance
//! reserves slots in small batches (50 ms' worth) from a [`Budget`]: in memory on SQLite, where
//! one instance sends; in the `rate_budget` table on PostgreSQL, one statement per batch, so that
//! instances take turns however many there are. Slots are never saved up: one that passed more
//! than [`LATE`] ago is given up, so an instance that stalls or dies (kill -9) leaves a gap at
//! most and nobody makes up for it later. The total in any second is therefore at most the limit
//! plus [`LATE`]'s worth, whatever the instances do.
//!
//! An SMS takes one slot per segment, since that is what gateways and SMS centres count: it
//! goes at the last of its slots, so a long SMS may add its other segments to that second.
//!
//! Heartbeats (`store::leases::heartbeat`) still count the live instances, but only to size
//! claims ([`SharedRate::per_instance`]); the limit does not depend on them.

use crate::store::{Store, rate_budget};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// A send that cannot start within this long after its slot takes a new slot instead.
pub const LATE: Duration = Duration::from_millis(25);

/// Slots are reserved this much at a time (at least one slot).
const BATCH: Duration = Duration::from_millis(50);

/// Where a destination's slots come from.
pub enum Budget {
    /// This process alone sends through the destination: the end of the last reservation.
    Local(Arc<std::sync::Mutex<Option<Instant>>>),
    /// Every instance on the database shares the destination's row in `rate_budget`.
    Database { store: Store, destination: String },
}

impl Budget {
    /// Slots for this process alone.
    pub fn local() -> Budget {
        Budget::Local(Arc::default())
    }

    /// Reserves `span` of slots, from now or from the end of the last reservation, whichever is
    /// later. Returns where the reservation starts.
    async fn reserve(&self, span: Duration) -> anyhow::Result<Instant> {
        match self {
            Budget::Local(next_free) => {
                let mut next_free = next_free.lock().unwrap_or_else(|p| p.into_inner());
                let start = next_free.map_or(Instant::now(), |n| n.max(Instant::now()));
                *next_free = Some(start + span);
                Ok(start)
            }
            Budget::Database { store, destination } => {
                let (now, now_us) = (Instant::now(), micros_since_epoch(SystemTime::now()));
                let span_us = i64::try_from(span.as_micros()).unwrap_or(i64::MAX);
                let mut conn = store.conn().await?;
                let end_us = rate_budget::reserve(&mut conn, destination, now_us, span_us)
                    .await
                    .with_context(|| format!("reserving send slots for {destination}"))?;
                let ahead = end_us.saturating_sub(span_us).saturating_sub(now_us).max(0);
                Ok(now + Duration::from_micros(ahead as u64))
            }
        }
    }
}

fn micros_since_epoch(t: SystemTime) -> i64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// The slots this instance holds: `left` of them, the next at `next`.
struct Held {
    next: Instant,
    left: u32,
    /// The last slot of the latest batch; the next batch is reserved only once it is due, so an
    /// instance with many messages waiting holds one batch ahead, not all of them.
    last: Instant,
}

/// The limiter of one destination.
pub struct SharedRate {
    /// Messages per second for all instances together.
    total: f64,
    interval: Duration,
    batch: u32,
    budget: Budget,
    held: tokio::sync::Mutex<Held>,
    /// Live instances as the last heartbeat counted them; sizes claims only.
    instances: AtomicU32,
}

impl SharedRate {
    /// A limit of `total` messages per second (positive), with slots from `budget`.
    pub fn new(total: f64, budget: Budget) -> SharedRate {
        // Rounded up: never a hair faster than the limit.
        let micros = (1e6 / total).ceil().clamp(1.0, u64::MAX as f64) as u64;
        let batch = (BATCH.as_micros() as u64 / micros).clamp(1, u64::from(u32::MAX)) as u32;
        let now = Instant::now();
        SharedRate {
            total,
            interval: Duration::from_micros(micros),
            batch,
            budget,
            held: tokio::sync::Mutex::new(Held {
                next: now,
                left: 0,
                last: now,
            }),
            instances: AtomicU32::new(1),
        }
    }

    /// The rate this instance can expect, in messages per second: the limit divided among the
    /// live instances. Sizes claims; the limit itself holds without it.
    pub fn per_instance(&self) -> f64 {
        self.total / f64::from(self.instances.load(Ordering::Relaxed))
    }

    /// Records that `instances` (at least one) are live. Returns whether the count changed.
    pub fn set_instances(&self, instances: u32) -> bool {
        self.instances.swap(instances.max(1), Ordering::Relaxed) != instances.max(1)
    }

    /// Waits for `slots` of this instance's slots (at least one: an SMS of several segments
    /// takes one per segment) and returns at the last. Fails only when the shared budget cannot
    /// be reached; then nothing may be sent.
    pub async fn until_ready(&self, slots: u32) -> anyhow::Result<()> {
        loop {
            let mut slot = self.next_slot().await?;
            for _ in 1..slots {
                slot = self.next_slot().await?;
            }
            tokio::time::sleep_until(slot).await;
            // Woken late (an overloaded machine): sending now would crowd the slots after it.
            if Instant::now() <= slot + LATE {
                return Ok(());
            }
        }
    }

    /// Takes the next slot held, reserving a batch when none is left.
    async fn next_slot(&self) -> anyhow::Result<Instant> {
        let mut held = self.held.lock().await;
        loop {
            let now = Instant::now();
            while held.left > 0 && held.next + LATE < now {
                held.next += self.interval;
                held.left -= 1;
            }
            if held.left > 0 {
                let slot = held.next;
                held.next += self.interval;
                held.left -= 1;
                return Ok(slot);
            }
            tokio::time::sleep_until(held.last).await;
            let start = self.budget.reserve(self.interval * self.batch).await?;
            *held = Held {
                next: start,
                left: self.batch,
                last: start + self.interval * (self.batch - 1),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<std::sync::Mutex<Vec<Instant>>>;

    /// Sends `n` messages through `rate` as `tasks` concurrent senders, noting in `log` when
    /// each went.
    async fn send(rate: Arc<SharedRate>, tasks: usize, n: usize, log: Log) {
        let mut set = tokio::task::JoinSet::new();
        for t in 0..tasks {
            let (rate, log) = (rate.clone(), log.clone());
            set.spawn(async move {
                for _ in (t..n).step_by(tasks) {
                    rate.until_ready(1).await.unwrap();
                    log.lock().unwrap().push(Instant::now());
                }
            });
        }
        while set.join_next().await.is_some() {}
    }

    fn sorted(log: &Log) -> Vec<Instant> {
        let mut times = log.lock().unwrap().clone();
        times.sort();
        times
    }

    /// The most sends within any one second (a sliding window).
    fn busiest_second(times: &[Instant]) -> usize {
        let mut start = 0;
        (0..times.len())
            .map(|end| {
                while times[end] - times[start] >= Duration::from_secs(1) {
                    start += 1;
                }
                end - start + 1
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn sends_are_spread_evenly_from_the_first_second_without_a_burst() {
        let log = Log::default();
        let rate = Arc::new(SharedRate::new(150.0, Budget::local()));
        send(rate, 50, 450, log.clone()).await;
        let times = sorted(&log);
        assert_eq!(busiest_second(&times), 150, "one slot every 1/150 s");
        let took = times[449] - times[0];
        assert!(
            took >= Duration::from_millis(2980) && took < Duration::from_millis(3000),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn instances_on_one_budget_share_the_limit_also_when_one_dies() {
        // Three instances on one budget (the database row, here in memory), all busy at once.
        let budget: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let instance = || Arc::new(SharedRate::new(150.0, Budget::Local(budget.clone())));
        let log = Log::default();
        let doomed = tokio::spawn(send(instance(), 20, 10_000, log.clone()));
        let survivors = [
            tokio::spawn(send(instance(), 20, 300, log.clone())),
            tokio::spawn(send(instance(), 20, 300, log.clone())),
        ];
        tokio::time::sleep(Duration::from_millis(1500)).await;
        doomed.abort(); // it holds slots it will never use
        let died = Instant::now();
        for s in survivors {
            s.await.unwrap();
        }
        let times = sorted(&log);
        assert!(busiest_second(&times) <= 150, "three instances together");
        let after: Vec<Instant> = times.into_iter().filter(|t| *t >= died).collect();
        assert!(
            busiest_second(&after) >= 148,
            "the two survivors take over the whole limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slots_missed_while_idle_are_not_saved_up_for_a_burst() {
        let rate = Arc::new(SharedRate::new(40.0, Budget::local()));
        rate.until_ready(1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let log = Log::default();
        send(rate, 4, 41, log.clone()).await;
        let times = sorted(&log);
        assert!(
            times[40] - times[0] >= Duration::from_millis(990),
            "after an idle spell 41 messages still take a second at 40/s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_below_one_per_second_still_lets_messages_through() {
        let log = Log::default();
        let rate = Arc::new(SharedRate::new(0.5, Budget::local()));
        send(rate, 2, 3, log.clone()).await;
        let times = sorted(&log);
        assert_eq!(times[2] - times[0], Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn an_sms_of_three_segments_takes_three_slots() {
        // 10 segments per second; four SMS of three segments: 12 slots, the last SMS going at
        // the twelfth, 1.1 s after the first slot.
        let rate = SharedRate::new(10.0, Budget::local());
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..4 {
            rate.until_ready(3).await.unwrap();
            times.push(Instant::now() - start);
        }
        let ms: Vec<u128> = times.iter().map(|t| t.as_millis()).collect();
        assert_eq!(ms, [200, 500, 800, 1100]);
    }

    #[test]
    fn claims_are_sized_by_the_share_of_the_live_instances() {
        let r = SharedRate::new(40.0, Budget::local());
        assert_eq!(r.per_instance(), 40.0);
        assert!(r.set_instances(4));
        assert_eq!(r.per_instance(), 10.0);
        assert!(!r.set_instances(4), "the same count changes nothing");
        assert!(r.set_instances(0), "no count means alone");
        assert_eq!(r.per_instance(), 40.0);
    }
}
