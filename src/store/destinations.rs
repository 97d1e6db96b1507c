//! Health of relays and gateways, persisted so that `absage status` and other processes see it.

use super::{Conn, MaybeMillis, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DestinationRow {
    pub name: String,
    pub channel: String,
    pub state: String,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub down_since: Option<DateTime<Utc>>,
    #[sqlx(try_from = "MaybeMillis")]
    pub next_probe_at: Option<DateTime<Utc>>,
    /// How long one send takes once a connection is free (a moving average), in microseconds;
    /// None before the first success.
    pub send_micros: Option<i64>,
    #[sqlx(try_from = "Millis")]
    pub updated_at: DateTime<Utc>,
}

pub async fn save(conn: &mut Conn, d: &DestinationRow) -> sqlx::Result<()> {
    sqlx::query(
        "insert into destinations (name, channel, state, consecutive_failures, last_error, \
         down_since, next_probe_at, send_micros, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         on conflict (name) do update set channel = excluded.channel, state = excluded.state, \
         consecutive_failures = excluded.consecutive_failures, last_error = excluded.last_error, \
         down_since = excluded.down_since, next_probe_at = excluded.next_probe_at, \
         send_micros = coalesce(excluded.send_micros, destinations.send_micros), \
         updated_at = excluded.updated_at",
    )
    .bind(&d.name)
    .bind(&d.channel)
    .bind(&d.state)
    .bind(d.consecutive_failures)
    .bind(d.last_error.as_deref())
    .bind(d.down_since.map(Millis::of))
    .bind(d.next_probe_at.map(Millis::of))
    .bind(d.send_micros)
    .bind(Millis::of(d.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn all(conn: &mut Conn) -> sqlx::Result<Vec<DestinationRow>> {
    sqlx::query_as(
        "select name, channel, state, consecutive_failures, last_error, down_since, \
         next_probe_at, send_micros, updated_at from destinations order by channel, name",
    )
    .fetch_all(&mut *conn)
    .await
}
