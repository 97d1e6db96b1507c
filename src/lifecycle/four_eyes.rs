//! The four-eyes rule: what one account may do alone through the API and the web UI, and what
//! waits for a different approver.
//!
//! Counted is what an action changes for citizens: the bookings a declaration or batch
//! affects, the bookings an amendment adds or takes out, the bookings a retraction or a
//! confirmation of removals takes out (they are told their appointment stands, or their
//! cancellation stops). One account's actions add up within the tenant's
//! `approval_window_minutes`, so splitting a large outage into small ones, or declaring a small
//! one and widening it, waits for approval like the large one would.
//!
//! The note of an action is written (committed) before the sum is read: of two actions at the
//! same moment, the later reader sees both. An action that then waits, or fails, takes its
//! note back. Approved actions are not counted: a second person saw them.
//!
//! The command line is not subject to the rule: who runs it is on the host. The admin API, the
//! web UI and the Alertmanager hook all come through [`submit`], [`approve`] and [`reject`].

use super::declare::{self, Act, Amendment};
use super::{DeclareRequest, Impact, Refused};
use crate::accounts::Caller;
use crate::ctx::Ctx;
use crate::domain::account::Role;
use crate::store::approvals::{self, ApprovalRow, NewApproval};
use crate::store::outages;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

/// What an account asks for.
#[derive(Debug, Clone)]
pub enum Action {
    Declare(DeclareRequest),
    Amend { outage: i64, change: Amendment },
    Retract { outage: i64, reason: String },
    ConfirmRemovals { outage: i64 },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AmendJson {
    outage: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    services: Option<Vec<String>>,
    locations: Option<Vec<String>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RetractJson {
    outage: i64,
    reason: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OutageJson {
    outage: i64,
}

impl Action {
    /// Its name as the approvals table keeps it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Declare(_) => "declare",
            Action::Amend { .. } => "amend",
            Action::Retract { .. } => "retract",
            Action::ConfirmRemovals { .. } => "confirm_removals",
        }
    }

    /// The outage the action changes (None for a declaration).
    pub fn outage(&self) -> Option<i64> {
        match self {
            Action::Declare(_) => None,
            Action::Amend { outage, .. }
            | Action::Retract { outage, .. }
            | Action::ConfirmRemovals { outage } => Some(*outage),
        }
    }

    /// The request as kept while it waits (a declaration keeps the JSON of the API request).
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(match self {
            Action::Declare(request) => serde_json::to_string(request)?,
            Action::Amend { outage, change } => serde_json::to_string(&AmendJson {
                outage: *outage,
                from: change.from,
                to: change.to,
                services: change.services.clone(),
                locations: change.locations.clone(),
            })?,
            Action::Retract { outage, reason } => serde_json::to_string(&RetractJson {
                outage: *outage,
                reason: reason.clone(),
            })?,
            Action::ConfirmRemovals { outage } => {
                serde_json::to_string(&OutageJson { outage: *outage })?
            }
        })
    }

    /// The action an approval waits for.
    pub fn of_approval(a: &ApprovalRow) -> anyhow::Result<Action> {
        let json = a.request_json.as_str();
        let what = || format!("approval #{}: its {} request", a.id, a.action);
        Ok(match a.action.as_str() {
            "declare" => Action::Declare(serde_json::from_str(json).with_context(what)?),
            "amend" => {
                let j: AmendJson = serde_json::from_str(json).with_context(what)?;
                Action::Amend {
                    outage: j.outage,
                    change: Amendment {
                        from: j.from,
                        to: j.to,
                        services: j.services,
                        locations: j.locations,
                    },
                }
            }
            "retract" => {
                let j: RetractJson = serde_json::from_str(json).with_context(what)?;
                Action::Retract {
                    outage: j.outage,
                    reason: j.reason,
                }
            }
            "confirm_removals" => {
                let j: OutageJson = serde_json::from_str(json).with_context(what)?;
                Action::ConfirmRemovals { outage: j.outage }
            }
            other => anyhow::bail!("approval #{}: unknown action {other:?}", a.id),
        })
    }
}

/// What became of a submitted action.
#[derive(Debug)]
pub enum Submitted {
    /// A dry run: what it would do; nothing was kept.
    Preview(Impact),
    /// Carried out.
    Done(Impact),
    /// Waits for a different approver; `Impact` is its preview.
    Pending(Impact, Box<ApprovalRow>),
}

