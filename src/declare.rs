//! Declaring outages and batches: store the run, match it, and queue its notifications in one
//! transaction. A dry run does exactly the same and rolls back, so the preview is what would
//! really happen.

use crate::config::Settings;
use crate::domain::localtime::resolve_local;
use crate::domain::names::Names;
use crate::domain::outage::{RunKind, Scope, Selection, Window};
use crate::domain::to_millis;
use crate::matching::{self, MatchContext, MatchStats};
use crate::messages::TemplateSet;
use crate::store::notifications;
use crate::store::outages::{self, NewOutage};
use crate::store::{Conn, Store};
use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An admin's declaration, parsed.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub tenant: String,
    pub kind: RunKind,
    pub selection: Selection,
    pub reason: String,
    pub created_by: String,
}

/// Why the outage lifecycle refused an action: something the caller can act on. Every other
/// error (the database, a template) is a fault of absage, answered as such at the edges.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The request itself is wrong: a window that is no window, an unknown service, no reason.
    #[error("{0}")]
    Invalid(String),
    /// The outage, batch or approval does not exist (for this caller).
    #[error("{0}")]
    NotFound(String),
    /// It exists, but its state does not allow this (retracted, already decided).
    #[error("{0}")]
    Conflict(String),
    /// Not for this caller (the four-eyes rule, a role too small).
    #[error("{0}")]
    Forbidden(String),
}

/// Returns early with [`Refused::Invalid`].
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(Refused::Invalid(format!($($arg)*)).into())
    };
}

/// A declaration as the admin API, the web UI and the command line receive it. Times are
/// RFC 3339 or local times in the tenant's zone ("2026-11-02 08:00").
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclareRequest {
    /// Start of the window (inclusive).
    pub from: Option<String>,
    /// End of the window (exclusive).
    pub to: Option<String>,
    /// Only these services (default: all).
    #[serde(default)]
    pub services: Vec<String>,
    /// Only these locations (default: all).
    #[serde(default)]
    pub locations: Vec<String>,
    /// A batch of these booking keys instead of a window.
    pub keys: Option<Vec<String>>,
    /// `true`: a batch (a manual run) rather than an outage, also for a window.
    #[serde(default)]
    pub batch: bool,
    /// The reason, as citizens will read it.
    pub reason: String,
}

impl DeclareRequest {
    /// The declaration for `tenant`, by `created_by`; refused with a message saying what is
    /// wrong (bad times, an empty window, neither window nor keys).
    pub fn parse(
        &self,
        settings: &Settings,
        tenant: &str,
        created_by: &str,
    ) -> anyhow::Result<Declaration> {
        let tz = settings
            .tenant(tenant)
            .with_context(|| format!("no tenant with id {tenant:?} is configured"))?
            .time_zone;
        let scope = Scope {
            services: self.services.clone(),
            locations: self.locations.clone(),
        };
        let selection = match (&self.keys, &self.from, &self.to) {
            (Some(keys), _, _) => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| k.trim().to_owned())
                    .filter(|k| !k.is_empty())
                    .collect();
                if keys.is_empty() {
                    invalid!("the batch names no booking keys");
                }
                Selection::Keys { keys, scope }
            }
            (None, Some(from), Some(to)) => {
                let window = Window::new(parse_instant(from, tz)?, parse_instant(to, tz)?)
                    .map_err(Refused::Invalid)?;
                Selection::Window { window, scope }
            }
            _ => invalid!("give from and to (or, for a batch, booking keys)"),
        };
        let kind = if self.batch || self.keys.is_some() {
            RunKind::Batch
        } else {
            RunKind::Outage
        };
        Ok(Declaration {
            tenant: tenant.to_owned(),
            kind,
            selection,
            reason: self.reason.clone(),
            created_by: created_by.to_owned(),
        })
    }
}

/// A sample of what citizens will receive.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sample {
    pub kind: String,
    pub channel: String,
    pub language: String,
    pub subject: Option<String>,
    pub text: String,
}

