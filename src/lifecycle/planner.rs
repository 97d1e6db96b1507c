//! The deadline planner: before anything is sent, when will each message of a declaration
//! leave, and whose would leave too late? Pure: it takes the run's messages, the queue already
//! waiting, each channel's rate and the tenant's quiet hours, and simulates the dispatcher —
//! earliest appointment first, through the channel's first destination that is up, one slot of
//! its rate per email and per SMS segment, SMS held back in quiet hours unless urgent, a
//! fallback only where its primary would not have left by `fallback_lead_minutes` before the
//! appointment.
//!
//! A channel's rate ([`rate_of`]) is the lower of the destination's rate limit and what its
//! connections can carry: `concurrency` sends at a time, each taking the destination's measured
//! send time (`dispatch::service_time`). With neither known, [`UNLIMITED_RATE`] is assumed.
//! When every destination of a channel is down, its messages are assumed not to leave (a down
//! destination is only probed, and nobody knows when it returns).
//!
//! The retry schedule enters through the queue already waiting: a message waiting for its
//! retry joins at its retry time. What it does not foresee: failures still to come, and runs
//! declared later.
//!
//! A booking is **too late** when none of its messages would leave in time: its primaries not
//! by `fallback_lead_minutes` before the appointment, its fallbacks (which exist for exactly
//! that margin) not before the appointment. Those are named in the preview, and a declaration
//! puts them on the call list at once instead of finding out after their appointment.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Sends per second assumed for a destination with no rate limit and no measured send time
/// (about what absage reaches against a local relay or gateway; BENCHMARKS.md).
pub const UNLIMITED_RATE: f64 = 1000.0;

/// One message of the run as matching queued it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub booking: i64,
    pub channel: &'static str,
    pub fallback: bool,
    /// When it may go first (a fallback's lead time; now for a primary).
    pub due: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    /// Slots of the rate it takes: its segments for an SMS, one for an email.
    pub slots: u32,
}

/// A message already in the queue, ahead of or among the run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waiting {
    /// When it may go: now, or the time of its next retry.
    pub ready: DateTime<Utc>,
    /// Its appointment.
    pub deadline: DateTime<Utc>,
    pub slots: u32,
}

/// A channel as the planner sees it.
#[derive(Debug, Clone)]
pub struct Lane {
    /// Slots per second through the channel's destination; 0 when every one is down.
    pub rate: f64,
    pub basis: RateBasis,
    pub waiting: Vec<Waiting>,
    /// Whether the tenant's quiet hours hold its messages back (SMS).
    pub quiet_hours_apply: bool,
}

/// Where a channel's rate comes from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateBasis {
    /// The destination's `queue.rate_limits` entry, which its connections can carry.
    RateLimit { destination: String },
    /// Its connections: `concurrency` sends at a time, each taking `send_ms` as measured.
    Connections {
        destination: String,
        concurrency: usize,
        send_ms: f64,
    },
    /// Nothing known: no rate limit, no send measured yet; [`UNLIMITED_RATE`].
    Assumed { destination: String },
    /// Every destination of the channel is down; nothing is expected to leave.
    Down,
}

/// What the planner knows of one destination of a channel.
#[derive(Debug, Clone)]
pub struct DestinationFacts {
    pub name: String,
    pub limit: Option<f64>,
    pub concurrency: usize,
    /// The measured time of one send once a connection is free.
    pub send_time: Option<std::time::Duration>,
    pub down: bool,
}

/// The rate of a channel whose destinations are `destinations`, in failover order: its first
/// destination that is up, at the lower of its rate limit and its connections' capacity.
pub fn rate_of(destinations: &[DestinationFacts]) -> (f64, RateBasis) {
    let Some(d) = destinations.iter().find(|d| !d.down) else {
        return (0.0, RateBasis::Down);
    };
    let destination = d.name.clone();
    let carried = d
        .send_time
        .filter(|t| !t.is_zero())
        .map(|t| (d.concurrency.max(1) as f64 / t.as_secs_f64(), t));
    match (d.limit, carried) {
        (Some(limit), Some((capacity, t))) if capacity < limit => (
            capacity,
            RateBasis::Connections {
                destination,
                concurrency: d.concurrency.max(1),
                send_ms: t.as_secs_f64() * 1000.0,
            },
        ),
        (Some(limit), _) => (limit, RateBasis::RateLimit { destination }),
        (None, Some((capacity, t))) => (
            capacity,
            RateBasis::Connections {
                destination,
                concurrency: d.concurrency.max(1),
                send_ms: t.as_secs_f64() * 1000.0,
            },
        ),
        (None, None) => (UNLIMITED_RATE, RateBasis::Assumed { destination }),
    }
}

