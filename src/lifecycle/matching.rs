//! Matching a run (outage or batch) against the calendar and queueing one notification per
//! affected booking and channel. Runs inside the caller's transaction: a declaration, or an
//! import that re-matches the active outages, is applied whole or not at all.
//!
//! [`match_run`] reads the facts, [`plan`] decides without I/O (fresh, changed, revived,
//! withdrawn, waiting for a person; unit-tested case by case), and `apply` carries it out.

use super::impact::Tally;
use super::plan::{Facts, Plan, Selected, Target, plan};
use super::render::{Message, Text, language, notification, render, render_sms};
use crate::config::{ChannelPolicy, TenantSettings};
use crate::domain::notification::{Channel, Kind, Role};
use crate::domain::outage::{Scope, Selection, Window};
use crate::messages::{SmsChoice, Templates};
use crate::store::bookings::{self, BookingRow};
use crate::store::notifications::{self, NewNotification};
use crate::store::outages::{self, OutageRow};
use crate::store::returned;
use crate::store::{Conn, Params};
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a matching pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MatchStats {
    /// Bookings the run affects now.
    pub affected: u64,
    /// Bookings that became affected in this pass.
    pub added: u64,
    /// Bookings that are no longer affected (moved, cancelled, gone).
    pub withdrawn: u64,
    /// Notifications queued or refreshed.
    pub queued: u64,
    /// Queued notifications cancelled because their booking left the run.
    pub cancelled: u64,
    /// Affected bookings without any usable address: they go on the call list.
    pub unreachable: u64,
    /// "Your appointment stands" messages queued (amendments and retractions).
    pub retractions: u64,
    /// Bookings in the window that another active outage already cancels; left to it.
    pub covered_elsewhere: u64,
    /// Affected bookings that vanished from the export: they stay affected (their
    /// cancellations go on) until a person confirms the removal.
    pub removal_pending: u64,
    /// SMS queued in their short form (no reason, service or link), per language: the full
    /// text was longer than the tenant's `max_sms_segments`.
    pub sms_short: BTreeMap<String, u64>,
    /// Bookings whose SMS was not queued: even the short text is longer than
    /// `max_sms_segments`. Their email and the call list still apply.
    pub sms_too_long: u64,
    /// The booking keys of those bookings, for the preview.
    pub sms_skipped: Vec<String>,
    /// Bookings whose SMS was not queued because their mobile is in a country outside the
    /// tenant's `sms_countries`, per country (`"SY"`). Their email and the call list still apply.
    pub sms_country_barred: BTreeMap<String, u64>,
    /// Bookings whose email was not queued: the address hard-bounced or complained in an
    /// earlier outage of the tenant. Their SMS and the call list still apply.
    pub email_suppressed: u64,
    /// The bookings that left the run in this pass.
    #[serde(skip)]
    pub left: Vec<i64>,
}

/// Which channels a booking gets under a policy, and in which role.
pub fn plan_channels(policy: ChannelPolicy, email: bool, mobile: bool) -> Vec<(Channel, Role)> {
    use Channel::{Email, Sms};
    use Role::{Fallback, Primary};

    match policy {
        ChannelPolicy::Both => [(email, (Email, Primary)), (mobile, (Sms, Primary))]
            .into_iter()
            .filter_map(|(ok, c)| ok.then_some(c))
            .collect(),
        ChannelPolicy::EmailFirst => match (email, mobile) {
            (true, true) => vec![(Email, Primary), (Sms, Fallback)],
            (true, false) => vec![(Email, Primary)],
            (false, true) => vec![(Sms, Primary)],
            (false, false) => vec![],
        },
        ChannelPolicy::SmsFirst => match (email, mobile) {
            (true, true) => vec![(Sms, Primary), (Email, Fallback)],
            (false, true) => vec![(Sms, Primary)],
            (true, false) => vec![(Email, Primary)],
            (false, false) => vec![],
        },
    }
}