/// The impact of a declaration (or its preview).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    /// None for a dry run.
    pub id: Option<i64>,
    #[serde(flatten)]
    pub stats: MatchStats,
    pub per_channel: BTreeMap<String, i64>,
    pub per_language: BTreeMap<String, i64>,
    /// SMS per language: how many, how many segments, what they cost, in which encoding, and
    /// how many in their short form.
    pub sms: BTreeMap<String, SmsCost>,
    /// SMS per destination country (ISO 3166 alpha-2 of the mobile number, `"unknown"` for
    /// numbers of no country): how many, how many segments, what they cost at the country's
    /// price, and how many bookings got none because the tenant's `sms_countries` leaves the
    /// country out.
    pub sms_per_country: BTreeMap<String, SmsCountry>,
    pub samples: Vec<Sample>,
    /// Every affected booking is told or on the call list: the counts that prove it.
    pub conservation: Conservation,
    /// The services and locations of the affected bookings, with counts.
    pub names: Names,
}

/// The conservation rule of a run: bookings affected = bookings with at least one message
/// queued (or already sent) + bookings on the call list. Nothing else exists.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Conservation {
    pub affected: i64,
    pub with_message: i64,
    pub call_list: i64,
    /// Bookings in the window that another active outage already tells (not counted above).
    pub covered_elsewhere: u64,
}

impl Conservation {
    pub fn holds(&self) -> bool {
        self.affected == self.with_message + self.call_list
    }
}

impl std::fmt::Display for Conservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "affected {} = with a message {} + call list {}",
            self.affected, self.with_message, self.call_list
        )?;
        if self.covered_elsewhere > 0 {
            write!(
                f,
                " ({} more are told by another active outage)",
                self.covered_elsewhere
            )?;
        }
        if !self.holds() {
            write!(f, " — COUNTS DO NOT ADD UP, please report this")?;
        }
        Ok(())
    }
}

/// What a run's SMS in one language amount to.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SmsCost {
    pub messages: u64,
    pub segments: u64,
    pub cost: Option<f64>,
    /// Messages per encoding ("GSM-7", "UCS-2"): one character outside the GSM alphabet, say in
    /// a name, makes a German SMS UCS-2 and costs more parts.
    pub encodings: BTreeMap<String, u64>,
    /// Messages queued in this pass in their short form, because the full text was longer
    /// than the tenant's `max_sms_segments`.
    pub short: u64,
}

/// What a run's SMS to one country amount to.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SmsCountry {
    pub messages: u64,
    pub segments: u64,
    /// At the tenant's `sms_price_per_country` for the country, else `sms_price_per_segment`.
    pub cost: Option<f64>,
    /// Bookings with a mobile of this country that got no SMS in this pass: the country is not
    /// in the tenant's `sms_countries`. Their email still goes out; without one, the call list.
    pub skipped: u64,
}

