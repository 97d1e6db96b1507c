//! Retention: closing runs that are over and deleting contact data `retention.days` after, on
//! one instance at a time (a lease), every `retention.interval_minutes`.

use crate::ctx::Ctx;
use crate::store::{leases, retention};
use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;

/// What one pass did: runs closed, and what was purged.
pub type Done = (u64, retention::Purged);

/// One pass at `now`. None when another instance holds the job.
pub async fn step(ctx: &Ctx, instance: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Done>> {
    let mut tx = ctx.store.begin().await?;
    if !leases::acquire(
        &mut tx,
        "retention",
        instance,
        now,
        now + Duration::minutes(10),
    )
    .await?
    {
        return Ok(None);
    }
    let closed = retention::close_finished(&mut tx, now).await?;
    let cutoff = now - Duration::days(i64::from(ctx.settings.retention.days));
    let suppressed_before =
        now - Duration::days(i64::from(ctx.settings.bounces.suppress_days.max(1)));
    let purged = retention::purge(&mut tx, cutoff, suppressed_before, now).await?;
    leases::release(&mut tx, "retention", instance).await?;
    tx.commit().await?;
    if closed > 0 || purged != retention::Purged::default() {
        tracing::info!(
            closed,
            purged_runs = purged.runs,
            purged_notifications = purged.notifications,
            purged_bookings = purged.bookings,
            purged_suppressions = purged.suppressions,
            "retention"
        );
    }
    Ok(Some((closed, purged)))
}

/// Runs [`step`] every `retention.interval_minutes` until `shutdown`.
pub async fn run(ctx: Ctx, instance: String, shutdown: CancellationToken) {
    let every = std::time::Duration::from_secs(
        u64::from(ctx.settings.retention.interval_minutes.max(1)) * 60,
    );
    loop {
        if let Err(e) = step(&ctx, &instance, ctx.now()).await {
            tracing::error!(error = %format!("{e:#}"), "retention failed; trying again later");
        }
        if !super::pause(every, &shutdown).await {
            return;
        }
    }
}