/// The tenant's quiet hours, as the dispatcher applies them.
pub struct Hold {
    pub quiet: Option<crate::domain::quiet::QuietHours>,
    pub zone: chrono_tz::Tz,
    pub urgent: Duration,
}

impl Hold {
    /// Until when a message that would go `at` waits; None: it goes then.
    fn until(&self, at: DateTime<Utc>, appointment: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.quiet
            .as_ref()?
            .defer_until(at, self.zone, appointment, self.urgent)
    }
}

/// The estimate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Per channel: messages of this run, messages already waiting ahead, the rate assumed,
    /// and when the last message of this run would leave.
    pub channels: BTreeMap<String, LanePlan>,
    /// Bookings none of whose messages would leave in time, by appointment.
    pub late: Vec<Late>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LanePlan {
    pub messages: usize,
    /// Slots of the rate they take: emails plus SMS segments.
    pub slots: u64,
    pub waiting_ahead: usize,
    /// Slots (emails, SMS segments) per second.
    pub rate_per_second: f64,
    pub basis: RateBasis,
    #[schema(value_type = Option<String>)]
    pub last_leaves_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Late {
    pub booking_id: i64,
    /// Filled in by the caller, who knows the bookings.
    pub booking_key: String,
    #[schema(value_type = String)]
    pub starts_at: DateTime<Utc>,
    /// When its earliest message would leave; None: never before the appointment.
    #[schema(value_type = Option<String>)]
    pub earliest: Option<DateTime<Utc>>,
}

/// Estimates when the run's messages leave.
pub fn schedule(
    messages: &[Planned],
    lanes: &HashMap<&'static str, Lane>,
    hold: &Hold,
    lead: Duration,
    now: DateTime<Utc>,
) -> Schedule {
    // Pass 1: the primaries.
    let primaries: Vec<&Planned> = messages.iter().filter(|m| !m.fallback).collect();
    let mut leaves = simulate(&primaries, lanes, hold, now);
    let mut all = primaries.clone();
    if primaries.len() < messages.len() {
        let mut in_time: HashMap<i64, bool> = HashMap::with_capacity(primaries.len());
        for (m, at) in primaries.iter().zip(&leaves) {
            let ok = at.is_some_and(|at| at <= m.starts_at - lead);
            *in_time.entry(m.booking).or_default() |= ok;
        }
        // Pass 2: the fallbacks of bookings whose primaries would not make it; they go at
        // their lead time, in the queue with everything else.
        let fallbacks = (messages.iter())
            .filter(|m| m.fallback && !in_time.get(&m.booking).copied().unwrap_or(false));
        all.extend(fallbacks);
        if all.len() > primaries.len() {
            leaves = simulate(&all, lanes, hold, now);
        }
    }
    // Per booking: its appointment, its earliest estimate, and whether any message makes it
    // in time (a `Late` for each booking of a million took 300 MB).
    type Reach = (DateTime<Utc>, Option<DateTime<Utc>>, bool);
    let mut bookings: HashMap<i64, Reach> = HashMap::with_capacity(primaries.len());
    for (m, at) in all.iter().zip(&leaves) {
        let margin = if m.fallback { Duration::zero() } else { lead };
        let ok = at.is_some_and(|at| at <= m.starts_at - margin);
        let (starts_at, earliest, in_time) =
            bookings
                .entry(m.booking)
                .or_insert((m.starts_at, None, false));
        *earliest = match (*earliest, *at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .filter(|e| e < starts_at);
        *in_time |= ok;
    }
    let mut late: Vec<Late> = bookings
        .into_iter()
        .filter(|(_, (_, _, in_time))| !in_time)
        .map(|(booking_id, (starts_at, earliest, _))| Late {
            booking_id,
            booking_key: String::new(),
            starts_at,
            earliest,
        })
        .collect();
    late.sort_by_key(|l| (l.starts_at, l.booking_id));
    let mut channels = BTreeMap::new();
    for (channel, lane) in lanes {
        let mine: Vec<Option<DateTime<Utc>>> = all
            .iter()
            .zip(&leaves)
            .filter(|(m, _)| m.channel == *channel)
            .map(|(_, at)| *at)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let of_channel = || all.iter().filter(|m| m.channel == *channel);
        let last_deadline = of_channel().map(|m| m.starts_at).max();
        channels.insert(
            (*channel).to_owned(),
            LanePlan {
                messages: mine.len(),
                slots: of_channel().map(|m| u64::from(m.slots.max(1))).sum(),
                waiting_ahead: lane
                    .waiting
                    .iter()
                    .filter(|w| last_deadline.is_some_and(|d| w.deadline <= d))
                    .count(),
                rate_per_second: lane.rate,
                basis: lane.basis.clone(),
                last_leaves_at: mine.into_iter().flatten().max(),
            },
        );
    }
    Schedule { channels, late }
}

/// When each message leaves (None: not before its appointment, when it expires), simulating
/// each channel: ready messages by appointment, each taking its slots at `rate` slots per
/// second, the waiting queue interleaved by appointment. At rate 0 nothing leaves.
fn simulate(
    messages: &[&Planned],
    lanes: &HashMap<&'static str, Lane>,
    hold: &Hold,
    now: DateTime<Utc>,
) -> Vec<Option<DateTime<Utc>>> {
    let mut out = vec![None; messages.len()];
    for (channel, lane) in lanes {
        if lane.rate <= 0.0 {
            continue;
        }
        // Each with its index into `messages`, or None for one already waiting.
        let mut items: Vec<(Waiting, Option<usize>)> = lane
            .waiting
            .iter()
            .map(|w| (w.ready.max(now), w.deadline, w.slots, None))
            .chain(
                messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.channel == *channel)
                    .map(|(i, m)| (m.due.max(now), m.starts_at, m.slots, Some(i))),
            )
            .map(|(ready, deadline, slots, index)| {
                let ready = match lane.quiet_hours_apply {
                    true => hold.until(ready, deadline).unwrap_or(ready),
                    false => ready,
                };
                let w = Waiting {
                    ready,
                    deadline,
                    slots,
                };
                (w, index)
            })
            .collect();
        // The dispatcher takes what is due, earliest appointment first: in order of readiness,
        // and among the ready ones by appointment.
        items.sort_by_key(|(w, _)| (w.ready, w.deadline));
        let slot = 1.0 / lane.rate;
        let mut ready = Ready::default();
        let mut next = 0;
        let mut t = now;
        while next < items.len() || !ready.is_empty() {
            while next < items.len() && items[next].0.ready <= t {
                let (w, index) = items[next];
                ready.push((w.deadline, next, w.slots, index));
                next += 1;
            }
            let Some((deadline, _, slots, index)) = ready.pop() else {
                t = items[next].0.ready;
                continue;
            };
            // A message whose appointment has begun expires instead of leaving.
            if t < deadline {
                if let Some(i) = index {
                    out[i] = Some(t);
                }
                let took = slot * f64::from(slots.max(1));
                t += Duration::microseconds((took * 1e6).min(1e15) as i64);
            }
        }
    }
    out
}

/// A message ready to go in [`simulate`]: its appointment, its place in the order of
/// readiness, its slots, and its index in the run's messages (None: already waiting).
type ReadyKey = (DateTime<Utc>, usize, u32, Option<usize>);

/// The messages ready to go, taken earliest appointment first. They mostly become ready in the
/// order of their appointments (a declaration's all at once, sorted): those wait in a queue that
/// is in order already, and only the others go through a heap. With the heap alone, a tenth
/// of a declaration's planning over 100,000 bookings was taken by its pops.
#[derive(Default)]
struct Ready {
    in_order: std::collections::VecDeque<ReadyKey>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<ReadyKey>>,
}

impl Ready {
    fn push(&mut self, key: ReadyKey) {
        match self.in_order.back() {
            Some(last) if key < *last => self.heap.push(std::cmp::Reverse(key)),
            _ => self.in_order.push_back(key),
        }
    }

    fn pop(&mut self) -> Option<ReadyKey> {
        match (self.in_order.front(), self.heap.peek()) {
            (Some(first), Some(std::cmp::Reverse(top))) if top < first => {
                self.heap.pop().map(|r| r.0)
            }
            (Some(_), _) => self.in_order.pop_front(),
            (None, _) => self.heap.pop().map(|r| r.0),
        }
    }

    fn is_empty(&self) -> bool {
        self.in_order.is_empty() && self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests;

impl Late {
    /// Why the booking is on the call list, in the tenant's time. `down`: the channels of the
    /// run whose destinations were all down.
    pub fn reason(&self, zone: chrono_tz::Tz, down: &[&str]) -> String {
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%H:%M").to_string();
        let why = match down {
            [] => "the queue and the rate limits do not allow it".to_owned(),
            channels => format!(
                "the {} cannot be sent at the moment (all its servers are down), and the queue \
                 and the rate limits do not allow it otherwise",
                channels
                    .iter()
                    .map(|c| if *c == "email" { "email" } else { "SMS" })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        match self.earliest {
            Some(at) => format!(
                "its message would leave too late (around {}, appointment {}): {why}",
                local(at),
                local(self.starts_at)
            ),
            None => format!(
                "its message would not leave before the appointment ({}): {why}",
                local(self.starts_at)
            ),
        }
    }
}

impl Schedule {
    /// The channels whose destinations are all down.
    pub fn down(&self) -> Vec<&str> {
        (self.channels.iter())
            .filter(|(_, c)| c.basis == RateBasis::Down)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}
