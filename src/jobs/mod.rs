//! The daemon's background jobs besides the dispatcher, each a step function (one pass, taking
//! what it needs, testable on its own) and a loop that runs the step until shutdown:
//!
//! - [`imports`]: importing one source now, for the command line, the schedule and the watch;
//!   imports left running by a stopped process
//! - [`schedule`]: imports on each source's cron schedule, in its tenant's time zone
//! - [`watch`]: imports when a watched folder has a new, settled export
//! - [`retention`]: closing finished runs and deleting contact data after `retention.days`
//! - [`bounces`]: reading the bounce Maildir and IMAP mailbox

pub mod bounces;
pub mod imports;
pub mod retention;
pub mod schedule;
pub mod watch;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Waits `wait`; false when `shutdown` fired first.
async fn pause(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = shutdown.cancelled() => false,
    }
}
