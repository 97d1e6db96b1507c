//! Accounts and their API tokens.

use super::{Conn, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An account as the API and the command line show it (no secrets).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub tenant_id: String,
    pub role: String,
    #[sqlx(try_from = "Millis")]
    pub created_at: DateTime<Utc>,
}

pub async fn insert(
    conn: &mut Conn,
    name: &str,
    tenant: &str,
    role: &str,
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into accounts (name, tenant_id, role, password_hash, created_at) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(name)
    .bind(tenant)
    .bind(role)
    .bind(password_hash)
    .bind(Millis::of(now))
    .fetch_one(&mut *conn)
    .await
}

pub async fn by_name(conn: &mut Conn, name: &str) -> sqlx::Result<Option<AccountRow>> {
    sqlx::query_as("select id, name, tenant_id, role, created_at from accounts where name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
}

pub async fn list(conn: &mut Conn) -> sqlx::Result<Vec<AccountRow>> {
    sqlx::query_as(
        "select id, name, tenant_id, role, created_at from accounts order by tenant_id, name",
    )
    .fetch_all(&mut *conn)
    .await
}

/// Removes an account and its tokens. Returns whether it existed.
pub async fn remove(conn: &mut Conn, name: &str) -> sqlx::Result<bool> {
    for table in ["api_tokens", "sessions"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "delete from {table} where account_id in (select id from accounts where name = $1)"
        )))
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    let r = sqlx::query("delete from accounts where name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn add_token(
    conn: &mut Conn,
    account_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("insert into api_tokens (account_id, token_hash, created_at) values ($1, $2, $3)")
        .bind(account_id)
        .bind(token_hash)
        .bind(Millis::of(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The account a token belongs to (and notes its use).
pub async fn by_token(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<AccountRow>> {
    let found: Option<AccountRow> = sqlx::query_as(
        "select a.id, a.name, a.tenant_id, a.role, a.created_at from api_tokens t \
         join accounts a on a.id = t.account_id where t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    if found.is_some() {
        sqlx::query("update api_tokens set last_used_at = $2 where token_hash = $1")
            .bind(token_hash)
            .bind(Millis::of(now))
            .execute(&mut *conn)
            .await?;
    }
    Ok(found)
}

/// The stored password hash of an account, if it has a password.
pub async fn password_hash(conn: &mut Conn, name: &str) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "select password_hash from accounts where name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .flatten())
}