/// A run as matching needs it: which one, whose, why, and what it selects. A declaration's
/// preview matches a run that is not stored (id 0).
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub tenant_id: String,
    pub reason: String,
    pub selection: Selection,
}

impl Run {
    /// The run as stored.
    pub fn of(row: &OutageRow) -> anyhow::Result<Run> {
        Ok(Run {
            id: row.id,
            tenant_id: row.tenant_id.clone(),
            reason: row.reason.clone(),
            selection: selection_of(row)?,
        })
    }
}

/// What matching does with its plan: write it (inside the caller's transaction), and count
/// what it queues into a [`Tally`] — the impact report built from the plan. A preview only
/// counts.
pub struct Output<'t> {
    pub write: bool,
    pub tally: Option<&'t mut Tally>,
}

/// Reads the selection stored with a run.
pub fn selection_of(run: &OutageRow) -> anyhow::Result<Selection> {
    let scope = Scope {
        services: serde_json::from_str(&run.services_json).context("outage services")?,
        locations: serde_json::from_str(&run.locations_json).context("outage locations")?,
    };
    if let Some(keys) = &run.keys_json {
        return Ok(Selection::Keys {
            keys: serde_json::from_str(keys).context("batch keys")?,
            scope,
        });
    }
    let (Some(from), Some(to)) = (run.window_from, run.window_to) else {
        anyhow::bail!("run {} has neither a window nor booking keys", run.id);
    };
    Ok(Selection::Window {
        window: Window::new(from, to).map_err(anyhow::Error::msg)?,
        scope,
    })
}

/// The bookings a selection affects now.
pub async fn select(
    conn: &mut Conn,
    tenant: &str,
    selection: &Selection,
) -> anyhow::Result<Vec<BookingRow>> {
    let (rows, scope) = match selection {
        Selection::Window { window, scope } => (
            bookings::active_in_window(conn, tenant, window.from, window.to).await?,
            scope,
        ),
        Selection::Keys { keys, scope } => {
            (bookings::active_by_keys(conn, tenant, keys).await?, scope)
        }
    };
    Ok(in_scope(rows, scope))
}

fn in_scope(rows: Vec<BookingRow>, scope: &Scope) -> Vec<BookingRow> {
    rows.into_iter()
        .filter(|b| scope.matches(&b.service, &b.location))
        .collect()
}

/// Everything matching needs besides the database.
pub struct MatchContext<'a> {
    /// For the deadline planner: the destinations, their rate limits and probes.
    pub settings: &'a crate::config::Settings,
    pub tenant: &'a TenantSettings,
    pub templates: &'a Templates,
    pub now: DateTime<Utc>,
    /// Whether bookings that vanished from the export may leave the run (a person confirmed,
    /// or `import --force`). Otherwise a truncated or wrong export could take cancellations back.
    pub confirm_removals: bool,
}

/// Matches a run against the calendar: new and changed affected bookings get their
/// notifications (idempotently), bookings that left the run have their queued notifications
/// cancelled. A booking whose appointment has started is neither notified nor withdrawn: its
/// history stays in the report and, if nobody reached the citizen, on the call list. The new
/// messages go through the deadline planner: whom they would reach too late is on the call
/// list at once.
pub async fn match_run(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &OutageRow,
) -> anyhow::Result<MatchStats> {
    let mut tally = Tally::default();
    let out = Output {
        write: true,
        tally: Some(&mut tally),
    };
    let stats = match_counted(conn, ctx, &Run::of(run)?, out).await?;
    if !tally.planned.is_empty() {
        super::deadline::plan(conn, ctx, &tally, run.id).await?;
    }
    Ok(stats)
}

