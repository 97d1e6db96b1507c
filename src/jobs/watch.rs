//! Watched folders: a source with `watch_secs` is looked at that often and imported once a new
//! export has stopped changing (the rule is [`crate::import::watch::Watch`]).

use crate::ctx::Ctx;
use crate::import::SourceSettings;
use crate::import::watch::{LastImport, Seen, Watch};
use crate::store::imports;
use tokio_util::sync::CancellationToken;

/// One look at the source's folder; imports when a new export has settled. True when it
/// imported (or tried to).
pub async fn step(ctx: &Ctx, instance: &str, source: &SourceSettings, watch: &mut Watch) -> bool {
    let seen = Seen::newest(&source.path);
    let last = match ctx.store.conn().await {
        Ok(mut conn) => imports::latest_of(&mut conn, &source.tenant, &source.name)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    let last = match last {
        Ok(last) => last.map(|(file, started)| LastImport {
            file,
            started: std::time::SystemTime::from(started),
        }),
        Err(e) => {
            tracing::warn!(source = %source.name, error = %format!("{e:#}"), "cannot look up the last import; watching on");
            return false;
        }
    };
    if !watch.look(seen, last.as_ref()) {
        return false;
    }
    tracing::info!(source = %source.name, "a new export arrived");
    super::imports::import_logged(ctx, instance, source, "watch").await;
    true
}

/// Runs [`step`] every `watch_secs` until `shutdown`.
pub async fn run(ctx: Ctx, instance: String, source: SourceSettings, shutdown: CancellationToken) {
    let every = std::time::Duration::from_secs(source.watch_secs.unwrap_or(60).max(1));
    let mut watch = Watch::default();
    tracing::info!(source = %source.name, every_secs = every.as_secs(), "watching for new exports");
    loop {
        step(&ctx, &instance, &source, &mut watch).await;
        if !super::pause(every, &shutdown).await {
            return;
        }
    }
}
