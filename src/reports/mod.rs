//! What operators read: `absage status` and the import history, the per-outage report, and the
//! call list of citizens no channel reached.
//!
//! - `runs`: the outages and batches, one of them with its queue
//! - `export`: CSV safe for spreadsheets, and the suppression list for booking systems

mod evidence;
mod export;
mod reasons;
mod runs;

pub use evidence::{Evidence, Reach, Rules};
pub use reasons::office_words;

pub use export::{suppressions, suppressions_ics, write_csv};
pub use runs::{OutageQueue, outage, outage_list, outage_queue};

use crate::config::TenantSettings;
use crate::ctx::Ctx;
use crate::domain::booking::display_list;
use crate::domain::notification::{Channel, Kind};
use crate::store::bookings::{self, BookingRow};
use crate::store::destinations::{self, DestinationRow};
use crate::store::imports;
use crate::store::notifications::{self, QueueCount, ReportNotification};
use crate::store::outages::{self, OutageRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// One source's freshness.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub tenant: String,
    pub schedule: Option<String>,
    pub last_outcome: Option<String>,
    pub last_message: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    /// Seconds since the last successful import; None if there never was one.
    pub age_secs: Option<i64>,
    /// Never imported, or older than the source's `stale_after_minutes`: what was booked since
    /// is unknown to absage.
    pub stale: bool,
    /// The counts of the latest import (applied or not).
    pub last_counts: Option<imports::ImportCounts>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub sources: Vec<SourceStatus>,
    /// The newest imports of all sources, newest first (`absage imports` shows more).
    pub recent_imports: Vec<imports::ImportRow>,
    pub active_outages: Vec<OutageRow>,
    pub queue: Vec<QueueCount>,
    pub destinations: Vec<DestinationRow>,
}

/// How many imports `status` lists.
const RECENT_IMPORTS: i64 = 10;

/// The import history, newest first: of one source or all, at most `limit` imports.
pub async fn import_history(
    ctx: &Ctx,
    source: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<imports::ImportRow>> {
    let mut conn = ctx.store.conn().await?;
    Ok(imports::history(&mut conn, source, limit).await?)
}

pub async fn status(ctx: &Ctx, now: DateTime<Utc>) -> anyhow::Result<Status> {
    let mut conn = ctx.store.conn().await?;
    let latest: HashMap<(String, String), imports::Latest> = imports::latest_per_source(&mut conn)
        .await?
        .into_iter()
        .map(|(row, ok)| ((row.tenant_id.clone(), row.source.clone()), (row, ok)))
        .collect();
    let sources = ctx
        .settings
        .sources
        .iter()
        .map(|s| {
            let l = latest.get(&(s.tenant.clone(), s.name.clone()));
            let last_success = l.and_then(|(_, ok)| *ok);
            SourceStatus {
                source: s.name.clone(),
                tenant: s.tenant.clone(),
                schedule: s.schedule.clone(),
                last_outcome: l.map(|(r, _)| r.outcome.clone()),
                last_message: l.and_then(|(r, _)| r.message.clone()),
                last_success,
                age_secs: last_success.map(|t| (now - t).num_seconds()),
                stale: match (last_success, s.stale_after_minutes) {
                    (None, _) => true,
                    (Some(t), Some(limit)) => (now - t).num_minutes() > limit as i64,
                    (Some(_), None) => false,
                },
                last_counts: l.map(|(r, _)| r.counts.clone()),
            }
        })
        .collect();
    let active_outages = outages::list(&mut conn, None)
        .await?
        .into_iter()
        .filter(|o| o.state == crate::domain::outage::RunState::Active)
        .collect();
    Ok(Status {
        sources,
        recent_imports: imports::history(&mut conn, None, RECENT_IMPORTS).await?,
        active_outages,
        queue: notifications::counts(&mut conn, None).await?,
        destinations: destinations::all(&mut conn).await?,
    })
}

/// One affected booking in a run's report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub booking_key: String,
    pub starts_at: String,
    pub service: String,
    pub location: String,
    /// State of the cancellation per channel.
    pub email: Option<String>,
    pub sms: Option<String>,
    /// State of the "appointment stands" message per channel, after an amendment or retraction.
    pub retraction_email: Option<String>,
    pub retraction_sms: Option<String>,
    /// The SMS gateway's delivery report for the cancellation (delivered, undelivered, …).
    pub sms_delivery: Option<String>,
    /// What came back about the cancellation's email (bounced, delayed, complained, …).
    pub email_delivery: Option<String>,
    /// Why the tenant no longer mails the booking's address, when it does not.
    #[serde(skip)]
    pub email_suppressed: Option<String>,
    /// What became of each cancellation that did not reach the citizen, in words for the
    /// office (see [`office_words`]); None when none failed.
    pub why_not_reached: Option<String>,
    /// Informed, not reached or unknown, from the evidence (see [`evidence`]).
    pub reach: Reach,
    /// The same from the messages alone, without the call: who belongs on the call list.
    #[serde(skip)]
    pub messages_reach: Reach,
    /// Whether an "appointment stands" message (after an amendment or retraction) arrived.
    #[serde(skip)]
    pub stands_arrived: bool,
    /// Why the deadline planner put the booking on the call list when the run was declared.
    #[serde(skip)]
    pub late_reason: Option<String>,
    /// Every piece of evidence about the booking in this run, oldest first, as one text
    /// ("2030-01-07 06:00 cancellation email handed to relay-1; …"), so a spreadsheet keeps it
    /// in one cell.
    #[serde(serialize_with = "evidence::as_text")]
    #[schema(value_type = String)]
    pub evidence: Vec<Evidence>,
    /// Whether the run still affects the booking, or it left it (moved, cancelled, amended out).
    pub affected: bool,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub booking: BookingRow,
}

