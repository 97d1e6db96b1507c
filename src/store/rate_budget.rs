//! The send budget of a rate-limited destination, shared by every instance (`rate_budget`): one
//! row per destination holds the instant from which its next send slot is free. Reserving moves
//! it forward in one statement of its own, so instances take turns without a transaction held
//! open and whatever their number.

use super::Conn;

/// Reserves `span_us` microseconds of send slots for `destination`: from `now_us` or, when
/// reservations reach further, from where the last one ends. Returns where this one ends (it
/// starts `span_us` earlier). Time not reserved while the destination is idle is lost, never
/// saved up for a burst.
pub async fn reserve(
    conn: &mut Conn,
    destination: &str,
    now_us: i64,
    span_us: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into rate_budget (destination, next_free_us) values ($1, $2 + $3) \
         on conflict (destination) do update set next_free_us = \
         (case when rate_budget.next_free_us > $2 then rate_budget.next_free_us else $2 end) + $3 \
         returning next_free_us",
    )
    .bind(destination)
    .bind(now_us)
    .bind(span_us)
    .fetch_one(&mut *conn)
    .await
}
