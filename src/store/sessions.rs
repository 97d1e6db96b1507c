//! Web UI sessions.

use super::accounts::AccountRow;
use super::{Conn, Millis};
use chrono::{DateTime, Utc};

pub async fn create(
    conn: &mut Conn,
    token_hash: &str,
    account_id: i64,
    csrf: &str,
    now: DateTime<Utc>,
    expires_ms: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into sessions (token_hash, account_id, csrf, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(csrf)
    .bind(Millis::of(now))
    .bind(Millis::of(expires_ms))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The account and CSRF token of a live session.
pub async fn get(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(AccountRow, String)>> {
    let row: Option<(i64, String, String, String, i64, String)> = sqlx::query_as(
        "select a.id, a.name, a.tenant_id, a.role, a.created_at, s.csrf from sessions s \
         join accounts a on a.id = s.account_id where s.token_hash = $1 and s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(Millis::of(now))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(id, name, tenant_id, role, created_at, csrf)| {
        (
            AccountRow {
                id,
                name,
                tenant_id,
                role,
                created_at: crate::domain::from_millis(created_at),
            },
            csrf,
        )
    }))
}

/// Ends a session, and every session that has expired.
pub async fn end(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("delete from sessions where token_hash = $1 or expires_at <= $2")
        .bind(token_hash)
        .bind(Millis::of(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
