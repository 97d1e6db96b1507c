//! Delivery reports (SMS DLRs): recording them, and a failed delivery (a report, or a bounce
//! of an email) moving the citizen on.

use crate::domain::dlr;
use crate::store::Conn;
use crate::store::Millis;
use chrono::{DateTime, Utc};

/// Records a delivery report for an SMS, for the send `claim` (None: a URL from before claims
/// were signed, taken for the current send). The first final state of a send stays: a late
/// intermediate report is ignored, another final one is a conflict (see [`dlr::take`]).
pub async fn record_delivery(
    conn: &mut Conn,
    id: i64,
    claim: Option<i64>,
    state: &str,
    now: DateTime<Utc>,
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
    .bind(Millis::of(now))
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

/// The relay or gateway a notification was last sent through.
pub async fn destination_of(conn: &mut Conn, id: i64) -> sqlx::Result<Option<String>> {
    let row: Option<Option<String>> =
        sqlx::query_scalar("select destination from notifications where id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.flatten())
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

/// A message reported as not delivered (an SMS by its gateway, an email by its bounce) did not
/// inform its citizen: it says so in `last_error` (the call list shows it; for an email the
/// reason of its latest bounce), and if it was a cancellation of an outage still
/// active for the booking, a fallback on the other channel (waiting, or dropped because this SMS
/// had gone out) is queued now. Without one the citizen is on the call list. Returns how many
/// fallbacks were queued.
pub async fn delivery_failed(
    conn: &mut Conn,
    id: i64,
    delivery: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let row: Option<(i64, i64, String, String)> = sqlx::query_as(
        "select outage_id, booking_id, kind, channel from notifications where id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((outage_id, booking_id, kind, channel)) = row else {
        return Ok(0);
    };
    let reason = if channel == "email" {
        let bounced: Option<String> = sqlx::query_scalar(
            "select reason from returned_mail where notification_id = $1 and reason is not null              order by id desc limit 1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        bounced.unwrap_or_else(|| "the email came back as undeliverable".into())
    } else {
        format!("SMS not delivered (the gateway reported {delivery})")
    };
    sqlx::query("update notifications set last_error = $2 where id = $1")
        .bind(id)
        .bind(reason)
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
    .bind(Millis::of(now))
    .bind(id)
    .bind(NOT_NEEDED)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if revived > 0 {
        crate::store::notify_work(conn).await?;
    }
    Ok(revived)
}
