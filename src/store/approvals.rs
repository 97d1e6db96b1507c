//! Declarations that wait for the four-eyes rule.

use super::{Conn, MaybeMillis, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: i64,
    pub tenant_id: String,
    pub kind: String,
    /// What waits: `declare`, `amend`, `retract` or `confirm_removals`.
    pub action: String,
    /// The request as it was made (JSON), carried out as such once approved.
    pub request_json: String,
    pub affected: i64,
    pub reason: String,
    pub requested_by: String,
    #[sqlx(try_from = "Millis")]
    pub requested_at: DateTime<Utc>,
    pub state: String,
    pub decided_by: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub decided_at: Option<DateTime<Utc>>,
    pub outage_id: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, kind, action, request_json, affected, reason, requested_by, \
     requested_at, state, decided_by, decided_at, outage_id";

pub struct NewApproval<'a> {
    pub tenant: &'a str,
    pub kind: &'a str,
    pub action: &'a str,
    pub request_json: String,
    pub affected: i64,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

pub async fn insert(conn: &mut Conn, a: &NewApproval<'_>, now: DateTime<Utc>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into approvals (tenant_id, kind, action, request_json, affected, reason, \
         requested_by, requested_at, state) values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') \
         returning id",
    )
    .bind(a.tenant)
    .bind(a.kind)
    .bind(a.action)
    .bind(&a.request_json)
    .bind(a.affected)
    .bind(a.reason)
    .bind(a.requested_by)
    .bind(Millis::of(now))
    .fetch_one(&mut *conn)
    .await
}

/// One approval of a tenant (None for another tenant's: it does not exist for the caller).
pub async fn get(conn: &mut Conn, tenant: &str, id: i64) -> sqlx::Result<Option<ApprovalRow>> {
    let sql = format!("select {COLUMNS} from approvals where id = $1 and tenant_id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
}

/// A tenant's approvals, the pending ones first, newest first.
pub async fn list(conn: &mut Conn, tenant: &str) -> sqlx::Result<Vec<ApprovalRow>> {
    let sql = format!(
        "select {COLUMNS} from approvals where tenant_id = $1 \
         order by case when state = 'pending' then 0 else 1 end, id desc"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await
}

/// Puts an approval back to pending (its declaration failed after the decision).
pub async fn reopen(conn: &mut Conn, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "update approvals set state = 'pending', decided_by = null, decided_at = null \
         where id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Links an approved request to the run it declared.
pub async fn set_outage(conn: &mut Conn, id: i64, outage_id: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("update approvals set outage_id = $2 where id = $1")
        .bind(id)
        .bind(outage_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records the decision on a pending approval. Returns false when it was no longer pending
/// (decided meanwhile by someone else).
pub async fn decide(
    conn: &mut Conn,
    id: i64,
    state: &str,
    by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "update approvals set state = $2, decided_by = $3, decided_at = $4 \
         where id = $1 and state = 'pending'",
    )
    .bind(id)
    .bind(state)
    .bind(by)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Notes what `account` did alone (without approval) and returns its id, to take it back if
/// the action does not happen after all.
pub async fn note_alone(
    conn: &mut Conn,
    tenant: &str,
    account: &str,
    action: &str,
    bookings: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into four_eyes_ledger (tenant_id, account, action, bookings, at) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(tenant)
    .bind(account)
    .bind(action)
    .bind(bookings)
    .bind(Millis::of(now))
    .fetch_one(&mut *conn)
    .await
}

/// Takes back a note of [`note_alone`]: the action waits for approval or failed.
pub async fn unnote_alone(conn: &mut Conn, id: i64) -> sqlx::Result<()> {
    sqlx::query("delete from four_eyes_ledger where id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The bookings `account` changed alone in the tenant since `since_ms`, noted ones included.
pub async fn alone_since(
    conn: &mut Conn,
    tenant: &str,
    account: &str,
    since_ms: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let sum: Option<i64> = sqlx::query_scalar(
        "select cast(sum(bookings) as bigint) from four_eyes_ledger \
         where tenant_id = $1 and account = $2 and at >= $3",
    )
    .bind(tenant)
    .bind(account)
    .bind(Millis::of(since_ms))
    .fetch_one(&mut *conn)
    .await?;
    Ok(sum.unwrap_or(0))
}
