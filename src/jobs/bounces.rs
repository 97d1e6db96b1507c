//! Reading the bounce mailboxes every `bounces.poll_secs`: the Maildir (see
//! [`crate::bounces::maildir`]; several instances may share it) and the IMAP mailbox (see
//! [`crate::bounces::imap`]; one instance at a time, by a lease).

use crate::bounces::{imap, maildir};
use crate::ctx::Ctx;
use crate::store::leases;
use chrono::Duration;
use tokio_util::sync::CancellationToken;

/// One pass over every configured mailbox.
pub async fn step(ctx: &Ctx, instance: &str) -> anyhow::Result<maildir::Pass> {
    let mut pass = maildir::Pass::default();
    let settings = &ctx.settings.bounces;
    if let Some(dir) = &settings.maildir {
        pass = pass + maildir::read_once(ctx, dir).await?;
    }
    if let Some(cfg) = &settings.imap {
        let now = ctx.now();
        let until = now + Duration::seconds(settings.poll_secs as i64 * 10 + 600);
        let mut tx = ctx.store.begin().await?;
        // A reader killed on this machine does not keep the mailbox for the whole lease.
        let mine = crate::owner::take_lease(&mut tx, "bounces-imap", instance, now, until).await?;
        tx.commit().await?;
        if mine {
            let read = imap::read_once(ctx, cfg).await;
            let mut tx = ctx.store.begin().await?;
            leases::release(&mut tx, "bounces-imap", instance).await?;
            tx.commit().await?;
            pass = pass + read?;
        }
    }
    Ok(pass)
}

/// Runs [`step`] until `shutdown`.
pub async fn run(ctx: Ctx, instance: String, shutdown: CancellationToken) {
    let every = std::time::Duration::from_secs(ctx.settings.bounces.poll_secs.max(1));
    tracing::info!("reading bounces from the configured mailboxes");
    loop {
        // In a task of its own: should reading one message ever panic, the reader goes on.
        let pass = {
            let (ctx, instance) = (ctx.clone(), instance.clone());
            tokio::spawn(async move { step(&ctx, &instance).await }).await
        };
        let pass = pass.unwrap_or_else(|e| Err(anyhow::anyhow!("the pass panicked: {e}")));
        match pass {
            Ok(pass) if pass != maildir::Pass::default() => tracing::info!(
                taken = pass.taken,
                too_large = pass.too_large,
                failed = pass.failed,
                "bounce mailboxes"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(
                error = %format!("{e:#}"),
                "reading the bounce mailboxes failed; trying again later"
            ),
        }
        if !super::pause(every, &shutdown).await {
            return;
        }
    }
}
