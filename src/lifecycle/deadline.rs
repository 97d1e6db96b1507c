//! The deadline planner at work: before a run's new messages are committed — a declaration,
//! an amendment, an import that brings new bookings into an active outage — estimate when they
//! leave ([`planner`]) and put the bookings whose messages would leave too late on the call
//! list at once.

use super::impact::Tally;
use super::matching::MatchContext;
use super::planner;
use crate::store::{Conn, outages};

/// Estimates the run's newly queued messages ([`estimate`]) and marks the bookings that would
/// be told too late, with the reason in the tenant's words.
pub(super) async fn plan(
    conn: &mut Conn,
    m: &MatchContext<'_>,
    tally: &Tally,
    run: i64,
) -> anyhow::Result<planner::Schedule> {
    let schedule = estimate(conn, m, tally, run).await?;
    let down = schedule.down();
    let late: Vec<(i64, String)> = schedule
        .late
        .iter()
        .map(|l| (l.booking_id, l.reason(m.tenant.time_zone, &down)))
        .collect();
    outages::mark_late(conn, run, &late).await?;
    Ok(schedule)
}

/// When the run's new messages would leave, from the queue already waiting (including the
/// run's own earlier messages), each channel's destinations (their health, rate limits, connections and measured
/// send times) and the tenant's quiet hours.
pub(super) async fn estimate(
    conn: &mut Conn,
    m: &MatchContext<'_>,
    tally: &Tally,
    run: i64,
) -> anyhow::Result<planner::Schedule> {
    let (settings, tenant, now) = (m.settings, m.tenant, m.now);
    use crate::domain::notification::Channel;
    let health: std::collections::HashMap<String, crate::store::destinations::DestinationRow> =
        crate::store::destinations::all(conn)
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
    // A running dispatcher probes a down destination every probe interval and stores the
    // outcome; a "down" older than three intervals is what a stopped daemon left behind.
    let fresh = now - chrono::Duration::seconds(3 * settings.queue.probe_interval_secs as i64);
    let mut lanes = std::collections::HashMap::new();
    for channel in [Channel::Email, Channel::Sms] {
        let facts: Vec<planner::DestinationFacts> =
            crate::dispatch::destinations::configured(settings, channel)
                .into_iter()
                .map(|(name, concurrency)| {
                    let known = health.get(&name);
                    planner::DestinationFacts {
                        limit: settings.queue.rate_limits.get(&name).copied(),
                        concurrency,
                        send_time: known
                            .and_then(|d| d.send_micros)
                            .and_then(|m| u64::try_from(m).ok())
                            .map(std::time::Duration::from_micros),
                        down: known.is_some_and(|d| d.state == "down" && d.updated_at >= fresh),
                        name,
                    }
                })
                .collect();
        let (rate, basis) = planner::rate_of(&facts);
        let waiting = crate::store::notifications::waiting(conn, channel.as_str(), run, now)
            .await?
            .into_iter()
            .map(|w| planner::Waiting {
                ready: w.ready,
                deadline: w.deadline,
                slots: w.sms_text.map_or(1, |t| {
                    u32::try_from(crate::messages::sms::analyse(&t).segments).unwrap_or(u32::MAX)
                }),
            })
            .collect();
        lanes.insert(
            channel.as_str(),
            planner::Lane {
                rate,
                basis,
                waiting,
                quiet_hours_apply: channel == Channel::Sms,
            },
        );
    }
    let hold = planner::Hold {
        quiet: tenant.quiet_hours,
        zone: tenant.time_zone,
        urgent: chrono::Duration::minutes(tenant.quiet_hours_urgent_minutes),
    };
    let lead = chrono::Duration::minutes(tenant.fallback_lead_minutes);
    let mut schedule = planner::schedule(&tally.planned, &lanes, &hold, lead, now);
    // Only the late ones' keys are read: a key for each booking of the run took 85 MB of a
    // declaration of a million.
    let late: Vec<i64> = schedule.late.iter().map(|l| l.booking_id).collect();
    let mut keys = crate::store::bookings::keys_of(conn, &late).await?;
    for l in &mut schedule.late {
        l.booking_key = keys.remove(&l.booking_id).unwrap_or_default();
    }
    Ok(schedule)
}
