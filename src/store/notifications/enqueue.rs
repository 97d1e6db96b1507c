//! Writing the outbox for the outage lifecycle: enqueueing (idempotent by its unique key) and
//! cancelling what a booking that left a run, a retraction or a revival no longer needs.

use crate::store::Millis;
use crate::store::{Conn, Params};
use chrono::{DateTime, Utc};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

/// A notification to enqueue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub tenant_id: String,
    pub outage_id: i64,
    pub booking_id: i64,
    pub channel: &'static str,
    pub kind: &'static str,
    pub role: &'static str,
    pub recipient: String,
    pub language: String,
    /// The stored text; `None` for an email written when it is sent (see [`super::outbox`]).
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Why a notification was cancelled when its booking left a run; only these come back when
/// the booking does.
pub const WITHDRAWN: &str = "booking no longer affected by this outage";

/// Why a notification that was in flight when its booking left the run was stopped: it may have
/// gone out, so its citizen gets the "appointment stands" message, and it is never revived.
pub const WITHDRAWN_IN_FLIGHT: &str = "booking no longer affected by this outage (was in flight)";

/// Enqueues notifications. The unique key (outage, booking, channel, kind) makes this idempotent:
/// a notification that exists is not duplicated. One that is still queued gets the fresh text,
/// recipient and deadline (the booking changed); one that failed is queued again when the
/// recipient changed (a corrected address); with `revive`, one cancelled because its booking
/// had left the run is queued again (the booking came back). Sent and expired ones are never
/// touched.
pub async fn enqueue_many(
    conn: &mut Conn,
    rows: &[NewNotification],
    revive: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    Enqueue::new(Params::new(conn), rows, revive, now)
        .write(conn)
        .await
}

/// The statements of an [`enqueue_many`], built before they are written: a declaration builds
/// those of its next slice while the database writes the slice before (binding the values of
/// 100,000 messages took a fifth of a declaration, its database waiting meanwhile).
pub struct Enqueue {
    statements: Vec<Query<'static, Any, AnyArguments>>,
}

impl Enqueue {
    /// The statements enqueueing `rows`, for the backend of `params`.
    pub(crate) fn new(
        params: Params,
        rows: &[NewNotification],
        revive: bool,
        now: DateTime<Utc>,
    ) -> Self {
        // What a statement's rows share is bound once: its rows are of one run.
        const COLS: usize = 11;
        let revive_clause = if revive {
            format!(
                " or (notifications.state = 'cancelled' and notifications.last_error = '{WITHDRAWN}')"
            )
        } else {
            String::new()
        };
        let statements = same_run_chunks(rows, 500)
            .map(|chunk| {
                let mut p = params.clone();
                let (tenant_p, outage_p, now_p) = (p.one(), p.one(), p.one());
                let values = p.rows(chunk.len(), COLS);
                // The row values are v.column1…; INSERT … SELECT needs its WHERE before ON
                // CONFLICT.
                let sql = format!(
                    "insert into notifications (tenant_id, outage_id, created_at, state, \
                     booking_id, channel, kind, role, recipient, language, subject, body_text, \
                     body_html, next_attempt_at, deadline) \
                     select {tenant_p}, {outage_p}, {now_p}, 'queued', v.column1, v.column2, \
                     v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, \
                     v.column9, v.column10, v.column11 from (values {values}) as v where true \
                     on conflict (outage_id, booking_id, channel, kind) do update set \
                     recipient = excluded.recipient, language = excluded.language, \
                     subject = excluded.subject, body_text = excluded.body_text, \
                     body_html = excluded.body_html, deadline = excluded.deadline, \
                     next_attempt_at = case when notifications.state = 'queued' \
                       and notifications.next_attempt_at < excluded.next_attempt_at \
                       then notifications.next_attempt_at else excluded.next_attempt_at end, \
                     role = excluded.role, \
                     attempts = case when notifications.state = 'failed' then 0 \
                       else notifications.attempts end, \
                     state = 'queued', last_error = null, finished_at = null \
                     where notifications.state = 'queued' \
                       or (notifications.state = 'failed' \
                           and notifications.recipient <> excluded.recipient){revive_clause}"
                );
                let mut q = sqlx::query(AssertSqlSafe(sql))
                    .bind(chunk[0].tenant_id.as_str())
                    .bind(chunk[0].outage_id)
                    .bind(Millis::of(now));
                for n in chunk {
                    q = q
                        .bind(n.booking_id)
                        .bind(n.channel)
                        .bind(n.kind)
                        .bind(n.role)
                        .bind(n.recipient.as_str())
                        .bind(n.language.as_str())
                        .bind(n.subject.as_deref())
                        .bind(n.body_text.as_deref())
                        .bind(n.body_html.as_deref())
                        .bind(Millis::of(n.next_attempt_at))
                        .bind(Millis::of(n.deadline));
                }
                q
            })
            .collect();
        Enqueue { statements }
    }

