//! One import of a source at a time, across processes and instances: whoever holds the source's
//! lease (`import:TENANT:SOURCE` in `job_leases`) imports it — the schedule, a watched folder,
//! the API and `absage import` alike. The lease is short and renewed while the import works, so
//! a process killed in the middle (kill -9, OOM, power cut) blocks the source for one lease at
//! most, and not at all for a run on the same machine, which is known to be gone
//! ([`owner::is_gone`]); the runs it left `running` are marked failed by the next import of the
//! source and by the daemon at start ([`imports::fail_orphans`]).

use crate::owner;
use crate::store::{Store, imports, leases};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts unless renewed.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often a running import renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

/// What the history says of a run whose process stopped before it ended.
pub const INTERRUPTED: &str = "interrupted: the process that ran this import stopped before it \
    ended (killed, crashed or shut down) and its lease ran out; nothing of it was applied";

/// Another run (the schedule, a watched folder, the API, `absage import`, another instance) is
/// importing the source right now. Its message names the run and when its lease runs out:
/// after a kill -9 the operator learns that the source is free by then, not only that it is
/// busy.
#[derive(Debug, thiserror::Error)]
#[error(
    "source {name:?} is being imported right now{}; try again when that import is done",
    holder.as_ref().map(|(by, until)| format!(
        " (by {}, whose lease runs until {} UTC: a run that was stopped keeps the source no \
         longer than that)",
        owner::shown(by),
        until.format("%Y-%m-%d %H:%M:%S")
    )).unwrap_or_default()
)]
pub struct Busy {
    pub name: String,
    /// The run that holds the lease, and until when; `None` if it ended meanwhile.
    pub holder: Option<(String, DateTime<Utc>)>,
}

/// The lease of one source, held by one run.
#[derive(Debug, Clone)]
pub(super) struct Held {
    job: String,
    owner: String,
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or_default()
}

/// Takes the source's lease for a run by `by` (unique per run), or fails with [`Busy`]. Runs of
/// the source still marked `running` are from a process that died: they are marked failed.
pub(super) async fn take(
    store: &Store,
    tenant: &str,
    source: &str,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Held> {
    let held = Held {
        job: format!("import:{tenant}:{source}"),
        // The process is named (see `owner`), so that a run killed on this machine is known to
        // be gone and its lease is taken over at once.
        owner: format!("{by}#{}", owner::this_process()),
    };
    let mut conn = store.conn().await?;
    if !owner::take_lease(&mut conn, &held.job, &held.owner, now, now + lease()).await? {
        return Err(Busy {
            name: source.to_string(),
            holder: leases::holder(&mut conn, &held.job).await?,
        }
        .into());
    }
    let failed = imports::fail_interrupted(&mut conn, tenant, source, now, INTERRUPTED).await?;
    if failed > 0 {
        tracing::warn!(
            source,
            failed,
            "imports left running by a stopped process marked failed"
        );
    }
    Ok(held)
}

/// What a run that lost its lease to another ends with.
pub(super) const LOST: &str = "stopped: this import took longer than its lease without renewing \
    it, and another run took the source over; nothing of it was applied";

/// Renews the lease every [`RENEW_EVERY`] until `done` is cancelled, and cancels `lost` (then
/// returns) when another run holds the lease: this one stalled past it and must stop. A renewal
/// under way is finished before it returns, so that it cannot take the lease again after it was
/// given back. A failed renewal is tried again: on SQLite it waits while the import's own
/// transaction holds the database, and the lease only matters to others once it has run out.
pub(super) async fn keep(
    store: &Store,
    held: &Held,
    clock: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
    done: &CancellationToken,
    lost: &CancellationToken,
) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            _ = every.tick() => {}
        }
        match renew(store, held, clock()).await {
            Ok(true) => {}
            Ok(false) => {
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::debug!(job = %held.job, error = %format!("{e:#}"), "cannot renew the import lease yet")
            }
        }
    }
}

/// Renews the lease until one lease from `now`; false when another run holds it.
pub(super) async fn renew(store: &Store, held: &Held, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let mut conn = store.conn().await?;
    let until = now + lease();
    Ok(leases::acquire(&mut conn, &held.job, &held.owner, now, until).await?)
}

/// Gives the lease back (the import ended, whatever its outcome).
pub(super) async fn give_back(store: &Store, held: &Held) {
    let released = async {
        let mut conn = store.conn().await?;
        leases::release(&mut conn, &held.job, &held.owner).await?;
        anyhow::Ok(())
    };
    if let Err(e) = released.await {
        // It runs out by itself within one lease.
        tracing::warn!(job = %held.job, error = %format!("{e:#}"), "cannot give the import lease back");
    }
}
