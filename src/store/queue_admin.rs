//! The queue as operators see and steer it through the admin API: list notifications, retry a
//! failed one, cancel a queued one. Always within one tenant.

use super::{Conn, MaybeMillis, Millis, Params};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;

/// One notification, as an operator sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct QueuedRow {
    pub id: i64,
    pub outage_id: i64,
    pub booking_key: String,
    #[sqlx(try_from = "String")]
    pub channel: crate::domain::notification::Channel,
    #[sqlx(try_from = "String")]
    pub kind: crate::domain::notification::Kind,
    #[sqlx(try_from = "String")]
    pub role: crate::domain::notification::Role,
    pub recipient: String,
    #[sqlx(try_from = "String")]
    pub state: crate::domain::notification::State,
    pub attempts: i64,
    #[sqlx(try_from = "Millis")]
    pub next_attempt_at: DateTime<Utc>,
    #[sqlx(try_from = "Millis")]
    pub deadline: DateTime<Utc>,
    pub destination: Option<String>,
    pub last_error: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// Which notifications to list.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub state: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub outage_id: Option<i64>,
    pub limit: i64,
}

/// A tenant's notifications, earliest appointment first.
pub async fn list(conn: &mut Conn, tenant: &str, f: &Filter<'_>) -> sqlx::Result<Vec<QueuedRow>> {
    let mut p = Params::new(conn);
    let mut sql = format!(
        "select n.id, n.outage_id, b.booking_key, n.channel, n.kind, n.role, n.recipient, \
         n.state, n.attempts, n.next_attempt_at, n.deadline, n.destination, n.last_error, \
         n.sent_at from notifications n join bookings b on b.id = n.booking_id \
         where n.tenant_id = {}",
        p.one()
    );
    if f.state.is_some() {
        sql.push_str(&format!(" and n.state = {}", p.one()));
    }
    if f.channel.is_some() {
        sql.push_str(&format!(" and n.channel = {}", p.one()));
    }
    if f.outage_id.is_some() {
        sql.push_str(&format!(" and n.outage_id = {}", p.one()));
    }
    sql.push_str(&format!(" order by n.deadline, n.id limit {}", p.one()));
    let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(tenant);
    if let Some(s) = f.state {
        q = q.bind(s);
    }
    if let Some(c) = f.channel {
        q = q.bind(c);
    }
    if let Some(o) = f.outage_id {
        q = q.bind(o);
    }
    q.bind(f.limit).fetch_all(&mut *conn).await
}

/// Which failed notifications to send again.
#[derive(Debug, Clone, Copy)]
pub enum Failed {
    /// This one.
    One(i64),
    /// Every failed one of this run.
    OfOutage(i64),
}

/// Sends failed notifications again, with fresh attempts, unless their appointment has begun.
/// Returns how many were queued again.
pub async fn retry(
    conn: &mut Conn,
    tenant: &str,
    which: Failed,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let (column, id) = match which {
        Failed::One(id) => ("id", id),
        Failed::OfOutage(id) => ("outage_id", id),
    };
    let r = sqlx::query(AssertSqlSafe(format!(
        "update notifications set state = 'queued', attempts = 0, next_attempt_at = $3, \
         finished_at = null where {column} = $1 and tenant_id = $2 and state = 'failed' \
         and deadline > $3"
    )))
    .bind(id)
    .bind(tenant)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Cancels a notification that has not gone out yet (queued, not in flight). Returns whether
/// it was cancelled.
pub async fn cancel(
    conn: &mut Conn,
    tenant: &str,
    id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "update notifications set state = 'cancelled', finished_at = $3, \
         last_error = 'cancelled by an operator' \
         where id = $1 and tenant_id = $2 and state = 'queued'",
    )
    .bind(id)
    .bind(tenant)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The state of one of a tenant's notifications (None: not the tenant's, or none).
pub async fn state_of(conn: &mut Conn, tenant: &str, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select state from notifications where id = $1 and tenant_id = $2")
        .bind(id)
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
}
