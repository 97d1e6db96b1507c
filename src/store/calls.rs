//! Who on a call list has been phoned: about the cancellation (`calls`), and again once the
//! cancellation no longer applied (`follow_up_calls`).

use super::{Conn, Millis};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Which call: about the cancellation, or the one telling that it no longer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Cancellation,
    FollowUp,
}

impl Call {
    fn table(self) -> &'static str {
        match self {
            Call::Cancellation => "calls",
            Call::FollowUp => "follow_up_calls",
        }
    }
}

/// Records that `by` phoned the citizen of `booking_id` about `outage_id` (the first call
/// counts). Returns whether this was the first.
pub async fn mark(
    conn: &mut Conn,
    call: Call,
    outage_id: i64,
    booking_id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "insert into {} (outage_id, booking_id, called_by, called_at) values ($1, $2, $3, $4) \
         on conflict (outage_id, booking_id) do nothing",
        call.table()
    )))
    .bind(outage_id)
    .bind(booking_id)
    .bind(by)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Booking id → (who called, when) for one run.
pub async fn of_outage(
    conn: &mut Conn,
    call: Call,
    outage_id: i64,
    only: Option<i64>,
) -> sqlx::Result<HashMap<i64, (String, DateTime<Utc>)>> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select booking_id, called_by, called_at from {} where outage_id = $1{}",
        call.table(),
        super::outages::only_booking(only, "booking_id")
    )))
    .bind(outage_id)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(b, by, at)| (b, (by, crate::domain::from_millis(at))))
        .collect())
}