/// [`match_run`] with its output chosen: a preview (`write: false`) reads and plans but writes
/// nothing, so it needs no write transaction; only a run with no targets yet (a new
/// declaration) can be previewed so, since amending needs the outbox as it would be.
///
/// A run over a window that has no targets yet (a declaration, its preview) is read and
/// matched page by page ([`bookings::WindowPages`]), so that what it holds in memory does not
/// grow with the window; `conn` must be in a transaction, so that the pages see one state.
pub async fn match_counted(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &Run,
    out: Output<'_>,
) -> anyhow::Result<MatchStats> {
    let targets = outages::targets(conn, run.id).await?;
    let mut pass = Pass::start(conn, run, out).await?;
    match &run.selection {
        // Each page is planned on its own: right while no target can leave the run.
        Selection::Window { window, scope } if targets.is_empty() => {
            let mut pages = bookings::WindowPages::new(&run.tenant_id, window.from, window.to);
            // A page is parsed on another thread while the next one is read, and that one
            // while this one is matched (one after the other, parsing took a twentieth of a
            // declaration).
            let parse = |raw: bookings::RawPage| tokio::task::spawn_blocking(|| raw.parse());
            let mut parsing = pages.next_raw(conn).await?.map(parse);
            while let Some(page) = parsing {
                parsing = pages.next_raw(conn).await?.map(parse);
                let rows = page.await??;
                match_part(conn, ctx, run, &in_scope(rows, scope), &[], &mut pass).await?;
            }
        }
        _ => {
            let selected = select(conn, &run.tenant_id, &run.selection).await?;
            match_part(conn, ctx, run, &selected, &targets, &mut pass).await?;
        }
    }
    Ok(pass.stats)
}

/// One matching pass over a run: what it did so far, and what holds for all its bookings.
struct Pass<'o> {
    out: Output<'o>,
    stats: MatchStats,
    /// Email addresses of the tenant that hard-bounced or complained: not used.
    suppressed: HashSet<String>,
    /// Whether the pass still writes its first email now, as the sample the report shows (and
    /// a check that the templates take this run); the others are written when sent.
    sample: bool,
}