/// Declares a run; with `dry_run` nothing is kept.
pub async fn declare(
    store: &Store,
    settings: &Settings,
    templates: &TemplateSet,
    decl: &Declaration,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Impact> {
    let tenant = settings
        .tenant(&decl.tenant)
        .with_context(|| format!("no tenant with id {:?} is configured", decl.tenant))?;
    if decl.reason.trim().is_empty() {
        invalid!("a reason is required: citizens read it in their message");
    }
    let (window_from, window_to, keys_json, scope) = match &decl.selection {
        Selection::Window { window, scope } => (
            Some(to_millis(window.from)),
            Some(to_millis(window.to)),
            None,
            scope.normalised(),
        ),
        Selection::Keys { keys, scope } => (
            None,
            None,
            Some(serde_json::to_string(keys)?),
            scope.normalised(),
        ),
    };
    let mut tx = store.begin().await?;
    check_scope(&mut tx, &tenant.id, &scope, now).await?;
    let id = outages::insert(
        &mut tx,
        &NewOutage {
            tenant_id: &tenant.id,
            kind: decl.kind.as_str(),
            window_from,
            window_to,
            services_json: serde_json::to_string(&scope.services)?,
            locations_json: serde_json::to_string(&scope.locations)?,
            keys_json,
            reason: decl.reason.trim(),
            created_by: &decl.created_by,
        },
        to_millis(now),
    )
    .await?;
    let run = outages::get(&mut tx, id)
        .await?
        .context("the new outage vanished")?;
    let ctx = MatchContext {
        tenant,
        templates: templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    let stats = matching::match_run(&mut tx, &ctx, &run).await?;
    let impact = impact(&mut tx, tenant, id, stats).await?;
    let impact = Impact {
        id: (!dry_run).then_some(id),
        ..impact
    };
    if dry_run {
        tx.rollback().await?;
    } else {
        // In the same transaction: no declaration without its audit entry.
        let details = serde_json::json!({
            "kind": decl.kind.as_str(), "affected": impact.stats.affected,
            "queued": impact.stats.queued, "unreachable": impact.stats.unreachable,
        });
        audit(
            &mut tx,
            &tenant.id,
            &decl.created_by,
            "outage.declare",
            id,
            details,
            now,
        )
        .await?;
        crate::store::notify_work(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(outage = id, kind = decl.kind.as_str(), tenant = %tenant.id, affected = impact.stats.affected, queued = impact.stats.queued, "declared");
    }
    Ok(impact)
}

/// Appends to the audit log inside the caller's transaction.
async fn audit(
    tx: &mut crate::store::Tx,
    tenant: &str,
    by: &str,
    action: &str,
    outage: i64,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    crate::store::audit::append(
        tx,
        &crate::store::audit::Entry {
            tenant: Some(tenant),
            actor: by,
            action,
            subject: Some(format!("outage #{outage}")),
            details,
        },
        to_millis(now),
    )
    .await?;
    Ok(())
}

/// Who changes an outage, when, and whether for real (`dry_run`: a preview, nothing kept).
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    /// Written to the audit log with the change.
    pub by: &'a str,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
}

/// A change to an outage's window or scope; `None` keeps what is there.
#[derive(Debug, Clone, Default)]
pub struct Amendment {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub services: Option<Vec<String>>,
    pub locations: Option<Vec<String>>,
}

/// Amends an active outage and matches it again: newly affected bookings get their
/// cancellation, queued ones of bookings no longer affected are cancelled unsent, and citizens
/// who were already told and are no longer affected hear that their appointment stands.
/// With `dry_run` nothing is kept.
pub async fn amend(
    store: &Store,
    settings: &Settings,
    templates: &TemplateSet,
    id: i64,
    change: &Amendment,
    act: Act<'_>,
) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    let mut tx = store.begin().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(settings, &run)?;
    let from = change
        .from
        .or(run.window_from.map(crate::domain::from_millis));
    let to = change.to.or(run.window_to.map(crate::domain::from_millis));
    let (Some(from), Some(to)) = (from, to) else {
        invalid!("#{id} is chosen by booking keys and has no window to amend");
    };
    let window = crate::domain::outage::Window::new(from, to).map_err(anyhow::Error::msg)?;
    let old = crate::matching::selection_of(&run)?;
    let old_scope = match &old {
        Selection::Window { scope, .. } | Selection::Keys { scope, .. } => scope.clone(),
    };
    let scope = crate::domain::outage::Scope {
        services: change.services.clone().unwrap_or(old_scope.services),
        locations: change.locations.clone().unwrap_or(old_scope.locations),
    }
    .normalised();
    check_scope(&mut tx, &tenant.id, &scope, now).await?;
    outages::update_selection(
        &mut tx,
        id,
        Some(to_millis(window.from)),
        Some(to_millis(window.to)),
        &serde_json::to_string(&scope.services)?,
        &serde_json::to_string(&scope.locations)?,
        to_millis(now),
    )
    .await?;
    let run = outages::get(&mut tx, id)
        .await?
        .context("the outage vanished")?;
    let ctx = MatchContext {
        tenant,
        templates: templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    let mut stats = matching::match_run(&mut tx, &ctx, &run).await?;
    let left = std::mem::take(&mut stats.left);
    stats.retractions = matching::queue_retractions(&mut tx, &ctx, &run, Some(&left), "").await?;
    let done = Done {
        what: "amended",
        action: "outage.amend",
        by,
        now,
    };
    finish(tx, tenant, id, stats, dry_run, done).await
}

/// A person confirms that the bookings which vanished from the export while the outage ran
/// are really gone: they leave the outage, and what is still queued for them is cancelled.
/// Nobody gets an "appointment stands" message: the appointments no longer exist.
pub async fn confirm_removals(
    store: &Store,
    settings: &Settings,
    templates: &TemplateSet,
    id: i64,
    act: Act<'_>,
) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    let mut tx = store.begin().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(settings, &run)?;
    let ctx = MatchContext {
        tenant,
        templates: templates.for_tenant(&tenant.id),
        now,
        confirm_removals: true,
    };
    let stats = matching::match_run(&mut tx, &ctx, &run).await?;
    let done = Done {
        what: "confirmed the removals of",
        action: "outage.confirm_removals",
        by,
        now,
    };
    finish(tx, tenant, id, stats, dry_run, done).await
}

/// Retracts an outage declared by mistake: everything still queued is cancelled, and everyone
/// already told gets the retraction. With `dry_run` nothing is kept.
pub async fn retract(
    store: &Store,
    settings: &Settings,
    templates: &TemplateSet,
    id: i64,
    reason: &str,
    act: Act<'_>,
) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    if reason.trim().is_empty() {
        invalid!("a reason is required: citizens who were told read it");
    }
    let mut tx = store.begin().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(settings, &run)?;
    let now_ms = to_millis(now);
    outages::retract(&mut tx, id, reason.trim(), now_ms).await?;
    let ctx = MatchContext {
        tenant,
        templates: templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    // First those told (or being told right now) get the retraction, then what is left stops.
    let retractions = matching::queue_retractions(&mut tx, &ctx, &run, None, reason.trim()).await?;
    let cancelled = notifications::cancel_queued_of_outage(
        &mut tx,
        id,
        "cancellation",
        "outage retracted",
        now_ms,
    )
    .await?;
    let stats = MatchStats {
        cancelled,
        retractions,
        ..MatchStats::default()
    };
    let done = Done {
        what: "retracted",
        action: "outage.retract",
        by,
        now,
    };
    finish(tx, tenant, id, stats, dry_run, done).await
}

/// The tenant an outage belongs to, from the configuration.
fn tenant_of<'s>(
    settings: &'s Settings,
    run: &outages::OutageRow,
) -> anyhow::Result<&'s crate::config::TenantSettings> {
    settings
        .tenant(&run.tenant_id)
        .with_context(|| format!("tenant {:?} is no longer configured", run.tenant_id))
}

