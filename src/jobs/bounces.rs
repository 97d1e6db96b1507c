//! Reading the bounce Maildir every `bounces.poll_secs` (see [`crate::bounces::maildir`]).

use crate::bounces::maildir;
use crate::ctx::Ctx;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// Runs [`maildir::read_once`] on `dir` until `shutdown`.
pub async fn run(ctx: Ctx, dir: PathBuf, shutdown: CancellationToken) {
    let every = std::time::Duration::from_secs(ctx.settings.bounces.poll_secs.max(1));
    tracing::info!(dir = %dir.display(), "reading bounces from a Maildir");
    loop {
        match maildir::read_once(&ctx, &dir).await {
            Ok(pass) if pass != maildir::Pass::default() => {
                tracing::info!(
                    taken = pass.taken,
                    too_large = pass.too_large,
                    failed = pass.failed,
                    "maildir"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "maildir: reading failed; trying again later")
            }
        }
        if !super::pause(every, &shutdown).await {
            return;
        }
    }
}
