//! Who on a call list has been phoned.

use super::{Conn, Millis};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Records that `by` phoned the citizen of `booking_id` about `outage_id` (the first call
/// counts). Returns whether this was the first.
pub async fn mark(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "insert into calls (outage_id, booking_id, called_by, called_at) values ($1, $2, $3, $4) \
         on conflict (outage_id, booking_id) do nothing",
    )
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
    outage_id: i64,
) -> sqlx::Result<HashMap<i64, (String, DateTime<Utc>)>> {
    let rows: Vec<(i64, String, i64)> =
        sqlx::query_as("select booking_id, called_by, called_at from calls where outage_id = $1")
            .bind(outage_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(b, by, at)| (b, (by, crate::domain::from_millis(at))))
        .collect())
}