impl<'o> Pass<'o> {
    async fn start(conn: &mut Conn, run: &Run, out: Output<'o>) -> anyhow::Result<Pass<'o>> {
        Ok(Pass {
            out,
            stats: MatchStats::default(),
            suppressed: returned::suppressed(conn, &run.tenant_id).await?,
            sample: true,
        })
    }
}

/// Matches the `selected` bookings against the run's `targets`: reads the two facts the plan
/// needs from elsewhere in the database, asked only for the bookings they can concern, plans,
/// and carries the plan out.
async fn match_part(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &Run,
    selected: &[BookingRow],
    targets: &[outages::TargetRow],
    pass: &mut Pass<'_>,
) -> anyhow::Result<()> {
    let now = ctx.now;
    let with_target: HashSet<i64> = targets.iter().map(|t| t.booking_id).collect();
    let candidates: Vec<i64> = selected
        .iter()
        .filter(|b| b.starts_at > now && !with_target.contains(&b.id))
        .map(|b| b.id)
        .collect();
    let elsewhere: HashSet<i64> = match candidates.is_empty() {
        true => HashSet::new(),
        false => notifications::already_cancelled_elsewhere(conn, run.id, &candidates)
            .await?
            .into_iter()
            .collect(),
    };
    let selected_ids: HashSet<i64> = selected.iter().map(|b| b.id).collect();
    let leaving: Vec<i64> = targets
        .iter()
        .filter(|t| t.state == "affected" && !selected_ids.contains(&t.booking_id))
        .map(|t| t.booking_id)
        .collect();
    let gone: HashSet<i64> = match leaving.is_empty() || ctx.confirm_removals {
        true => HashSet::new(),
        false => bookings::by_ids(conn, &leaving)
            .await?
            .into_iter()
            .filter(|b| b.status == "gone")
            .map(|b| b.id)
            .collect(),
    };
    let facts = Facts {
        selected: selected
            .iter()
            .map(|b| Selected {
                booking: b.id,
                starts_at: b.starts_at,
                revision: b.revision,
            })
            .collect(),
        targets: targets
            .iter()
            .map(|t| Target {
                id: t.id,
                booking: t.booking_id,
                affected: t.state == "affected",
                withdrawn: t.state == "withdrawn",
                revision: t.booking_revision,
            })
            .collect(),
        elsewhere,
        gone,
        now: ctx.now,
        confirm_removals: ctx.confirm_removals,
    };
    let plan = plan(&facts);
    anyhow::ensure!(
        pass.out.write || facts.targets.is_empty(),
        "only a new run can be matched without writing"
    );
    apply(conn, ctx, run, selected, plan, pass).await
}

/// Carries out a plan: targets, queued notifications, withdrawals.
async fn apply(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &Run,
    selected: &[BookingRow],
    plan: Plan,
    pass: &mut Pass<'_>,
) -> anyhow::Result<()> {
    let now = ctx.now;
    let stats = &mut pass.stats;
    stats.affected += plan.affected;
    stats.covered_elsewhere += plan.covered_elsewhere;
    stats.added += (plan.fresh.len() + plan.revived.len()) as u64;
    let rows: HashMap<i64, &BookingRow> = selected.iter().map(|b| (b.id, b)).collect();
    let of = |ids: &[i64]| -> Vec<&BookingRow> {
        ids.iter().filter_map(|id| rows.get(id).copied()).collect()
    };
    if !plan.revived.is_empty() {
        // Back in the outage: a "your appointment stands" still waiting must not go out.
        stats.cancelled += notifications::cancel_queued_kind(
            conn,
            run.id,
            &plan.revived,
            Kind::Retraction.as_str(),
            "the booking is affected again",
            now,
        )
        .await?;
    }
    for (group, kind) in [
        (of(&plan.fresh), Enqueue::New),
        (of(&plan.changed), Enqueue::Changed),
        (of(&plan.revived), Enqueue::Revived),
    ] {
        queue_for(conn, ctx, run, &group, kind, pass).await?;
    }
    let stats = &mut pass.stats;
    if !plan.pending.is_empty() {
        outages::mark_removal_pending(conn, &plan.pending, now).await?;
        stats.removal_pending += plan.pending.len() as u64;
    }
    if !plan.withdraw.is_empty() {
        let target_ids: Vec<i64> = plan.withdraw.iter().map(|(t, _)| *t).collect();
        let booking_ids: Vec<i64> = plan.withdraw.iter().map(|(_, b)| *b).collect();
        outages::withdraw_targets(conn, &target_ids).await?;
        stats.withdrawn += plan.withdraw.len() as u64;
        stats.cancelled += notifications::cancel_withdrawn(conn, run.id, &booking_ids, now).await?;
        stats.left.extend(booking_ids);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enqueue {
    /// First match of the booking.
    New,
    /// The booking changed (time, place, address): refresh what is still queued.
    Changed,
    /// The booking had left the run and is back: re-queue what its leaving cancelled.
    Revived,
}

/// Marks the bookings as targets and queues their notifications, rendered in slices so that a
/// large outage never holds every message in memory. Each slice is rendered, and its statements
/// built, while the database writes the one before (the first, while it writes the targets):
/// one after the other, rendering, tallying and binding took about a quarter of a declaration of
/// 100,000 (the speed issue).
async fn queue_for(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &Run,
    group: &[&BookingRow],
    kind: Enqueue,
    pass: &mut Pass<'_>,
) -> anyhow::Result<()> {
    let now = ctx.now;
    let write = pass.out.write;
    let params = Params::new(conn);
    let mut targets: Option<Vec<(i64, i64)>> =
        write.then(|| group.iter().map(|b| (b.id, b.revision)).collect());
    let mut built: Option<notifications::Enqueue> = None;
    let mut slices = group.chunks(500);
    loop {
        let slice = slices.next();
        if slice.is_none() && targets.is_none() && built.is_none() {
            return Ok(());
        }
        let writing = async {
            if let Some(ids) = targets.take() {
                outages::upsert_targets(conn, &run.tenant_id, run.id, &ids, now).await?;
            }
            if let Some(statements) = built.take() {
                statements.write(conn).await?;
            }
            anyhow::Ok(())
        };
        let rendering = async {
            let Pass {
                out,
                stats,
                suppressed,
                sample,
            } = &mut *pass;
            let mut rows = Vec::new();
            // The channels each changed booking keeps: the others are cancelled below.
            let mut keeps = Vec::new();
            for b in slice.unwrap_or_default() {
                let before = rows.len();
                render_for_booking(ctx, run, b, *sample, suppressed, &mut rows, stats)?;
                let mine = &rows[before..];
                *sample &= !mine.iter().any(|n| n.channel == Channel::Email.as_str());
                if mine.is_empty() {
                    stats.unreachable += 1;
                }
                if let Some(tally) = out.tally.as_deref_mut() {
                    tally.booking(ctx.tenant, b, mine);
                }
                if kind == Enqueue::Changed && write {
                    keeps.push((b.id, mine.iter().map(|n| n.channel).collect::<Vec<_>>()));
                }
            }
            stats.queued += rows.len() as u64;
            let revive = kind == Enqueue::Revived;
            let statements = (write && !rows.is_empty())
                .then(|| notifications::Enqueue::new(params.clone(), &rows, revive, now));
            anyhow::Ok((statements, keeps))
        };
        // The write first: it hands its statement to the database's thread and waits there
        // while the rendering runs here.
        let (written, next) = tokio::join!(biased; writing, rendering);
        written?;
        let (statements, keeps) = next?;
        // A channel a changed booking no longer has (address deleted) must not be used.
        for (booking, keep) in keeps {
            pass.stats.cancelled +=
                notifications::cancel_queued_channels_except(conn, run.id, booking, &keep, now)
                    .await?;
        }
        built = statements;
    }
}

/// Renders the cancellations one booking gets; none when it has no usable address (an email
/// address in `suppressed` is not usable). Its email is written only with `write_email`;
/// otherwise it is written when sent.
fn render_for_booking(
    ctx: &MatchContext<'_>,
    run: &Run,
    b: &BookingRow,
    write_email: bool,
    suppressed: &HashSet<String>,
    out: &mut Vec<NewNotification>,
    stats: &mut MatchStats,
) -> anyhow::Result<()> {
    let email = b
        .email
        .as_ref()
        .filter(|e| suppressed.is_empty() || !suppressed.contains(&e.trim().to_lowercase()));
    if email.is_none() && b.email.is_some() {
        stats.email_suppressed += 1;
    }
    let mut mobile = b.phone_e164.as_deref().filter(|_| b.phone_mobile != 0);
    // A mobile in a country the tenant sends no SMS to counts like none: no SMS is rendered or
    // queued, the email goes out at once, and without one the booking is on the call list.
    if let Some(country) = mobile.and_then(|m| ctx.tenant.sms_barred_country(m)) {
        *stats.sms_country_barred.entry(country).or_default() += 1;
        mobile = None;
    }
    // The SMS text is chosen before the channels: a booking whose SMS is too long even in its
    // short form is planned like one without a mobile, so its email goes out at once instead
    // of waiting as a late fallback, and without an email it lands on the call list.
    let mut sms = None;
    if mobile.is_some() {
        let message = render_sms(ctx, b, Kind::Cancellation, &run.reason)?;
        match &message.choice {
            SmsChoice::Full(_) => {}
            SmsChoice::Short(_) => {
                *stats.sms_short.entry(message.language.clone()).or_default() += 1
            }
            SmsChoice::TooLong { .. } => {
                stats.sms_too_long += 1;
                stats.sms_skipped.push(b.booking_key.clone());
            }
        }
        sms = message.into_rendered();
    }
    let plan = plan_channels(ctx.tenant.channel_policy, email.is_some(), sms.is_some());
    let starts_at = b.starts_at;
    for (channel, role) in plan {
        let kind = Kind::Cancellation;
        let (recipient, text) = match channel {
            Channel::Email if write_email => (
                email.cloned(),
                Text::Written(render(ctx, b, kind, channel, &run.reason)?),
            ),
            Channel::Email => (
                email.cloned(),
                Text::AtSend {
                    language: language(ctx, b, kind, channel)?,
                },
            ),
            Channel::Sms => {
                let Some(rendered) = sms.take() else { continue };
                (mobile.map(str::to_owned), Text::Written(rendered))
            }
        };
        let Some(recipient) = recipient else { continue };
        let next_attempt_at = match role {
            Role::Primary => ctx.now,
            Role::Fallback => {
                (starts_at - Duration::minutes(ctx.tenant.fallback_lead_minutes)).max(ctx.now)
            }
        };
        let message = Message {
            kind: Kind::Cancellation,
            channel,
            role,
            recipient,
            next_attempt_at,
        };
        out.push(notification(run, b, message, text));
    }
    Ok(())
}

/// Tells the citizens of these bookings who already received the run's cancellation that
/// their appointment stands after all, on the channels the cancellation reached them. Only for
/// active bookings whose appointment is still ahead. Idempotent like every enqueue.
pub async fn queue_retractions(
    conn: &mut Conn,
    ctx: &MatchContext<'_>,
    run: &Run,
    booking_ids: Option<&[i64]>,
    reason: &str,
) -> anyhow::Result<u64> {
    let sent = notifications::sent_cancellations(conn, run.id, booking_ids).await?;
    let mut ids: Vec<i64> = sent.iter().map(|(b, _, _)| *b).collect();
    ids.dedup();
    let now = ctx.now;
    let bookings: HashMap<i64, BookingRow> = bookings::by_ids(conn, &ids)
        .await?
        .into_iter()
        .filter(|b| b.status == "active" && b.starts_at > now)
        .map(|b| (b.id, b))
        .collect();
    let mut rows = Vec::new();
    let mut too_long = 0;
    for (booking_id, channel, recipient) in sent {
        let (Some(b), Ok(channel)) = (bookings.get(&booking_id), channel.parse::<Channel>()) else {
            continue;
        };
        let rendered = match channel {
            Channel::Email => render(ctx, b, Kind::Retraction, channel, reason)?,
            // Like a cancellation: full, else short, else no SMS; an email is not affected.
            Channel::Sms => match render_sms(ctx, b, Kind::Retraction, reason)?.into_rendered() {
                Some(rendered) => rendered,
                None => {
                    too_long += 1;
                    continue;
                }
            },
        };
        let message = Message {
            kind: Kind::Retraction,
            channel,
            role: Role::Primary,
            recipient,
            next_attempt_at: ctx.now,
        };
        rows.push(notification(run, b, message, Text::Written(rendered)));
    }
    if too_long > 0 {
        tracing::warn!(
            outage = run.id,
            too_long,
            "\"appointment stands\" SMS longer than max_sms_segments even when short; not queued"
        );
    }
    notifications::enqueue_many(conn, &rows, false, now).await?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::{Email, Sms};
    use Role::{Fallback, Primary};

    #[test]
    fn both_sends_on_every_channel_the_booking_has() {
        assert_eq!(
            plan_channels(ChannelPolicy::Both, true, true),
            vec![(Email, Primary), (Sms, Primary)]
        );
        assert_eq!(
            plan_channels(ChannelPolicy::Both, false, true),
            vec![(Sms, Primary)]
        );
        assert!(plan_channels(ChannelPolicy::Both, false, false).is_empty());
    }

    #[test]
    fn email_first_keeps_sms_as_fallback_or_uses_it_when_there_is_no_email() {
        assert_eq!(
            plan_channels(ChannelPolicy::EmailFirst, true, true),
            vec![(Email, Primary), (Sms, Fallback)]
        );
        assert_eq!(
            plan_channels(ChannelPolicy::EmailFirst, false, true),
            vec![(Sms, Primary)]
        );
        assert_eq!(
            plan_channels(ChannelPolicy::SmsFirst, true, true),
            vec![(Sms, Primary), (Email, Fallback)]
        );
        assert_eq!(
            plan_channels(ChannelPolicy::SmsFirst, true, false),
            vec![(Email, Primary)]
        );
    }
}