/// One row per booking the run ever affected: what was sent on which channel, whether the
/// citizen was reached, and whether the booking is still affected.
pub async fn report(ctx: &Ctx, outage_id: i64) -> anyhow::Result<(OutageRow, Vec<ReportRow>)> {
    let (outage, rows, _) = report_and_messages(ctx, outage_id).await?;
    Ok((outage, rows))
}

/// [`report`], and the run's notifications it was built from (for the outage page's chart,
/// which would otherwise read them all again).
pub async fn report_and_messages(
    ctx: &Ctx,
    outage_id: i64,
) -> anyhow::Result<(OutageRow, Vec<ReportRow>, Vec<ReportNotification>)> {
    build(ctx, outage_id, None).await
}

/// The row of [`report`] for the booking with `key` (a booking's page: reading only its own
/// messages, not the run's 100,000); `None` when the run never targeted it.
pub async fn report_of_booking(
    ctx: &Ctx,
    outage_id: i64,
    key: &str,
) -> anyhow::Result<Option<ReportRow>> {
    let booking = {
        let mut conn = ctx.store.conn().await?;
        let outage = runs::find(&mut conn, outage_id).await?;
        outages::targeted_by_key(&mut conn, outage_id, &outage.tenant_id, key).await?
    };
    let Some(booking) = booking else {
        return Ok(None);
    };
    let (_, rows, _) = build(ctx, outage_id, Some(booking)).await?;
    Ok(rows.into_iter().next())
}