    /// Writes them.
    pub async fn write(self, conn: &mut Conn) -> sqlx::Result<()> {
        for q in self.statements {
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Consecutive rows of one tenant and run, at most `max` at a time.
fn same_run_chunks(
    rows: &[NewNotification],
    max: usize,
) -> impl Iterator<Item = &[NewNotification]> {
    rows.chunk_by(|a, b| a.tenant_id == b.tenant_id && a.outage_id == b.outage_id)
        .flat_map(move |run| run.chunks(max))
}

/// Cancels what is still queued or in flight for bookings that left a run.
pub async fn cancel_withdrawn(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut n = 0;
    for (state, reason) in [("queued", WITHDRAWN), ("sending", WITHDRAWN_IN_FLIGHT)] {
        n += cancel_for_bookings(conn, outage_id, booking_ids, state, None, reason, now).await?;
    }
    Ok(n)
}

/// Cancels a run's notifications in `state` (and of `kind`, if given) for these bookings.
#[allow(clippy::too_many_arguments)]
async fn cancel_for_bookings(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: &[i64],
    state: &str,
    kind: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut n = 0;
    for chunk in booking_ids.chunks(5000) {
        let mut p = Params::new(conn);
        let (reason_p, now_p, outage_p, state_p) = (p.one(), p.one(), p.one(), p.one());
        let kind_clause = kind
            .map(|_| format!(" and kind = {}", p.one()))
            .unwrap_or_default();
        let sql = format!(
            "update notifications set state = 'cancelled', last_error = {reason_p}, \
             finished_at = {now_p} where outage_id = {outage_p} and state = {state_p}{kind_clause} \
             and booking_id in ({})",
            p.list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(reason)
            .bind(Millis::of(now))
            .bind(outage_id)
            .bind(state);
        if let Some(kind) = kind {
            q = q.bind(kind);
        }
        for id in chunk {
            q = q.bind(*id);
        }
        n += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(n)
}

/// Cancels a booking's queued notifications on channels other than `keep` (its address for
/// that channel was removed).
pub async fn cancel_queued_channels_except(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    keep: &[&str],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut p = Params::new(conn);
    let (finished, outage, booking) = (p.one(), p.one(), p.one());
    let keep_clause = if keep.is_empty() {
        String::new()
    } else {
        format!(" and channel not in ({})", p.list(keep.len()))
    };
    let sql = format!(
        "update notifications set state = 'cancelled', finished_at = {finished}, \
         last_error = 'the booking no longer has an address for this channel' \
         where outage_id = {outage} and booking_id = {booking} and state = 'queued'{keep_clause}"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(Millis::of(now))
        .bind(outage_id)
        .bind(booking_id);
    for ch in keep {
        q = q.bind(*ch);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// Cancels every queued or in-flight notification of a kind in a run (the run was retracted).
/// One in flight that does go out is covered by the retraction queued for it; one whose process
/// died is never sent again.
pub async fn cancel_queued_of_outage(
    conn: &mut Conn,
    outage_id: i64,
    kind: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update notifications set state = 'cancelled', last_error = $3, finished_at = $4 \
         where outage_id = $1 and kind = $2 and state in ('queued', 'sending')",
    )
    .bind(outage_id)
    .bind(kind)
    .bind(reason)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Where a run's cancellations reached citizens — or may have, being in flight right now:
/// (booking id, channel, recipient), optionally only for some bookings. These are the citizens a
/// retraction must reach; one who in the end did not get the cancellation only hears that the
/// appointment stands, which is true.
pub async fn sent_cancellations(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: Option<&[i64]>,
) -> sqlx::Result<Vec<(i64, String, String)>> {
    let base = format!(
        "select booking_id, channel, recipient from notifications \
         where kind = 'cancellation' and (state in ('sent', 'sending') \
           or (state = 'cancelled' and last_error = '{WITHDRAWN_IN_FLIGHT}'))"
    );
    match booking_ids {
        None => {
            sqlx::query_as(AssertSqlSafe(format!(
                "{base} and outage_id = $1 order by booking_id, channel"
            )))
            .bind(outage_id)
            .fetch_all(&mut *conn)
            .await
        }
        Some(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(5000) {
                let mut p = Params::new(conn);
                let sql = format!(
                    "{base} and outage_id = {} and booking_id in ({}) \
                     order by booking_id, channel",
                    p.one(),
                    p.list(chunk.len())
                );
                let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(outage_id);
                for id in chunk {
                    q = q.bind(*id);
                }
                out.extend(q.fetch_all(&mut *conn).await?);
            }
            Ok(out)
        }
    }
}

/// Cancels a run's queued notifications of one kind for these bookings.
pub async fn cancel_queued_kind(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: &[i64],
    kind: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    cancel_for_bookings(
        conn,
        outage_id,
        booking_ids,
        "queued",
        Some(kind),
        reason,
        now,
    )
    .await
}

/// Bookings among `booking_ids` that another active run already cancels (a cancellation queued,
/// in flight or sent): a second declaration over them must not tell the citizens twice.
pub async fn already_cancelled_elsewhere(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    let mut out = Vec::new();
    // Usually the first declaration: no other active outage, nothing to look up per booking.
    let sql = format!(
        "select count(*) from outages where state = 'active' and id <> {}",
        Params::new(conn).one()
    );
    let others: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(outage_id)
        .fetch_one(&mut *conn)
        .await?;
    if others == 0 {
        return Ok(out);
    }
    for chunk in booking_ids.chunks(5000) {
        let mut p = Params::new(conn);
        let sql = format!(
            "select distinct n.booking_id from notifications n join outages o on o.id = n.outage_id \
             where o.state = 'active' and n.outage_id <> {} and n.kind = 'cancellation' \
             and n.state in ('queued', 'sending', 'sent') and n.booking_id in ({})",
            p.one(),
            p.list(chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(outage_id);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{NewNotification, enqueue_many};
    use crate::store::notifications::queued_notification;
    use chrono::Utc;

    /// The values a statement's rows share are bound once: rows of several runs in one call are
    /// each stored under their own tenant and run, none under a neighbour's.
    #[tokio::test]
    async fn rows_of_several_runs_are_each_stored_under_their_own() {
        let (_dir, store) =
            crate::store::notifications::store_with_runs(&[("a", 1), ("b", 2)]).await;
        let mut conn = store.conn().await.unwrap();
        let now = Utc::now();
        let row = |tenant: &str, run: i64, channel: &'static str| NewNotification {
            recipient: format!("{tenant}-{channel}"),
            ..queued_notification(tenant, run, channel, "cancellation", now)
        };
        // a, b, a: three statements, none of them mixing runs.
        let rows = [
            row("a", 1, "email"),
            row("b", 2, "email"),
            row("a", 1, "sms"),
        ];
        enqueue_many(&mut conn, &rows, false, now).await.unwrap();
        let stored: Vec<(String, i64, i64, String, String)> = sqlx::query_as(
            "select tenant_id, outage_id, booking_id, recipient, state from notifications \
             order by recipient",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let queued = |t: &str, run: i64, channel: &str| {
            (
                t.to_owned(),
                run,
                run,
                format!("{t}-{channel}"),
                "queued".to_owned(),
            )
        };
        assert_eq!(
            stored,
            [
                queued("a", 1, "email"),
                queued("a", 1, "sms"),
                queued("b", 2, "email")
            ]
        );
    }
}
