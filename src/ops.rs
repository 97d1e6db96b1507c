//! What an operator runs by hand besides the outage lifecycle: an import now, recorded in the
//! audit log with who ran it, and a copy of the SQLite database while the daemon runs.

use crate::ctx::Ctx;
use crate::import::SourceSettings;
use crate::import::{ImportOptions, ImportReport};
use crate::jobs;
use crate::store::{Backend, audit, retention};
use anyhow::{Context, bail};
use std::path::Path;

/// Imports `source` now on behalf of `opts.by` and writes that to the audit log; the import
/// runs exactly as a scheduled one does ([`jobs::imports::import_now`]).
pub async fn import(
    ctx: &Ctx,
    instance: &str,
    source: &SourceSettings,
    opts: &ImportOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<ImportReport> {
    let report = jobs::imports::import_now(ctx, instance, source, opts, progress).await?;
    let entry = audit::Entry {
        tenant: Some(&source.tenant),
        actor: &opts.by,
        action: "import.trigger",
        subject: Some(format!("source {}", source.name)),
        details: serde_json::json!({
            "import": report.import_id, "read": report.counts.rows_read,
            "rejected": report.counts.rows_rejected, "force": opts.force,
        }),
    };
    let mut conn = ctx.store.conn().await?;
    audit::append(&mut conn, &entry, ctx.now()).await?;
    Ok(report)
}

/// Copies the SQLite database to `path`, a new file readable by absage's user only, while the
/// daemon may be running (PostgreSQL is backed up with pg_dump). A failed copy leaves no file.
pub async fn backup_sqlite(ctx: &Ctx, path: &Path) -> anyhow::Result<()> {
    if ctx.store.backend() != Backend::Sqlite {
        bail!("absage db backup copies SQLite databases; back up PostgreSQL with pg_dump");
    }
    // Created empty and private first (VACUUM INTO fills an empty file), so that the copy of
    // everyone's data is never readable by others, whatever the umask.
    match crate::private_files::private_new_file(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists already; choose a new file", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    let mut conn = ctx.store.conn().await?;
    if let Err(e) = retention::backup_sqlite(&mut conn, &path.to_string_lossy()).await {
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}