/// The report of the run, or with `only` of that one booking.
async fn build(
    ctx: &Ctx,
    outage_id: i64,
    only: Option<i64>,
) -> anyhow::Result<(OutageRow, Vec<ReportRow>, Vec<ReportNotification>)> {
    let mut conn = ctx.store.conn().await?;
    let outage = runs::find(&mut conn, outage_id).await?;
    let tz = ctx.settings.zone_of(&outage.tenant_id);
    let targets: HashMap<i64, String> = outages::target_states(&mut conn, outage_id, only)
        .await?
        .into_iter()
        .collect();
    let ids: Vec<i64> = targets.keys().copied().collect();
    let mut by_booking: HashMap<i64, Vec<ReportNotification>> = HashMap::new();
    for n in notifications::of_outage(&mut conn, outage_id, only).await? {
        by_booking.entry(n.booking_id).or_default().push(n);
    }
    let mut returned: HashMap<i64, Vec<crate::store::returned::Returned>> = HashMap::new();
    for r in crate::store::returned::of_outage(&mut conn, outage_id, only).await? {
        returned
            .entry(r.notification_id.unwrap_or_default())
            .or_default()
            .push(r);
    }
    let called = crate::store::calls::of_outage(
        &mut conn,
        crate::store::calls::Call::Cancellation,
        outage_id,
        only,
    )
    .await?;
    let mut late = outages::late_reasons(&mut conn, outage_id, only).await?;
    let (rules, now) = (Rules::of(&ctx.settings), ctx.now());
    let suppressed: HashMap<String, String> =
        crate::store::returned::suppressions(&mut conn, Some(&outage.tenant_id))
            .await?
            .into_iter()
            .map(|s| (s.address, s.reason))
            .collect();
    let mut kept = Vec::new();
    let rows = bookings::by_ids(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|b| {
            let ns = by_booking.remove(&b.id).unwrap_or_default();
            let state_of = |kind: Kind, ch: Channel| {
                ns.iter()
                    .find(|n| n.kind == kind && n.channel == ch)
                    .map(|n| n.state.as_str().to_owned())
            };
            let call = called.get(&b.id).map(|(by, at)| (by.as_str(), *at));
            let returned: Vec<&crate::store::returned::Returned> = ns
                .iter()
                .flat_map(|n| returned.get(&n.id).into_iter().flatten())
                .collect();
            let row = ReportRow {
                booking_key: b.booking_key.clone(),
                starts_at: b
                    .starts_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                service: display_list(&b.service).into_owned(),
                location: display_list(&b.location).into_owned(),
                email: state_of(Kind::Cancellation, Channel::Email),
                sms: state_of(Kind::Cancellation, Channel::Sms),
                retraction_email: state_of(Kind::Retraction, Channel::Email),
                retraction_sms: state_of(Kind::Retraction, Channel::Sms),
                sms_delivery: ns
                    .iter()
                    .find(|n| n.kind == Kind::Cancellation && n.channel == Channel::Sms)
                    .and_then(|n| n.delivery_state.clone()),
                email_delivery: ns
                    .iter()
                    .find(|n| n.kind == Kind::Cancellation && n.channel == Channel::Email)
                    .and_then(|n| n.delivery_state.clone()),
                email_suppressed: b
                    .email
                    .as_ref()
                    .and_then(|e| suppressed.get(&e.trim().to_lowercase()).cloned()),
                reach: evidence::reach(&ns, call.is_some(), rules, now),
                messages_reach: evidence::reach(&ns, false, rules, now),
                late_reason: late.remove(&b.id),
                stands_arrived: ns.iter().any(|n| {
                    n.kind == Kind::Retraction && evidence::arrived_at(n, rules, now).is_some()
                }),
                evidence: evidence::history(&ns, &returned, call, rules, now, tz),
                why_not_reached: {
                    let words: Vec<String> = ns
                        .iter()
                        .filter(|n| n.kind == Kind::Cancellation)
                        .filter_map(|n| {
                            office_words(
                                n.channel,
                                n.state,
                                n.delivery_state.as_deref(),
                                n.last_error.as_deref(),
                            )
                        })
                        .collect();
                    (!words.is_empty()).then(|| words.join("; "))
                },
                affected: targets.get(&b.id).is_some_and(|s| s == "affected"),
                last_error: ns.iter().filter_map(|n| n.last_error.clone()).next_back(),
                booking: b,
            };
            kept.extend(ns);
            row
        })
        .collect();
    kept.extend(by_booking.into_values().flatten());
    Ok((outage, rows, kept))
}

/// A citizen to phone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallListEntry {
    /// absage's id of the booking (to mark it called).
    pub booking_id: i64,
    pub task: CallTask,
    pub starts_at: String,
    pub name: String,
    pub phone: Option<String>,
    pub service: String,
    pub location: String,
    pub booking_key: String,
    pub why: String,
    /// When the last evidence about the citizen came (local time): the bounce, the failure
    /// report, the expiry; none when nothing was ever sent.
    pub since: Option<String>,
    /// Who phoned the citizen, and when (local time), once someone has.
    pub called_by: Option<String>,
    pub called_at: Option<String>,
}

/// The work list of a run's calls, by appointment time:
/// - the citizens no message reached (those already phoned stay, marked done), and those whose
///   messages the deadline planner found would leave too late, until one arrives;
/// - the citizens phoned about the cancellation that no longer applies to them — the run was
///   retracted, or amended so that it left their booking — whose appointment still lies ahead
///   and whom no "appointment stands" message reached: they stay home unless someone calls.
pub async fn call_list(ctx: &Ctx, outage_id: i64) -> anyhow::Result<Vec<CallListEntry>> {
    use crate::store::calls::{self, Call};
    let (outage, rows) = report(ctx, outage_id).await?;
    let retracted = outage.state == crate::domain::outage::RunState::Retracted;
    let (called, followed_up) = {
        let mut conn = ctx.store.conn().await?;
        (
            calls::of_outage(&mut conn, Call::Cancellation, outage_id, None).await?,
            calls::of_outage(&mut conn, Call::FollowUp, outage_id, None).await?,
        )
    };
    let tenant = ctx.settings.tenant(&outage.tenant_id);
    let tz = ctx.settings.zone_of(&outage.tenant_id);
    let local = |at: &DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let now = ctx.now();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let (task, done, why) =
                if !retracted && r.affected && r.messages_reach == Reach::NotReached {
                    let why = call_reason(&r, tenant);
                    (CallTask::Cancellation, called.get(&r.booking.id), why)
                } else if !retracted
                    && r.affected
                    && r.messages_reach != Reach::Informed
                    && let Some(why) = r.late_reason.clone()
                {
                    // The planner found its messages would leave too late; until they arrive
                    // after all, staff should call.
                    (CallTask::Cancellation, called.get(&r.booking.id), why)
                } else if called.contains_key(&r.booking.id)
                    && (retracted || !r.affected)
                    && r.booking.status == "active"
                    && r.booking.starts_at > now
                    && !r.stands_arrived
                {
                    let why = format!(
                        "phoned about the cancellation, which no longer applies: tell them the \
                         appointment on {} takes place",
                        r.starts_at
                    );
                    (
                        CallTask::AppointmentStands,
                        followed_up.get(&r.booking.id),
                        why,
                    )
                } else {
                    return None;
                };
            Some(CallListEntry {
                booking_id: r.booking.id,
                since: r.evidence.last().map(|e| e.at.clone()),
                task,
                called_by: done.map(|(by, _)| by.clone()),
                called_at: done.map(|(_, at)| local(at)),
                why,
                starts_at: r.starts_at,
                name: r.booking.name.clone(),
                phone: numbers_to_call(&r.booking),
                service: r.service,
                location: r.location,
                booking_key: r.booking_key,
            })
        })
        .collect())
}

