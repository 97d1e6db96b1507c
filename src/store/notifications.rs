//! The outbox: enqueueing (idempotent by its unique key), claiming with a lease, recording
//! outcomes, expiry, and the read models for status, reports and call lists.

use super::{Backend, Conn, Params};
use crate::domain::dlr;
use serde::Serialize;
use sqlx::AssertSqlSafe;

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
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub next_attempt_at: i64,
    pub deadline: i64,
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
    now_ms: i64,
) -> sqlx::Result<()> {
    const COLS: usize = 15;
    for chunk in rows.chunks(500) {
        let values = Params::new(conn).rows(chunk.len(), COLS);
        let revive_clause = if revive {
            format!(
                " or (notifications.state = 'cancelled' and notifications.last_error = '{WITHDRAWN}')"
            )
        } else {
            String::new()
        };
        let sql = format!(
            "insert into notifications (tenant_id, outage_id, booking_id, channel, kind, role, \
             recipient, language, subject, body_text, body_html, next_attempt_at, deadline, \
             created_at, state) values {values} \
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
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for n in chunk {
            q = q
                .bind(n.tenant_id.as_str())
                .bind(n.outage_id)
                .bind(n.booking_id)
                .bind(n.channel)
                .bind(n.kind)
                .bind(n.role)
                .bind(n.recipient.as_str())
                .bind(n.language.as_str())
                .bind(n.subject.as_deref())
                .bind(n.body_text.as_str())
                .bind(n.body_html.as_deref())
                .bind(n.next_attempt_at)
                .bind(n.deadline)
                .bind(now_ms)
                .bind("queued");
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Cancels what is still queued or in flight for bookings that left a run.
pub async fn cancel_withdrawn(
    conn: &mut Conn,
    outage_id: i64,
    booking_ids: &[i64],
    now_ms: i64,
) -> sqlx::Result<u64> {
    let mut n = 0;
    for (state, reason) in [("queued", WITHDRAWN), ("sending", WITHDRAWN_IN_FLIGHT)] {
        n += cancel_for_bookings(conn, outage_id, booking_ids, state, None, reason, now_ms).await?;
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
    now_ms: i64,
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
            .bind(now_ms)
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
    now_ms: i64,
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
        .bind(now_ms)
        .bind(outage_id)
        .bind(booking_id);
    for ch in keep {
        q = q.bind(*ch);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// A claimed notification, ready to send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub tenant_id: String,
    pub outage_id: i64,
    pub booking_id: i64,
    pub channel: String,
    pub kind: String,
    pub role: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attempts: i64,
    pub deadline: i64,
    /// How often it was claimed, this claim included (signed into delivery-report URLs).
    pub claims: i64,
}

/// Claims up to `limit` due notifications of one channel, earliest appointment first, for
/// `owner` until `lease_until`. Due means queued and scheduled, or claimed by a process whose
/// lease ran out (it crashed). Nothing whose appointment has started is claimed. Each claim
/// counts up `claims` and forgets delivery reports of earlier sends.
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    channel: &str,
    owner: &str,
    now_ms: i64,
    lease_until: i64,
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " for update skip locked",
    };
    let sql = format!(
        "update notifications set state = 'sending', lease_owner = $1, lease_until = $2, \
         claims = claims + 1, delivery_state = null, delivery_at = null \
         where id in (select id from notifications \
           where channel = $3 and deadline > $4 and state in ('queued', 'sending') \
             and ((state = 'queued' and next_attempt_at <= $4) \
               or (state = 'sending' and lease_until <= $4)) \
           order by deadline, id limit $5{lock}) \
         returning id, tenant_id, outage_id, booking_id, channel, kind, role, recipient, \
           subject, body_text, body_html, attempts, deadline, claims"
    );
    let mut rows: Vec<Claimed> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(owner)
        .bind(lease_until)
        .bind(channel)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.sort_by_key(|c| (c.deadline, c.id));
    Ok(rows)
}

/// Whether any open notification of the channel has reached its deadline (a cheap read).
pub async fn any_overdue(conn: &mut Conn, channel: &str, now_ms: i64) -> sqlx::Result<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "select id from notifications where state in ('queued', 'sending') and channel = $1 \
         and deadline <= $2 limit 1",
    )
    .bind(channel)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(hit.is_some())
}

/// Expires every notification of the channel whose appointment has started and that was not
/// sent: queued ones, and claimed ones whose lease ran out (their process died).
pub async fn expire_due(conn: &mut Conn, channel: &str, now_ms: i64) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update notifications set state = 'expired', finished_at = $1, \
         last_error = coalesce(last_error, 'not sent before the appointment started') \
         where state in ('queued', 'sending') and channel = $2 and deadline <= $1 \
         and (state = 'queued' or lease_until <= $1)",
    )
    .bind(now_ms)
    .bind(channel)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Records a successful send (and the Message-ID it carried, for email). Also over `expired`:
/// a send whose record was held up (the database refused writes) until its lease ran out and
/// its appointment began did go out, before the appointment. Returns whether the row was
/// updated, and the delivery report that came in before this record (an SMS gateway may
/// report faster than the dispatcher records).
pub async fn mark_sent(
    conn: &mut Conn,
    id: i64,
    destination: &str,
    provider_id: Option<&str>,
    message_id: Option<&str>,
    now_ms: i64,
) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar(
        "update notifications set state = 'sent', destination = $2, provider_id = $3, \
         message_id = $4, sent_at = $5, finished_at = $5, attempts = attempts + 1, \
         lease_owner = null, lease_until = null where id = $1 and state in ('sending', 'expired') \
         returning delivery_state",
    )
    .bind(id)
    .bind(destination)
    .bind(provider_id)
    .bind(message_id)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await
}