async fn active_outage(conn: &mut Conn, id: i64) -> anyhow::Result<outages::OutageRow> {
    let run = outages::get(conn, id)
        .await?
        .ok_or_else(|| Refused::NotFound(format!("there is no outage or batch {id}")))?;
    if run.state != "active" {
        return Err(Refused::Conflict(format!(
            "#{id} is {}; only active outages can change",
            run.state
        ))
        .into());
    }
    Ok(run)
}

/// Reports the impact of a change and commits it, or rolls it back for a dry run.
/// What an amendment or retraction did, and who did it when (for the log and the audit log).
struct Done<'a> {
    what: &'a str,
    action: &'a str,
    by: &'a str,
    now: DateTime<Utc>,
}

async fn finish(
    mut tx: crate::store::Tx,
    tenant: &crate::config::TenantSettings,
    id: i64,
    stats: MatchStats,
    dry_run: bool,
    done: Done<'_>,
) -> anyhow::Result<Impact> {
    let impact = impact(&mut tx, tenant, id, stats).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        let details = serde_json::json!({
            "affected": impact.stats.affected, "added": impact.stats.added,
            "withdrawn": impact.stats.withdrawn, "cancelled": impact.stats.cancelled,
            "retractions": impact.stats.retractions,
        });
        audit(
            &mut tx,
            &tenant.id,
            done.by,
            done.action,
            id,
            details,
            done.now,
        )
        .await?;
        crate::store::notify_work(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(
            outage = id,
            queued = impact.stats.queued,
            cancelled = impact.stats.cancelled,
            retractions = impact.stats.retractions,
            "{}",
            done.what
        );
    }
    Ok(impact)
}

