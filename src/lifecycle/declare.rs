//! Declaring outages and batches, amending, retracting and confirming removals: store the run,
//! match it, and queue its notifications in one transaction, with its audit entry. A dry run
//! does exactly the same and rolls back, so the preview is what would really happen.

use super::Refused;
use super::deadline;
use super::impact::{Impact, Tally, impact};
use super::matching::{self, MatchContext, MatchStats, Output, Run};
use super::request::Declaration;
use crate::ctx::Ctx;
use crate::domain::names::Names;
use crate::domain::outage::{Scope, Selection};
use crate::store::Conn;
use crate::store::notifications;
use crate::store::outages::{self, NewOutage};
use anyhow::Context;
use chrono::{DateTime, Utc};

/// Declares a run: the run, its targets, its queue and its audit entry in one transaction. With
/// `dry_run`, the same matching plans and counts on a plain connection and writes nothing (no
/// write lock is taken). The impact is counted from the plan in both cases.
pub async fn declare(
    ctx: &Ctx,
    decl: &Declaration,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Impact> {
    let tenant = ctx
        .settings
        .tenant(&decl.tenant)
        .with_context(|| format!("no tenant with id {:?} is configured", decl.tenant))?;
    // Citizens read it: what was pasted along with it and no reader should see is dropped.
    let reason = crate::domain::text::clean(decl.reason.as_str().into());
    if reason.trim().is_empty() {
        invalid!("a reason is required: citizens read it in their message");
    }
    let mut run = Run {
        id: 0,
        tenant_id: tenant.id.clone(),
        reason: reason.trim().to_owned(),
        selection: decl.selection.normalised(),
    };
    let m = MatchContext {
        settings: &ctx.settings,
        tenant,
        templates: ctx.templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    let mut tally = Tally::default();
    if dry_run {
        let mut conn = ctx.store.conn().await?;
        // A read transaction: the window's pages see one state of the calendar.
        let mut conn = sqlx::Connection::begin(&mut *conn).await?;
        crate::store::one_snapshot(&mut conn).await?;
        check_scope(&mut conn, &tenant.id, run.selection.scope(), now).await?;
        let out = Output {
            write: false,
            tally: Some(&mut tally),
        };
        let stats = matching::match_counted(&mut conn, &m, &run, out).await?;
        let schedule = deadline::estimate(&mut conn, &m, &tally, 0).await?;
        let mut impact = tally.into_impact(None, stats);
        impact.schedule = Some(schedule);
        return Ok(impact);
    }
    let mut tx = ctx.store.begin_declaration().await?;
    crate::store::one_snapshot(&mut tx).await?;
    check_scope(&mut tx, &tenant.id, run.selection.scope(), now).await?;
    run.id = outages::insert(&mut tx, &new_outage(decl, &run)?, now).await?;
    let out = Output {
        write: true,
        tally: Some(&mut tally),
    };
    let stats = matching::match_counted(&mut tx, &m, &run, out).await?;
    // Whose messages would leave too late: on the call list at once.
    let schedule = deadline::plan(&mut tx, &m, &tally, run.id).await?;
    let mut impact = tally.into_impact(Some(run.id), stats);
    impact.schedule = Some(schedule);
    // In the same transaction: no declaration without its audit entry.
    let details = serde_json::json!({
        "kind": decl.kind.as_str(), "affected": impact.stats.affected,
        "queued": impact.stats.queued, "unreachable": impact.stats.unreachable,
    });
    let by = &decl.created_by;
    audit(
        &mut tx,
        &tenant.id,
        by,
        "outage.declare",
        run.id,
        details,
        now,
    )
    .await?;
    crate::store::notify_work(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(outage = run.id, kind = decl.kind.as_str(), tenant = %tenant.id, affected = impact.stats.affected, queued = impact.stats.queued, "declared");
    Ok(impact)
}

/// The row to store for a declaration matched as `run`.
fn new_outage<'a>(decl: &'a Declaration, run: &'a Run) -> anyhow::Result<NewOutage<'a>> {
    let (window_from, window_to, keys_json, scope) = match &run.selection {
        Selection::Window { window, scope } => (Some(window.from), Some(window.to), None, scope),
        Selection::Keys { keys, scope } => (None, None, Some(serde_json::to_string(keys)?), scope),
    };
    Ok(NewOutage {
        tenant_id: &run.tenant_id,
        kind: decl.kind.as_str(),
        window_from,
        window_to,
        services_json: serde_json::to_string(&scope.services)?,
        locations_json: serde_json::to_string(&scope.locations)?,
        keys_json,
        reason: &run.reason,
        created_by: &decl.created_by,
    })
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
        now,
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
pub async fn amend(ctx: &Ctx, id: i64, change: &Amendment, act: Act<'_>) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    // Widening a window can bring as many bookings as a declaration.
    let mut tx = ctx.store.begin_declaration().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(&ctx.settings, &run)?;
    let from = change.from.or(run.window_from);
    let to = change.to.or(run.window_to);
    let (Some(from), Some(to)) = (from, to) else {
        invalid!("#{id} is chosen by booking keys and has no window to amend");
    };
    let window = crate::domain::outage::Window::new(from, to).map_err(anyhow::Error::msg)?;
    let old = crate::lifecycle::matching::selection_of(&run)?;
    let old_scope = old.scope().clone();
    let scope = crate::domain::outage::Scope {
        services: change.services.clone().unwrap_or(old_scope.services),
        locations: change.locations.clone().unwrap_or(old_scope.locations),
    }
    .normalised();
    check_scope(&mut tx, &tenant.id, &scope, now).await?;
    outages::update_selection(
        &mut tx,
        id,
        Some(window.from),
        Some(window.to),
        &serde_json::to_string(&scope.services)?,
        &serde_json::to_string(&scope.locations)?,
        now,
    )
    .await?;
    let run = outages::get(&mut tx, id)
        .await?
        .context("the outage vanished")?;
    let m = MatchContext {
        settings: &ctx.settings,
        tenant,
        templates: ctx.templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    let mut stats = matching::match_run(&mut tx, &m, &run).await?;
    let left = std::mem::take(&mut stats.left);
    stats.retractions =
        matching::queue_retractions(&mut tx, &m, &Run::of(&run)?, Some(&left), "").await?;
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
pub async fn confirm_removals(ctx: &Ctx, id: i64, act: Act<'_>) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    let mut tx = ctx.store.begin().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(&ctx.settings, &run)?;
    let m = MatchContext {
        settings: &ctx.settings,
        tenant,
        templates: ctx.templates.for_tenant(&tenant.id),
        now,
        confirm_removals: true,
    };
    let stats = matching::match_run(&mut tx, &m, &run).await?;
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
pub async fn retract(ctx: &Ctx, id: i64, reason: &str, act: Act<'_>) -> anyhow::Result<Impact> {
    let Act { by, now, dry_run } = act;
    let reason = crate::domain::text::clean(reason.into());
    let reason = reason.trim();
    if reason.is_empty() {
        invalid!("a reason is required: citizens who were told read it");
    }
    let mut tx = ctx.store.begin().await?;
    let run = active_outage(&mut tx, id).await?;
    let tenant = tenant_of(&ctx.settings, &run)?;
    outages::retract(&mut tx, id, reason, now).await?;
    let m = MatchContext {
        settings: &ctx.settings,
        tenant,
        templates: ctx.templates.for_tenant(&tenant.id),
        now,
        confirm_removals: false,
    };
    // First those told (or being told right now) get the retraction, then what is left stops.
    let retractions =
        matching::queue_retractions(&mut tx, &m, &Run::of(&run)?, None, reason).await?;
    let cancelled = notifications::cancel_queued_of_outage(
        &mut tx,
        id,
        "cancellation",
        "outage retracted",
        now,
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
    settings: &'s crate::config::Settings,
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
    if run.state != crate::domain::outage::RunState::Active {
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
    let rows = crate::store::bookings::names(conn, tenant, now).await?;
    Ok(Names::count(&rows))
}
