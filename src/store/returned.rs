//! Returned mail (bounces, complaints, auto-replies, and what nobody could read) and the
//! addresses a tenant no longer mails.

use super::{Conn, Millis};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// A returned message as absage keeps it.
#[derive(Debug, Clone)]
pub struct NewReturned<'a> {
    pub via: &'a str,
    pub notification_id: Option<i64>,
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    pub status: Option<&'a str>,
    pub diagnostic: Option<&'a str>,
    /// For the office: what it means for the citizen.
    pub reason: Option<&'a str>,
    pub size: usize,
    /// Only when a person must read the message.
    pub raw: Option<&'a [u8]>,
}

pub async fn record(conn: &mut Conn, r: &NewReturned<'_>, now: DateTime<Utc>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into returned_mail (received_at, via, notification_id, tenant_id, kind, status, \
         diagnostic, reason, size, raw) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         returning id",
    )
    .bind(Millis::of(now))
    .bind(r.via)
    .bind(r.notification_id)
    .bind(r.tenant_id)
    .bind(r.kind)
    .bind(r.status)
    .bind(r.diagnostic)
    .bind(r.reason)
    .bind(r.size as i64)
    .bind(r.raw)
    .fetch_one(&mut *conn)
    .await
}

/// The email a return path names: its tenant and recipient, and whether it is recorded as
/// sent. None when there is no such email (or its contact data was purged).
pub async fn email(conn: &mut Conn, id: i64) -> sqlx::Result<Option<ReturnedEmail>> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "select tenant_id, recipient, state from notifications \
         where id = $1 and channel = 'email' and recipient <> ''",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(tenant_id, recipient, state)| ReturnedEmail {
        tenant_id,
        recipient,
        sent: state == "sent",
    }))
}

#[derive(Debug, Clone)]
pub struct ReturnedEmail {
    pub tenant_id: String,
    pub recipient: String,
    /// Recorded as sent; one still `sending` takes a failure when the send is recorded.
    pub sent: bool,
}

/// Records what a returned message says about an email as its delivery state (`bounced`,
/// `complained`, `delayed`, `delivered`). A final state (`bounced`, `complained`) stays.
/// Returns whether it was recorded.
pub async fn record_delivery(
    conn: &mut Conn,
    id: i64,
    state: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "update notifications set delivery_state = $2, delivery_at = $3 \
         where id = $1 and channel = 'email' and state in ('sending', 'sent') \
         and (delivery_state is null or delivery_state not in ('bounced', 'complained'))",
    )
    .bind(id)
    .bind(state)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Stops mailing `address` in the tenant's later outages (the first reason stays).
pub async fn suppress(
    conn: &mut Conn,
    tenant: &str,
    address: &str,
    kind: &str,
    reason: &str,
    notification_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "insert into suppressed_addresses (tenant_id, address, kind, reason, since, \
         notification_id) values ($1, $2, $3, $4, $5, $6) \
         on conflict (tenant_id, address) do nothing",
    )
    .bind(tenant)
    .bind(address.trim().to_lowercase())
    .bind(kind)
    .bind(reason)
    .bind(Millis::of(now))
    .bind(notification_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Mails `address` again in the tenant's outages. Returns whether it was suppressed.
pub async fn lift(conn: &mut Conn, tenant: &str, address: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("delete from suppressed_addresses where tenant_id = $1 and address = $2")
        .bind(tenant)
        .bind(address.trim().to_lowercase())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The tenant's suppressed addresses, lower-cased.
pub async fn suppressed(conn: &mut Conn, tenant: &str) -> sqlx::Result<HashSet<String>> {
    let rows: Vec<String> =
        sqlx::query_scalar("select address from suppressed_addresses where tenant_id = $1")
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// A suppressed address and why.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Suppressed {
    pub tenant_id: String,
    pub address: String,
    pub kind: String,
    pub reason: String,
    #[sqlx(try_from = "Millis")]
    pub since: DateTime<Utc>,
    pub notification_id: Option<i64>,
}

pub async fn suppressions(conn: &mut Conn, tenant: Option<&str>) -> sqlx::Result<Vec<Suppressed>> {
    sqlx::query_as(
        "select tenant_id, address, kind, reason, since, notification_id \
         from suppressed_addresses where ($1 is null or tenant_id = $1) \
         order by since desc, address",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await
}

/// A returned message as listed for people.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Returned {
    pub id: i64,
    #[sqlx(try_from = "Millis")]
    pub received_at: DateTime<Utc>,
    pub via: String,
    pub notification_id: Option<i64>,
    pub tenant_id: Option<String>,
    pub kind: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    pub reason: Option<String>,
    pub size: i64,
}

/// The latest returned messages, of one tenant (None: all, including those no tenant's).
pub async fn latest(
    conn: &mut Conn,
    tenant: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Returned>> {
    sqlx::query_as(
        "select id, received_at, via, notification_id, tenant_id, kind, status, diagnostic, \
         reason, size from returned_mail where ($1 is null or tenant_id = $1) \
         order by id desc limit $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The returned mail about a run's messages.
pub async fn of_outage(
    conn: &mut Conn,
    outage_id: i64,
    only: Option<i64>,
) -> sqlx::Result<Vec<Returned>> {
    let condition = super::outages::only_booking(only, "n.booking_id");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select r.id, r.received_at, r.via, r.notification_id, r.tenant_id, r.kind, r.status, \
         r.diagnostic, r.reason, r.size from returned_mail r \
         join notifications n on n.id = r.notification_id where n.outage_id = $1{condition} \
         order by r.id"
    )))
    .bind(outage_id)
    .bind(only)
    .fetch_all(&mut *conn)
    .await
}
