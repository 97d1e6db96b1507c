//! What the admin API and the web UI show about a tenant's runs and imports, read in one place:
//! an outage of the caller's tenant (others do not exist for them), how it stands now, and an
//! import with its rejected rows and contact problems. The edges only shape it.

use crate::ctx::Ctx;
use crate::import::ContactProblems;
use crate::lifecycle::{Conservation, Refused};
use crate::reports::PendingRemoval;
use crate::store::imports::{self, ImportRow};
use crate::store::notifications::{self, QueueCount};
use crate::store::outages::{self, OutageRow};

/// An outage or batch of `tenant`; [`Refused::NotFound`] for anyone else's, as if it did not
/// exist.
pub async fn own_outage(ctx: &Ctx, tenant: &str, id: i64) -> anyhow::Result<OutageRow> {
    let mut conn = ctx.store.conn().await?;
    match outages::get(&mut conn, id).await? {
        Some(o) if o.tenant_id == tenant => Ok(o),
        _ => Err(Refused::NotFound(format!("no outage #{id}")).into()),
    }
}

/// How a run stands now.
#[derive(Debug)]
pub struct Standing {
    /// Its notifications by state and channel.
    pub queue: Vec<QueueCount>,
    /// Affected = with a message + call list; None for a retracted run (its appointments
    /// stand: nobody is to be told or phoned).
    pub conservation: Option<Conservation>,
    /// Bookings that vanished from the export while it ran, waiting for a person to confirm.
    pub removal_pending: Vec<PendingRemoval>,
}

pub async fn standing(ctx: &Ctx, outage: &OutageRow) -> anyhow::Result<Standing> {
    let mut conn = ctx.store.conn().await?;
    let queue = notifications::counts(&mut conn, Some(outage.id)).await?;
    let conservation = if outage.state == crate::domain::outage::RunState::Retracted {
        None
    } else {
        Some(crate::lifecycle::impact::conservation_of(&mut conn, outage, ctx.now()).await?)
    };
    drop(conn);
    let removal_pending = crate::reports::pending_removals(ctx, outage).await?;
    Ok(Standing {
        queue,
        conservation,
        removal_pending,
    })
}

/// One import with what it rejected and the contact data it could not use (positions, fields
/// and reasons; never the values).
#[derive(Debug)]
pub struct ImportDetail {
    pub import: ImportRow,
    /// The first rejected rows, as recorded (a JSON array).
    pub rejected: serde_json::Value,
    pub contact: ContactProblems,
}

/// An import of `tenant`; [`Refused::NotFound`] for anyone else's.
pub async fn import_detail(ctx: &Ctx, tenant: &str, id: i64) -> anyhow::Result<ImportDetail> {
    let mut conn = ctx.store.conn().await?;
    let Some((import, rejected)) = imports::with_rejected(&mut conn, tenant, id).await? else {
        return Err(Refused::NotFound(format!("no import #{id}")).into());
    };
    let contact = imports::contact_of(&mut conn, tenant, id).await?;
    Ok(ImportDetail {
        import,
        rejected: rejected
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_else(|| serde_json::json!([])),
        contact: contact
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
    })
}

/// An active run of the tenant with how its citizens stand.
#[derive(Debug)]
pub struct RunReach {
    pub outage: OutageRow,
    /// Affected bookings with evidence they were informed, without evidence yet, and that no
    /// message reached and nobody phoned yet (the call list's open tasks).
    pub informed: usize,
    pub unknown: usize,
    pub to_call: usize,
    /// Affected bookings not (yet) informed whose appointment starts within the next 24 hours.
    pub not_informed_24h: usize,
}

/// What the tenant's dashboard shows.
#[derive(Debug)]
pub struct Dashboard {
    pub runs: Vec<RunReach>,
    pub queue: Vec<QueueCount>,
    /// Every relay and gateway (shared by all tenants).
    pub destinations: Vec<crate::store::destinations::DestinationRow>,
    /// Actions waiting for a second person.
    pub pending_approvals: usize,
    /// The tenant's sources with the age of their last import.
    pub sources: Vec<crate::reports::SourceStatus>,
}

pub async fn dashboard(ctx: &Ctx, tenant: &str) -> anyhow::Result<Dashboard> {
    use crate::reports::Reach;
    let mut conn = ctx.store.conn().await?;
    let active: Vec<OutageRow> = outages::list(&mut conn, Some(tenant))
        .await?
        .into_iter()
        .filter(|o| o.state == crate::domain::outage::RunState::Active)
        .collect();
    let queue = notifications::counts_of_tenant(&mut conn, tenant).await?;
    let destinations = crate::store::destinations::all(&mut conn).await?;
    let pending_approvals = crate::store::approvals::list(&mut conn, tenant)
        .await?
        .into_iter()
        .filter(|a| a.state == "pending")
        .count();
    drop(conn);
    let mut runs = Vec::with_capacity(active.len());
    for outage in active {
        let (_, rows) = crate::reports::report(ctx, outage.id).await?;
        let count = |r: Reach| rows.iter().filter(|x| x.affected && x.reach == r).count();
        let soon = ctx.now() + chrono::Duration::hours(24);
        runs.push(RunReach {
            informed: count(Reach::Informed),
            unknown: count(Reach::Unknown),
            to_call: count(Reach::NotReached),
            not_informed_24h: rows
                .iter()
                .filter(|x| {
                    x.affected
                        && x.reach != Reach::Informed
                        && x.booking.starts_at > ctx.now()
                        && x.booking.starts_at <= soon
                })
                .count(),
            outage,
        });
    }
    let sources = crate::reports::status(ctx, ctx.now())
        .await?
        .sources
        .into_iter()
        .filter(|src| src.tenant == tenant)
        .collect();
    Ok(Dashboard {
        runs,
        queue,
        destinations,
        pending_approvals,
        sources,
    })
}
