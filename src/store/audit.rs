//! The audit log: appended to, never changed (the database refuses updates and deletes).

use super::{Conn, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    #[sqlx(try_from = "Millis")]
    pub at: DateTime<Utc>,
    pub tenant_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details_json: String,
}

/// What happened, by whom. `details` holds impact numbers and ids, never personal data.
pub struct Entry<'a> {
    pub tenant: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: Option<String>,
    pub details: serde_json::Value,
}

pub async fn append(conn: &mut Conn, e: &Entry<'_>, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "insert into audit_log (at, tenant_id, actor, action, subject, details_json) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Millis::of(now))
    .bind(e.tenant)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.subject.as_deref())
    .bind(e.details.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The newest entries of a tenant first.
pub async fn list(conn: &mut Conn, tenant: &str, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "select id, at, tenant_id, actor, action, subject, details_json from audit_log \
         where tenant_id = $1 order by id desc limit $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