/// Puts a notification back in the queue for a later attempt — unless this process lost its
/// lease meanwhile (another process owns the notification now).
pub async fn mark_retry(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    attempts: i64,
    at_ms: i64,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = 'queued', attempts = $3, next_attempt_at = $4, \
         last_error = $5, lease_owner = null, lease_until = null \
         where id = $1 and state = 'sending' and lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(attempts)
    .bind(at_ms)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How a notification ends unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Failed,
    Expired,
}

impl Final {
    pub fn as_str(self) -> &'static str {
        match self {
            Final::Failed => "failed",
            Final::Expired => "expired",
        }
    }
}

/// Ends a notification unsent (same lease rule as [`mark_retry`]).
pub async fn mark_final(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    state: Final,
    attempts: i64,
    reason: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = $3, attempts = $4, last_error = $5, finished_at = $6, \
         lease_owner = null, lease_until = null \
         where id = $1 and state = 'sending' and lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(state.as_str())
    .bind(attempts)
    .bind(reason)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The primary went out: its waiting fallback on the other channel is no longer needed.
pub async fn cancel_fallbacks(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    kind: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = 'cancelled', finished_at = $4, \
         last_error = $5 \
         where outage_id = $1 and booking_id = $2 and kind = $3 and role = 'fallback' \
         and state = 'queued'",
    )
    .bind(outage_id)
    .bind(booking_id)
    .bind(kind)
    .bind(now_ms)
    .bind(NOT_NEEDED)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The primary failed for good or could not be sent: its fallback goes now.
pub async fn release_fallbacks(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    kind: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set next_attempt_at = $4 \
         where outage_id = $1 and booking_id = $2 and kind = $3 and role = 'fallback' \
         and state = 'queued' and next_attempt_at > $4",
    )
    .bind(outage_id)
    .bind(booking_id)
    .bind(kind)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When the channel's next queued notification falls due (to sleep until then).
pub async fn next_due(conn: &mut Conn, channel: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "select min(next_attempt_at) from notifications where state = 'queued' and channel = $1",
    )
    .bind(channel)
    .fetch_one(&mut *conn)
    .await
}

/// How many notifications of the channel are not yet final (queued or in flight).
pub async fn count_pending(conn: &mut Conn, channel: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from notifications where state in ('queued', 'sending') and channel = $1",
    )
    .bind(channel)
    .fetch_one(&mut *conn)
    .await
}

/// Queue depth per state and channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct QueueCount {
    pub state: String,
    pub channel: String,
    pub count: i64,
}