/// What a call on the list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallTask {
    /// Tell them the appointment is cancelled: no message reached them.
    Cancellation,
    /// Tell them the appointment takes place after all: they were phoned about a cancellation
    /// that no longer applies.
    AppointmentStands,
}

/// A booking that vanished from the export while its outage ran: it stays affected (its
/// cancellation goes on) until a person confirms the removal. No contact data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingRemoval {
    pub booking_id: i64,
    pub booking_key: String,
    /// Local time of the tenant.
    pub starts_at: String,
    pub service: String,
    pub location: String,
    /// When an import first missed it (local time).
    pub missing_since: String,
}

/// The bookings of a run that vanished from the export and wait for a person to confirm, by
/// appointment time.
pub async fn pending_removals(
    ctx: &Ctx,
    outage: &OutageRow,
) -> anyhow::Result<Vec<PendingRemoval>> {
    let mut conn = ctx.store.conn().await?;
    let since = outages::pending_removals_since(&mut conn, outage.id).await?;
    if since.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = since.iter().map(|(id, _)| *id).collect();
    let mut by_id: HashMap<i64, BookingRow> = bookings::by_ids(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let tz = ctx.settings.zone_of(&outage.tenant_id);
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    Ok(since
        .into_iter()
        .filter_map(|(id, at)| {
            let b = by_id.remove(&id)?;
            Some(PendingRemoval {
                booking_id: b.id,
                starts_at: local(b.starts_at),
                service: display_list(&b.service).into_owned(),
                location: display_list(&b.location).into_owned(),
                booking_key: b.booking_key,
                missing_since: local(at),
            })
        })
        .collect())
}

/// Why a citizen is on the call list, in words for the office: which channels the booking
/// lacks and why, or what became of the messages that were tried. `tenant` (the run's) says
/// which countries get SMS.
pub fn call_reason(r: &ReportRow, tenant: Option<&TenantSettings>) -> String {
    if let (None, None) = (&r.email, &r.sms) {
        let b = &r.booking;
        let email = match (&b.email, &b.email_problem) {
            (None, Some(problem)) => problem.clone(),
            (None, None) => "no email address".to_string(),
            (Some(_), _) => match &r.email_suppressed {
                Some(why) => format!("email address not mailed any more ({why})"),
                None => "email not queued".to_string(),
            },
        };
        let barred = b
            .phone_e164
            .as_deref()
            .filter(|_| b.phone_mobile != 0)
            .zip(tenant)
            .and_then(|(e164, t)| t.sms_barred_country(e164));
        let phone = match (b.phone_mobile != 0, &b.phone_problem, &b.phone_raw) {
            (true, _, _) => match barred {
                Some(country) => {
                    format!("mobile number in a country without SMS ({country}; see sms_countries)")
                }
                None => "SMS over max_sms_segments even in its short form".to_string(),
            },
            (false, Some(problem), _) => problem.clone(),
            (false, None, Some(_)) => "no mobile number (landline only)".to_string(),
            (false, None, None) => "no mobile number".to_string(),
        };
        return format!("{email}; {phone}");
    }
    match (&r.why_not_reached, &r.last_error) {
        (Some(words), _) => words.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => "not sent".into(),
    }
}

/// Every number staff can try: the main one first, then the others as typed in the export.
fn numbers_to_call(b: &BookingRow) -> Option<String> {
    let main = b.phone_raw.clone().or(b.phone_e164.clone());
    let others = b.phone_other.iter().flat_map(|o| o.lines());
    let all: Vec<String> = main
        .into_iter()
        .chain(others.map(str::to_owned))
        .filter(|n| !n.trim().is_empty())
        .collect();
    (!all.is_empty()).then(|| all.join(" / "))
}
