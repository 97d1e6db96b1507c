//! Importing one source now (the command line, the schedule, the watch), and the imports that a
//! stopped process left `running`.

use crate::ctx::Ctx;
use crate::import::{self, ImportOptions, ImportReport, SourceSettings};
use crate::lifecycle::matching::MatchContext;
use crate::store::imports;
use anyhow::Context;

/// Imports `source` now, unless another run imports it right now ([`import::Busy`]).
/// `opts.by` says who runs it; `instance` when empty.
pub async fn import_now(
    ctx: &Ctx,
    instance: &str,
    source: &SourceSettings,
    opts: &ImportOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<ImportReport> {
    let tenant = ctx.settings.tenant(&source.tenant).with_context(|| {
        format!(
            "source {} names unknown tenant {}",
            source.name, source.tenant
        )
    })?;
    let mut opts = opts.clone();
    if opts.by.is_empty() {
        opts.by = instance.to_owned();
    }
    let rematch = |now, confirm_removals| MatchContext {
        settings: &ctx.settings,
        tenant,
        templates: ctx.templates.for_tenant(&tenant.id),
        now,
        confirm_removals,
    };
    import::run(
        &ctx.store,
        tenant.time_zone,
        &rematch,
        source,
        &opts,
        &*ctx.clock,
        progress,
    )
    .await
}

/// Imports a source on schedule or when its watched folder has a new export (`by`), and logs
/// the outcome — unless another instance, or this one's schedule or watch, imports it right
/// now (the source's lease, see [`import::lease`]).
pub async fn import_logged(ctx: &Ctx, instance: &str, source: &SourceSettings, by: &str) {
    let opts = ImportOptions {
        by: format!("{instance}/{by}"),
        ..ImportOptions::default()
    };
    match import_now(ctx, instance, source, &opts, &|_| {}).await {
        Ok(r) => {
            tracing::info!(source = %r.source, outcome = ?r.outcome, read = r.counts.rows_read, new = r.counts.rows_new, updated = r.counts.rows_updated, removed = r.counts.rows_removed, rejected = r.counts.rows_rejected, message = r.message.as_deref().unwrap_or(""), "{by} import")
        }
        Err(e) if e.is::<import::Busy>() => {
            tracing::debug!(source = %source.name, "another run imports this source right now");
        }
        Err(e) => {
            tracing::error!(source = %source.name, error = %format!("{e:#}"), "{by} import failed")
        }
    }
}

/// Marks failed the imports left `running` by processes that stopped (their source's lease
/// ran out); the daemon does it at start. Returns how many.
pub async fn fail_orphaned(ctx: &Ctx) -> anyhow::Result<u64> {
    let now = ctx.now();
    let mut conn = ctx.store.conn().await?;
    let failed = imports::fail_orphans(&mut conn, now, import::lease::INTERRUPTED).await?;
    if failed > 0 {
        tracing::warn!(
            failed,
            "imports left running by a stopped process marked failed"
        );
    }
    Ok(failed)
}