/// Refuses a scope naming a service or location the calendar does not know (a typo would
/// otherwise cancel nothing, silently), with the closest known names.
async fn check_scope(
    conn: &mut Conn,
    tenant: &str,
    scope: &Scope,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if scope.services.is_empty() && scope.locations.is_empty() {
        return Ok(());
    }
    known_names(conn, tenant, now)
        .await?
        .check(scope)
        .map_err(|e| Refused::Invalid(e).into())
}

/// The calendar's own services and locations: those of the tenant's active bookings that have
/// not ended, each with how many such bookings hold it. What a scope may name.
pub async fn known_names(
    conn: &mut Conn,
    tenant: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Names> {
    let rows = crate::store::bookings::names(conn, tenant, to_millis(now)).await?;
    Ok(Names::count(&rows))
}

/// The conservation line of a stored run as it stands now: affected = with a message + call
/// list, and, for an active run, how many bookings of its selection another active run
/// already tells (matching leaves those to it).
pub async fn conservation_of(
    conn: &mut Conn,
    run: &outages::OutageRow,
    now: DateTime<Utc>,
) -> anyhow::Result<Conservation> {
    let (affected, with_message, call_list) = outages::reach_counts(conn, run.id).await?;
    let covered_elsewhere = if run.state == "active" {
        let selection = matching::selection_of(run)?;
        let targeted: std::collections::HashSet<i64> = outages::target_states(conn, run.id)
            .await?
            .into_iter()
            .map(|(booking, _)| booking)
            .collect();
        let now_ms = to_millis(now);
        let untargeted: Vec<i64> = matching::select(conn, &run.tenant_id, &selection)
            .await?
            .into_iter()
            .filter(|b| b.starts_at > now_ms && !targeted.contains(&b.id))
            .map(|b| b.id)
            .collect();
        if untargeted.is_empty() {
            0
        } else {
            notifications::already_cancelled_elsewhere(conn, run.id, &untargeted)
                .await?
                .len() as u64
        }
    } else {
        0
    };
    Ok(Conservation {
        affected,
        with_message,
        call_list,
        covered_elsewhere,
    })
}

/// What a run amounts to right now (inside the caller's transaction): id, counts, breakdown,
/// conservation and the names it covers.
async fn impact(
    conn: &mut Conn,
    tenant: &crate::config::TenantSettings,
    id: i64,
    stats: MatchStats,
) -> anyhow::Result<Impact> {
    let Breakdown {
        per_channel,
        per_language,
        sms,
        sms_per_country,
        samples,
    } = breakdown(conn, tenant, id, &stats).await?;
    let (affected, with_message, call_list) = outages::reach_counts(conn, id).await?;
    let conservation = Conservation {
        affected,
        with_message,
        call_list,
        covered_elsewhere: stats.covered_elsewhere,
    };
    let names = Names::count(&outages::affected_names(conn, id).await?);
    Ok(Impact {
        id: Some(id),
        stats,
        per_channel,
        per_language,
        sms,
        sms_per_country,
        samples,
        conservation,
        names,
    })
}

/// A run's queued messages, counted.
struct Breakdown {
    per_channel: BTreeMap<String, i64>,
    per_language: BTreeMap<String, i64>,
    sms: BTreeMap<String, SmsCost>,
    sms_per_country: BTreeMap<String, SmsCountry>,
    samples: Vec<Sample>,
}

async fn breakdown(
    conn: &mut Conn,
    tenant: &crate::config::TenantSettings,
    outage_id: i64,
    stats: &MatchStats,
) -> anyhow::Result<Breakdown> {
    let mut per_channel = BTreeMap::new();
    let mut per_language = BTreeMap::new();
    for (channel, language, n) in notifications::breakdown(conn, outage_id).await? {
        *per_channel.entry(channel).or_insert(0) += n;
        *per_language.entry(language).or_insert(0) += n;
    }
    let mut sms: BTreeMap<String, SmsCost> = BTreeMap::new();
    let mut sms_per_country: BTreeMap<String, SmsCountry> = BTreeMap::new();
    for (language, recipient, text) in notifications::sms_texts(conn, outage_id).await? {
        let facts = crate::preview::SmsFacts::of(&text, tenant);
        let segments = facts.segments as u64;
        let country = crate::domain::phone::region_code(&recipient);
        // The country's price, so that both breakdowns add up to the same total.
        let cost = tenant
            .sms_segment_price(country.as_deref())
            .map(|p| p * segments as f64);
        let entry = sms.entry(language).or_default();
        entry.messages += 1;
        entry.segments += segments;
        *entry.encodings.entry(facts.encoding.into()).or_default() += 1;
        if let Some(c) = cost {
            *entry.cost.get_or_insert(0.0) += c;
        }
        let label = country.unwrap_or_else(|| crate::config::UNKNOWN_COUNTRY.to_owned());
        let entry = sms_per_country.entry(label).or_default();
        entry.messages += 1;
        entry.segments += segments;
        if let Some(c) = cost {
            *entry.cost.get_or_insert(0.0) += c;
        }
    }
    for (language, n) in &stats.sms_short {
        sms.entry(language.clone()).or_default().short = *n;
    }
    for (country, n) in &stats.sms_country_barred {
        sms_per_country.entry(country.clone()).or_default().skipped = *n;
    }
    let samples = notifications::samples(conn, outage_id)
        .await?
        .into_iter()
        .map(|(kind, channel, language, subject, text)| Sample {
            kind,
            channel,
            language,
            subject,
            text,
        })
        .collect();
    Ok(Breakdown {
        per_channel,
        per_language,
        sms,
        sms_per_country,
        samples,
    })
}

/// Reads an instant given on the command line: RFC 3339 (`2026-11-02T08:00:00+01:00`), or a
/// local time in the tenant's zone (`2026-11-02T08:00`, `2026-11-02 08:00`, `02.11.2026 08:00`).
pub fn parse_instant(s: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    const FORMATS: [&str; 6] = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
    ];
    for f in FORMATS {
        if let Ok(local) = NaiveDateTime::parse_from_str(s.trim(), f) {
            return Ok(resolve_local(tz, local));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(s.trim(), "%d.%m.%Y"))
    {
        return Ok(resolve_local(tz, d.and_time(chrono::NaiveTime::MIN)));
    }
    invalid!(
        "{s:?} is not a time: use RFC 3339 (2026-11-02T08:00:00+01:00) or local time \
         in the tenant's zone {} (2026-11-02 08:00 or 02.11.2026 08:00)",
        tz.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_are_read_as_rfc3339_or_as_local_time_of_the_tenant() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let want = Utc.with_ymd_and_hms(2026, 11, 2, 7, 0, 0).unwrap();
        assert_eq!(
            parse_instant("2026-11-02T08:00:00+01:00", tz).unwrap(),
            want
        );
        assert_eq!(parse_instant("2026-11-02T08:00", tz).unwrap(), want);
        assert_eq!(parse_instant("02.11.2026 08:00", tz).unwrap(), want);
        assert_eq!(
            parse_instant("2026-11-02", tz).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).unwrap()
        );
        let err = parse_instant("tomorrow", tz).unwrap_err().to_string();
        assert!(err.contains("Europe/Berlin"), "{err}");
    }
}