/// Carries out `action` as `by` at `now` (or only previews it).
pub async fn run(
    ctx: &Ctx,
    action: &Action,
    tenant: &str,
    by: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Impact> {
    let act = Act { by, now, dry_run };
    match action {
        Action::Declare(request) => {
            let decl = request.parse(&ctx.settings, tenant, by)?;
            declare::declare(ctx, &decl, now, dry_run).await
        }
        Action::Amend { outage, change } => declare::amend(ctx, *outage, change, act).await,
        Action::Retract { outage, reason } => declare::retract(ctx, *outage, reason, act).await,
        Action::ConfirmRemovals { outage } => declare::confirm_removals(ctx, *outage, act).await,
    }
}

/// The bookings an action changes for citizens, from its preview (and, for a retraction, the
/// outage's affected bookings before it).
fn counted(action: &Action, preview: &Impact, affected_before: i64) -> i64 {
    let n = match action {
        Action::Declare(_) => preview.stats.affected,
        Action::Amend { .. } | Action::ConfirmRemovals { .. } => {
            preview.stats.added + preview.stats.withdrawn
        }
        Action::Retract { .. } => return affected_before,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Submits `action` for `caller`: previews it, and carries it out unless it takes the account
/// above the tenant's approval threshold within the window; then it waits for approval.
pub async fn submit(
    ctx: &Ctx,
    caller: &Caller,
    action: &Action,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Submitted> {
    let (tenant_id, by) = (caller.tenant.as_str(), caller.name.as_str());
    let tenant = ctx
        .settings
        .tenant(tenant_id)
        .with_context(|| format!("tenant {tenant_id:?} is not configured"))?;
    if let Some(id) = action.outage() {
        let mut conn = ctx.store.conn().await?;
        outages::get(&mut conn, id)
            .await?
            .filter(|o| o.tenant_id == tenant_id)
            .ok_or_else(|| Refused::NotFound(format!("there is no outage or batch {id}")))?;
    }
    if dry_run {
        let preview = run(ctx, action, tenant_id, by, now, true).await?;
        return Ok(Submitted::Preview(preview));
    }
    // Without the rule, no preview first: one write transaction, not two.
    let Some(limit) = tenant.approval_threshold else {
        return Ok(Submitted::Done(
            run(ctx, action, tenant_id, by, now, false).await?,
        ));
    };
    // A retraction takes every affected citizen's cancellation back: counted before it.
    let affected_before = match action {
        Action::Retract { outage, .. } => {
            let mut conn = ctx.store.conn().await?;
            outages::reach_counts(&mut conn, *outage).await?.0
        }
        _ => 0,
    };
    let preview = run(ctx, action, tenant_id, by, now, true).await?;
    let count = counted(action, &preview, affected_before);
    let window = Duration::minutes(i64::try_from(tenant.approval_window_minutes).unwrap_or(0));
    let mut conn = ctx.store.conn().await?;
    let note = approvals::note_alone(&mut conn, tenant_id, by, action.name(), count, now).await?;
    let alone = approvals::alone_since(&mut conn, tenant_id, by, now - window).await?;
    if alone > i64::try_from(limit).unwrap_or(i64::MAX) {
        approvals::unnote_alone(&mut conn, note).await?;
        let approval = request_approval(&mut conn, caller, action, &preview, count, now).await?;
        return Ok(Submitted::Pending(preview, Box::new(approval)));
    }
    drop(conn);
    match run(ctx, action, tenant_id, by, now, false).await {
        Ok(impact) => Ok(Submitted::Done(impact)),
        Err(e) => {
            let mut conn = ctx.store.conn().await?;
            approvals::unnote_alone(&mut conn, note).await?;
            Err(e)
        }
    }
}

async fn request_approval(
    conn: &mut crate::store::Conn,
    caller: &Caller,
    action: &Action,
    preview: &Impact,
    count: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<ApprovalRow> {
    let (kind, reason) = match action {
        Action::Declare(request) => (
            if request.batch || request.keys.is_some() {
                "batch"
            } else {
                "outage"
            },
            request.reason.trim().to_owned(),
        ),
        Action::Retract { outage, reason } => (
            kind_of(conn, *outage).await?,
            format!("retract #{outage}: {}", reason.trim()),
        ),
        Action::Amend { outage, .. } => (kind_of(conn, *outage).await?, format!("amend #{outage}")),
        Action::ConfirmRemovals { outage } => (
            kind_of(conn, *outage).await?,
            format!("confirm removals of #{outage}"),
        ),
    };
    let new = NewApproval {
        tenant: &caller.tenant,
        kind,
        action: action.name(),
        request_json: action.to_json()?,
        affected: count,
        reason: &reason,
        requested_by: &caller.name,
    };
    let id = approvals::insert(conn, &new, now).await?;
    let entry = crate::store::audit::Entry {
        tenant: Some(&caller.tenant),
        actor: &caller.name,
        action: "outage.request",
        subject: Some(format!("approval #{id}")),
        details: serde_json::json!({
            "action": action.name(), "outage": action.outage(), "bookings": count,
            "affected": preview.stats.affected,
        }),
    };
    crate::store::audit::append(conn, &entry, now).await?;
    approvals::get(conn, &caller.tenant, id)
        .await?
        .context("the new approval vanished")
}

async fn kind_of(conn: &mut crate::store::Conn, outage: i64) -> anyhow::Result<&'static str> {
    let run = outages::get(conn, outage)
        .await?
        .with_context(|| format!("there is no outage or batch {outage}"))?;
    Ok(if run.kind == crate::domain::outage::RunKind::Batch {
        "batch"
    } else {
        "outage"
    })
}

/// A pending approval of the caller's tenant that the caller may decide: an approver who is not
/// the requester.
async fn decidable(ctx: &Ctx, caller: &Caller, id: i64) -> anyhow::Result<ApprovalRow> {
    if caller.role < Role::Approver {
        return Err(Refused::Forbidden("only an approver decides approvals".into()).into());
    }
    let mut conn = ctx.store.conn().await?;
    let a = approvals::get(&mut conn, &caller.tenant, id)
        .await?
        .ok_or_else(|| Refused::NotFound(format!("no approval #{id}")))?;
    if a.state != "pending" {
        return Err(Refused::Conflict(format!(
            "approval #{id} was {} by {} already",
            a.state,
            a.decided_by.as_deref().unwrap_or("someone")
        ))
        .into());
    }
    if a.requested_by == caller.name {
        return Err(Refused::Forbidden(
            "four-eyes rule: a different approver must approve what you requested".into(),
        )
        .into());
    }
    Ok(a)
}

/// Approves for `caller` and carries out what was requested, against the calendar as it is
/// now. Decided first: of two approvers at the same moment, one wins and only one run happens;
/// if the action then fails, the approval is pending again.
pub async fn approve(
    ctx: &Ctx,
    caller: &Caller,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Impact> {
    let a = decidable(ctx, caller, id).await?;
    let action = Action::of_approval(&a)?;
    let mut conn = ctx.store.conn().await?;
    if !approvals::decide(&mut conn, id, "approved", &caller.name, now).await? {
        return Err(Refused::Conflict(format!("approval #{id} was decided meanwhile")).into());
    }
    let impact = match run(ctx, &action, &a.tenant_id, &a.requested_by, now, false).await {
        Ok(impact) => impact,
        Err(e) => {
            approvals::reopen(&mut conn, id).await?;
            return Err(e);
        }
    };
    approvals::set_outage(&mut conn, id, impact.id.or(action.outage())).await?;
    let entry = crate::store::audit::Entry {
        tenant: Some(&caller.tenant),
        actor: &caller.name,
        action: "approval.approve",
        subject: Some(format!("approval #{id}")),
        details: serde_json::json!({
            "requested_by": a.requested_by, "action": a.action, "outage": impact.id,
            "affected": impact.stats.affected,
        }),
    };
    crate::store::audit::append(&mut conn, &entry, now).await?;
    Ok(impact)
}

/// Rejects for `caller`: nothing is carried out.
pub async fn reject(
    ctx: &Ctx,
    caller: &Caller,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<ApprovalRow> {
    decidable(ctx, caller, id).await?;
    let mut conn = ctx.store.conn().await?;
    if !approvals::decide(&mut conn, id, "rejected", &caller.name, now).await? {
        return Err(Refused::Conflict(format!("approval #{id} was decided meanwhile")).into());
    }
    let a = approvals::get(&mut conn, &caller.tenant, id)
        .await?
        .ok_or_else(|| Refused::NotFound(format!("no approval #{id}")))?;
    let entry = crate::store::audit::Entry {
        tenant: Some(&caller.tenant),
        actor: &caller.name,
        action: "approval.reject",
        subject: Some(format!("approval #{id}")),
        details: serde_json::json!({ "requested_by": a.requested_by, "affected": a.affected }),
    };
    crate::store::audit::append(&mut conn, &entry, now).await?;
    Ok(a)
}
