//! What staff do after a declaration, from the admin API or the web UI: send failed messages
//! again, cancel a queued one, note that a citizen of the call list was phoned. Each is
//! audited; refusals are [`Refused`] like the lifecycle's, so the edges answer them alike.

use crate::accounts::Caller;
use crate::ctx::Ctx;
use crate::lifecycle::Refused;
use crate::store::audit::{self, Entry};
use crate::store::queue_admin::{self, Failed};
use crate::store::{Conn, outages};
use chrono::{DateTime, Utc};

async fn audited(
    conn: &mut Conn,
    caller: &Caller,
    action: &str,
    subject: String,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let entry = Entry {
        tenant: Some(&caller.tenant),
        actor: &caller.name,
        action,
        subject: Some(subject),
        details,
    };
    audit::append(conn, &entry, now).await?;
    Ok(())
}

/// Why notification `id` could not be changed: it is not the caller's (not found), or its
/// state does not allow it (conflict).
async fn refusal(conn: &mut Conn, caller: &Caller, id: i64, what: &str) -> anyhow::Error {
    match queue_admin::state_of(conn, &caller.tenant, id).await {
        Ok(Some(s)) => Refused::Conflict(format!("notification #{id} is {s}: {what}")).into(),
        Ok(None) => Refused::NotFound(format!("no notification #{id}")).into(),
        Err(e) => e.into(),
    }
}

/// Sends one failed notification again with fresh attempts, unless its appointment has begun.
pub async fn retry(ctx: &Ctx, caller: &Caller, id: i64) -> anyhow::Result<()> {
    let now = ctx.now();
    let mut conn = ctx.store.conn().await?;
    if queue_admin::retry(&mut conn, &caller.tenant, Failed::One(id), now).await? == 0 {
        let why = "only a failed one whose appointment lies ahead can be retried";
        return Err(refusal(&mut conn, caller, id, why).await);
    }
    crate::store::notify_work(&mut conn).await?;
    let subject = format!("notification #{id}");
    let details = serde_json::json!({});
    audited(
        &mut conn,
        caller,
        "notification.retry",
        subject,
        details,
        now,
    )
    .await
}

/// Sends every failed notification of the caller's outage again; returns how many.
pub async fn retry_failed_of(ctx: &Ctx, caller: &Caller, outage: i64) -> anyhow::Result<u64> {
    let now = ctx.now();
    let mut conn = ctx.store.conn().await?;
    let all = Failed::OfOutage(outage);
    let n = queue_admin::retry(&mut conn, &caller.tenant, all, now).await?;
    crate::store::notify_work(&mut conn).await?;
    let subject = format!("outage #{outage}");
    let details = serde_json::json!({ "retried": n });
    audited(
        &mut conn,
        caller,
        "notification.retry",
        subject,
        details,
        now,
    )
    .await?;
    Ok(n)
}

/// Cancels a notification that has not gone out yet.
pub async fn cancel(ctx: &Ctx, caller: &Caller, id: i64) -> anyhow::Result<()> {
    let now = ctx.now();
    let mut conn = ctx.store.conn().await?;
    if !queue_admin::cancel(&mut conn, &caller.tenant, id, now).await? {
        let why = "only a queued one can be cancelled";
        return Err(refusal(&mut conn, caller, id, why).await);
    }
    let subject = format!("notification #{id}");
    let details = serde_json::json!({});
    audited(
        &mut conn,
        caller,
        "notification.cancel",
        subject,
        details,
        now,
    )
    .await
}

/// Notes that the caller phoned the citizen of `booking` about `outage` (the first call
/// counts and is audited); [`Refused::NotFound`] when the booking is not the outage's. A
/// citizen already phoned about a cancellation that no longer applies (the run was retracted
/// or left the booking) is noted as told that the appointment stands.
pub async fn mark_called(
    ctx: &Ctx,
    caller: &Caller,
    outage: i64,
    booking: i64,
) -> anyhow::Result<()> {
    let now = ctx.now();
    let mut conn = ctx.store.conn().await?;
    use crate::store::calls::{self, Call};
    let target = outages::target_states(&mut conn, outage, None)
        .await?
        .into_iter()
        .find(|(b, _)| *b == booking);
    let Some((_, target_state)) = target else {
        let why = format!("booking #{booking} does not belong to outage #{outage}");
        return Err(Refused::NotFound(why).into());
    };
    let retracted = crate::store::outages::get(&mut conn, outage)
        .await?
        .is_some_and(|o| o.state == crate::domain::outage::RunState::Retracted);
    let phoned = calls::of_outage(&mut conn, Call::Cancellation, outage, None)
        .await?
        .contains_key(&booking);
    let call = if phoned && (retracted || target_state != "affected") {
        Call::FollowUp
    } else {
        Call::Cancellation
    };
    if calls::mark(&mut conn, call, outage, booking, &caller.name, now).await? {
        let subject = format!("outage #{outage}");
        let task = match call {
            Call::Cancellation => "cancellation",
            Call::FollowUp => "appointment_stands",
        };
        let details = serde_json::json!({ "booking": booking, "task": task });
        audited(&mut conn, caller, "call.mark", subject, details, now).await?;
    }
    Ok(())
}

/// Mails `address` again in the tenant's outages, ending its suppression (a hard bounce or a
/// complaint put it there); audited with the address masked. Returns whether it was
/// suppressed.
pub async fn lift_suppression(
    ctx: &Ctx,
    tenant: &str,
    address: &str,
    by: &str,
) -> anyhow::Result<bool> {
    anyhow::ensure!(
        ctx.settings.tenant(tenant).is_some(),
        "no tenant {tenant:?} in the configuration"
    );
    let now = ctx.now();
    // One transaction: no lift without its audit entry.
    let mut tx = ctx.store.begin().await?;
    if !crate::store::returned::lift(&mut tx, tenant, address).await? {
        return Ok(false);
    }
    let masked = crate::domain::email::EmailAddress::parse(address)
        .map(|a| a.masked())
        .unwrap_or_else(|_| "(not an address)".into());
    let entry = Entry {
        tenant: Some(tenant),
        actor: by,
        action: "suppression.lift",
        subject: Some("suppressed address".into()),
        details: serde_json::json!({ "address": masked }),
    };
    audit::append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(true)
}
