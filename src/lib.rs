//! absage tells citizens that their appointment at a public office is cancelled when the office's
//! own IT is down. Map of the crate (dependencies point downwards):
//!
//! - [`cli`], [`app`]: the command line and the daemon (build, then run until stopped)
//! - [`jobs`]: the daemon's background jobs (schedule, watch, retention), each a step and a loop
//! - [`accounts`]: accounts of the admin API, their tokens, and finding the caller
//! - [`ctx`]: what every service function needs (store, settings, templates, clock)
//! - [`lifecycle`]: the outage lifecycle — declare, amend, retract, batches, the four-eyes rule,
//!   matching as a pure plan, the impact report; typed refusals
//! - [`import`]: reading exports into the calendar, atomically, refusing harmful files; one
//!   reader contract for every kind of export; a source's settings with each reader's options
//! - [`dispatch`]: the dispatcher (lease, send, record), destinations, health, channels
//! - [`bounces`]: bounces and complaints coming back: reading them, the listener, the mailbox
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`, the admin API and webhooks of `absage run`
//! - [`reports`]: status, import history, outages, per-outage report, call list, suppressions
//! - [`overview`]: an outage and an import as the API and the UI show them
//! - [`follow_up`]: retrying, cancelling and noting calls after a declaration (audited)
//! - [`ops`]: an import run by hand (with its audit entry), the SQLite backup
//! - [`preview`]: message previews, SMS length and cost
//! - [`messages`]: templates, localised dates, SMS encoding
//! - [`store`]: all SQL
//! - [`domain`]: values and pure rules (windows, phones, retry policy), no I/O
//! - [`config`], [`secret`], [`telemetry`]: settings (by topic; a source's settings are the
//!   importer's, [`import::SourceSettings`]), secrets, logging
//! - [`owner`]: who holds a lease — this process by name, and whether a holder is gone
//! - [`private_files`]: files with personal data readable by absage's user only
//! - [`tls`]: the one TLS crypto provider, installed once

pub mod accounts;
pub mod app;
pub mod bounces;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod dispatch;
pub mod domain;
pub mod follow_up;
pub mod http;
pub mod import;
pub mod jobs;
pub mod lifecycle;
pub mod messages;
pub mod ops;
pub mod overview;
pub mod owner;
pub mod preview;
pub mod private_files;
pub mod reports;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tls;

use tokio_util::sync::CancellationToken;

/// Cancels `token` on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_on_signals(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!(
        "shutdown requested (the daemon finishes its in-flight sends; any other command stops)"
    );
    token.cancel();
}