pub async fn counts(conn: &mut Conn, outage_id: Option<i64>) -> sqlx::Result<Vec<QueueCount>> {
    match outage_id {
        Some(id) => {
            sqlx::query_as(
                "select state, channel, count(*) as count from notifications where outage_id = $1 \
             group by state, channel order by channel, state",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
        }
        None => {
            sqlx::query_as(
                "select state, channel, count(*) as count from notifications \
             group by state, channel order by channel, state",
            )
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// Queue depth per state and channel of one tenant.
pub async fn counts_of_tenant(conn: &mut Conn, tenant: &str) -> sqlx::Result<Vec<QueueCount>> {
    sqlx::query_as(
        "select state, channel, count(*) as count from notifications where tenant_id = $1 \
         group by state, channel order by channel, state",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await
}

/// One notification of a run, for reports.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReportNotification {
    pub id: i64,
    pub booking_id: i64,
    pub kind: String,
    pub channel: String,
    pub role: String,
    pub state: String,
    pub attempts: i64,
    pub destination: Option<String>,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub language: String,
    /// What the SMS gateway last reported (delivered, undelivered, buffered, …).
    pub delivery_state: Option<String>,
    pub finished_at: Option<i64>,
    pub delivery_at: Option<i64>,
}

pub async fn of_outage(conn: &mut Conn, outage_id: i64) -> sqlx::Result<Vec<ReportNotification>> {
    sqlx::query_as(
        "select id, booking_id, kind, channel, role, state, attempts, destination, sent_at, \
         last_error, language, delivery_state, finished_at, delivery_at from notifications \
         where outage_id = $1 \
         order by booking_id, id",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// Notifications queued for a run per channel and language, for the impact of a declaration.
pub async fn breakdown(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "select channel, language, count(*) from notifications where outage_id = $1 \
         group by channel, language",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// The latest notification of a run per kind and channel: (kind, channel, language, subject,
/// text) — after an amendment or retraction, the "appointment stands" text is among them.
pub async fn samples(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, String, Option<String>, String)>> {
    sqlx::query_as(
        "select kind, channel, language, subject, body_text from notifications \
         where id in (select max(id) from notifications where outage_id = $1 \
           group by kind, channel) \
         order by kind, channel",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// Cancels every queued or in-flight notification of a kind in a run (the run was retracted).
/// One in flight that does go out is covered by the retraction queued for it; one whose process
/// died is never sent again.
pub async fn cancel_queued_of_outage(
    conn: &mut Conn,
    outage_id: i64,
    kind: &str,
    reason: &str,
    now_ms: i64,
) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update notifications set state = 'cancelled', last_error = $3, finished_at = $4 \
         where outage_id = $1 and kind = $2 and state in ('queued', 'sending')",
    )
    .bind(outage_id)
    .bind(kind)
    .bind(reason)
    .bind(now_ms)
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
    now_ms: i64,
) -> sqlx::Result<u64> {
    cancel_for_bookings(
        conn,
        outage_id,
        booking_ids,
        "queued",
        Some(kind),
        reason,
        now_ms,
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

/// When a run's first message went out.
pub async fn first_sent_at(conn: &mut Conn, outage_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("select min(sent_at) from notifications where outage_id = $1")
        .bind(outage_id)
        .fetch_one(&mut *conn)
        .await
}

/// The texts of a run's SMS that are or were to be sent: (language, recipient, text), for
/// segment counts and destination countries.
pub async fn sms_texts(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, String)>> {
    sqlx::query_as(
        "select language, recipient, body_text from notifications where outage_id = $1 \
         and channel = 'sms' and state <> 'cancelled'",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// Records a delivery report for an SMS, for the send `claim` (None: a URL from before claims
/// were signed, taken for the current send). The first final state of a send stays: a late
/// intermediate report is ignored, another final one is a conflict (see [`dlr::take`]).
pub async fn record_delivery(
    conn: &mut Conn,
    id: i64,
    claim: Option<i64>,
    state: &str,
    now_ms: i64,
) -> sqlx::Result<Delivery> {
    let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
        "select state, delivery_state, claims from notifications where id = $1 and channel = 'sms'",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((sending_state, before, claims)) = row else {
        return Ok(Delivery::Gone);
    };
    if claim.is_some_and(|c| c != claims) {
        return Ok(Delivery::EarlierSend);
    }
    match dlr::take(before.as_deref(), state) {
        dlr::Take::Record => {}
        dlr::Take::Keep => return Ok(Delivery::Kept(before.unwrap_or_default())),
        dlr::Take::Conflict => return Ok(Delivery::Conflict(before.unwrap_or_default())),
    }
    // The same rule once more in the statement, against a report that came in meanwhile.
    let updated = sqlx::query(
        "update notifications set delivery_state = $2, delivery_at = $3 \
         where id = $1 and claims = $4 \
         and (delivery_state is null or delivery_state not in ('delivered', 'undelivered', 'rejected'))",
    )
    .bind(id)
    .bind(state)
    .bind(now_ms)
    .bind(claims)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(Delivery::Kept(before.unwrap_or_default()));
    }
    Ok(Delivery::Recorded {
        sent: sending_state == "sent",
    })
}

/// What became of a delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Taken; `sent` when the send is already recorded (else the dispatcher acts on a failure
    /// report when it records the send).
    Recorded { sent: bool },
    /// Not taken: the final state (or a later one) stays.
    Kept(String),
    /// Refused: another final state is recorded for this send.
    Conflict(String),
    /// For an earlier send of the notification: ignored.
    EarlierSend,
    /// No such SMS (purged by retention).
    Gone,
}

/// Why a notification that reached the citizen made its fallback unneeded; only such fallbacks
/// come back when the message turns out not to have arrived.
pub const NOT_NEEDED: &str = "not needed: the other channel reached the citizen";

/// An SMS the gateway reports as not delivered did not inform its citizen: it says so in
/// `last_error` (the call list shows it), and if it was a cancellation of an outage still
/// active for the booking, a fallback on the other channel (waiting, or dropped because this SMS
/// had gone out) is queued now. Without one the citizen is on the call list. Returns how many
/// fallbacks were queued.
pub async fn delivery_failed(
    conn: &mut Conn,
    id: i64,
    delivery: &str,
    now_ms: i64,
) -> sqlx::Result<u64> {
    let row: Option<(i64, i64, String)> =
        sqlx::query_as("select outage_id, booking_id, kind from notifications where id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((outage_id, booking_id, kind)) = row else {
        return Ok(0);
    };
    sqlx::query("update notifications set last_error = $2 where id = $1")
        .bind(id)
        .bind(format!(
            "SMS not delivered (the gateway reported {delivery})"
        ))
        .execute(&mut *conn)
        .await?;
    let revived = sqlx::query(
        "update notifications set state = 'queued', next_attempt_at = $4, last_error = null, \
         finished_at = null \
         where outage_id = $1 and booking_id = $2 and kind = $3 and id <> $5 \
         and role = 'fallback' and deadline > $4 \
         and (state = 'queued' or (state = 'cancelled' and last_error = $6)) \
         and kind = 'cancellation' \
         and exists (select 1 from outages o join targets t on t.outage_id = o.id \
           where o.id = $1 and o.state = 'active' and t.booking_id = $2 and t.state = 'affected')",
    )
    .bind(outage_id)
    .bind(booking_id)
    .bind(&kind)
    .bind(now_ms)
    .bind(id)
    .bind(NOT_NEEDED)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if revived > 0 {
        super::notify_work(conn).await?;
    }
    Ok(revived)
}

/// How messages ended, per channel and destination: final states, and SMS delivery reports
/// (as `delivery:STATE`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Outcome {
    pub channel: String,
    pub destination: Option<String>,
    pub outcome: String,
    pub count: i64,
}

pub async fn outcomes(conn: &mut Conn) -> sqlx::Result<Vec<Outcome>> {
    sqlx::query_as(
        "select channel, destination, state as outcome, count(*) as count from notifications \
         where state in ('sent', 'failed', 'expired', 'cancelled') \
         group by channel, destination, state \
         union all \
         select channel, destination, 'delivery:' || delivery_state as outcome, count(*) as count \
         from notifications where delivery_state is not null \
         group by channel, destination, delivery_state \
         order by 1, 2, 3",
    )
    .fetch_all(&mut *conn)
    .await
}
