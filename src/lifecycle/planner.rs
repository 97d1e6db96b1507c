//! The deadline planner: before anything is sent, when will each message of a declaration
//! leave, and whose would leave too late? Pure: it takes the run's messages, the queue already
//! waiting, each channel's rate and the tenant's quiet hours, and simulates the dispatcher —
//! earliest appointment first, one message per `1 / rate` seconds through the channel's first
//! destination, SMS held back in quiet hours unless urgent, a fallback only where its primary
//! would not have left by `fallback_lead_minutes` before the appointment.
//!
//! A booking is **too late** when none of its messages would leave in time: its primaries not
//! by `fallback_lead_minutes` before the appointment, its fallbacks (which exist for exactly
//! that margin) not before the appointment. Those are named in the preview, and a declaration
//! puts them on the call list at once instead of finding out after their appointment.
//!
//! What it does not foresee: failures and retries (it assumes the destinations stay up), and
//! other runs declared later. Without a rate limit a channel is assumed to take
//! [`UNLIMITED_RATE`] messages per second.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Messages per second assumed for a destination without `queue.rate_limits` (about what
/// absage reaches against a local relay or gateway; BENCHMARKS.md).
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
}

/// A channel as the planner sees it.
#[derive(Debug, Clone)]
pub struct Lane {
    /// Messages per second through the channel's first destination.
    pub rate: f64,
    pub limited: bool,
    /// Appointments (deadlines) of the messages already waiting on the channel.
    pub waiting: Vec<DateTime<Utc>>,
    /// Whether the tenant's quiet hours hold its messages back (SMS).
    pub quiet_hours_apply: bool,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LanePlan {
    pub messages: usize,
    pub waiting_ahead: usize,
    pub rate_per_second: f64,
    /// False: no rate limit configured; [`UNLIMITED_RATE`] was assumed.
    pub rate_limited: bool,
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
    let mut in_time: HashMap<i64, bool> = HashMap::new();
    for (m, at) in primaries.iter().zip(&leaves) {
        let ok = at.is_some_and(|at| at <= m.starts_at - lead);
        *in_time.entry(m.booking).or_default() |= ok;
    }
    // Pass 2: the fallbacks of bookings whose primaries would not make it; they go at their
    // lead time, in the queue with everything else.
    let fallbacks: Vec<&Planned> = messages
        .iter()
        .filter(|m| m.fallback && !in_time.get(&m.booking).copied().unwrap_or(false))
        .collect();
    let mut all = primaries.clone();
    if !fallbacks.is_empty() {
        all.extend(&fallbacks);
        leaves = simulate(&all, lanes, hold, now);
    }
    // Per booking: its earliest estimate, and whether any message makes it in time.
    let mut bookings: HashMap<i64, (Late, bool)> = HashMap::new();
    for (m, at) in all.iter().zip(&leaves) {
        let margin = if m.fallback { Duration::zero() } else { lead };
        let ok = at.is_some_and(|at| at <= m.starts_at - margin);
        let (l, in_time) = bookings.entry(m.booking).or_insert_with(|| {
            let late = Late {
                booking_id: m.booking,
                booking_key: String::new(),
                starts_at: m.starts_at,
                earliest: None,
            };
            (late, false)
        });
        l.earliest = match (l.earliest, *at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .filter(|e| *e < l.starts_at);
        *in_time |= ok;
    }
    let mut late: Vec<Late> = bookings
        .into_values()
        .filter(|(_, in_time)| !in_time)
        .map(|(l, _)| l)
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
        let first_deadline = all
            .iter()
            .filter(|m| m.channel == *channel)
            .map(|m| m.starts_at)
            .max();
        channels.insert(
            (*channel).to_owned(),
            LanePlan {
                messages: mine.len(),
                waiting_ahead: lane
                    .waiting
                    .iter()
                    .filter(|w| first_deadline.is_some_and(|d| **w <= d))
                    .count(),
                rate_per_second: lane.rate,
                rate_limited: lane.limited,
                last_leaves_at: mine.into_iter().flatten().max(),
            },
        );
    }
    Schedule { channels, late }
}

/// When each message leaves (None: not before its appointment, when it expires), simulating
/// each channel: ready messages by appointment, one every `1 / rate` seconds, the waiting queue
/// interleaved by appointment.
fn simulate(
    messages: &[&Planned],
    lanes: &HashMap<&'static str, Lane>,
    hold: &Hold,
    now: DateTime<Utc>,
) -> Vec<Option<DateTime<Utc>>> {
    let mut out = vec![None; messages.len()];
    for (channel, lane) in lanes {
        // (ready at, appointment, index into `messages` or None for one already waiting)
        let mut items: Vec<(DateTime<Utc>, DateTime<Utc>, Option<usize>)> = lane
            .waiting
            .iter()
            .map(|d| (now, *d, None))
            .chain(
                messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.channel == *channel)
                    .map(|(i, m)| (m.due.max(now), m.starts_at, Some(i))),
            )
            .collect();
        if lane.quiet_hours_apply {
            for item in &mut items {
                if let Some(until) = hold.until(item.0, item.1) {
                    item.0 = until;
                }
            }
        }
        // The dispatcher takes what is due, earliest appointment first: in order of readiness,
        // and among the ready ones by appointment.
        items.sort_by_key(|(ready, deadline, _)| (*ready, *deadline));
        let step = Duration::microseconds((1_000_000.0 / lane.rate.max(1e-6)) as i64);
        let mut ready_heap = std::collections::BinaryHeap::new();
        let mut next = 0;
        let mut t = now;
        while next < items.len() || !ready_heap.is_empty() {
            while next < items.len() && items[next].0 <= t {
                let (_, deadline, index) = items[next];
                ready_heap.push(std::cmp::Reverse((deadline, next, index)));
                next += 1;
            }
            let Some(std::cmp::Reverse((deadline, _, index))) = ready_heap.pop() else {
                t = items[next].0;
                continue;
            };
            // A message whose appointment has begun expires instead of leaving.
            if t < deadline {
                if let Some(i) = index {
                    out[i] = Some(t);
                }
                t += step;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;

impl Late {
    /// Why the booking is on the call list, in the tenant's time.
    pub fn reason(&self, zone: chrono_tz::Tz) -> String {
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%H:%M").to_string();
        match self.earliest {
            Some(at) => format!(
                "its message would leave too late (around {}, appointment {}): the queue and \
                 the rate limits do not allow earlier",
                local(at),
                local(self.starts_at)
            ),
            None => format!(
                "its message would not leave before the appointment ({}): the queue and the \
                 rate limits do not allow it",
                local(self.starts_at)
            ),
        }
    }
}
